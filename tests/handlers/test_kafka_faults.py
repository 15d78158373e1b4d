"""Faults on the Kafka runtime: a worker killed mid-batch, the broker unreachable,
an append that gives up just as the broker comes back."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import DAY
from tests.handlers.conftest import kafka_env
from tests.helpers import event
from tests.kafka_broker import TansuBroker, TansuProxy
from tests.runtimes import KafkaRuntime
from touchline.bootstrap import build_backbone
from touchline.config import Settings, load_settings
from touchline.events import Envelope, Identities
from touchline.events.email import EmailOpened
from touchline.log.port import LogError
from touchline.processing.embedded import wait_until
from touchline.store.tables import timeline_entries


def _events(count: int, start: int = 0) -> list[Envelope]:
    return [
        event(
            EmailOpened(message_id=f"m{i}", subject="Spring offer"),
            DAY + timedelta(seconds=i),
            identities=Identities(email=f"c{i % 300}@example.com"),
        )
        for i in range(start, start + count)
    ]


def _projected(runtime: KafkaRuntime) -> list[str]:
    with runtime.backbone.engine.connect() as connection:
        return list(connection.execute(select(timeline_entries.c.event_id)).scalars())


def _count(runtime: KafkaRuntime) -> int:
    with runtime.backbone.engine.connect() as connection:
        count: int = connection.execute(
            select(func.count()).select_from(timeline_entries)
        ).scalar_one()
        return count


def _resolved(runtime: KafkaRuntime) -> int:
    """Touchpoint records the identity resolver has stored its positions past."""
    [resolver] = [
        runner
        for runner in runtime.backbone.runtime.runners
        if runner.topic == runtime.backbone.settings.topics.touchpoints
    ]
    resolver.forget()
    return sum(resolver.positions().values())


@pytest.mark.slow
def test_a_worker_killed_mid_batch_resumes_exactly_once(kafka: KafkaRuntime) -> None:
    """SIGKILL a worker while it projects; a new one applies every event exactly once."""
    published = _events(20_000)
    for start in range(0, len(published), 2000):
        assert not kafka.backbone.publisher.publish(published[start : start + 2000]).rejected

    kafka.start_worker()
    progressed = wait_until(lambda: _count(kafka) >= 2000, timeout=180)
    log = kafka.worker_log()
    assert progressed, f"worker made no progress:\n{log[:6000]}\n...\n{log[-2000:]}"
    stderr = kafka.stop_worker(signal.SIGKILL)
    at_kill = _count(kafka)
    assert at_kill < len(published), "the worker finished before it was killed: nothing tested"

    kafka.start_worker()  # waits out the dead member's session, then resumes
    kafka.drain(timeout=180)
    ids = _projected(kafka)
    assert len(ids) == len(published), stderr[-2000:]
    assert set(ids) == {str(e.id) for e in published}


@pytest.mark.slow
def test_broker_unreachable_then_back_loses_and_doubles_nothing(
    tansu_broker: TansuBroker, settings: Settings, tmp_path: Path
) -> None:
    """Connections dropped mid-run: a publish fails clearly, nothing acknowledged is
    lost, and after reconnection every event is projected exactly once."""
    proxy = TansuProxy(tansu_broker.binary, tansu_broker.bootstrap)
    proxy.start()
    env = kafka_env(proxy.bootstrap, settings, tmp_path)
    runtime = KafkaRuntime(build_backbone(load_settings(env)), env)
    try:
        first, outage, last = _events(20_000), _events(500, 20_000), _events(3000, 20_500)
        for start in range(0, len(first), 2000):
            runtime.backbone.publisher.publish(first[start : start + 2000])
        touchpoints = sum(
            runtime.backbone.log.end_offsets(runtime.backbone.settings.topics.touchpoints).values()
        )
        runtime.start_worker()
        # Cut the connections while the resolver, which appends what it
        # resolves, is part way through.
        assert wait_until(lambda: _resolved(runtime) > 0, timeout=90)
        proxy.stop()
        at_outage = _resolved(runtime)
        assert at_outage < touchpoints, "the resolver finished before the outage: nothing tested"
        started = time.monotonic()
        with pytest.raises(LogError, match=proxy.bootstrap):
            runtime.backbone.publisher.publish(outage)
        assert time.monotonic() - started < 60, "an unreachable broker must fail, not hang"

        proxy.start()
        # The publisher was told the outage batch failed: it sends it again.
        runtime.backbone.publisher.publish(outage)
        runtime.backbone.publisher.publish(last)
        runtime.drain(timeout=60)
        ids = _projected(runtime)
        expected = {str(e.id) for e in first + outage + last}
        assert len(ids) == len(expected)
        assert set(ids) == expected
    finally:
        runtime.close()
        proxy.close()
