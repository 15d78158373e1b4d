"""The adapter port: what one channel's adapter does, and what it answers.

An adapter renders an action for its channel and sends it, with the action
id as the idempotency key (an email's Message-ID, a webhook's id). It never
decides whether the action may go out, nor retries: the dispatcher
(:mod:`touchline.adapters.dispatcher`) checks the ledger, consent and the
campaign first, and owns retries, rate limits and the record of the outcome,
the same for every channel. Every adapter passes the contract suite
(``tests/adapters/test_contract.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Action:
    """An action as the ledger and the campaign define it."""

    action_id: UUID
    campaign_id: str
    campaign_name: str
    customer_id: str
    channel: str
    offer_code: str
    step: int
    expires_at: datetime | None
    routed_to: str | None = None
    """The receiver an earlier attempt was routed to (a partner), which a
    re-send keeps: a lead never reaches two partners."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Whom the action is for, as the stores know them at the moment of sending."""

    customer_id: str
    identifiers: Mapping[str, tuple[str, ...]]
    """Kind (``email``, ``phone``, ``fax``...) -> the customer's values of it."""
    data: Mapping[str, object] = field(default_factory=dict)
    """The customer's profile, JSON-friendly, for templates."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that goes with the message (a fax's pages as a PDF)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Rendered:
    """The message as it will go out."""

    to: str
    subject: str
    text: str
    html: str | None = None
    attachment: Attachment | None = None
    route: str | None = None
    """Where a channel that picks its receiver sends this one, and why (a
    partner lead's partner and the reasons): kept in the consent proof."""
    routed_to: str | None = None
    """Which of the channel's receivers it goes to (a partner account): the
    ledger records it before the send, to count the receiver's open leads
    and to keep a re-send on the same receiver."""


class Undeliverable(Exception):
    """The action cannot be rendered for this customer (no address for the
    channel, a template that does not render): a permanent failure."""


class NoRoomYet(Undeliverable):
    """Every receiver that would take the action is full now (partners at
    their capacity): nothing is wrong with the action, so the dispatcher puts
    it back and tries again later, as leads close, unless it expires first."""


SendOutcome = Literal["sent", "delivered", "failed", "suppressed", "unknown"]


@dataclass(frozen=True, slots=True)
class Sent:
    """What one attempt came to.

    ``sent``: the channel took it; ``delivered``: it confirmed delivery;
    ``failed``: it refused, ``transient`` or not; ``suppressed``: the channel
    itself refused to contact the customer (its own suppression list);
    ``unknown``: the transport failed at a moment it may have taken the
    message, and cannot dedupe a second attempt (never retried).
    """

    outcome: SendOutcome
    message_id: str | None = None
    reason: str | None = None
    transient: bool = False

    @classmethod
    def retry(cls, reason: str) -> Sent:
        return cls("failed", reason=reason, transient=True)

    @classmethod
    def permanent(cls, reason: str) -> Sent:
        return cls("failed", reason=reason)


class Adapter(ABC):
    """One channel's transport."""

    channel: str
    dedups_by_key: bool
    """Whether the transport drops a second send under the same key. Only
    then may an action a crash left in flight be sent again: SMTP does not
    (a second message is a second email in the inbox)."""
    parallel: int = 1
    """Sends the dispatcher may have going at once (from as many threads):
    above 1, :meth:`send` must be safe to call concurrently."""

    @abstractmethod
    def render(self, action: Action, recipient: Recipient) -> Rendered:
        """The message for ``recipient``; raises :class:`Undeliverable`."""

    @abstractmethod
    def send(self, action: Action, rendered: Rendered) -> Sent:
        """One attempt, keyed by ``action.action_id``; never raises for a
        refusal or an outage of the channel (it answers ``failed``)."""

    def message_id(self, action_id: UUID) -> str | None:
        """The id the channel knows the message for ``action_id`` by, if any."""
        del action_id
        return None

    @abstractmethod
    def close(self) -> None:
        """Release what the adapter holds open (a connection kept between sends)."""
