"""Stored positions: each processor's next offset per partition, written in
the transaction that holds the state those offsets produced."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Connection, select

from touchline.log.port import TopicPartition
from touchline.store.tables import projector_positions
from touchline.store.writes import dialect_insert


def load_positions(connection: Connection, projector: str, topic: str) -> dict[int, int]:
    rows = connection.execute(
        select(projector_positions.c.partition, projector_positions.c.next_offset).where(
            projector_positions.c.projector == projector,
            projector_positions.c.topic == topic,
        )
    )
    return dict(rows.all())


def save_positions(
    connection: Connection, projector: str, positions: Mapping[TopicPartition, int]
) -> None:
    """Upsert next offsets; call inside the transaction that wrote the rows."""
    if not positions:
        return
    statement = dialect_insert(connection, projector_positions)
    statement = statement.on_conflict_do_update(
        index_elements=["projector", "topic", "partition"],
        set_={"next_offset": statement.excluded.next_offset},
    )
    connection.execute(
        statement,
        [
            {"projector": projector, "topic": tp.topic, "partition": tp.partition, "next_offset": n}
            for tp, n in positions.items()
        ],
    )


def all_positions(connection: Connection) -> Iterable[tuple[str, str, int, int]]:
    rows = connection.execute(select(projector_positions).order_by(*projector_positions.c))
    return [(r.projector, r.topic, r.partition, r.next_offset) for r in rows]
