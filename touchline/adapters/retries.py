"""An action put back for later, and the timer that brings it back.

A dispatcher that cannot send an action now (a transient failure with
attempts left, quiet hours, contact pressure) puts it back in the ledger
(``pending``, not before a time) and sets a timer that appends
``action.retry_due`` to ``touchline.actions`` at that time. Both are made
from the ledger row alone (and the request's correlation), so a batch
replayed after a crash sets the very same timer, with the same event id.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from touchline.events import Envelope, new_event
from touchline.events.action import ActionRetryDue
from touchline.events.campaign_feed import ActionRequested
from touchline.events.instants import from_us
from touchline.processing.port import CancelTimer, Timer
from touchline.store.action_ledger import ActionRow

RETRIES = UUID("0b6f3c1e-7d52-4f0a-9a7e-2c61d9e4b8a3")
"""The namespace of ``action.retry_due`` ids: ``uuid5(RETRIES, f"{action id}/{not_before_us}")``."""


def timer_name(action_id: str) -> str:
    """One timer per action: putting it back again moves it."""
    return f"retry:{action_id}"


def action_of(event: Envelope, channel: str) -> str | None:
    """The action ``event`` asks ``channel``'s dispatcher to carry out, if any:
    a request's own id, or the action a retry names; None for another
    channel's, and for a cancel (the ledger already says so)."""
    match event.payload:
        case ActionRequested(via=via) if via == channel:
            return str(event.id)
        case ActionRetryDue(via=via, action_id=action_id) if via == channel:
            return str(action_id)
        case _:
            return None


def retry_timer(row: ActionRow, topic: str, source: str, cause: Envelope) -> Timer:
    """The timer that brings the put-back ``row`` back to its dispatcher on
    ``topic`` when it is due, keyed as the request was (by customer)."""
    if row.not_before_us is None:
        raise ValueError(f"action {row.action_id} was never put back")
    due = from_us(row.not_before_us)
    event = new_event(
        ActionRetryDue(
            action_id=UUID(row.action_id),
            via=row.channel,
            attempts=row.attempts,
            reason=row.reason,
        ),
        occurred_at=due,
        recorded_at=due,
        source=source,
        event_id=uuid5(RETRIES, f"{row.action_id}/{row.not_before_us}"),
        customer_id=row.customer_id,
        campaign_id=row.campaign_id,
        causation_id=UUID(row.action_id),
        correlation_id=cause.correlation_id,
    )
    return Timer(timer_name(row.action_id), due, topic, row.customer_id.encode(), event)


def no_retry(row: ActionRow) -> CancelTimer:
    """The action is settled: a retry set for it earlier is no longer wanted."""
    return CancelTimer(timer_name(row.action_id))
