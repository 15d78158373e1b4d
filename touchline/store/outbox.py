"""The outbox: records bound for a topic that must hold each of them exactly once.

A batch writes them here in its own transaction, numbered per partition;
the relay (:mod:`touchline.processing.relay`) appends them afterwards and
deletes what it appended. Numbers only grow, so the last record on a
partition says how far the relay got, even after a crash between its
append and its delete.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Connection, delete, func, select, update

from touchline.store.tables import outbox, outbox_heads
from touchline.store.writes import bulk_insert_ignoring_duplicates


class OutboxRow(NamedTuple):
    seq: int
    key: bytes | None
    value: bytes


def enqueue(
    connection: Connection, topic: str, rows: Sequence[tuple[int, bytes | None, bytes]]
) -> None:
    """Rows of (partition, record key, value), numbered in the order given.

    Each partition's numbers are reserved by one ``UPDATE ... RETURNING`` on
    its head, which holds the head's row until the commit: two transactions
    enqueueing on one partition (two workers) get distinct numbers, in the
    order they commit, and never one row over another.
    """
    if not rows:
        return
    counts: dict[int, int] = {}
    for partition, _, _ in rows:
        counts[partition] = counts.get(partition, 0) + 1
    h = outbox_heads.c
    bulk_insert_ignoring_duplicates(
        connection,
        outbox_heads,
        [{"topic": topic, "partition": p, "next_seq": 1} for p in sorted(counts)],
    )
    next_seq = {}
    for partition in sorted(counts):  # one order everywhere: no deadlock between two workers
        reserved = connection.execute(
            update(outbox_heads)
            .where(h.topic == topic, h.partition == partition)
            .values(next_seq=h.next_seq + counts[partition])
            .returning(h.next_seq)
        ).scalar_one()
        next_seq[partition] = int(reserved) - counts[partition]
    numbered = []
    for partition, key, value in rows:
        seq = next_seq[partition]
        next_seq[partition] = seq + 1
        numbered.append(
            {"topic": topic, "partition": partition, "seq": seq, "record_key": key, "value": value}
        )
    # Driver-level: SQLAlchemy's per-row parameter handling was most of the
    # outbox's cost (a campaign batch writes thousands of changes). The
    # numbers are reserved above, so a row ignored as a duplicate is a fault.
    written = bulk_insert_ignoring_duplicates(connection, outbox, numbered)
    if written != len(numbered):
        raise RuntimeError(f"outbox rows of {topic!r} numbered twice: {written}/{len(numbered)}")


def waiting_partitions(connection: Connection, topic: str) -> list[int]:
    o = outbox.c
    found = connection.execute(select(o.partition).where(o.topic == topic).distinct())
    return sorted(int(partition) for (partition,) in found)


def waiting(connection: Connection, topic: str) -> int:
    """How many rows of ``topic`` wait for the relay."""
    o = outbox.c
    statement = select(func.count()).select_from(outbox).where(o.topic == topic)
    return int(connection.execute(statement).scalar_one())


def hold(connection: Connection, topic: str, partition: int) -> None:
    """Lock the partition's head for this transaction (a row lock on
    PostgreSQL, the write lock on SQLite): one relay of a partition at a time."""
    h = outbox_heads.c
    connection.execute(
        update(outbox_heads)
        .where(h.topic == topic, h.partition == partition)
        .values(next_seq=h.next_seq)
    )


_ROWS = (
    "SELECT seq, record_key, value FROM outbox "
    "WHERE topic = {mark} AND partition = {mark} ORDER BY seq LIMIT {mark}"
)


def rows(connection: Connection, topic: str, partition: int, limit: int) -> list[OutboxRow]:
    """The partition's rows in number order (driver-level: a relay reads thousands)."""
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    found = connection.exec_driver_sql(_ROWS.format(mark=mark), (topic, partition, limit))
    return [OutboxRow(int(seq), key, bytes(value)) for seq, key, value in found]


def relayed(connection: Connection, topic: str, partition: int, through: int) -> None:
    """Rows up to ``through`` are on the log: they go."""
    o = outbox.c
    connection.execute(
        delete(outbox).where(o.topic == topic, o.partition == partition, o.seq <= through)
    )
