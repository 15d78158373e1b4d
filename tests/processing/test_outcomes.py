"""What a processor raises decides the batch's fate: retry later, dead-letter
the one event, or stop with a clear message. Real log, real store (SQLite
and PostgreSQL), the runner as production builds it."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Sequence

import pytest
from sqlalchemy import Connection

from tests.conftest import DAY
from tests.helpers import ann_story, runner_for
from touchline.bootstrap import Backbone
from touchline.events import Envelope
from touchline.processing.embedded import EmbeddedRuntime, wait_until
from touchline.processing.port import EVENTS, Outcome, Processor, ProcessorStopped, RetryLater


class _Moody(Processor[Envelope]):
    """Raises what it is told to, once each, then applies."""

    name = "moody"
    reads = EVENTS

    def __init__(self, topic: str, *raises: BaseException) -> None:
        self.source_topic = topic
        self.raises = list(raises)
        self.applied: list[str] = []

    def process(self, _connection: Connection, events: Sequence[Envelope]) -> Outcome:
        if self.raises:
            raise self.raises.pop(0)
        self.applied.extend(str(e.id) for e in events)
        return Outcome.nothing()


def _letters(backbone: Backbone) -> int:
    topic = backbone.settings.topics.dead_letter
    ends = backbone.log.end_offsets(topic)
    return sum(ends.values())


def _published(backbone: Backbone) -> list[str]:
    story = ann_story(DAY)
    assert not backbone.publisher.publish(story).rejected
    return [str(event.id) for event in story]


@pytest.mark.parametrize(
    "transient",
    [
        RetryLater("the partner API answered 503", after=0),
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=["retry-later", "smtp", "connection"],
)
def test_a_transient_failure_keeps_the_batch_and_dead_letters_nothing(
    backbone: Backbone, transient: Exception
) -> None:
    ids = _published(backbone)
    moody = _Moody(backbone.settings.topics.touchpoints, transient)
    runner = runner_for(backbone, moody)
    waiting = sum(runner.lag().values())

    with pytest.raises(RetryLater, match=type(transient).__name__ + "|503") as raised:
        runner.step()
    if not isinstance(transient, RetryLater):
        assert "moody on " in str(raised.value)
    assert sum(runner.lag().values()) == waiting, "a retried batch must not move the position"
    assert _letters(backbone) == 0
    assert runner.stats.retries == 1

    while runner.step():
        pass
    assert sorted(moody.applied) == sorted(ids)
    assert sum(runner.lag().values()) == 0
    assert _letters(backbone) == 0


def test_a_fault_in_the_processor_stops_it_with_where_and_commits_nothing(
    backbone: Backbone,
) -> None:
    ids = _published(backbone)
    moody = _Moody(backbone.settings.topics.touchpoints, AttributeError("'NoneType' has no 'x'"))
    runner = runner_for(backbone, moody)
    waiting = sum(runner.lag().values())

    with pytest.raises(ProcessorStopped) as stopped:
        runner.step()
    message = str(stopped.value)
    assert "moody stopped on" in message
    assert "AttributeError: 'NoneType' has no 'x'" in message
    assert "nothing of the batch was committed" in message
    assert sum(runner.lag().values()) == waiting
    assert _letters(backbone) == 0

    # Fixed (it raises no more) and restarted: every event applies, once.
    while runner.step():
        pass
    assert sorted(moody.applied) == sorted(ids)


def test_the_embedded_runtime_backs_off_and_carries_on(backbone: Backbone) -> None:
    ids = _published(backbone)
    moody = _Moody(
        backbone.settings.topics.touchpoints,
        RetryLater("relay busy", after=0),
        OSError("network unreachable"),
    )
    runtime = EmbeddedRuntime([runner_for(backbone, moody)], idle_sleep=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=runtime.run, args=(stop,), kwargs={"max_backoff": 0.05})
    thread.start()
    try:
        assert wait_until(lambda: len(moody.applied) == len(ids), timeout=60)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert _letters(backbone) == 0


def test_a_data_error_retries_the_batch_one_by_one(backbone: Backbone) -> None:
    """A data error keeps its path (tests/handlers/test_pipeline.py has the
    poison event): one by one, and here every event applies the second time."""
    _published(backbone)
    moody = _Moody(backbone.settings.topics.touchpoints, ValueError("no such offer"))
    runner = runner_for(backbone, moody)
    while runner.step():
        pass
    # The whole first batch failed once; retried singly, every event applied.
    assert _letters(backbone) == 0
    assert len(moody.applied) == 3
