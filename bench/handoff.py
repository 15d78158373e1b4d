"""The interactions as a hand-off: what a running backbone keeps, and what deleting costs.

``touchline run`` as it runs in production: every stage (the synchronizer
too) in a process of its own, the supervisor deleting the interactions every
reader has taken, a simulated day published while it runs. Each run is made
twice, alternated, in fresh processes: the topic kept whole
(``TOUCHLINE_INTERACTIONS_RETENTION=all``), then the hand-off (``read``).
The rate is from the first publish until every stage has taken everything;
the bytes are the events' values each copy holds once the run is over and
the hand-off has deleted all it may.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from bench.embedded import in_fresh_process
from touchline import parallel, registry
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import load_settings
from touchline.handlers.synchronizer import SYNCHRONIZER
from touchline.log.port import TopicPartition
from touchline.simulate import batches, simulate_day
from touchline.store.tables import campaign_journal, timeline_entries

_POLL_S = 0.02


@dataclass(frozen=True)
class Run:
    events: int
    rate: float
    kept: dict[str, int]
    """Bytes of event values in each copy after the run, by copy."""
    deleted: int
    """Interactions the hand-off deleted (records)."""


def one_run(customers: int, seed: int, retention: str) -> Run:
    _, events = simulate_day(date(2026, 11, 20), customers, seed)
    with tempfile.TemporaryDirectory(prefix="touchline-bench-") as data_dir:
        settings = load_settings({}, data_dir=data_dir, interactions_retention=retention)
        with build_backbone(settings) as backbone:
            stop = threading.Event()
            supervisor = threading.Thread(target=parallel.run, args=(backbone, stop))
            started = time.perf_counter()
            supervisor.start()
            try:
                for batch in batches(events, 1000):
                    backbone.publisher.publish(batch)
                while parallel.waiting(backbone):
                    time.sleep(_POLL_S)
                finished = time.perf_counter()
            finally:
                stop.set()
                supervisor.join()
            deleted = 0
            if backbone.handoff is not None:
                while backbone.handoff.trim():
                    pass
                deleted = backbone.handoff.kept()[1]
            kept = _kept(backbone)
    return Run(len(events), len(events) / (finished - started), kept, deleted)


def _kept(backbone: Backbone) -> dict[str, int]:
    topics = backbone.settings.topics
    kept = {name: _log_bytes(backbone, name) for name in (topics.touchpoints, topics.interactions)}
    with backbone.engine.connect() as connection:
        kept["timeline"] = int(
            connection.execute(select(func.sum(func.length(timeline_entries.c.event)))).scalar()
            or 0
        )
    with backbone.stores[registry.store_of(SYNCHRONIZER)].connect() as connection:
        kept["campaign journal"] = int(
            connection.execute(select(func.sum(func.length(campaign_journal.c.event)))).scalar()
            or 0
        )
    return kept


def _log_bytes(backbone: Backbone, topic: str) -> int:
    log, total = backbone.log, 0
    ends = log.end_offsets(topic)
    for partition, start in log.start_offsets(topic).items():
        position = start
        while position < ends[partition]:
            records = log.read(TopicPartition(topic, partition), position, 1000)
            total += sum(len(record.value) for record in records)
            position = records[-1].offset + 1
    return total


def main(runs: int, customers: int) -> list[str]:
    kept_whole: list[Run] = []
    handoff: list[Run] = []
    for run in range(runs):
        kept_whole.append(in_fresh_process(one_run, customers, seed=run, retention="all"))
        handoff.append(in_fresh_process(one_run, customers, seed=run, retention="read"))
    median = statistics.median
    events = median(r.events for r in handoff)

    def per_event(results: list[Run], copy: str) -> str:
        # Each run's seed makes a slightly different day: per event first, then the median.
        return f"{median(r.kept[copy] / r.events for r in results):,.0f} B"

    copies = ("touchline.touchpoints", "touchline.interactions", "timeline", "campaign journal")
    return [
        f"hand-off: touchline run with every stage, {events:,.0f} events published while it runs"
        f" (median), {runs} runs alternated",
        f"  kept whole (all)    {median(r.rate for r in kept_whole):>9,.0f} events/s"
        "   runs: " + ", ".join(f"{r.rate:,.0f}" for r in kept_whole),
        f"  hand-off (read)     {median(r.rate for r in handoff):>9,.0f} events/s"
        "   runs: " + ", ".join(f"{r.rate:,.0f}" for r in handoff),
        "  event bytes kept an event published, all: "
        + ", ".join(f"{copy} {per_event(kept_whole, copy)}" for copy in copies),
        "  event bytes kept an event published, read: "
        + ", ".join(f"{copy} {per_event(handoff, copy)}" for copy in copies)
        + f" ({median(r.deleted for r in handoff):,.0f} interaction records deleted)",
    ]
