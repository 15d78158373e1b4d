"""Stored timers: set, cancelled and taken when due, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select

from touchline.store.reads import CHUNK
from touchline.store.tables import timers
from touchline.store.writes import bulk_upsert_values


@dataclass(frozen=True, slots=True)
class StoredTimer:
    name: str
    due_at_us: int
    topic: str
    record_key: bytes
    event: bytes


def set_timers(connection: Connection, processor: str, due: Sequence[StoredTimer]) -> None:
    """Set each timer, or move it when one of that name is set already.

    Driver-level (:func:`bulk_upsert_values`): the synchronizer sets a
    follow-up for nearly every event it acts on, and SQLAlchemy's per-row
    parameter processing cost more than the upsert itself."""
    if not due:
        return
    rows = [(processor, t.name, t.due_at_us, t.topic, t.record_key, t.event) for t in due]
    bulk_upsert_values(connection, timers, _COLUMNS, rows, key=_KEY, update=_COLUMNS[2:])


_COLUMNS = ("processor", "name", "due_at_us", "topic", "record_key", "event")
_KEY = ("processor", "name")


def cancel_timers(connection: Connection, processor: str, names: Sequence[str]) -> None:
    """In chunks: a batch can end a great many (PostgreSQL takes at most
    65,535 parameters a statement, and the error it raises reads as an outage)."""
    t = timers.c
    unique = sorted(set(names))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        connection.execute(delete(timers).where(t.processor == processor, t.name.in_(chunk)))


def count_due(connection: Connection, processor: str, now_us: int) -> int:
    """How many of the processor's timers are due at ``now_us``."""
    t = timers.c
    query = select(func.count()).where(t.processor == processor, t.due_at_us <= now_us)
    return int(connection.execute(query).scalar_one())


def take_due(connection: Connection, processor: str, now_us: int, limit: int) -> list[StoredTimer]:
    """Timers due at ``now_us``, oldest first, deleted in this transaction.

    On PostgreSQL the rows are locked with SKIP LOCKED, so workers sharing
    the database never take the same timer twice.
    """
    t = timers.c
    query = (
        select(t.name, t.due_at_us, t.topic, t.record_key, t.event)
        .where(t.processor == processor, t.due_at_us <= now_us)
        .order_by(t.due_at_us, t.name)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = [StoredTimer(*row) for row in connection.execute(query)]
    cancel_timers(connection, processor, [timer.name for timer in due])
    return due
