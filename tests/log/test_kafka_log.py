"""What the Kafka engine adds to the contract: its URL, and brokers that go away.

The contract itself runs on Kafka from ``test_contract.py``; these pin what
only a networked engine has: options in the URL, a clear error rather than a
hang when no broker answers, and recovery once the broker is back.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.kafka_broker import TansuBroker, TansuProxy, free_port
from touchline.log import LogError, Record, TopicPartition
from touchline.log.kafka import KafkaLog
from touchline.log.registry import open_log

HANG_GUARD_S = 60
"""Far above any configured timeout here: a liveness guard that turns a hang
into a failure, not a speed figure (no test asserts how fast anything is)."""


def _without_hanging(call: Callable[[], object]) -> None:
    """Run ``call`` on a thread; re-raise what it raised; fail if it never returns."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(call).result(timeout=HANG_GUARD_S)


def test_an_unreachable_broker_is_a_clear_error_not_a_hang() -> None:
    """Opening a log on a port where no broker listens fails, naming the servers."""
    servers = f"127.0.0.1:{free_port()}"
    with pytest.raises(LogError, match=rf"no Kafka broker accepts connections at {servers}"):
        _without_hanging(lambda: open_log(f"kafka://{servers}?timeout_ms=300"))


def test_a_broker_that_stops_fails_appends_then_serves_again(tansu_broker: TansuBroker) -> None:
    """An append to a stopped broker fails rather than hangs; restarted, it serves again."""
    with KafkaLog(tansu_broker.bootstrap, timeout_ms=1000) as log:
        log.create_topic("t", 2)
        log.append("t", [Record(b"before", key=b"k")])
        tansu_broker.stop()
        with pytest.raises(LogError, match=tansu_broker.bootstrap):
            _without_hanging(lambda: log.append("t", [Record(b"lost", key=b"k")]))
        tansu_broker.start()
        log.create_topic("t2", 2)
        [position] = log.append("t2", [Record(b"after", key=b"k")])
        [stored] = log.read(TopicPartition("t2", position.partition), position.offset, 1)
        assert stored.value == b"after"


def test_url_options_reach_the_producer(kafka_bootstrap: str) -> None:
    """gzip compression and batching options in the URL produce readable records."""
    topic = f"test-{uuid.uuid4().hex[:12]}"
    url = f"kafka://{kafka_bootstrap}?compression=gzip&linger_ms=2&batch_size=65536&timeout_ms=5000"
    with open_log(url) as log:
        log.create_topic(topic, 1)
        log.append(topic, [Record(b"x" * 1000, key=b"k") for _ in range(50)])
        assert [r.value for r in log.read(TopicPartition(topic, 0), 0, 100)] == [b"x" * 1000] * 50


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("kafka://", "needs bootstrap servers"),
        ("kafka://127.0.0.1:9092?acks=0", r"unknown kafka log option 'acks' \(known: .*timeout_ms"),
        ("kafka://127.0.0.1:9092?timeout_ms=soon", "timeout_ms='soon' is not a int"),
        ("kafka://127.0.0.1:9092?compression=lz4", "'lz4' is not one of none, gzip"),
        ("kafka://127.0.0.1:9092?timeout_ms=10", "timeout_ms must be at least 100"),
    ],
)
def test_bad_urls_are_refused_before_connecting(url: str, message: str) -> None:
    """A Kafka log URL with no servers, an unknown option or a bad value is refused."""
    with pytest.raises(LogError, match=message):
        open_log(url)


def test_a_closed_log_refuses_work(kafka_bootstrap: str) -> None:
    """After close, appends and reads raise LogError instead of reconnecting."""
    topic = f"test-{uuid.uuid4().hex[:12]}"
    log = KafkaLog(kafka_bootstrap, timeout_ms=5000)
    log.create_topic(topic, 1)
    log.close()
    log.close()  # idempotent
    with pytest.raises(LogError, match="closed"):
        log.append(topic, [Record(b"v")])
    with pytest.raises(LogError, match="closed"):
        log.read(TopicPartition(topic, 0), 0, 1)


def test_an_append_after_one_that_timed_out_lands(tansu_broker: TansuBroker) -> None:
    """The broker back just as an append gives up: the next append lands, rather than
    expiring with the failed one's records (kafka-python adds a record to the
    partition's open producer batch, however old that batch is)."""
    timeout_ms = 1000
    proxy = TansuProxy(tansu_broker.binary, tansu_broker.bootstrap)
    proxy.start()
    try:
        with KafkaLog(proxy.bootstrap, timeout_ms=timeout_ms) as log:
            log.create_topic("t", 1)
            # The connection may come back in time for the outage record to
            # land instead: a few rounds make a round that tests likely.
            for _ in range(3):
                log.append("t", [Record(b"before", key=b"k")])
                proxy.stop()
                back = threading.Timer(timeout_ms / 1000 - 0.15, proxy.start)
                back.start()
                # It fails, or lands if the proxy is back in time: both are right.
                with contextlib.suppress(LogError):
                    log.append("t", [Record(b"outage", key=b"k")])
                back.join()
                [position] = log.append("t", [Record(b"after", key=b"k")])
                [stored] = log.read(TopicPartition("t", 0), position.offset, 1)
                assert stored.value == b"after"
    finally:
        proxy.close()
