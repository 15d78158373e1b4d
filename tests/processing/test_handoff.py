"""The interactions are a hand-off: deleted once every reader has stored its
position past them, never before, and a reader the log has left behind stops
and says so. Real SQLite log; stores on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import select

from tests.conftest import TEST_KEY_SECRET
from touchline import parallel
from touchline.bootstrap import Backbone, build_backbone
from touchline.cli import main
from touchline.config import Settings, load_settings
from touchline.log.sqlite import SqliteLog
from touchline.processing.embedded import wait_until
from touchline.processing.handoff import HandOff
from touchline.processing.port import ProcessorStopped
from touchline.processing.runner import ProcessorRunner
from touchline.simulate import simulate_day
from touchline.store.tables import timeline_entries


def _publish(backbone: Backbone, customers: int, seed: int) -> set[str]:
    """The ids of the events published that belong on a timeline (a
    campaign's launch names no customer)."""
    _, events = simulate_day(date(2026, 11, 20), customers, seed=seed)
    assert not backbone.publisher.publish(events).rejected
    return {str(e.id) for e in events if any(msgspec.structs.astuple(e.identities))}


def _runner(backbone: Backbone, name: str) -> ProcessorRunner:
    return next(runner for runner in backbone.runners if runner.processor.name == name)


def _kept(backbone: Backbone) -> int:
    topic = backbone.settings.topics.interactions
    ends, starts = backbone.log.end_offsets(topic), backbone.log.start_offsets(topic)
    return sum(ends[p] - starts[p] for p in ends)


def _in_timeline(backbone: Backbone) -> set[str]:
    """The ids of the events on any timeline: those published, and those the
    synchronizer emitted (an offer made, say)."""
    with backbone.engine.connect() as connection:
        return set(connection.execute(select(timeline_entries.c.event_id)).scalars())


def test_an_interaction_is_deleted_once_every_reader_has_stored_past_it(
    backbone: Backbone,
) -> None:
    handoff = backbone.handoff
    assert handoff is not None
    assert {runner.processor.name for runner in handoff.readers} == {"timeline", "synchronizer"}
    published = _publish(backbone, 40, seed=1)
    while _runner(backbone, "identity-resolver").step():
        pass
    kept = _kept(backbone)
    assert kept > 0
    assert handoff.trim() == 0  # no reader has taken anything yet
    while _runner(backbone, "timeline").step():
        pass
    # The synchronizer has stored no position: it holds everything back.
    assert handoff.trim() == 0
    assert _kept(backbone) == kept
    backbone.runtime.catch_up()
    assert handoff.trim() > 0
    assert _kept(backbone) == 0
    # What the readers built stands, and they read on from where they were.
    assert published <= _in_timeline(backbone)
    rows = len(_in_timeline(backbone))
    assert backbone.runtime.catch_up() == 0
    more = _publish(backbone, 10, seed=2)
    assert backbone.runtime.catch_up() >= len(more)
    assert published | more <= _in_timeline(backbone)
    assert len(_in_timeline(backbone)) >= rows + len(more)
    assert handoff.trim() > 0
    assert _kept(backbone) == 0


def test_a_trim_deletes_at_most_a_chunk_of_each_partition(backbone: Backbone) -> None:
    _publish(backbone, 40, seed=3)
    backbone.runtime.catch_up()
    topic = backbone.settings.topics.interactions
    assert isinstance(backbone.log, SqliteLog)
    readers = [runner for runner in backbone.runners if runner.topic == topic]
    handoff = HandOff(backbone.log, topic, readers, every=60, chunk=2)
    ends = backbone.log.end_offsets(topic)
    deleted = handoff.trim()
    starts = backbone.log.start_offsets(topic)
    assert starts == {p: min(2, end) for p, end in ends.items()}
    assert deleted == sum(starts.values())


def test_a_trim_is_due_every_so_many_seconds_unless_it_left_more(backbone: Backbone) -> None:
    _publish(backbone, 20, seed=4)
    backbone.runtime.catch_up()
    now = [100.0]
    topic = backbone.settings.topics.interactions
    assert isinstance(backbone.log, SqliteLog)
    readers = [runner for runner in backbone.runners if runner.topic == topic]
    handoff = HandOff(backbone.log, topic, readers, every=5, chunk=1, clock=lambda: now[0])
    # The first call trims at once; while a chunk leaves more, the next does too.
    while _kept(backbone):
        assert handoff.due() > 0
    assert handoff.due() == 0  # found nothing more: the next is 5 s away
    _publish(backbone, 5, seed=7)
    backbone.runtime.catch_up()
    now[0] += 4.9
    assert handoff.due() == 0
    now[0] += 0.1
    assert handoff.due() > 0


def test_a_store_older_than_the_log_stops_its_reader_with_a_clear_message(
    backbone: Backbone, tmp_path: Path
) -> None:
    """A fresh store on a trimmed log (new, reset, or an older backup)."""
    _publish(backbone, 20, seed=5)
    backbone.runtime.catch_up()
    assert backbone.handoff is not None
    assert backbone.handoff.trim() > 0
    fresh = load_settings(
        {},
        data_dir=backbone.settings.data_dir,
        database_url=f"sqlite:///{tmp_path / 'fresh.db'}",
        partitions=backbone.settings.partitions,
        key_secret=TEST_KEY_SECRET,
    )
    with build_backbone(fresh, only=["timeline"]) as behind:
        with pytest.raises(ProcessorStopped, match=r"timeline stored position 0 on touchline"):
            behind.runtime.catch_up()
        assert not _in_timeline(behind)


def test_lag_tells_what_the_hand_off_keeps_and_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path / "data")
    with build_backbone(settings) as backbone:
        _publish(backbone, 20, seed=8)
        backbone.runtime.catch_up()
        assert backbone.handoff is not None
        kept, deleted = backbone.handoff.kept()
        assert kept > 0
        assert deleted == 0
        backbone.handoff.trim()
        assert backbone.handoff.kept() == (0, kept)
    monkeypatch.setenv("TOUCHLINE_PARTITIONS", str(settings.partitions))
    assert main(["--data-dir", settings.data_dir, "lag"]) == 0
    shown = capsys.readouterr().out
    assert f"touchline.interactions: 0 records kept, {kept} deleted once every reader" in shown


