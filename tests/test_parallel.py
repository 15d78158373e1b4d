"""A process per stage on the embedded default: the same world as one process."""

from __future__ import annotations

import os
import signal
import threading
from datetime import date
from pathlib import Path

from sqlalchemy import select

from tests.conftest import TEST_KEY_SECRET
from touchline import parallel
from touchline.bootstrap import build_backbone
from touchline.config import Settings, load_settings
from touchline.processing.embedded import wait_until
from touchline.simulate import simulate_day
from touchline.store.tables import customer_profiles, customers, identifiers, timeline_entries


def _settings(data_dir: Path, database_url: str = "") -> Settings:
    return load_settings(
        {},
        data_dir=str(data_dir),
        database_url=database_url,
        partitions=4,
        batch_size=100,
        key_secret=TEST_KEY_SECRET,
    )


def _world(settings: Settings) -> tuple[set[tuple[str, str, str]], int, int]:
    """Which customer each identifier belongs to now (customer ids derive from
    event ids, so they are the same in both worlds), and how many timeline
    rows and profiles there are."""
    i, c = identifiers.c, customers.c
    with build_backbone(settings) as backbone:
        with backbone.graph.connect() as connection:
            query = select(i.kind, i.value, c.root_id).join(
                customers, c.customer_id == i.customer_id
            )
            owners = {(kind, value, root) for kind, value, root in connection.execute(query)}
        with backbone.engine.connect() as connection:
            rows = len(connection.execute(select(timeline_entries.c.event_id)).all())
            profiles = len(connection.execute(select(customer_profiles.c.customer_id)).all())
    return owners, rows, profiles


def test_a_process_per_stage_builds_the_world_one_process_builds(tmp_path: Path) -> None:
    _, events = simulate_day(date(2026, 11, 20), 150, seed=3)
    split = _settings(tmp_path / "split")
    single = _settings(tmp_path / "single", f"sqlite:///{tmp_path / 'single.db'}")
    for settings in (split, single):
        with build_backbone(settings) as backbone:
            assert not backbone.publisher.publish(events).rejected
            assert backbone.parallel == (settings is split)
            # Each event is taken by the resolver and again by the timeline.
            assert parallel.catch_up(backbone) >= 2 * len(events)
            for runner in backbone.runners:
                runner.forget()
                assert sum(runner.lag().values()) == 0, runner.processor.name
    assert (tmp_path / "split" / "identity.db").exists()
    split_world, single_world = _world(split), _world(single)
    assert split_world == single_world
    assert split_world[1] >= len(events)


def test_each_stage_reports_its_cpu_time_and_what_it_took(tmp_path: Path) -> None:
    """What the embedded benchmark prints per stage: read once the stages
    are stopped, so the last batch's report is in."""
    _, events = simulate_day(date(2026, 11, 20), 100, seed=4)
    with build_backbone(_settings(tmp_path / "data")) as backbone:
        assert not backbone.publisher.publish(events).rejected
        stages = parallel.Stages(backbone)
        assert stages.cpu_seconds() == {}
        with stages:
            stages.until_caught_up()
        cpu = stages.cpu_seconds()
        assert set(cpu) == {runner.processor.name for runner in backbone.runners}
        assert all(seconds > 0 for seconds in cpu.values()), cpu
        # Each event is taken by the resolver and again by the timeline.
        assert stages.taken() >= 2 * len(events)


def test_catching_up_is_settled_only_once_every_stage_has_gone_idle(tmp_path: Path) -> None:
    """The check that settles a catch-up reads every stage's positions and
    the log's ends; the supervisor makes it only when each stage's last
    round found nothing to take, not on a timer while the stages work."""
    _, events = simulate_day(date(2026, 11, 20), 100, seed=5)
    seen: list[dict[str, bool]] = []

    class Watched(parallel.Stages):
        def waiting(self) -> int:
            seen.append(self.idle())
            return super().waiting()

    with build_backbone(_settings(tmp_path / "data")) as backbone:
        assert not backbone.publisher.publish(events).rejected
        with Watched(backbone) as stages:
            stages.until_caught_up()
        assert seen, "caught up without checking"
        assert all(all(idle.values()) for idle in seen), seen
        for runner in backbone.runners:
            runner.forget()
            assert sum(runner.lag().values()) == 0, runner.processor.name


def test_a_stage_that_dies_is_reported_by_name(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data")
    with build_backbone(settings) as backbone, parallel.Stages(backbone) as stages:
        os.kill(stages.pids()["identity-resolver"], signal.SIGKILL)

        def reported() -> bool:
            try:
                stages.check()
            except parallel.StageFailed as error:
                return "the identity-resolver stage stopped (exit code -9)" in str(error)
            return False

        assert wait_until(reported, timeout=30)


def test_stopping_never_waits_on_a_stage_killed_in_its_sleep(tmp_path: Path) -> None:
    """An idle stage sleeps between polls; killed there, it must not hold up
    the parent's way out (a multiprocessing Event once did: setting it waits
    for every sleeper to wake)."""
    settings = _settings(tmp_path / "data")
    with build_backbone(settings) as backbone:
        stages = parallel.Stages(backbone)
        stages.start()
        try:
            # Idle (nothing published), it sleeps between rounds: once it has
            # gone round a few times, a kill most likely finds it asleep.
            assert wait_until(lambda: stages.rounds()["timeline"] >= 3, timeout=30)
            os.kill(stages.pids()["timeline"], signal.SIGKILL)
        finally:
            stopping = threading.Thread(target=stages.stop)
            stopping.start()
            stopping.join(timeout=60)
        assert not stopping.is_alive(), "the parent hung stopping its stages"


def test_a_data_directory_from_one_database_days_moves_the_graph_once(tmp_path: Path) -> None:
    """A data directory from before the split kept the identity graph in
    projections.db: on the first start the graph and the resolver's positions
    move to identity.db, so nothing is resolved again (which could pick other
    customer ids than the timeline holds)."""
    data = tmp_path / "data"
    _, events = simulate_day(date(2026, 11, 20), 60, seed=5)
    before = _settings(data, f"sqlite:///{data / 'projections.db'}")
    with build_backbone(before) as backbone:
        assert not backbone.publisher.publish(events).rejected
        backbone.runtime.catch_up()
    old_world = _world(before)

    after = _settings(data)
    with build_backbone(after) as backbone:
        assert (data / "identity.db").exists()
        for runner in backbone.runners:
            assert sum(runner.lag().values()) == 0, f"{runner.processor.name} starts over"
        assert parallel.catch_up(backbone) == 0
        with backbone.engine.connect() as connection:
            left = connection.execute(select(identifiers.c.value)).first()
        assert left is None, "the graph stayed behind in projections.db too"
    assert _world(after) == old_world
