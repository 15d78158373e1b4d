"""``touchline partner-orders watch`` as a process: ``--once`` and its exit
status, and a kill -9 in the middle of a file: restarted, it publishes every
good line exactly once and files the file in done/."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.commands import Running
from tests.inbound.conftest import EXAMPLE
from tests.inbound.orders import appended, drop, placed_lines, types_of
from touchline import exit_codes
from touchline.bootstrap import Backbone
from touchline.processing.embedded import wait_until
from touchline.store.tables import accepted_events

pytestmark = pytest.mark.slow


def _remembered(backbone: Backbone) -> int:
    """How many event ids the publishers' ledger holds."""
    with backbone.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(accepted_events)) or 0


def _once(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "touchline.cli", "partner-orders", "watch", str(folder), "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class Watcher(Running):
    """A ``touchline partner-orders watch`` process, looking every 0.05 s."""

    def __init__(self, folder: Path, env: dict[str, str], *args: str) -> None:
        super().__init__(env, "partner-orders", "watch", str(folder), "--interval", "0.05", *args)


def test_once_takes_the_files_there_and_says_how_it_went(
    folder: Path, env: dict[str, str], backbone: Backbone
) -> None:
    """All lines good: 0; some reported: 1 (REFUSED), with a line per file."""
    drop(folder, "good.csv", placed_lines(3))
    done = _once(folder, env)
    assert done.returncode == exit_codes.OK, done.stderr
    assert "good.csv: 3 lines, 3 accepted, 0 duplicates, 0 reported -> done/good.csv" in done.stdout
    assert _remembered(backbone) == 3
    drop(folder, EXAMPLE.name, EXAMPLE.read_bytes())
    mixed = _once(folder, env)
    assert mixed.returncode == exit_codes.REFUSED, mixed.stderr
    assert "6 accepted, 1 duplicates, 7 reported" in mixed.stdout
    assert (folder / "done" / f"{EXAMPLE.name}.errors.jsonl").exists()
    missing = _once(folder / "nowhere", env)
    assert missing.returncode == exit_codes.USAGE
    assert "is not a folder" in missing.stderr


def test_a_kill_9_mid_file_loses_and_doubles_nothing(
    folder: Path, env: dict[str, str], backbone: Backbone
) -> None:
    """Killed after appending its first chunk and before remembering it (the
    worst moment), the watcher restarted reads the file again from line 1:
    every order once on its customer's timeline, the file in done/."""
    orders = 40
    system = backbone.engine.url.database
    assert system is not None
    # Hold the system database's write lock: the watcher appends its first
    # chunk to the log, then waits on the lock to record the ids it accepted.
    lock = sqlite3.connect(system, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        drop(folder, "orders.csv", placed_lines(orders))
        watcher = Watcher(folder, env, "--chunk", "10")
        assert wait_until(lambda: appended(backbone) > 0, timeout=60)
        assert watcher.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        lock.rollback()
        lock.close()
    assert (folder / "processing" / "orders.csv").exists()  # killed mid-file
    assert _remembered(backbone) == 0  # the first chunk is in the log, not in the ledger
    restarted = Watcher(folder, env)
    assert wait_until((folder / "done" / "orders.csv").exists, timeout=60)
    assert restarted.stop(signal.SIGTERM) == 0
    assert not (folder / "done" / "orders.csv.errors.jsonl").exists()
    assert _remembered(backbone) == orders
    backbone.runtime.catch_up()
    for n in range(1, orders + 1):
        assert types_of(backbone, f"partner:P-WEST/c-{n}") == ["partner.order_placed"]
