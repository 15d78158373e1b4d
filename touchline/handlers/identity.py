"""The identity resolver: turns touchpoints into per-customer interactions.

Every normalised identifier belongs to exactly one customer. An event whose
identifiers are all new creates a customer whose id derives from that event's
id (UUIDv7, so time-ordered and the same on every replay); identifiers seen
with a known one join its customer.

Not yet here (identity issue): merging two existing customers when one event
carries identifiers of both. Until then the event goes to the oldest of them,
its unknown identifiers join that customer, and a warning names the conflict.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import Connection, select, tuple_

from touchline.events import Envelope
from touchline.events.keys import identity_keys
from touchline.handlers.processor import Emit, Outcome, Processor, Rejected
from touchline.projections.store import insert_ignoring_duplicates
from touchline.projections.tables import customers, identifiers
from touchline.projections.timeline import to_us

log = structlog.get_logger(__name__)

Key = tuple[str, str]


def customer_id_for(event: Envelope) -> str:
    return f"cus_{event.id.hex}"


class IdentityResolver(Processor):
    name = "identity-resolver"

    def __init__(self, source_topic: str, interactions_topic: str) -> None:
        self.source_topic = source_topic
        self.interactions_topic = interactions_topic
        # Only this resolver writes the graph, so a cache of it stays true
        # unless a transaction rolls back (then it is dropped).
        self._owner: dict[Key, str] = {}

    def rolled_back(self) -> None:
        self._owner.clear()

    def process(self, connection: Connection, events: Sequence[Envelope]) -> Outcome:
        self._load(connection, {key for event in events for key in identity_keys(event.identities)})
        new_customers: list[dict[str, object]] = []
        new_links: list[dict[str, object]] = []
        outcome = Outcome.nothing()
        for event in events:
            keys = identity_keys(event.identities)
            if not keys:
                if event.customer_id is None:
                    outcome.rejected.append(
                        Rejected(event, "no identifiers and no customer_id: cannot attribute")
                    )
                    continue
                outcome.emitted.append(self._emit(event, event.customer_id))
                continue
            owners = sorted({owner for key in keys if (owner := self._owner.get(key))})
            if owners:
                customer_id = owners[0]
                if len(owners) > 1:
                    log.warning(
                        "identity conflict, merge pending", event_id=str(event.id), customers=owners
                    )
            else:
                customer_id = customer_id_for(event)
                new_customers.append(
                    {
                        "customer_id": customer_id,
                        "created_at_us": to_us(event.occurred_at),
                        "created_by_event": str(event.id),
                    }
                )
            for key in keys:
                if key not in self._owner:
                    self._owner[key] = customer_id
                    new_links.append(
                        {
                            "kind": key[0],
                            "value": key[1],
                            "customer_id": customer_id,
                            "linked_by_event": str(event.id),
                        }
                    )
            outcome.emitted.append(self._emit(event, customer_id))
        if new_customers:
            connection.execute(insert_ignoring_duplicates(connection, customers), new_customers)
        if new_links:
            connection.execute(insert_ignoring_duplicates(connection, identifiers), new_links)
        return outcome

    def _emit(self, event: Envelope, customer_id: str) -> Emit:
        return Emit(self.interactions_topic, customer_id.encode(), event.with_customer(customer_id))

    def _load(self, connection: Connection, keys: set[Key]) -> None:
        missing = [key for key in keys if key not in self._owner]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            rows = connection.execute(
                select(identifiers.c.kind, identifiers.c.value, identifiers.c.customer_id).where(
                    tuple_(identifiers.c.kind, identifiers.c.value).in_(chunk)
                )
            )
            for kind, value, customer_id in rows:
                self._owner[(kind, value)] = customer_id


def find_customer(connection: Connection, kind: str, value: str) -> str | None:
    """The customer an identifier belongs to, if any."""
    return connection.execute(
        select(identifiers.c.customer_id).where(
            identifiers.c.kind == kind, identifiers.c.value == value
        )
    ).scalar_one_or_none()
