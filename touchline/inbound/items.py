"""An inbound item's fate, and the pieces every mapping of items to events shares.

Each item becomes an event (:class:`Mapped`), nothing by design
(:class:`Skipped`: a step on the way, such as an ESP's ``processed`` or a
call still ringing, which is no touchpoint), or nothing for want of a
mapping (:class:`Unmapped`, kept with the reason: on the dead-letter topic
for a webhook, in the error report for a file).

An event's id is derived from the provider's own id for the item
(:func:`item_id`), so a provider's resend is a duplicate. The customer is
found by the message the item is about when it names one of our actions (the
action ledger knows its customer and campaign), else by the identifiers the
item carries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid5

from touchline.events import Envelope, Identities, new_event
from touchline.events.base import Payload

NAMESPACE = UUID("0c6f4f0e-7a55-4a53-9c3b-5f1e3d1c9a13")
"""The namespace of inbound event ids: ``uuid5(NAMESPACE, provider/item id)``."""


@dataclass(frozen=True, slots=True)
class Sender:
    """Whom an item is about, as the action ledger knows the action it names."""

    customer_id: str
    campaign_id: str | None


Senders = Callable[[UUID], Sender | None]
"""An action id -> its customer and campaign (None: not an action of ours)."""


def no_senders(_action_id: UUID) -> Sender | None:
    """For items that never name an action of ours (a partner's order)."""
    return None


@dataclass(frozen=True, slots=True)
class Mapped:
    event: Envelope


@dataclass(frozen=True, slots=True)
class Skipped:
    event_id: UUID
    reason: str


@dataclass(frozen=True, slots=True)
class Unmapped:
    event_id: UUID
    code: str
    reason: str
    identities: Identities = field(default_factory=Identities)


Item = Mapped | Skipped | Unmapped


def item_id(provider: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"{provider}/{key}")


def raw_id(provider: str, item: object) -> UUID:
    """An id for an item that carries none of its own: from its content."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    return item_id(provider, "sha256:" + hashlib.sha256(canonical.encode()).hexdigest())


def text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def mapped(
    payload: Payload,
    *,
    at: datetime,
    event_id: UUID,
    source: str,
    action_id: UUID | None,
    senders: Senders,
    identities: Identities,
) -> Mapped | Unmapped:
    """The event, on the customer of the action it names, else by its identifiers."""
    sender = None if action_id is None else senders(action_id)
    if sender is None and not identities.items():
        return Unmapped(
            event_id, "no_identifier", "names no action of ours and no address or number"
        )
    return Mapped(
        new_event(
            payload,
            occurred_at=at,
            source=source,
            event_id=event_id,
            # The action names the customer: identity resolution goes by the
            # identifiers first, and an address the item carries (a forward,
            # an alias) must not send the event to someone else.
            identities=identities if sender is None else Identities(),
            customer_id=None if sender is None else sender.customer_id,
            campaign_id=None if sender is None else sender.campaign_id,
            causation_id=action_id if sender is not None else None,
        )
    )
