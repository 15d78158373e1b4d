"""The identity resolver: turns touchpoints into per-customer interactions.

Every normalised identifier belongs to exactly one customer. An event whose
identifiers are all new creates a customer whose id derives from that event's
id (UUIDv7, so time-ordered and the same on every replay); identifiers seen
with a known one join its customer. An event carrying identifiers of two or
more customers merges them: the oldest survives, the graph moves to it, and a
``customer.merged`` event (caused by that event) goes to the interactions log
so every projection follows.

Still to come with the identity issue: unmerge, per-kind merge rules and block
lists, and several resolvers racing on different partitions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from uuid import NAMESPACE_URL, uuid5

import structlog
from sqlalchemy import Connection, bindparam, select, tuple_, update

from touchline.events import Envelope, new_event
from touchline.events.identity import CustomerMerged
from touchline.events.keys import identity_keys
from touchline.handlers.processor import Emit, Outcome, Processor, Rejected
from touchline.projections.store import bulk_insert_ignoring_duplicates
from touchline.projections.tables import customers, identifiers
from touchline.projections.timeline import to_us

log = structlog.get_logger(__name__)

Key = tuple[str, str]
RESOLVER = "identity-resolver"
_MERGE_IDS = uuid5(NAMESPACE_URL, "https://touchline.dev/ids/customer.merged")


_MOVE_IDENTIFIERS = (
    update(identifiers)
    .where(identifiers.c.customer_id == bindparam("merged"))
    .values(customer_id=bindparam("survivor"))
)
_MARK_MERGED = (
    update(customers)
    .where(customers.c.customer_id == bindparam("merged"))
    .values(merged_into=bindparam("survivor"))
)


def customer_id_for(event: Envelope) -> str:
    return f"cus_{event.id.hex}"


class IdentityResolver(Processor):
    name = RESOLVER

    def __init__(self, source_topic: str, interactions_topic: str) -> None:
        self.source_topic = source_topic
        self.interactions_topic = interactions_topic
        # Only this resolver writes the graph, so a cache of it stays true
        # unless a transaction rolls back (then it is dropped).
        self._owner: dict[Key, str] = {}
        self._members: defaultdict[str, set[Key]] = defaultdict(set)

    def rolled_back(self) -> None:
        self._owner.clear()
        self._members.clear()

    def process(self, connection: Connection, events: Sequence[Envelope]) -> Outcome:
        self._load(connection, {key for event in events for key in identity_keys(event.identities)})
        batch = _Pending()
        outcome = Outcome.nothing()
        for event in events:
            keys = identity_keys(event.identities)
            if not keys:
                if event.customer_id is None:
                    reason = "no identifiers and no customer_id: cannot attribute"
                    outcome.rejected.append(Rejected(event, reason))
                else:
                    outcome.emitted.append(self._emit(event, event.customer_id))
                continue
            owners = sorted({owner for key in keys if (owner := self._owner.get(key))})
            if owners:
                customer_id = owners[0]
                for merged in owners[1:]:
                    outcome.emitted.append(self._merge(batch, event, customer_id, merged))
            else:
                customer_id = customer_id_for(event)
                batch.customers[customer_id] = {
                    "customer_id": customer_id,
                    "created_at_us": to_us(event.occurred_at),
                    "created_by_event": str(event.id),
                    "merged_into": None,
                }
            for key in keys:
                if key not in self._owner:
                    self._own(key, customer_id)
                    batch.links[key] = {
                        "kind": key[0],
                        "value": key[1],
                        "customer_id": customer_id,
                        "linked_by_event": str(event.id),
                    }
            outcome.emitted.append(self._emit(event, customer_id))
        batch.write(connection)
        return outcome

    def _merge(self, batch: _Pending, event: Envelope, survivor: str, merged: str) -> Emit:
        """Fold ``merged`` into ``survivor`` in the graph; the event that says so."""
        for key in self._members.pop(merged, set()):
            self._own(key, survivor)
            if key in batch.links:
                batch.links[key]["customer_id"] = survivor
        if merged in batch.customers:
            batch.customers[merged]["merged_into"] = survivor
        batch.merges.append({"merged": merged, "survivor": survivor})
        log.info("customers merged", survivor=survivor, merged=merged, caused_by=str(event.id))
        notice = new_event(
            CustomerMerged(
                survivor_id=survivor,
                merged_id=merged,
                merged_by=RESOLVER,
                reason=f"{event.type} from {event.source} carries identifiers of both",
                caused_by=event.id,
            ),
            # Derived from its cause, so a replay emits the very same event.
            event_id=uuid5(_MERGE_IDS, f"{event.id}/{merged}"),
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            source="touchline",
            customer_id=survivor,
            causation_id=event.id,
            correlation_id=event.correlation_id,
        )
        return self._emit(notice, survivor)

    def _own(self, key: Key, customer_id: str) -> None:
        self._owner[key] = customer_id
        self._members[customer_id].add(key)

    def _emit(self, event: Envelope, customer_id: str) -> Emit:
        attributed = event if event.customer_id == customer_id else event.with_customer(customer_id)
        return Emit(self.interactions_topic, customer_id.encode(), attributed)

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
                self._own((kind, value), customer_id)


class _Pending:
    """Rows a batch creates, written once at its end (and rewritten by merges)."""

    def __init__(self) -> None:
        self.customers: dict[str, dict[str, object]] = {}
        self.links: dict[Key, dict[str, object]] = {}
        self.merges: list[dict[str, str]] = []
        """In the order decided: a chain (a into b, then b into c) ends in c."""

    def write(self, connection: Connection) -> None:
        bulk_insert_ignoring_duplicates(connection, customers, list(self.customers.values()))
        bulk_insert_ignoring_duplicates(connection, identifiers, list(self.links.values()))
        if self.merges:
            # The batch read the graph once, up front, and its cache already
            # follows every merge: the stored graph can follow at the end.
            connection.execute(_MOVE_IDENTIFIERS, self.merges)
            connection.execute(_MARK_MERGED, self.merges)


def surviving_customer(connection: Connection, customer_id: str) -> str | None:
    """Where a customer id lives now: itself, or the survivor it was merged into."""
    seen: set[str] = set()
    current: str | None = customer_id
    while current is not None and current not in seen:
        seen.add(current)
        row = connection.execute(
            select(customers.c.merged_into).where(customers.c.customer_id == current)
        ).one_or_none()
        if row is None:
            return None
        if row.merged_into is None:
            return current
        current = row.merged_into
    return current


def find_customer(connection: Connection, kind: str, value: str) -> str | None:
    """The customer an identifier belongs to, if any."""
    return connection.execute(
        select(identifiers.c.customer_id).where(
            identifiers.c.kind == kind, identifiers.c.value == value
        )
    ).scalar_one_or_none()
