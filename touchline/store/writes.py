"""Idempotent inserts in the connection's dialect: the primary key is the
idempotency key, so a redelivered event changes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT in the connection's dialect, which has ON CONFLICT clauses."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignoring_duplicates(connection: Connection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the connection's dialect: the
    primary key is the idempotency key, so a redelivered event changes nothing."""
    return dialect_insert(connection, table).on_conflict_do_nothing()


def bulk_insert_ignoring_duplicates(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, object]]
) -> int:
    """Many rows, ignoring ones already there, in one driver-level executemany;
    how many went in (psycopg and sqlite3 both sum an executemany's row counts).

    The statement is compiled once per dialect, table and column set; rows go
    straight to the driver, skipping SQLAlchemy's per-row parameter processing
    (about 7 us a row, a third of the timeline's cost). That is safe only for
    columns of plain str, int, bytes or None, which is all these tables hold.
    """
    return _bulk(connection, table, rows, update=())


def bulk_insert_values_ignoring_duplicates(
    connection: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[object, ...]],
) -> int:
    """:func:`bulk_insert_ignoring_duplicates` for rows already made as
    tuples in ``columns``' order: on SQLite they go to the driver as they
    are, with no dict made and read back per row (about 3 µs a timeline row)."""
    return _bulk_values(connection, table, columns, rows, update=(), key=())


def bulk_upsert_values(
    connection: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[object, ...]],
    *,
    key: Sequence[str],
    update: Sequence[str],
) -> None:
    """:func:`bulk_upsert` for rows already made as tuples in ``columns``'
    order, as :func:`bulk_insert_values_ignoring_duplicates` is to inserts."""
    _bulk_values(connection, table, columns, rows, update=tuple(update), key=tuple(key))


def _bulk_values(
    connection: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[object, ...]],
    *,
    update: tuple[str, ...],
    key: tuple[str, ...],
) -> int:
    if not rows:
        return 0
    sql, order = _compiled(connection, table, columns, update, key)
    if order is None:  # named parameters (PostgreSQL): the driver wants mappings
        parameters: list[Any] = [dict(zip(columns, row, strict=True)) for row in rows]
    elif order == columns:
        parameters = list(rows)
    else:
        places = [columns.index(name) for name in order]
        parameters = [tuple(row[place] for place in places) for row in rows]
    return connection.exec_driver_sql(sql, parameters).rowcount


def bulk_upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, object]],
    *,
    key: Sequence[str],
    update: Sequence[str],
) -> None:
    """Many rows, replacing ``update`` columns of the ones whose ``key`` is
    there already; driver-level like :func:`bulk_insert_ignoring_duplicates`."""
    _bulk(connection, table, rows, update=tuple(update), key=tuple(key))


def _bulk(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, object]],
    *,
    update: tuple[str, ...],
    key: tuple[str, ...] = (),
) -> int:
    if not rows:
        return 0
    columns = tuple(rows[0])
    sql, order = _compiled(connection, table, columns, update, key)
    if order is None:
        result = connection.exec_driver_sql(sql, list(rows))
    else:
        result = connection.exec_driver_sql(
            sql, [tuple(row[name] for name in order) for row in rows]
        )
    return result.rowcount


_Key = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_COMPILED: dict[_Key, tuple[str, tuple[str, ...] | None]] = {}


def _compiled(
    connection: Connection,
    table: Table,
    columns: tuple[str, ...],
    update: tuple[str, ...],
    key: tuple[str, ...],
) -> tuple[str, tuple[str, ...] | None]:
    """The statement's SQL and its parameters' order, compiled once per
    dialect, table, column set and conflict rule."""
    cache_key = (connection.dialect.name, table.name, columns, update, key)
    if cache_key not in _COMPILED:
        insert = dialect_insert(connection, table)
        if update:
            statement = insert.on_conflict_do_update(
                index_elements=list(key),
                set_={column: insert.excluded[column] for column in update},
            )
        else:
            statement = insert.on_conflict_do_nothing()
        compiled = statement.compile(dialect=connection.dialect, column_keys=list(columns))
        positions = compiled.positiontup
        order = tuple(positions) if compiled.positional and positions else None
        _COMPILED[cache_key] = (str(compiled), order)
    return _COMPILED[cache_key]
