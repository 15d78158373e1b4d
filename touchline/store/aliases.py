"""Merge aliasing: where a customer id a projection met lives now.

A ``customer.merged`` event folds one customer into another, but events still
carry the merged id for a while (other partitions, replays, channel systems
that cached it). A projection keyed by customer maps ids through an alias
table, so an event lands where the customer lives now, and a reader asking
for a merged id is sent to its survivor. An unmerge points the restored
customer's ids back at it.

Each processor keeps its own table (the timeline ``timeline_aliases``, the
campaign synchronizer ``campaign_aliases``), written in the transaction
that moves its rows, so its aliases are never ahead of or behind its own
state; this module is the one component they share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Table, delete, insert, select, update

from touchline.store.reads import rows_where_in
from touchline.store.tables import processor_clocks


@dataclass(frozen=True, slots=True)
class AliasTable:
    """A processor's alias table and the ``processor_clocks`` row that guards it."""

    table: Table
    clock: str


class Aliases:
    """The aliases of one batch's customers, loaded once and kept current as
    the batch merges and unmerges (so later events in it land right)."""

    def __init__(
        self,
        connection: Connection,
        customer_ids: Iterable[str],
        where: AliasTable,
        *,
        exclusive: bool,
    ):
        hold(connection, where.clock, exclusive=exclusive)
        self._connection = connection
        self._table = where.table
        self._map = load(connection, where.table, set(customer_ids))

    def __getitem__(self, customer_id: str) -> str:
        """Where ``customer_id``'s events land now (itself when never merged)."""
        return self._map.get(customer_id, customer_id)

    def merge(self, merged: str, survivor: str) -> str:
        """Fold ``merged`` (and whoever had folded into it) into ``survivor``;
        the survivor as it stands (itself perhaps merged before)."""
        survivor = self[survivor]
        table = self._table
        a = table.c
        connection = self._connection
        connection.execute(
            update(table).where(a.survivor_id == merged).values(survivor_id=survivor)
        )
        connection.execute(delete(table).where(a.merged_id == merged))
        connection.execute(insert(table).values(merged_id=merged, survivor_id=survivor))
        for old, target in list(self._map.items()):
            if target == merged:
                self._map[old] = survivor
        self._map[merged] = survivor
        return survivor

    def restore(self, restored: str, owners: Iterable[str]) -> None:
        """Undo a merge: ``restored`` stands alone again, and the ids in
        ``owners`` (customers that had folded into it) point back at it."""
        table = self._table
        a = table.c
        owners = sorted(set(owners))
        connection = self._connection
        connection.execute(delete(table).where(a.merged_id == restored))
        connection.execute(
            update(table).where(a.merged_id.in_(owners)).values(survivor_id=restored)
        )
        self._map.pop(restored, None)
        for merged in set(owners) - {restored}:
            self._map[merged] = restored


def hold(connection: Connection, clock_name: str, *, exclusive: bool) -> None:
    """Lock the aliases' clock row before reading them: workers on other
    partitions read the aliases a merge writes and write rows a merge moves,
    so merges wait for them, and they for merges.

    SQLite has no row locks and pysqlite opens a transaction only at the
    first write, so there a write comes first: it takes the database's one
    write lock, and nothing another worker commits can slip in between.
    """
    clock = processor_clocks.c
    if connection.dialect.name == "sqlite":
        connection.execute(
            update(processor_clocks).where(clock.name == clock_name).values(version=clock.version)
        )
        return
    query = select(clock.version).where(clock.name == clock_name)
    connection.execute(query.with_for_update(read=not exclusive))


def load(connection: Connection, table: Table, customer_ids: set[str]) -> dict[str, str]:
    """The survivor of each of ``customer_ids`` that was merged."""
    if not customer_ids:
        return {}
    a = table.c
    columns = [a.merged_id, a.survivor_id]
    return dict(rows_where_in(connection, table, columns, a.merged_id, sorted(customer_ids)))


def survivor_in(connection: Connection, table: Table, customer_id: str) -> str:
    """A reader's question: where ``customer_id`` lives now (itself when never merged)."""
    return load(connection, table, {customer_id}).get(customer_id, customer_id)
