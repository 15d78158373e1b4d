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
    if not rows:
        return 0
    columns = tuple(rows[0])
    sql, order = _compiled_insert(connection.dialect.name, table, columns, connection)
    if order is None:
        result = connection.exec_driver_sql(sql, list(rows))
    else:
        result = connection.exec_driver_sql(
            sql, [tuple(row[name] for name in order) for row in rows]
        )
    return result.rowcount


_COMPILED: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...] | None]] = {}


def _compiled_insert(
    dialect: str, table: Table, columns: tuple[str, ...], connection: Connection
) -> tuple[str, tuple[str, ...] | None]:
    key = (dialect, table.name, columns)
    if key not in _COMPILED:
        statement = insert_ignoring_duplicates(connection, table)
        compiled = statement.compile(dialect=connection.dialect, column_keys=list(columns))
        positional = compiled.positional and compiled.positiontup
        order = tuple(compiled.positiontup) if positional else None
        _COMPILED[key] = (str(compiled), order)
    return _COMPILED[key]
