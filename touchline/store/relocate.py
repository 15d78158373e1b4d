"""Moving a processor's state to a database of its own, once.

Before the embedded default gave each processor a SQLite file of its own,
every processor kept its state in ``projections.db``. A data directory from
then would start the resolver on an empty ``identity.db``: it would resolve
the whole log again and, meeting events in another order, could pick other
customer ids than the ones the timeline already holds. So on start, a
processor whose own database holds no positions while the shared one does
gets its rows moved there first: its tables, its positions, its timers and
its clock rows, in one transaction on the new side; then they are deleted
from the old side (again on every start until done, so a crash in between
only leaves a copy behind for a moment).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, Select, Table, delete, insert, select, update

from touchline.store.tables import processor_clocks, projector_positions, timers

log = structlog.get_logger(__name__)

_CHUNK = 5_000


def relocate(
    source: Engine,
    target: Engine,
    processor: str,
    tables: Sequence[Table],
    clocks: Sequence[str] = (),
) -> int:
    """Move ``processor``'s state from ``source`` to ``target`` if it is still
    in ``source``; how many rows were moved."""
    if source.url == target.url:
        return 0
    with source.begin() as old:
        if not _has_positions(old, processor):
            return 0
        moved = 0
        with target.begin() as new:
            if not _has_positions(new, processor):
                moved = _copy_state(old, new, processor, tables, clocks)
        if moved:
            where = target.url.render_as_string()
            log.warning("moved a processor's state", processor=processor, rows=moved, to=where)
        # Only once the new side has committed.
        for table in reversed(tables):  # rows that refer to others first
            old.execute(delete(table))
        p, t = projector_positions.c, timers.c
        old.execute(delete(projector_positions).where(p.projector == processor))
        old.execute(delete(timers).where(t.processor == processor))
    return moved


def _copy_state(
    old: Connection,
    new: Connection,
    processor: str,
    tables: Sequence[Table],
    clocks: Sequence[str],
) -> int:
    moved = sum(_copy(old, new, table, select(table)) for table in tables)
    for table, column in ((projector_positions, "projector"), (timers, "processor")):
        moved += _copy(old, new, table, select(table).where(table.c[column] == processor))
    c = processor_clocks.c
    for name in clocks:
        version = old.execute(select(c.version).where(c.name == name)).scalar_one_or_none()
        if version is not None:
            new.execute(update(processor_clocks).where(c.name == name).values(version=version))
    return moved


def _has_positions(connection: Connection, processor: str) -> bool:
    p = projector_positions.c
    query = select(p.projector).where(p.projector == processor).limit(1)
    return connection.execute(query).first() is not None


def _copy(old: Connection, new: Connection, table: Table, query: Select[Any]) -> int:
    rows = [dict(row) for row in old.execute(query).mappings()]
    for start in range(0, len(rows), _CHUNK):
        new.execute(insert(table), rows[start : start + _CHUNK])
    return len(rows)
