"""The dead-letter index: the dead-letter topic, searchable by people.

The topic keeps each dead letter's bytes and headers; it cannot be searched
by processor, reason or customer, nor say what was done about a letter. The
index is a projection of the topic like any other: read from its stored
position, written in the transaction that moves that position, so a letter
is indexed once however often the read repeats. It is brought up to date
before every question asked of it (``touchline dead-letters``, ``lag``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from touchline.dead_letters.peek import peek_event
from touchline.events import EventCodec
from touchline.events.instants import from_us, to_us
from touchline.log.port import Log, StoredRecord, TopicPartition
from touchline.store.positions import load_positions, save_positions
from touchline.store.tables import dead_letters
from touchline.store.writes import bulk_insert_ignoring_duplicates

INDEX = "dead-letter-index"
"""The index's name among the stored positions."""
DEAD, REDRIVEN, DISCARDED = "dead", "redriven", "discarded"
_READ = 500


class LetterRow(msgspec.Struct, frozen=True, kw_only=True):
    """One dead letter as the index knows it."""

    id: str
    """``partition:offset`` on the dead-letter topic."""
    dead_at: datetime
    processor: str
    code: str
    reason: str
    origin: str
    """``topic:partition:offset`` of the record it came from (``[index]`` in a batch)."""
    event_id: str | None
    event_type: str | None
    customer_id: str | None
    status: str
    status_at: datetime | None = None
    status_by: str | None = None
    status_note: str | None = None
    redriven_to: str | None = None


@dataclass(frozen=True, slots=True)
class LetterFilter:
    """Which dead letters to list; every field optional."""

    processor: str | None = None
    code: str | None = None
    reason: str | None = None
    """A piece of the reason's text."""
    since: datetime | None = None
    until: datetime | None = None
    concerning: Sequence[str] = ()
    """Customer ids and ``kind:value`` identifiers: a letter naming any matches."""
    status: str | None = DEAD
    """None lists every status."""

    def clauses(self) -> Iterator[ColumnElement[bool]]:
        d = dead_letters.c
        if self.processor is not None:
            yield d.processor == self.processor
        if self.code is not None:
            yield d.code == self.code
        if self.reason is not None:
            yield d.reason.contains(self.reason, autoescape=True)
        if self.since is not None:
            yield d.dead_at_us >= to_us(self.since)
        if self.until is not None:
            yield d.dead_at_us < to_us(self.until)
        if self.concerning:
            yield or_(
                *(
                    d.identifiers.contains(f" {token} ", autoescape=True)
                    for token in self.concerning
                )
            )
        if self.status is not None:
            yield d.status == self.status


def sync(engine: Engine, log: Log, codec: EventCodec, topic: str) -> int:
    """Index what the dead-letter topic gained since the last sync; how many."""
    added = 0
    ends = log.end_offsets(topic)
    for partition, end in sorted(ends.items()):
        while True:
            with engine.begin() as connection:
                start = load_positions(connection, INDEX, topic).get(partition, 0)
                if start >= end:
                    break
                records = log.read(TopicPartition(topic, partition), start, _READ)
                if not records:
                    break
                rows = [_row(record, codec) for record in records]
                bulk_insert_ignoring_duplicates(connection, dead_letters, rows)
                save_positions(
                    connection, INDEX, {TopicPartition(topic, partition): records[-1].offset + 1}
                )
                added += len(rows)
    return added


def _row(record: StoredRecord, codec: EventCodec) -> dict[str, Any]:
    headers = {name: value.decode(errors="replace") for name, value in record.headers}
    seen = peek_event(codec, record.value)
    index = headers.get("origin.index")
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "dead_at_us": record.timestamp_ms * 1000,
        "processor": headers.get("processor", "?"),
        # Letters written before codes existed were all a processor's failure or refusal.
        "code": headers.get("code", "failed"),
        "reason": headers.get("reason", "(no reason recorded)"),
        "origin_topic": headers.get("origin.topic", "?"),
        "origin_partition": int(headers.get("origin.partition", -1)),
        "origin_offset": int(headers.get("origin.offset", -1)),
        "origin_index": None if index is None else int(index),
        "event_id": seen.event_id,
        "event_type": seen.event_type,
        "customer_id": seen.customer_id,
        # Space-delimited on both sides, so a search matches whole tokens only.
        "identifiers": f" {' '.join(seen.concerning)} " if seen.concerning else None,
        "status": DEAD,
    }


def list_letters(
    connection: Connection, where: LetterFilter = LetterFilter(), limit: int = 50
) -> list[LetterRow]:
    """Matching letters, newest first."""
    d = dead_letters.c
    query = (
        select(dead_letters)
        .where(*where.clauses())
        .order_by(d.dead_at_us.desc(), d.partition, d.offset.desc())
        .limit(limit)
    )
    return [letter_row(row) for row in connection.execute(query).mappings()]


def count_letters(connection: Connection, where: LetterFilter = LetterFilter()) -> dict[str, int]:
    """How many letters match, per processor."""
    d = dead_letters.c
    query = select(d.processor, func.count()).where(*where.clauses()).group_by(d.processor)
    return dict(connection.execute(query).all())


def letter_row(row: Any) -> LetterRow:
    index = row["origin_index"]
    origin = f"{row['origin_topic']}:{row['origin_partition']}:{row['origin_offset']}"
    return LetterRow(
        id=f"{row['partition']}:{row['offset']}",
        dead_at=from_us(row["dead_at_us"]),
        processor=row["processor"],
        code=row["code"],
        reason=row["reason"],
        origin=origin if index is None else f"{origin}[{index}]",
        event_id=row["event_id"],
        event_type=row["event_type"],
        customer_id=row["customer_id"],
        status=row["status"],
        status_at=None if row["status_at_us"] is None else from_us(row["status_at_us"]),
        status_by=row["status_by"],
        status_note=row["status_note"],
        redriven_to=row["redriven_to"],
    )
