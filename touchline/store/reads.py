"""Hot-path lookups by a list of keys, at the driver level.

``column.in_(values)`` makes SQLAlchemy expand and render the statement
again on every call (its "expanding" parameters): for a batch's few thousand
ids that took about a tenth of the timeline's time. Here the SQL is written
once per placeholder count, and the driver gets the values as they are.
Only for columns of plain str, int or bytes, which is all these tables hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, Connection, Table

CHUNK = 500
"""Values per statement: under SQLite's and PostgreSQL's parameter limits."""


def rows_where_in(
    connection: Connection,
    table: Table,
    columns: Sequence[Column[Any]],
    key: Column[Any],
    values: Sequence[object],
    *,
    also: tuple[Column[Any], object] | None = None,
) -> list[tuple[Any, ...]]:
    """``SELECT columns FROM table WHERE key IN values [AND also[0] = also[1]]``."""
    rows: list[tuple[Any, ...]] = []
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    names = tuple(column.name for column in columns)
    extra = None if also is None else also[0].name
    for start in range(0, len(values), CHUNK):
        chunk = list(values[start : start + CHUNK])
        sql = _select(table.name, names, key.name, count=len(chunk), mark=mark, extra=extra)
        params = (*chunk, also[1]) if also is not None else tuple(chunk)
        rows.extend(connection.exec_driver_sql(sql, params).all())
    return rows


@cache
def _select(
    table: str, columns: tuple[str, ...], key: str, *, count: int, mark: str, extra: str | None
) -> str:
    where = f"{key} IN ({', '.join([mark] * count)})"
    if extra is not None:
        where += f" AND {extra} = {mark}"
    return f"SELECT {', '.join(columns)} FROM {table} WHERE {where}"
