"""What the campaign synchronizer writes: state changes and actions.

``campaign.state_changed`` goes to ``touchline.campaign-state`` for the
campaign engine, one per transition, in order per customer.
``action.requested`` and ``action.cancelled`` go to ``touchline.actions``
for the channel adapters. Both are keyed by the customer id, and each
event's id derives from the event that caused it, so a replay writes the
very same events: an action's id is its idempotency key. Only touchline
writes them; the edge refuses them from publishers.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal
from uuid import UUID

import msgspec

from touchline.events.base import (
    AwareDatetime,
    Currency,
    Money,
    NonEmpty,
    Payload,
    money,
    require_together,
)

__all__ = [
    "CAMPAIGN_FEED_EVENTS",
    "ActionCancelled",
    "ActionRequested",
    "CampaignState",
    "CampaignStateChanged",
]

CampaignState = Literal[
    "targeted", "offered", "engaged", "responded", "converted", "suppressed", "expired"
]
"""Targeted -> offered -> engaged -> responded / converted / suppressed / expired."""


class CampaignStateChanged(Payload, frozen=True, kw_only=True):
    """One (campaign, customer) moved to ``state``; envelope: campaign and customer ids."""

    type: ClassVar[str] = "campaign.state_changed"
    channel: ClassVar[str] = "campaign"

    state: CampaignState
    previous: CampaignState | None = None
    sequence: Annotated[int, msgspec.Meta(ge=1)]
    """This pair's transitions count from 1, so a consumer sees a gap or a repeat."""
    caused_by: UUID
    """The event that caused it (a timer's, for a follow-up or an expiry)."""
    via: str | None = None
    """The channel of the offer, response or conversion."""
    offer_code: str | None = None
    response: Literal["accepted", "declined"] | None = None
    reason: str | None = None
    """Why, for a suppression or an expiry (``opted_out``, ``do_not_contact``...)."""
    made_by: str | None = None
    order_id: str | None = None
    partner_account: str | None = None
    """The partner a conversion is attributed to, when a partner's order made it."""
    amount: Money | None = None
    currency: Currency | None = None

    def __post_init__(self) -> None:
        require_together(self.amount, self.currency, field="amount")

    def summary(self) -> str:
        via = f" via {self.via}" if self.via else ""
        why = f" ({self.reason.replace('_', ' ')})" if self.reason else ""
        value = (
            f", {money(self.amount, self.currency)}"
            if self.amount is not None and self.currency is not None
            else ""
        )
        return f"Campaign state: {self.state}{via}{why}{value}"


class ActionRequested(Payload, frozen=True, kw_only=True):
    """An adapter should make ``offer_code`` via ``via``; the envelope id is the
    action id, the adapter's idempotency key."""

    type: ClassVar[str] = "action.requested"
    channel: ClassVar[str] = "campaign"

    via: NonEmpty
    offer_code: NonEmpty
    step: Annotated[int, msgspec.Meta(ge=0)]
    """The place in the campaign's channel sequence."""
    expires_at: AwareDatetime | None = None
    """Not to be carried out after this: the offer's or the campaign's end, or
    30 days on when neither has one (the synchronizer always sets it)."""
    partner_account: str | None = None
    """For a partner lead: the customer's owning partner, when known."""

    def summary(self) -> str:
        return f"Make offer {self.offer_code} via {self.via} (step {self.step + 1})"


class ActionCancelled(Payload, frozen=True, kw_only=True):
    """The action ``action_id`` must not be carried out (any more)."""

    type: ClassVar[str] = "action.cancelled"
    channel: ClassVar[str] = "campaign"

    action_id: UUID
    reason: NonEmpty

    def summary(self) -> str:
        return f"Action {self.action_id} cancelled: {self.reason.replace('_', ' ')}"


CAMPAIGN_FEED_EVENTS: tuple[type[Payload], ...] = (
    CampaignStateChanged,
    ActionRequested,
    ActionCancelled,
)
