"""A stage's SQLite file checkpointed from a thread of its own.

In WAL mode a commit appends the changed pages to the ``-wal`` file, and a
checkpoint copies them back into the database file, with an fsync of each.
By default the connection that commits past 1,000 pages runs the checkpoint
there and then, so a stage process waits on those copies and fsyncs inside
its loop, and on a 2-core machine with a stage per core that core idles
meanwhile. Here the stage's own connections never checkpoint
(``wal_autocheckpoint=0``), and a thread does it after each round, while the
stage decodes and folds its next batch (SQLite releases the GIL as it works).

A checkpoint copies only what no reader still needs, and the WAL starts
again from its beginning only once a checkpoint has copied all of it; so
that a WAL that never catches up cannot grow without bound, past
:data:`RESTART_PAGES` the thread runs a ``RESTART`` checkpoint, which waits
for the stage's current transaction and holds the next one back until done.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import structlog
from sqlalchemy import Engine, event

log = structlog.get_logger(__name__)

RESTART_PAGES = 16_384
"""WAL pages (256 MiB of 16 KiB pages) past which the thread waits for the
stage to copy everything back and start the WAL again."""
_IDLE_S = 1.0
"""The longest a written page waits for its checkpoint when no round pokes."""


class Checkpointer:
    """Checkpoints ``engine``'s SQLite file after each :meth:`poke`."""

    def __init__(self, engine: Engine) -> None:
        path = engine.url.database
        if engine.dialect.name != "sqlite" or not path or path == ":memory:":
            raise ValueError(f"not a SQLite file: {engine.url!r}")
        self._path = path
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        # The engine's connections must not checkpoint on commit any more:
        # those open now are closed, and each new one is told at its start.
        event.listen(engine, "connect", _no_autocheckpoint)
        engine.dispose()
        self.checkpoints = 0

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def poke(self) -> None:
        """Something may have been committed: checkpoint soon."""
        self._due.set()

    def stop(self) -> None:
        self._stopping = True
        self._due.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        connection = sqlite3.connect(self._path, isolation_level=None, timeout=30)
        try:
            while not self._stopping:
                self._due.wait(_IDLE_S)
                self._due.clear()
                self._checkpoint(connection)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            _busy, pages, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if pages > RESTART_PAGES:
                connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            self.checkpoints += 1
        except sqlite3.Error as error:  # the next poke tries again; commits go on meanwhile
            log.warning("checkpoint failed", path=self._path, error=str(error))


def _no_autocheckpoint(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()
