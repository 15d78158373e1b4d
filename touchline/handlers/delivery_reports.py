"""What a channel says became of an action it took: an ESP's word on an
email moves the action ledger on from ``sent``.

The email adapter's Message-ID is the action id (``<action id@domain>``), so
an ESP's event about that message names the action. ``delivered``, and
anything only a recipient who had the email could do (open it, click in
it, reply, unsubscribe through it, mark it as spam), says it was delivered;
a hard bounce says it failed, with the bounce's reason. A soft bounce says
nothing yet: the ESP tries again. The move itself is one conditional
update, forward only (:func:`touchline.store.action_ledger.report`), so a
redelivery or a replay of the report changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from touchline.events import Envelope
from touchline.events.action import named_action
from touchline.events.email import (
    EmailBounced,
    EmailClicked,
    EmailComplained,
    EmailDelivered,
    EmailOpened,
    EmailReplied,
    EmailUnsubscribed,
)
from touchline.events.instants import to_us
from touchline.store import action_ledger as ledger

HAD_IT = (
    EmailDelivered,
    EmailOpened,
    EmailClicked,
    EmailReplied,
    EmailUnsubscribed,
    EmailComplained,
)
"""Reports that the recipient had the email."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """The channel's word on one action: ``delivered`` or ``failed``."""

    action_id: str
    status: str
    reason: str | None
    at_us: int


def delivery_of(event: Envelope) -> Delivery | None:
    """The ledger move ``event`` reports, if it names an action of ours."""
    payload = event.payload
    if isinstance(payload, EmailBounced):
        if payload.bounce != "hard":
            return None
        why = f"hard bounce: {payload.reason}" if payload.reason else "hard bounce"
        status, reason = ledger.FAILED, why
    elif isinstance(payload, HAD_IT):
        status, reason = ledger.DELIVERED, None
    else:
        return None
    action_id = named_action(payload.message_id)
    if action_id is None:
        return None  # an email the channel system sent itself, not one of our actions
    return Delivery(str(action_id), status, reason, to_us(event.occurred_at))
