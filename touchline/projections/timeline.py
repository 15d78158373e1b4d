"""The 360-degree timeline: every interaction of a customer, newest first.

The timeline is also the per-customer event index: each row keeps the event's
bytes as read from the interactions log (attributed there by the resolver),
never an encoding made again. Projections that rebuild a customer from that
index follow it inside its transaction, so the index is never behind or ahead
of them.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import msgspec
from sqlalchemy import Connection, and_, or_, select, update

from touchline.events import Envelope, EventCodec
from touchline.events.campaign import CAMPAIGN_WIDE
from touchline.events.digest import content_digest
from touchline.events.identity import CustomerMerged, CustomerUnmerged
from touchline.events.instants import from_us, to_us
from touchline.events.keys import identifier_names
from touchline.processing.port import (
    CONFLICTING_DUPLICATE,
    WRITTEN_WITH_BYTES,
    Emit,
    Outcome,
    Processor,
    Received,
    Rejected,
)
from touchline.projections.aliases import Aliases
from touchline.store.reads import rows_where_in
from touchline.store.tables import timeline_entries
from touchline.store.writes import bulk_insert_values_ignoring_duplicates

_CHUNK = 500
ROW_COLUMNS = (
    "event_id",
    "customer_id",
    "occurred_at_us",
    "recorded_at_us",
    "type",
    "channel",
    "source",
    "campaign_id",
    "summary",
    "event",
)
"""The columns of :meth:`TimelineProjection.row`'s tuples, in order."""


class Landed(msgspec.Struct, frozen=True, gc=False):
    """An event new to the timeline, the customer it landed on, and its id as
    text (the row's key: ``str(UUID)`` runs in Python, so it is made once).
    Untracked by the garbage collector, as events are: one is made per event."""

    event: Envelope
    customer_id: str
    event_id: str


class TimelineFollower(Protocol):
    """A projection kept from the timeline's index, in the timeline's transaction.

    What it returns is emitted by the timeline's runner, in the same batch.
    """

    def applied(self, connection: Connection, events: Sequence[Landed]) -> Sequence[Emit]:
        """Events new to the timeline, each with the customer it landed on."""

    def rebuild(self, connection: Connection, customer_ids: Sequence[str]) -> Sequence[Emit]:
        """These customers' rows moved (a merge or unmerge): rebuild them from the index."""