def test_kept_whole_with_retention_all(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "data", interactions_retention="all")
    with build_backbone(settings) as backbone:
        assert backbone.handoff is None
    with pytest.raises(ValueError, match="interactions_retention"):
        load_settings({"TOUCHLINE_INTERACTIONS_RETENTION": "forever"})


def test_only_a_backbone_with_every_reader_trims(tmp_path: Path) -> None:
    """A stage's process builds one processor: it must not decide for the others."""
    with build_backbone(_settings(tmp_path / "data"), only=["timeline"]) as backbone:
        assert backbone.handoff is None


@pytest.mark.parametrize("split", [True, False], ids=["a-process-per-stage", "one-process"])
def test_a_running_backbone_trims_what_every_reader_took(tmp_path: Path, split: bool) -> None:
    """``touchline run``: the supervisor (or the one process) trims as it goes."""
    database = "" if split else f"sqlite:///{tmp_path / 'one.db'}"
    settings = _settings(tmp_path / "data", database_url=database, interactions_trim_seconds=0.05)
    with build_backbone(settings) as backbone:
        assert backbone.parallel == split
        published = _publish(backbone, 40, seed=6)
        interactions = backbone.settings.topics.interactions
        stop = threading.Event()
        thread = threading.Thread(target=parallel.run, args=(backbone, stop))
        thread.start()
        try:
            # Every event in the timeline, and every interaction trimmed.
            assert wait_until(
                lambda: published <= _in_timeline(backbone) and _kept(backbone) == 0,
                timeout=60,
            )
        finally:
            stop.set()
            thread.join()
        assert sum(backbone.log.start_offsets(interactions).values()) > 0


def _settings(data_dir: Path, **overrides: object) -> Settings:
    return load_settings(
        {},
        data_dir=str(data_dir),
        partitions=4,
        batch_size=100,
        key_secret=TEST_KEY_SECRET,
        **overrides,
    )
