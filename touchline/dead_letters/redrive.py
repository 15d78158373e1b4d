"""What a person does about a dead letter: read it, re-drive it, or discard it.

A re-drive appends the letter's original bytes and key to the topic and
partition it came from, so every processor of that topic sees it again in
its key's order; the processors are idempotent by event id, so the one that
had applied it already does nothing, and the one that refused it applies it
now that its cause is fixed (or refuses it again, as a new letter). The
letter's status moves from ``dead`` to ``redriven`` in the transaction that
is open while the record is appended: a letter is re-driven once however
often the command runs, and a failed append leaves it ``dead``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import Connection, Engine, select, update

from touchline.dead_letters.index import DEAD, DISCARDED, REDRIVEN, LetterRow, letter_row
from touchline.dead_letters.peek import Peek, peek_event
from touchline.events import EventCodec
from touchline.events.instants import to_us
from touchline.log.port import Log, Record, StoredRecord, TopicPartition
from touchline.store.tables import dead_letters

log = structlog.get_logger(__name__)


class UnknownLetter(LookupError):
    """No dead letter has that id."""


def parse_letter_id(text: str) -> tuple[int, int]:
    """``partition:offset`` as the list prints it."""
    try:
        partition, offset = (int(part) for part in text.split(":"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a dead-letter id (partition:offset, e.g. 0:17)"
        ) from None
    return partition, offset


@dataclass(frozen=True, slots=True)
class Letter:
    row: LetterRow
    record: StoredRecord
    peek: Peek


def find_letter(connection: Connection, topic: str, letter_id: str) -> LetterRow:
    partition, offset = parse_letter_id(letter_id)
    d = dead_letters.c
    row = (
        connection.execute(
            select(dead_letters).where(
                d.topic == topic, d.partition == partition, d.offset == offset
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise UnknownLetter(f"no dead letter {letter_id} on {topic}")
    return letter_row(row)


def read_letter(engine: Engine, log_: Log, codec: EventCodec, topic: str, letter_id: str) -> Letter:
    """A letter with its original bytes, read back from the dead-letter topic."""
    with engine.connect() as connection:
        row = find_letter(connection, topic, letter_id)
    record = _record(log_, topic, letter_id)
    return Letter(row, record, peek_event(codec, record.value))


def _record(log_: Log, topic: str, letter_id: str) -> StoredRecord:
    partition, offset = parse_letter_id(letter_id)
    records = log_.read(TopicPartition(topic, partition), offset, 1)
    if not records or records[0].offset != offset:
        raise UnknownLetter(f"dead letter {letter_id} is no longer in {topic} (retention?)")
    return records[0]


@dataclass(frozen=True, slots=True)
class Done:
    """What became of one letter a command named."""

    letter_id: str
    done: bool
    """False when it was not ``dead`` any more (re-driven or discarded before)."""
    status: str
    where: str | None = None
    """Where a re-drive appended it (``topic:partition:offset``)."""


def redrive(
    engine: Engine, log_: Log, topic: str, letter_ids: Sequence[str], *, by: str
) -> list[Done]:
    """Append each still-dead letter to its origin again, once.

    ValueError, before any is re-driven, when some were kept as they arrived
    (a Segment call the API could not map): never on a topic, they have
    none to go back to.
    """
    arrived = [i for i in letter_ids if "origin.partition" not in _header_names(log_, topic, i)]
    if arrived:
        raise ValueError(
            f"{len(arrived)} of these dead letters ({', '.join(arrived[:5])}) were kept as they "
            "arrived at the API, never on a topic: there is nothing to re-drive them to. Have "
            "their sender send them again once they can be taken, then discard them; leave "
            "them out here with --processor"
        )

    def append(connection: Connection, letter_id: str) -> Done:
        record = _record(log_, topic, letter_id)
        headers = dict(record.headers)
        origin_topic = headers["origin.topic"].decode()
        again = Record(
            value=record.value,
            key=record.key,
            headers=(("redriven.from", f"{topic}:{letter_id}".encode()),),
            partition=int(headers["origin.partition"]),
        )
        (position,) = log_.append(origin_topic, [again])
        where = f"{origin_topic}:{position.partition}:{position.offset}"
        _mark(connection, topic, letter_id, REDRIVEN, by=by, redriven_to=where)
        log.info("dead letter re-driven", letter=letter_id, to=where, by=by)
        return Done(letter_id, True, REDRIVEN, where)

    return [_once(engine, topic, letter_id, append) for letter_id in letter_ids]


def _header_names(log_: Log, topic: str, letter_id: str) -> set[str]:
    return {name for name, _ in _record(log_, topic, letter_id).headers}


def discard(
    engine: Engine, topic: str, letter_ids: Sequence[str], *, by: str, reason: str
) -> list[Done]:
    """Mark letters as dealt with and not to be re-driven; who and why are kept."""

    def mark(connection: Connection, letter_id: str) -> Done:
        _mark(connection, topic, letter_id, DISCARDED, by=by, note=reason)
        log.info("dead letter discarded", letter=letter_id, by=by, reason=reason)
        return Done(letter_id, True, DISCARDED)

    return [_once(engine, topic, letter_id, mark) for letter_id in letter_ids]


def _once(
    engine: Engine, topic: str, letter_id: str, act: Callable[[Connection, str], Done]
) -> Done:
    """``act`` on a letter that is still dead, in the transaction that claims it."""
    with engine.begin() as connection:
        row = find_letter(connection, topic, letter_id)
        if not _claim(connection, topic, letter_id):
            return Done(letter_id, False, row.status, row.redriven_to)
        return act(connection, letter_id)


def _claim(connection: Connection, topic: str, letter_id: str) -> bool:
    """Take the letter out of ``dead``, locking it (the row on PostgreSQL,
    the database on SQLite) until the transaction ends; False if it was not."""
    partition, offset = parse_letter_id(letter_id)
    d = dead_letters.c
    result = connection.execute(
        update(dead_letters)
        .where(d.topic == topic, d.partition == partition, d.offset == offset, d.status == DEAD)
        .values(status="claimed")
    )
    return result.rowcount == 1


def _mark(
    connection: Connection,
    topic: str,
    letter_id: str,
    status: str,
    *,
    by: str,
    note: str | None = None,
    redriven_to: str | None = None,
) -> None:
    partition, offset = parse_letter_id(letter_id)
    d = dead_letters.c
    connection.execute(
        update(dead_letters)
        .where(d.topic == topic, d.partition == partition, d.offset == offset)
        .values(
            status=status,
            status_at_us=to_us(datetime.now(UTC)),
            status_by=by,
            status_note=note,
            redriven_to=redriven_to,
        )
    )
