"""Kill -9 the embedded runner mid-batch, restart it: every event exactly once,
with the hand-off deleting the interactions every reader has taken meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import DAY, TEST_KEY_SECRET
from tests.helpers import event
from touchline.bootstrap import build_backbone
from touchline.config import Settings, load_settings
from touchline.events import Identities
from touchline.events.email import EmailOpened
from touchline.processing.embedded import wait_until
from touchline.store.engine import make_engine
from touchline.store.tables import timeline_entries

EVENTS = 30_000


def _runner(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TOUCHLINE_DATA_DIR": settings.data_dir,
        "TOUCHLINE_DATABASE_URL": settings.database_url,
        "TOUCHLINE_PARTITIONS": str(settings.partitions),
        "TOUCHLINE_BATCH_SIZE": "250",
        # The hand-off deletes interactions all the while, so a kill may land
        # between a stage's commit and a deletion, or in one.
        "TOUCHLINE_INTERACTIONS_TRIM_SECONDS": "0.05",
    }
    if not settings.database_url:
        del env["TOUCHLINE_DATABASE_URL"]
    return subprocess.Popen(
        [sys.executable, "-m", "touchline.cli", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux: read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            # The second field (the command) is in parentheses and may hold spaces.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_kill_minus_nine_mid_batch_loses_and_doubles_nothing(settings: Settings) -> None:
    """A runner killed with SIGKILL while projecting resumes from stored positions
    (on PostgreSQL, with each stage in a process of its own)."""
    _kill_and_restart(settings)


@pytest.mark.slow
def test_kill_minus_nine_with_a_process_per_stage(tmp_path: Path) -> None:
    """The embedded default (a SQLite file per stage, a process per stage):
    the stages die with the runner, and the restart loses and doubles nothing."""
    settings = load_settings(
        {}, data_dir=str(tmp_path / "data"), partitions=4, key_secret=TEST_KEY_SECRET
    )
    _kill_and_restart(settings)


def _kill_and_restart(settings: Settings) -> None:
    published = [
        event(
            EmailOpened(message_id=f"m{i}", subject="Spring offer"),
            DAY + timedelta(seconds=i),
            identities=Identities(email=f"c{i % 500}@example.com"),
        )
        for i in range(EVENTS)
    ]
    with build_backbone(settings) as backbone:
        # In channel-sized batches: a record carries a batch's events of one
        # partition, and the runner never splits a record across transactions.
        for start in range(0, EVENTS, 200):
            assert not backbone.publisher.publish(published[start : start + 200]).rejected

    engine = make_engine(settings.resolved_database_url)

    def projected() -> int:
        with engine.connect() as connection:
            count: int = connection.execute(
                select(func.count()).select_from(timeline_entries)
            ).scalar_one()
            return count

    first = _runner(settings)
    try:
        assert wait_until(lambda: projected() >= EVENTS // 10, timeout=120), (
            "runner made no progress"
        )
        stages = _children(first.pid)
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    # A stage left running would go on writing beside the restarted runner.
    assert wait_until(lambda: not any(_alive(pid) for pid in stages), timeout=30)
    at_kill = projected()
    assert at_kill < EVENTS, "the runner finished before it was killed: nothing was tested"

    second = _runner(settings)
    try:
        # Every stage, not only the timeline: the others (the synchronizer)
        # may still be applying their last batch when the timeline is whole.
        with build_backbone(settings, migrate=False) as watching:
            runners = watching.runtime.runners

            def settled() -> bool:
                for runner in runners:
                    runner.forget()  # the runner's processes move the positions
                return projected() >= EVENTS and not any(sum(r.lag().values()) for r in runners)

            assert wait_until(settled, timeout=180), "restart did not finish"
    finally:
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=30)
    assert second.returncode == 0, stderr.decode()

    # Counted after the runner has exited: any (wrong) extra write has landed.
    with engine.connect() as connection:
        ids = connection.execute(select(timeline_entries.c.event_id)).scalars().all()
    engine.dispose()
    assert len(ids) == EVENTS
    assert set(ids) == {str(e.id) for e in published}
    with build_backbone(settings) as backbone:
        assert all(sum(r.lag().values()) == 0 for r in backbone.runtime.runners)
        interactions = backbone.settings.topics.interactions
        assert sum(backbone.log.start_offsets(interactions).values()) > 0, "nothing was deleted"


def test_a_second_runner_on_the_same_data_is_refused(settings: Settings) -> None:
    """Two embedded runners would both apply every batch: the second one stops at once."""
    first = _runner(settings)
    try:
        lock = Path(settings.data_dir) / "runner.lock"
        assert wait_until(lambda: lock.exists() and "pid" in lock.read_text(), timeout=30)
        second = _runner(settings)
        _, stderr = second.communicate(timeout=60)
        assert second.returncode == 2
        assert b"runner.lock is held by pid" in stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
