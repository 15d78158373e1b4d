"""Which Kafka worker holds which partitions, as the workers report it.

Each worker writes what it was given on every rebalance, and clears its rows
when its partitions are revoked or it stops. The broker knows the truth, but
asking it is no help here: Tansu (the test broker) answers DescribeGroups with
empty member assignments, and kafka-python 3.0 cannot parse its reply at all.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from sqlalchemy import Connection, delete, select

from touchline.store.tables import worker_assignments
from touchline.store.writes import dialect_insert


class Holding(NamedTuple):
    """One partition of a processor's topic and the worker that holds it."""

    processor: str
    topic: str
    partition: int
    worker: str
    assigned_at_us: int


def record_holdings(
    connection: Connection,
    worker: str,
    processor: str,
    topic: str,
    *,
    partitions: Collection[int],
    at_us: int,
) -> None:
    """Replace what ``worker`` holds of ``processor``'s topic with ``partitions``
    (none: it holds nothing now), taking each over from any previous holder.

    Two workers rarely touch the same rows at once: a worker clears its rows
    when its partitions are revoked, before the group can hand them on. Only
    a killed worker's rows are taken over, and a dead worker holds no locks.
    """
    w = worker_assignments.c
    connection.execute(
        delete(worker_assignments).where(
            w.worker == worker, w.processor == processor, w.topic == topic
        )
    )
    if not partitions:
        return
    statement = dialect_insert(connection, worker_assignments)
    statement = statement.on_conflict_do_update(
        index_elements=["processor", "topic", "partition"],
        set_={"worker": statement.excluded.worker, "assigned_at_us": at_us},
    )
    connection.execute(
        statement,
        [
            {
                "processor": processor,
                "topic": topic,
                "partition": partition,
                "worker": worker,
                "assigned_at_us": at_us,
            }
            for partition in sorted(partitions)
        ],
    )


def holdings(connection: Connection, processor: str, topic: str) -> dict[int, Holding]:
    """Who holds each partition of ``processor``'s topic (partitions nobody
    reported holding are absent)."""
    w = worker_assignments.c
    rows = connection.execute(
        select(worker_assignments).where(w.processor == processor, w.topic == topic)
    )
    return {row.partition: Holding(**row._mapping) for row in rows.all()}
