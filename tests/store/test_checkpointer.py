"""The checkpointer: a stage's commits no longer copy the WAL back into the
database file themselves; its thread does, when poked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert, text

from touchline.processing.embedded import wait_until
from touchline.store.checkpointer import Checkpointer
from touchline.store.engine import make_engine

ROWS = 300
BLOB = 16_384


def _filled(path: Path) -> tuple[Checkpointer, int]:
    """A checkpointer on a new file (not started) after ``ROWS`` commits of
    ``BLOB`` bytes each; the database file's size before any checkpoint."""
    engine = make_engine(f"sqlite:///{path}")
    checkpointer = Checkpointer(engine)
    table = Table(
        "blobs", MetaData(), Column("id", Integer, primary_key=True), Column("b", LargeBinary)
    )
    table.metadata.create_all(engine)
    for n in range(ROWS):
        with engine.begin() as connection:
            connection.execute(insert(table), {"id": n, "b": os.urandom(BLOB)})
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
    return checkpointer, path.stat().st_size


def test_commits_leave_the_checkpoint_to_the_thread(tmp_path: Path) -> None:
    """Nearly 5 MiB committed, past SQLite's own 1,000-page trigger, and the
    file has not grown: no commit checkpointed. Poked, the thread copies it all."""
    path = tmp_path / "stage.db"
    checkpointer, before = _filled(path)
    assert before < ROWS * BLOB // 4
    checkpointer.start()
    try:
        checkpointer.poke()
        # The count goes up once the checkpoint has returned, so the copy is
        # whole by then; the file grows while it runs, before the count does.
        assert wait_until(lambda: checkpointer.checkpoints >= 1, timeout=30)
        assert path.stat().st_size > ROWS * BLOB
    finally:
        checkpointer.stop()


def test_only_a_sqlite_file_has_one() -> None:
    with pytest.raises(ValueError, match="not a SQLite file"):
        Checkpointer(make_engine("sqlite://"))