class TimelineProjection(Processor[Received[Envelope]]):
    """Writes one timeline row per event; the event id makes it idempotent.

    A ``customer.merged`` event moves the merged customer's rows to the
    survivor and records an alias, so the merged id's events still in flight
    (on other partitions) land on the survivor too. A ``customer.unmerged``
    event moves back the rows that carry only the restored side's identifiers
    (or, carrying none, were attributed to one of its customer ids).
    """

    name = "timeline"
    reads = WRITTEN_WITH_BYTES
    """Decoded to project, and the bytes as read to store."""

    def __init__(
        self,
        source_topic: str,
        codec: EventCodec,
        followers: Sequence[TimelineFollower] = (),
    ) -> None:
        self.source_topic = source_topic
        self._codec = codec
        self.followers = tuple(followers)

    @staticmethod
    def row(
        event: Envelope, data: bytes, customer_id: str, key: str | None = None
    ) -> tuple[object, ...]:
        """The pure part: one event and its bytes in, one row out (no I/O),
        its values in :data:`ROW_COLUMNS`' order."""
        recorded_at = event.recorded_at
        payload = event.payload
        return (
            key or str(event.id),
            customer_id,
            to_us(event.occurred_at),
            None if recorded_at is None else to_us(recorded_at),
            event.type,
            payload.channel,
            event.source,
            event.campaign_id,
            payload.summary(),
            data,
        )

    def process(self, connection: Connection, events: Sequence[Received[Envelope]]) -> Outcome:
        regroups = any(
            isinstance(e.event.payload, CustomerMerged | CustomerUnmerged) for e in events
        )
        customers = {e.event.customer_id for e in events if e.event.customer_id}
        aliases = Aliases(connection, customers, exclusive=regroups)
        # Once per event: the row's key, the index's, the cache's and the followers'.
        keys = [str(e.event.id) for e in events]
        # Followers count what they see, so they must see each event once:
        # only those the timeline does not hold yet, and a duplicate inside
        # the batch only the first time. An id already held with other
        # content is a conflict: dead-lettered, never dropped in silence.
        known = _Known(self._codec, _stored(connection, keys))
        pending = _Rows()
        outcome = Outcome.nothing()
        for received, key in zip(events, keys, strict=True):
            event = received.event
            if event.customer_id is None and event.type in CAMPAIGN_WIDE:
                continue  # about a campaign, on no one's timeline (the synchronizer's)
            if event.customer_id is None:
                reason = "interaction has no customer_id: identity resolution skipped?"
                outcome.rejected.append(Rejected(event, reason))
                continue
            conflict = known.conflict(event, key)
            if conflict is not None:
                outcome.rejected.append(conflict)
                continue
            payload = event.payload
            if isinstance(payload, CustomerMerged):
                self._flush(connection, pending, outcome)
                survivor = aliases.merge(payload.merged_id, payload.survivor_id)
                connection.execute(
                    update(timeline_entries)
                    .where(timeline_entries.c.customer_id == payload.merged_id)
                    .values(customer_id=survivor)
                )
                self._rebuild(connection, [survivor, payload.merged_id], outcome)
            elif isinstance(payload, CustomerUnmerged) and event.customer_id == payload.survivor_id:
                self._flush(connection, pending, outcome)
                survivor = self._split(connection, aliases, payload)
                self._rebuild(connection, [survivor, payload.restored_id], outcome)
            customer_id = aliases[event.customer_id]
            # The bytes as read carry the interaction's customer_id, as the
            # resolver set it; the row's column holds where it lands now.
            pending.rows.append(self.row(event, received.data, customer_id, key))
            if known.first_time(event, key):
                pending.new.append(Landed(event, customer_id, key))
        self._flush(connection, pending, outcome)
        return outcome

    def _flush(self, connection: Connection, pending: _Rows, outcome: Outcome) -> None:
        bulk_insert_values_ignoring_duplicates(
            connection, timeline_entries, ROW_COLUMNS, pending.rows
        )
        if pending.new:
            for follower in self.followers:
                outcome.emitted.extend(follower.applied(connection, pending.new))
        pending.rows, pending.new = [], []

    def _rebuild(self, connection: Connection, customer_ids: list[str], outcome: Outcome) -> None:
        for follower in self.followers:
            outcome.emitted.extend(follower.rebuild(connection, customer_ids))

    def _split(self, connection: Connection, aliases: Aliases, unmerge: CustomerUnmerged) -> str:
        """Move the restored side's rows back; the survivor the timeline knew."""
        survivor = aliases[unmerge.survivor_id]
        sides = unmerge.sides()
        t = timeline_entries.c
        moving = []
        for event_id, blob in connection.execute(
            select(t.event_id, t.event).where(t.customer_id == survivor)
        ):
            event = self._codec.decode(blob)
            if sides.goes_back(identifier_names(event.identities), event.customer_id):
                moving.append(event_id)
        for start in range(0, len(moving), _CHUNK):
            connection.execute(
                update(timeline_entries)
                .where(t.event_id.in_(moving[start : start + _CHUNK]))
                .values(customer_id=unmerge.restored_id)
            )
        aliases.restore(unmerge.restored_id, unmerge.restored_customers)
        return survivor


class _Rows:
    """Rows waiting to be written, and which of their events are new."""

    __slots__ = ("new", "rows")

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []
        self.new: list[Landed] = []


def _stored(connection: Connection, keys: Sequence[str]) -> dict[str, bytes]:
    """The stored event of each id in ``keys`` the timeline already holds."""
    ids = list(set(keys))
    t = timeline_entries.c
    return dict(rows_where_in(connection, timeline_entries, [t.event_id, t.event], t.event_id, ids))


