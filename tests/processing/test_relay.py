"""The outbox relay: a relayed topic holds each record once, whatever stops when.

A batch's records for the campaign-state feed go to the outbox in the
batch's transaction; the relay appends them after the commit and deletes
them. These tests stop it at each point in between (on the embedded log,
over both stores) and check the feed: every record, in order, exactly once.
The same on a real broker, with a worker killed, is in
``tests/handlers/test_kafka_campaign_feed.py``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine

from tests.conftest import DAY
from tests.helpers import ann_story
from touchline.bootstrap import Backbone, relayed_topics
from touchline.events import Envelope
from touchline.log.port import Log, LogError, Position, Record, TopicPartition
from touchline.log.registry import open_log
from touchline.log.sqlite import SqliteLog
from touchline.processing.embedded import wait_until
from touchline.processing.packing import Packing
from touchline.processing.port import EVENTS, Emit, Outcome, Processor, RetryLater
from touchline.processing.relay import HEADER, Relay, number_of
from touchline.processing.runner import ProcessorRunner
from touchline.store import outbox
from touchline.subscribe import Subscriber

FEED = "feed"


@pytest.fixture
def feed() -> str:
    """A topic no other test uses (the session's broker outlives each test)."""
    return f"feed-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", "kafka"])
def log(request: pytest.FixtureRequest, tmp_path: Path, feed: str) -> Iterator[Log]:
    """The embedded log, or a real broker (a topic of the test's own on the session's)."""
    if request.param == "sqlite":
        opened: Log = SqliteLog(tmp_path / "log.db")
    else:
        bootstrap: str = request.getfixturevalue("kafka_bootstrap")
        opened = open_log(f"kafka://{bootstrap}?timeout_ms=5000&linger_ms=0")
    with opened:
        opened.create_topic(feed, 2)
        yield opened


def _enqueue(engine: Engine, topic: str, partition: int, values: Sequence[bytes]) -> None:
    with engine.begin() as connection:
        outbox.enqueue(connection, topic, [(partition, b"k", value) for value in values])


def _on_log(log: Log, topic: str, partition: int) -> list[tuple[int | None, bytes]]:
    records = log.read(TopicPartition(topic, partition), 0, 1000)
    return [(number_of(record.headers), record.value) for record in records]


def test_each_row_is_appended_once_in_order_then_deleted(
    engine: Engine, log: Log, feed: str
) -> None:
    _enqueue(engine, feed, 0, [b"a", b"b"])
    _enqueue(engine, feed, 1, [b"x"])
    _enqueue(engine, feed, 0, [b"c"])
    relay = Relay(log, engine, [feed], batch=2)  # a batch smaller than what waits
    assert relay.waiting() == 4
    assert relay.run() == 4
    assert _on_log(log, feed, 0) == [(1, b"a"), (2, b"b"), (3, b"c")]
    assert _on_log(log, feed, 1) == [(1, b"x")]
    assert relay.waiting() == 0
    assert relay.run() == 0
    _enqueue(engine, feed, 0, [b"d"])  # numbering goes on past what was deleted
    assert relay.run() == 1
    assert _on_log(log, feed, 0)[-1] == (4, b"d")


