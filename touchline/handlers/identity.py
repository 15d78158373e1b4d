"""The identity resolver: turns touchpoints into per-customer interactions.

Every normalised identifier belongs to exactly one customer. An event whose
identifiers are all new creates a customer whose id derives from that event's
id (UUIDv7, so time-ordered and the same on every replay); identifiers seen
with a known one join its customer. An event carrying identifiers of two or
more customers merges them: the oldest survives, and a ``customer.merged``
event (caused by that event) goes to the interactions log so every projection
follows. :mod:`touchline.handlers.identity_rules` says which identifiers may
merge at all.

A ``customer.unmerged`` request (from the CLI or the API) cuts the named
customer off the one it was merged into, remembers that the two are kept
apart, and goes on to the interactions log filled in with the identifiers and
customer ids each side keeps, so each projection can split its rows from the
event alone.

The resolver reads each event's head (the payload stays bytes, and goes on
to the interactions log unchanged): only ``customer.unmerged`` requests and
the rare event the edge's checks find suspect are decoded whole here. So a
payload invalid for its type is refused where it is decoded, by the timeline,
as a dead letter naming the field.

Several resolvers may share the graph (Kafka workers on different
partitions). On PostgreSQL each locks only the people a batch touches and
reads them afresh, so workers on disjoint people commit side by side
(:mod:`touchline.handlers.identity_locks`). On SQLite, whose one writer lock
serialises them anyway, each batch bumps the graph's clock, and a resolver
whose previous version is not the one just below drops its cache: a single
writer keeps its cache across batches, the fast path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from operator import attrgetter
from uuid import NAMESPACE_URL, uuid5

import msgspec
import structlog
from sqlalchemy import Connection

from touchline.events import Envelope, EnvelopeHead, EventCodec, InvalidEvent, new_event
from touchline.events.campaign import CAMPAIGN_WIDE
from touchline.events.edge import EdgeRules, head_problem, suspects_as_read
from touchline.events.identity import CustomerMerged, CustomerUnmerged
from touchline.events.instants import to_us
from touchline.events.keys import identity_keys
from touchline.handlers import identity_graph as graph
from touchline.handlers import identity_locks as locks
from touchline.handlers.identity_graph import Key, Link
from touchline.handlers.identity_rules import IdentityRules
from touchline.processing.port import (
    HEADS_WITH_BYTES,
    REFUSED_AT_EDGE,
    UNDECODABLE,
    Emit,
    Outcome,
    Processor,
    Received,
    Rejected,
)

log = structlog.get_logger(__name__)

RESOLVER = "identity-resolver"
_MERGE_IDS = uuid5(NAMESPACE_URL, "https://touchline.dev/ids/customer.merged")
_UNMERGE_IDS = uuid5(NAMESPACE_URL, "https://touchline.dev/ids/customer.unmerged")


_happened = attrgetter("occurred_at", "id")
"""The order events happened in (ties by id): a key made in C, not a call per event."""


def customer_id_for(event: Envelope | EnvelopeHead) -> str:
    return f"cus_{event.id.hex}"


class IdentityResolver(Processor[Received[EnvelopeHead]]):
    name = RESOLVER
    reads = HEADS_WITH_BYTES

    def __init__(
        self,
        source_topic: str,
        interactions_topic: str,
        codec: EventCodec,
        rules: IdentityRules | None = None,
        *,
        edge: EdgeRules | None = None,
        cache_limit: int = 200_000,
    ) -> None:
        self.source_topic = source_topic
        self.interactions_topic = interactions_topic
        self.codec = codec
        """Decodes the few events read whole: unmerge requests and suspects."""
        self.rules = rules or IdentityRules()
        self.edge = edge or EdgeRules()
        """The edge's checks, again: a channel may produce straight onto the
        touchpoints topic, past the publisher."""
        self.cache_limit = cache_limit
        """Identifiers kept in memory (about 500 bytes each) before the cache
        starts again empty: a hot working set refills it within a batch."""
        # A cache of the graph, true while this resolver is its only writer:
        # checked by the clock on every SQLite batch, and only a segment long
        # on PostgreSQL, where it holds just what the segment locked.
        self._version: int | None = None
        self._node: dict[Key, str] = {}
        """The customer each identifier first joined (never changes)."""
        self._root: dict[str, str] = {}
        """Where each known customer lives now."""
        self._nodes: defaultdict[str, set[str]] = defaultdict(set)
        """Known customers per root: what a merge relabels."""
        self._separations: list[tuple[str, str]] | None = None

    def rolled_back(self) -> None:
        self._version = None
        self._drop_cache()

    def _drop_cache(self) -> None:
        self._node.clear()
        self._root.clear()
        self._nodes.clear()
        self._separations = None

    def process(self, connection: Connection, events: Sequence[Received[EnvelopeHead]]) -> Outcome:
        if not locks.concurrent_writers(connection):
            version = graph.tick(connection)
            if self._version != version - 1 or len(self._node) > self.cache_limit:
                self._drop_cache()
            self._version = version
        outcome = Outcome.nothing()
        segment: list[EnvelopeHead] = []
        suspects = suspects_as_read([item.data for item in events], self.codec.wire_format)
        for place, item in enumerate(events):
            head = item.event
            try:
                # Judged by when it was recorded, not by the clock: a replay decides alike.
                problem = head_problem(head, self.codec, self.edge, suspect=place in suspects)
                request = self._unmerge_request(head) if problem is None else None
            except InvalidEvent as error:  # decoded whole here, its payload is not its type's
                outcome.rejected.append(Rejected(head, str(error), code=UNDECODABLE))
                continue
            if problem is not None:
                reason = f"refused at the edge: {problem.reason} at {problem.field}"
                outcome.rejected.append(Rejected(head, reason, code=REFUSED_AT_EDGE))
            elif head.type in CAMPAIGN_WIDE:
                self._campaign_wide(head, outcome)
            elif request is not None:
                self._resolve(connection, segment, outcome)
                segment = []
                self._unmerge(connection, *request, outcome)
            else:
                segment.append(head)
        self._resolve(connection, segment, outcome)
        return outcome

    def _unmerge_request(self, head: EnvelopeHead) -> tuple[Envelope, CustomerUnmerged] | None:
        """A ``customer.unmerged`` request, decoded whole: the resolver acts on its payload."""
        if head.type != CustomerUnmerged.type:
            return None
        event = self.codec.complete(head)
        assert isinstance(event.payload, CustomerUnmerged)  # its type said so
        return event, event.payload

    def _resolve(
        self, connection: Connection, events: Sequence[EnvelopeHead], outcome: Outcome
    ) -> None:
        if not events:
            return
        keys = {key for event in events for key in identity_keys(event.identities)}
        if not locks.concurrent_writers(connection):
            self._load(connection, keys)
            batch = self._attribute(events, outcome)
            graph.write(connection, batch.customers, batch.links, batch.merges)
            return
        while True:
            self._drop_cache()
            self._fill(connection, locks.hold_links(connection, keys))
            emitted, rejected = len(outcome.emitted), len(outcome.rejected)
            batch = self._attribute(events, outcome)
            savepoint = connection.begin_nested()
            claimed = graph.write(connection, batch.customers, batch.links, batch.merges)
            if claimed == len(batch.links):
                savepoint.commit()
                return
            # Another resolver committed an identifier this segment took for
            # new: undo, and decide again with its row in sight.
            savepoint.rollback()
            del outcome.emitted[emitted:]
            del outcome.rejected[rejected:]
            log.info("identifier claimed by another resolver, redoing", events=len(events))

    def _attribute(self, events: Sequence[EnvelopeHead], outcome: Outcome) -> _Pending:
        """Who each event belongs to, from the cache: the rows and merges to write."""
        batch = _Pending()
        # In the order they happened, not the order of the partitions they were
        # read from: a person's events sit on several partitions (one keyed by
        # the email, another by the phone), and meeting the event that ties
        # them first spares a customer made only to be merged a moment later.
        for event in sorted(events, key=_happened):
            # customer.merged never gets here: envelope_problem refused it in process().
            keys = self.rules.usable(identity_keys(event.identities))
            if not keys:
                self._unattributed(event, outcome)
                continue
            customer_id = self._customer_for(batch, event, keys, outcome)
            anchor = next(
                (
                    self._node[k]
                    for k in keys
                    if k in self._node and self._root_of(k) == customer_id
                ),
                customer_id,
            )
            new = [key for key in keys if key not in self._node]
            if new:
                event_id = str(event.id)
                for key in new:
                    self._own(key, anchor, customer_id)
                    batch.links.append((*key, customer_id, anchor, event_id))
            outcome.emitted.append(self._emit(event, customer_id))
        return batch

    def _customer_for(
        self, batch: _Pending, event: EnvelopeHead, keys: Sequence[Key], outcome: Outcome
    ) -> str:
        """The customer the event belongs to, merging the ones it ties together."""
        known = [key for key in keys if key in self._node]
        mergeable = sorted({self._root_of(k) for k in known if self.rules.may_merge(k)})
        if mergeable:
            customer_id = mergeable[0]
            for other in mergeable[1:]:
                if self._kept_apart(customer_id, other):
                    continue
                outcome.emitted.append(self._merge(batch, event, customer_id, other))
            return customer_id
        if known:
            return min(self._root_of(k) for k in known)
        customer_id = customer_id_for(event)
        # In graph.CUSTOMER_COLUMNS' order; a new customer is its own root.
        created = (customer_id, to_us(event.occurred_at), str(event.id), None, customer_id)
        batch.customers.append(created)
        self._root[customer_id] = customer_id
        self._nodes[customer_id].add(customer_id)
        return customer_id

    def _campaign_wide(self, head: EnvelopeHead, outcome: Outcome) -> None:
        """About a campaign, not a person: every partition gets it, so each
        synchronizer meets it before the events published after it."""
        if head.campaign_id is None:
            reason = f"{head.type} names its campaign in `campaign_id`, and has none"
            outcome.rejected.append(Rejected(head, reason))
            return
        key = head.campaign_id.encode()
        outcome.emitted.append(Emit(self.interactions_topic, key, head, everywhere=True))

    def _unattributed(self, event: EnvelopeHead, outcome: Outcome) -> None:
        if event.customer_id is not None:
            outcome.emitted.append(self._emit(event, event.customer_id))
            return
        blocked = [f"{k}:{v}" for k, v in identity_keys(event.identities)]
        reason = (
            f"carries only identifiers blocked as shared ({', '.join(blocked)}) and no customer_id"
            if blocked
            else "no identifiers and no customer_id: cannot attribute"
        )
        outcome.rejected.append(Rejected(event, reason))

    def _merge(self, batch: _Pending, event: EnvelopeHead, survivor: str, merged: str) -> Emit:
        """Fold ``merged`` into ``survivor``; the event that says so."""
        for node in self._nodes.pop(merged, set()):
            self._root[node] = survivor
            self._nodes[survivor].add(node)
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

    def _unmerge(
        self, connection: Connection, event: Envelope, request: CustomerUnmerged, outcome: Outcome
    ) -> None:
        restored = request.restored_id
        if graph.surviving_customer(connection, restored) is None:
            outcome.rejected.append(Rejected(event, f"unknown customer {restored!r}"))
            return
        if locks.concurrent_writers(connection):
            # Both sides: the pair kept apart is checked by merges holding them.
            locks.hold_customers(connection, {restored, request.survivor_id})
            # Identifiers leave a root that stays one: resolvers that read
            # before this commits must read again (identity_locks says why).
            graph.tick(connection)
        graph.separate(connection, restored, request.survivor_id, str(event.id))
        cut = graph.split(connection, restored)
        self._drop_cache()
        if cut is None:
            log.warning("unmerge of a customer that is not merged", customer=restored)
            customers, restored_keys, remaining = [restored], [], []
            survivor = request.survivor_id
        else:
            customers, restored_keys, remaining = cut.customers, cut.identifiers, cut.remaining
            survivor = cut.survivor
            log.info(
                "customer unmerged", survivor=survivor, restored=restored, by=request.requested_by
            )
        filled = CustomerUnmerged(
            survivor_id=survivor,
            restored_id=restored,
            requested_by=request.requested_by,
            reason=request.reason,
            undoes=request.undoes,
            restored_customers=tuple(customers),
            restored_identifiers=tuple(f"{k}:{v}" for k, v in restored_keys),
            survivor_identifiers=tuple(f"{k}:{v}" for k, v in remaining),
        )
        # One audit entry on each side; the restored side's id derives from
        # the request's, so a replay emits the very same pair.
        for customer_id, event_id in (
            (survivor, event.id),
            (restored, uuid5(_UNMERGE_IDS, f"{event.id}/restored")),
        ):
            copy = msgspec.structs.replace(
                event, id=event_id, payload=filled, customer_id=customer_id
            )
            outcome.emitted.append(self._emit(copy, customer_id))

    def _kept_apart(self, one: str, other: str) -> bool:
        if self._separations is None:
            return False
        pair = {one, other}
        return any(
            {self._root.get(a, a), self._root.get(b, b)} == pair for a, b in self._separations
        )

    def _root_of(self, key: Key) -> str:
        return self._root[self._node[key]]

    def _own(self, key: Key, node: str, root: str) -> None:
        self._node[key] = node
        self._root.setdefault(node, root)
        self._nodes[root].add(node)

    def _emit(self, event: Envelope | EnvelopeHead, customer_id: str) -> Emit:
        attributed = event if event.customer_id == customer_id else event.with_customer(customer_id)
        return Emit(self.interactions_topic, customer_id.encode(), attributed)

    def _load(self, connection: Connection, keys: set[Key]) -> None:
        """The single writer's way: what the cache lacks."""
        missing = [k for k in keys if k not in self._node]
        if self._separations is None:
            self._fill(connection, graph.load_links(connection, missing))
        else:
            self._add(graph.load_links(connection, missing))

    def _fill(self, connection: Connection, links: list[Link]) -> None:
        """The cache, from the separated pairs and ``links``. Read after
        locking, a pair's roots are current for every root held, and those
        are the only ones a merge compares."""
        self._separations = []
        for a, b, root_a, root_b in graph.load_separations(connection):
            self._separations.append((a, b))
            for node, root in ((a, root_a), (b, root_b)):
                self._root[node] = root
                self._nodes[root].add(node)
        self._add(links)

    def _add(self, links: list[Link]) -> None:
        for link in links:
            self._node[link.key] = link.node
            self._root[link.node] = link.root
            self._nodes[link.root].add(link.node)


class _Pending:
    """Rows a batch creates, written once at its end, and its merges in order."""

    def __init__(self) -> None:
        self.customers: list[tuple[object, ...]] = []
        """New customers' rows, in graph.CUSTOMER_COLUMNS' order."""
        self.links: list[tuple[object, ...]] = []
        """New identifiers' rows, in graph.LINK_COLUMNS' order."""
        self.merges: list[dict[str, str]] = []
