"""What became of an action: the adapters' report, one per action.

An adapter writes ``action.settled`` to ``touchline.touchpoints`` once it has
sent an action, given up on it, or found it must not go out: the customer's
timeline shows it, with the consent and campaign state the adapter checked
at the moment of sending (its :class:`ConsentProof`). The envelope's
``causation_id`` is the action id and its id derives from it, so reporting
the same action again (after a crash) writes the very same event.

An action a dispatcher put back for later (a transient failure, quiet hours)
comes back to it as ``action.retry_due`` on ``touchline.actions``, appended
by the dispatcher's timer.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

import msgspec

from touchline.events.base import AwareDatetime, NonEmpty, Payload, clip

ActionOutcome = Literal["sent", "delivered", "failed", "suppressed", "cancelled", "unknown"]
"""``sent``: the channel took it (an SMTP relay accepted it); ``delivered``: the
channel confirmed delivery; ``failed``: given up (permanent, or out of
attempts); ``suppressed``: consent, do-not-contact, a complaint, pressure or
the campaign's state said no at the moment of sending; ``cancelled``: the
ledger had it cancelled or expired; ``unknown``: a crash left it in flight on
a transport that cannot tell a re-send from a new message, so it was not re-sent."""


class ConsentProof(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the adapter read just before sending, and the versions it read."""

    checked_at: AwareDatetime
    campaigns_version: Annotated[int, msgspec.Meta(ge=0)]
    """The campaign definitions' version (it moves with every launch and close)."""
    campaign_state: str | None = None
    """The customer's state in the campaign (None: not in it)."""
    state_sequence: Annotated[int, msgspec.Meta(ge=0)] = 0
    """That state's transition number: the pair's version."""
    consent_event: str | None = None
    """The event that made the latest consent decision for the channel and purpose."""
    consent_granted: bool | None = None
    """That decision (None: no word, which is no refusal)."""
    do_not_contact_event: str | None = None
    refusal: str | None = None
    """Why it may not go out now, or None when it may."""
    route: str | None = None
    """Where the channel sent it and why, when the channel picks the receiver
    (a partner lead: the partner, and the reasons for it)."""


class ActionSettled(Payload, frozen=True, kw_only=True):
    """The action ``action_id`` came to ``outcome`` via ``via``."""

    type: ClassVar[str] = "action.settled"
    channel: ClassVar[str] = "adapter"

    action_id: UUID
    via: NonEmpty
    outcome: ActionOutcome
    offer_code: str | None = None
    attempts: Annotated[int, msgspec.Meta(ge=0)] = 0
    reason: str | None = None
    """Why it failed, was suppressed or cancelled, or is unknown."""
    message_id: str | None = None
    """The id the channel knows it by (the email's Message-ID)."""
    proof: ConsentProof | None = None

    def summary(self) -> str:
        offer = f" offer {self.offer_code}" if self.offer_code else ""
        why = f": {clip(self.reason)}" if self.reason else ""
        return f"Action{offer} via {self.via} {self.outcome}{why}"


class ActionRetryDue(Payload, frozen=True, kw_only=True):
    """The action ``action_id`` via ``via``, put back by its dispatcher, may be taken again.

    Written to ``touchline.actions`` by the dispatcher's timer when a
    transient failure's backoff, quiet hours or contact pressure has passed:
    the dispatcher meets it as it met the request, under an id of its own
    (``action.requested``'s id is the action id, which readers dedupe by).
    """

    type: ClassVar[str] = "action.retry_due"
    channel: ClassVar[str] = "adapter"

    action_id: UUID
    via: NonEmpty
    attempts: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Attempts made so far (none when quiet hours or pressure held it back)."""
    reason: str | None = None
    """Why it was put back: the last transient failure, or the refusal that will pass."""

    def summary(self) -> str:
        why = f": {clip(self.reason)}" if self.reason else ""
        tried = f"after {self.attempts} attempts" if self.attempts else "untried"
        return f"Action {self.action_id} via {self.via} due again, {tried}{why}"


ACTION_EVENTS: tuple[type[Payload], ...] = (ActionSettled, ActionRetryDue)


def named_action(reference: str) -> UUID | None:
    """The action id a channel's reference names: an email's Message-ID
    ``<action id@domain>``, a call task's or a fax's bare action id."""
    local = reference.strip().strip("<>").partition("@")[0]
    try:
        return UUID(local)
    except ValueError:
        return None