def test_rows_a_dead_relay_appended_are_not_appended_again(
    engine: Engine, log: Log, feed: str
) -> None:
    """A relay killed between its append and its delete left rows 1-2 on the log
    and in the outbox: the next relay appends only 3-4."""
    _enqueue(engine, feed, 0, [b"a", b"b", b"c", b"d"])
    log.append(
        feed,
        [
            Record(value=v, key=b"k", headers=((HEADER, str(n).encode()),), partition=0)
            for n, v in ((1, b"a"), (2, b"b"))
        ],
    )
    relay = Relay(log, engine, [feed], batch=100)
    assert relay.run() == 2
    assert _on_log(log, feed, 0) == [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d")]
    assert relay.waiting() == 0


def test_a_partition_retention_emptied_is_relayed_to_again(
    engine: Engine, tmp_path: Path, feed: str
) -> None:
    """Every record of the partition deleted: the relay finds no last number
    (the read below the start raises) and appends what waits after them."""
    with SqliteLog(tmp_path / "retained.db") as log:
        log.create_topic(feed, 1)
        relay = Relay(log, engine, [feed], batch=100)
        _enqueue(engine, feed, 0, [b"a", b"b"])
        relay.run()
        log.delete_records(feed, {0: 2})
        _enqueue(engine, feed, 0, [b"c"])
        assert relay.run() == 1
        [kept] = log.read(TopicPartition(feed, 0), 2, 10)
        assert (number_of(kept.headers), kept.value) == (3, b"c")


class _Unreachable(SqliteLog):
    """The embedded log, with appends to the feed failing while ``away``."""

    away = True

    def append(self, topic: str, records: Sequence[Record]) -> list[Position]:
        if topic == FEED and self.away and records:
            raise LogError("the log is away")
        return super().append(topic, records)


class _ToFeed(Processor[Envelope]):
    """Emits every event it reads onto the feed, keyed by customer."""

    name = "to-feed"
    reads = EVENTS

    def __init__(self, source_topic: str) -> None:
        self.source_topic = source_topic

    def process(self, _connection: Connection, events: Sequence[Envelope]) -> Outcome:
        outcome = Outcome.nothing()
        for event in events:
            outcome.emitted.append(Emit(FEED, (event.customer_id or "-").encode(), event))
        return outcome


def test_a_batch_stands_when_its_relay_fails_and_is_relayed_later(backbone: Backbone) -> None:
    """The log away after the commit: the positions moved, the records wait in
    the outbox, and the next relay appends them, each once."""
    backbone.publisher.publish(ann_story(DAY) + ann_story(DAY + timedelta(days=1)))
    backbone.runtime.catch_up()
    log = _Unreachable(backbone.settings.data_path / "log.db")  # the backbone's own log
    log.create_topic(FEED, 2)
    runner = ProcessorRunner(
        _ToFeed(backbone.settings.topics.interactions),
        log,
        backbone.engine,
        backbone.codec,
        dead_letter_topic=backbone.settings.topics.dead_letter,
        packing={FEED: Packing.PER_EVENT},
        relayed=[FEED],
    )
    while runner.step():
        pass
    taken = runner.stats.processed
    assert taken > 0
    assert runner.lag() == dict.fromkeys(runner.lag(), 0)  # the batches committed
    assert runner.relay.waiting() == taken
    with pytest.raises(RetryLater, match="could not relay its outbox"):
        runner.relay_waiting()
    log.away = False
    assert runner.relay_waiting() == taken
    assert runner.relay_waiting() == 0
    on_feed = [
        backbone.codec.decode(value).id for p in (0, 1) for _, value in _on_log(log, FEED, p)
    ]
    assert len(on_feed) == len(set(on_feed)) == taken
    log.close()


def test_the_campaign_feed_is_relayed(backbone: Backbone) -> None:
    assert backbone.settings.topics.campaign_state in relayed_topics(backbone.settings)
    synchronizer = next(r for r in backbone.runners if r.processor.name == "synchronizer")
    assert synchronizer.relay.topics == (backbone.settings.topics.campaign_state,)


def test_a_subscriber_skips_a_record_the_log_holds_twice(backbone: Backbone) -> None:
    """A producer's retry after a lost acknowledgement can append a record
    twice in a row; the subscriber hands it over once."""
    story = ann_story(DAY)
    codec, log = backbone.codec, backbone.log
    topic = backbone.settings.topics.campaign_state
    numbered = [
        Record(value=codec.encode(e), key=b"k", headers=((HEADER, str(n).encode()),), partition=0)
        for n, e in enumerate(story, start=1)
    ]
    log.append(topic, [numbered[0], numbered[1], numbered[1], numbered[2]])
    subscriber = Subscriber("engine", log, codec, backbone.engine, topic)
    assert [e.id for e in subscriber.poll()] == [e.id for e in story]


def test_two_workers_enqueueing_on_one_partition_keep_every_row(postgres_store: Engine) -> None:
    """The second transaction waits on the partition's head until the first commits,
    then numbers its rows after the first's: none is lost or numbered twice."""
    engine = postgres_store
    first = engine.connect()
    first.begin()
    outbox.enqueue(first, "feed", [(0, b"k", b"a"), (0, b"k", b"b")])
    second_pid: list[int] = []
    failed: list[BaseException] = []
    done = threading.Event()

    def second() -> None:
        try:
            with engine.begin() as connection:
                second_pid.append(
                    connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
                )
                outbox.enqueue(connection, "feed", [(0, b"k", b"c"), (0, b"k", b"d")])
        except BaseException as error:  # reported below, with its cause, not as a bare timeout
            failed.append(error)
        finally:
            done.set()

    worker = threading.Thread(target=second)
    worker.start()
    with engine.connect() as watcher:

        def second_waits_on_a_lock() -> bool:
            if done.is_set():
                return True
            if not second_pid:
                return False
            waiting = watcher.exec_driver_sql(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                (second_pid[0],),
            ).scalar()
            return waiting == "Lock"

        # Asked of the server (no sleep): the second is in a lock wait, or it ended.
        assert wait_until(second_waits_on_a_lock, timeout=60)
    assert not failed, f"the second transaction failed: {failed[0]!r}"
    assert not done.is_set(), "the second transaction did not wait for the first's lock"
    first.commit()
    first.close()
    worker.join(timeout=60)
    assert done.is_set()
    assert not failed, f"the second transaction failed: {failed[0]!r}"
    with engine.connect() as connection:
        rows = outbox.rows(connection, "feed", 0, 10)
    assert [(row.seq, row.value) for row in rows] == [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d")]
