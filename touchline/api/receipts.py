"""``GET /v1/events/{event_id}``: what became of an event a publisher sent.

The ingest answer's ``Location`` points here. Ingest answers as soon as the
event is on the log; the processors apply it a moment later, so a publisher
(or a support engineer asked "did my event arrive?") follows the link to
see both steps: accepted by the API, and on which customer's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from touchline.api.problems import not_found
from touchline.events.instants import from_us
from touchline.queries import Queries
from touchline.store.accepted import AcceptedEvents


class EventReceipt(msgspec.Struct, kw_only=True):
    event_id: str
    accepted_at: datetime | None
    """When the API appended it (None: it came another way, the CLI or the log itself)."""
    customer_id: str | None
    """The customer whose timeline shows it (None: not applied yet, or on no timeline)."""
    timeline: str | None


@dataclass(frozen=True, slots=True)
class Receipts:
    accepted: AcceptedEvents
    queries: Queries


def location(event_id: str) -> str:
    """The path of an event's receipt (the ``Location`` of its ingest answer)."""
    return f"/v1/events/{event_id}"


@get(
    "/v1/events/{event_id:uuid}",
    summary="What became of an event: accepted, and on which timeline",
    tags=["events"],
    operation_id="getEventReceipt",
    sync_to_thread=True,
    opt={"scope": ("publish", "agent")},
)
def get_event_receipt(
    event_id: FromPath[UUID], receipts: NamedDependency[Receipts]
) -> EventReceipt:
    accepted = receipts.accepted.accepted_at_us(event_id)
    customer_id = receipts.queries.placed(str(event_id))
    if accepted is None and customer_id is None:
        raise not_found(f"no event {event_id} was accepted by the API or is on a timeline")
    return EventReceipt(
        event_id=str(event_id),
        accepted_at=None if accepted is None else from_us(accepted),
        customer_id=customer_id,
        timeline=None if customer_id is None else f"/v1/customers/{customer_id}/timeline",
    )