class _Known:
    """Event ids the timeline holds or has met in this batch, and their content.

    Digests are taken only when an id comes again (from the stored bytes or
    the batch's first copy): a fresh event, nearly every one, costs nothing
    beyond the id lookup the followers need anyway.
    """

    __slots__ = ("_codec", "_digests", "_met", "_stored")

    def __init__(self, codec: EventCodec, stored: dict[str, bytes]) -> None:
        self._codec = codec
        self._stored = stored
        self._met: dict[str, Envelope] = {}
        self._digests: dict[str, str] = {}

    def conflict(self, event: Envelope, key: str) -> Rejected | None:
        """A rejection when ``event``'s id is known with other content."""
        applied = self._applied(key)
        if applied is None:
            return None
        received = content_digest(event)
        if applied == received:
            return None
        reason = (
            f"conflicting duplicate: event {key} was applied with other content "
            f"(digest {applied} applied, {received} received); the first one stands"
        )
        details = (("digest.applied", applied), ("digest.received", received))
        return Rejected(event, reason, code=CONFLICTING_DUPLICATE, details=details)

    def first_time(self, event: Envelope, key: str) -> bool:
        """True once for an id the timeline did not hold before this batch."""
        if key in self._stored or key in self._met:
            return False
        self._met[key] = event
        return True

    def _applied(self, key: str) -> str | None:
        digest = self._digests.get(key)
        if digest is None:
            if key in self._met:
                digest = content_digest(self._met[key])
            elif key in self._stored:
                digest = content_digest(self._codec.decode(self._stored[key]))
            else:
                return None
            self._digests[key] = digest
        return digest


def events_of(connection: Connection, codec: EventCodec, customer_id: str) -> list[Envelope]:
    """A customer's events from the index, oldest first."""
    t = timeline_entries.c
    rows = connection.execute(
        select(t.event).where(t.customer_id == customer_id).order_by(t.occurred_at_us, t.event_id)
    ).scalars()
    return [codec.decode(blob) for blob in rows]


def rebuild_timeline_rows(connection: Connection, codec: EventCodec, customer_id: str) -> int:
    """Render a customer's rows again from their stored events (a summary or
    an upcaster changed); how many rows there were."""
    t = timeline_entries.c
    rows = [
        dict(
            zip(
                ROW_COLUMNS,
                TimelineProjection.row(codec.decode(blob), blob, customer_id),
                strict=True,
            )
        )
        for blob in connection.execute(
            select(t.event).where(t.customer_id == customer_id)
        ).scalars()
    ]
    for row in rows:
        connection.execute(
            update(timeline_entries).where(t.event_id == row["event_id"]).values(**row)
        )
    return len(rows)


class TimelineEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a customer's story, as an agent reads it."""

    event_id: str
    occurred_at: datetime
    type: str
    channel: str
    source: str
    summary: str
    campaign_id: str | None = None


class TimelinePage(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    entries: list[TimelineEntry]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class TimelineFilter:
    """What an agent narrows the timeline to; every field optional."""

    channels: Sequence[str] = ()
    types: Sequence[str] = ()
    campaign_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class InvalidCursor(ValueError):
    """A pagination cursor that this server did not hand out."""


def encode_cursor(occurred_at_us: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{occurred_at_us}:{event_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        micros, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        return int(micros), event_id
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidCursor(f"not a timeline cursor: {cursor!r}") from error


def read_timeline(
    connection: Connection,
    customer_id: str,
    *,
    where: TimelineFilter = TimelineFilter(),
    limit: int = 50,
    cursor: str | None = None,
) -> TimelinePage:
    """A page of the customer's timeline, newest first; pass ``next_cursor`` on."""
    if not 1 <= limit <= 1000:
        raise ValueError(f"limit must be between 1 and 1000, not {limit}")
    t = timeline_entries.c
    query = select(
        t.event_id, t.occurred_at_us, t.type, t.channel, t.source, t.summary, t.campaign_id
    ).where(t.customer_id == customer_id)
    if where.channels:
        query = query.where(t.channel.in_(list(where.channels)))
    if where.types:
        query = query.where(t.type.in_(list(where.types)))
    if where.campaign_id is not None:
        query = query.where(t.campaign_id == where.campaign_id)
    if where.since is not None:
        query = query.where(t.occurred_at_us >= to_us(where.since))
    if where.until is not None:
        query = query.where(t.occurred_at_us < to_us(where.until))
    if cursor is not None:
        at, event_id = decode_cursor(cursor)
        query = query.where(
            or_(t.occurred_at_us < at, and_(t.occurred_at_us == at, t.event_id < event_id))
        )
    query = query.order_by(t.occurred_at_us.desc(), t.event_id.desc()).limit(limit + 1)
    rows = connection.execute(query).all()
    entries = [
        TimelineEntry(
            event_id=row.event_id,
            occurred_at=from_us(row.occurred_at_us),
            type=row.type,
            channel=row.channel,
            source=row.source,
            summary=row.summary,
            campaign_id=row.campaign_id,
        )
        for row in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor(last.occurred_at_us, last.event_id)
    return TimelinePage(customer_id=customer_id, entries=entries, next_cursor=next_cursor)
