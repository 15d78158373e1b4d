"""Timers: set in a batch's transaction, fired by the injected clock into the
log, once; tests move the clock instead of sleeping."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from sqlalchemy import Connection, Engine, func, select

from tests.conftest import DAY
from tests.helpers import ann_story, runner_for
from touchline.bootstrap import Backbone
from touchline.events import Envelope
from touchline.log.port import TopicPartition
from touchline.processing.clock import ManualClock
from touchline.processing.port import EVENTS, CancelTimer, Outcome, Processor, Timer
from touchline.processing.runner import ProcessorRunner
from touchline.store.tables import timers
from touchline.store.timers import StoredTimer, cancel_timers, set_timers

FOLLOW_UP = timedelta(days=3)


def _follow_up_id(event: Envelope) -> UUID:
    return uuid5(NAMESPACE_URL, f"https://touchline.dev/test/follow-up/{event.id}")


class _FollowUps(Processor[Envelope]):
    """Sets a follow-up three days after each event; the last event cancels
    the second one's; records the follow-ups that come back from the log."""

    name = "follow-ups"
    reads = EVENTS

    def __init__(self, topic: str, cancel_by: UUID, cancels: UUID) -> None:
        self.source_topic = topic
        self.cancel_by, self.cancels = cancel_by, cancels
        self.followed_up: list[UUID] = []
        self.mine: set[UUID] = set()

    def process(self, _connection: Connection, events: Sequence[Envelope]) -> Outcome:
        outcome = Outcome.nothing()
        for event in events:
            if event.id in self.mine:
                self.followed_up.append(event.id)
                continue
            if event.id == self.cancel_by:
                outcome.timers.append(CancelTimer(f"follow-up:{self.cancels}"))
                continue
            follow_up = msgspec.structs.replace(event, id=_follow_up_id(event), recorded_at=None)
            self.mine.add(follow_up.id)
            outcome.timers.append(
                Timer(
                    name=f"follow-up:{event.id}",
                    due_at=event.occurred_at + FOLLOW_UP,
                    topic=self.source_topic,
                    key=b"follow-ups",
                    event=follow_up,
                )
            )
        return outcome


def _run(runner: ProcessorRunner) -> None:
    while runner.fire_due() + runner.step():
        pass


def _pending(backbone: Backbone) -> int:
    with backbone.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(timers)).scalar_one())


def test_timers_fire_once_by_the_clock_and_a_cancelled_one_never(backbone: Backbone) -> None:
    first, second, third = story = ann_story(DAY)
    backbone.publisher.publish(story)
    clock = ManualClock(DAY)
    topic = backbone.settings.topics.touchpoints
    processor = _FollowUps(topic, cancel_by=third.id, cancels=second.id)
    runner = runner_for(backbone, processor, clock=clock)
    _run(runner)
    assert processor.followed_up == []
    assert _pending(backbone) == 1, "the second follow-up was cancelled, the first waits"

    clock.advance(FOLLOW_UP)  # DAY + 3 days: the first follow-up (at DAY) is due
    _run(runner)
    assert processor.followed_up == [_follow_up_id(first)]
    assert _pending(backbone) == 0
    assert runner.stats.timers_fired == 1

    clock.advance(timedelta(days=30))
    _run(runner)
    assert processor.followed_up == [_follow_up_id(first)], "fired once, and never the cancelled"

    # What went into the log: the timer's event, stamped with its due time.
    fired = [
        backbone.codec.decode(record.value)
        for partition in range(backbone.log.partitions(topic))
        for record in backbone.log.read(TopicPartition(topic, partition), 0, 100)
        if record.key == b"follow-ups"
    ]
    assert [event.id for event in fired] == [_follow_up_id(first)]
    assert fired[0].recorded_at == first.occurred_at + FOLLOW_UP


def test_setting_a_timer_again_moves_it(backbone: Backbone) -> None:
    first, *_ = ann_story(DAY)
    backbone.publisher.publish([first])
    clock = ManualClock(DAY)
    topic = backbone.settings.topics.touchpoints
    processor = _FollowUps(topic, cancel_by=first.id, cancels=first.id)
    processor.cancel_by = _follow_up_id(first)  # nothing cancels here
    runner = runner_for(backbone, processor, clock=clock)
    _run(runner)
    # The same event again (a channel re-sends it): its timer is set again, not doubled.
    backbone.publisher.publish([first])
    _run(runner)
    assert _pending(backbone) == 1
    clock.advance(FOLLOW_UP)
    _run(runner)
    assert processor.followed_up == [_follow_up_id(first)]


def test_a_batch_may_cancel_more_timers_than_a_statement_takes(engine: Engine) -> None:
    """Seventy thousand names at once (PostgreSQL takes 65,535 parameters a statement):
    the ones set go, and nothing fails."""
    kept = StoredTimer("kept", 1, "t", b"k", b"e")
    due = [StoredTimer(f"set-{n}", 1, "t", b"k", b"e") for n in range(3)]
    with engine.begin() as connection:
        set_timers(connection, "p", [*due, kept])
        names = [t.name for t in due] + [f"never-set-{n}" for n in range(70_000)]
        cancel_timers(connection, "p", names)
        left = connection.execute(select(timers.c.name)).scalars().all()
    assert left == ["kept"]
