"""The 360-degree timeline: every interaction of a customer, newest first."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from touchline.events import Envelope
from touchline.events.identity import CustomerMerged
from touchline.handlers.processor import Outcome, Processor, Rejected
from touchline.projections.store import bulk_insert_ignoring_duplicates
from touchline.projections.tables import timeline_aliases, timeline_entries

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    """UTC microseconds since the epoch (exact: no float rounding)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)


class TimelineProjection(Processor):
    """Writes one timeline row per event; the event id makes it idempotent.

    A ``customer.merged`` event moves the merged customer's rows to the
    survivor and records an alias, so the merged id's events still in flight
    (on other partitions) land on the survivor too.
    """

    name = "timeline"

    def __init__(self, source_topic: str, encode: Callable[[Envelope], bytes]) -> None:
        self.source_topic = source_topic
        self._encode = encode

    def row(self, event: Envelope, customer_id: str) -> dict[str, object]:
        """The pure part: one event in, one row out (no I/O)."""
        return {
            "event_id": str(event.id),
            "customer_id": customer_id,
            "occurred_at_us": to_us(event.occurred_at),
            "recorded_at_us": None if event.recorded_at is None else to_us(event.recorded_at),
            "type": event.type,
            "channel": event.payload.channel,
            "source": event.source,
            "campaign_id": event.campaign_id,
            "summary": event.payload.summary(),
            "event": self._encode(event),
        }

    def process(self, connection: Connection, events: Sequence[Envelope]) -> Outcome:
        aliases = _load_aliases(connection, {e.customer_id for e in events if e.customer_id})
        rows: list[dict[str, object]] = []
        outcome = Outcome.nothing()
        for event in events:
            if event.customer_id is None:
                reason = "interaction has no customer_id: identity resolution skipped?"
                outcome.rejected.append(Rejected(event, reason))
                continue
            if isinstance(event.payload, CustomerMerged):
                _write(connection, rows)
                rows = []
                _merge(connection, aliases, event.payload.merged_id, event.payload.survivor_id)
            rows.append(self.row(event, aliases.get(event.customer_id, event.customer_id)))
        _write(connection, rows)
        return outcome


def _write(connection: Connection, rows: list[dict[str, object]]) -> None:
    bulk_insert_ignoring_duplicates(connection, timeline_entries, rows)


def _load_aliases(connection: Connection, customer_ids: set[str]) -> dict[str, str]:
    if not customer_ids:
        return {}
    a = timeline_aliases.c
    rows = connection.execute(
        select(a.merged_id, a.survivor_id).where(a.merged_id.in_(sorted(customer_ids)))
    )
    return dict(rows.all())


def _merge(connection: Connection, aliases: dict[str, str], merged: str, survivor: str) -> None:
    survivor = aliases.get(survivor, survivor)
    a = timeline_aliases.c
    # Whoever had folded into the merged customer now folds into the survivor.
    connection.execute(
        update(timeline_aliases).where(a.survivor_id == merged).values(survivor_id=survivor)
    )
    connection.execute(delete(timeline_aliases).where(a.merged_id == merged))
    connection.execute(insert(timeline_aliases).values(merged_id=merged, survivor_id=survivor))
    connection.execute(
        update(timeline_entries)
        .where(timeline_entries.c.customer_id == merged)
        .values(customer_id=survivor)
    )
    for old, target in list(aliases.items()):
        if target == merged:
            aliases[old] = survivor
    aliases[merged] = survivor


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
