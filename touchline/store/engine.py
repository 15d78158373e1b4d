"""Engines for the system database: PostgreSQL, or SQLite files on one machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

PAGE_SIZE = 16_384
"""Bytes per page of a new SQLite file."""
CACHE_KIB = 65_536
"""Page cache per SQLite connection (SQLite's default is 2 MiB); it grows
only as pages are read, so a stage's writer fills it and a reader of a few
customers does not. The worst case is a pool's every connection full:
SQLAlchemy's default pool holds up to 15 (5 kept, 10 overflow)."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL so readers never block the projector."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    # Both before anything is written: a page size holds only for a new file
    # (an existing one keeps its own). A projection's index takes random
    # inserts (customer ids), so a batch dirties pages all over it; larger
    # pages and a cache that holds the indexes write and read fewer of them:
    # 26 -> 15 us a timeline row in batches of 8,000 (bench notes, README).
    cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a killed process; only power loss can undo
    # the last commits, and then positions roll back with the rows they cover.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
