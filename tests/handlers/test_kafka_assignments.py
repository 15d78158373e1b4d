"""Kafka workers record which partitions they hold: `touchline lag` shows it,
and tests wait on it (never on a worker's log text) for a group to settle."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from tests.conftest import DAY
from tests.kafka_broker import free_port
from tests.runtimes import KafkaRuntime
from touchline.bootstrap import Backbone
from touchline.cli import main
from touchline.events.instants import to_us
from touchline.log.port import TopicPartition
from touchline.processing.clock import ManualClock
from touchline.processing.embedded import wait_until
from touchline.processing.kafka_worker import record_held
from touchline.processing.runner import ProcessorRunner
from touchline.store.assignments import holdings, record_holdings
from touchline.store.engine import make_engine


def _held(engine: Engine) -> dict[int, str]:
    with engine.connect() as connection:
        return {p: h.worker for p, h in holdings(connection, "resolver", "touchpoints").items()}


def _record(engine: Engine, worker: str, partitions: list[int]) -> None:
    with engine.begin() as connection:
        record_holdings(
            connection, worker, "resolver", "touchpoints", partitions=partitions, at_us=to_us(DAY)
        )


def test_a_worker_replaces_what_it_holds_and_takes_over_from_a_dead_one(engine: Engine) -> None:
    """Each record replaces the worker's own rows; a partition has one holder,
    the last worker given it; recording nothing clears the worker's rows."""
    _record(engine, "a:1", [0, 1, 2, 3])
    _record(engine, "a:1", [0, 1])
    assert _held(engine) == {0: "a:1", 1: "a:1"}
    # b is given partition 1 while a (killed, say) never cleared its rows.
    _record(engine, "b:2", [1, 2])
    assert _held(engine) == {0: "a:1", 1: "b:2", 2: "b:2"}
    _record(engine, "a:1", [])
    assert _held(engine) == {1: "b:2", 2: "b:2"}
    with engine.connect() as connection:
        assert holdings(connection, "timeline", "touchpoints") == {}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_recording_during_a_database_outage_is_logged_and_skipped(backbone: Backbone) -> None:
    """Nobody answers at the database: the worker logs it and goes on consuming."""
    dead = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/touchline")
    runners = [
        ProcessorRunner(
            runner.processor,
            backbone.log,
            dead,
            backbone.codec,
            dead_letter_topic=backbone.settings.topics.dead_letter,
        )
        for runner in backbone.runtime.runners
    ]
    assigned = {TopicPartition(runner.topic, 0) for runner in runners}
    try:
        with capture_logs() as logs:
            asyncio.run(record_held("w:1", assigned, runners, ManualClock(DAY)))
    finally:
        dead.dispose()
    assert [(entry["event"], entry["processor"]) for entry in logs] == [
        ("could not record the partitions held", runner.processor.name) for runner in runners
    ]


def test_lag_names_the_worker_holding_each_partition_until_it_stops(
    kafka: KafkaRuntime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lone worker records every partition as its own; `touchline lag` says
    so; once stopped, it is recorded as holding nothing."""
    kafka.start_worker()
    worker = kafka.worker_id
    partitions = range(kafka.backbone.settings.partitions)
    processors = [runner.processor.name for runner in kafka.backbone.runtime.runners]
    everything = {name: dict.fromkeys(partitions, worker) for name in processors}
    held = wait_until(lambda: kafka.holders() == everything, timeout=60, interval=0.1)
    assert held, f"{kafka.holders()}\n{kafka.worker_log()[-3000:]}"

    for name, value in kafka.env.items():
        monkeypatch.setenv(name, value)
    assert main(["lag"]) == 0
    out = capsys.readouterr().out
    for partition in partitions:
        assert f"  partition {partition}: 0 (held by {worker} since " in out

    kafka.stop_worker()
    assert kafka.holders() == {name: {} for name in processors}
