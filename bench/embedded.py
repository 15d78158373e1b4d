"""The embedded path: publish -> identity resolution -> visible in the timeline.

Each run starts from an empty data directory, publishes a simulated day
(every channel system, realistic mix) and runs the backbone until the last
event is in the timeline, each stage in a process of its own (the embedded
default). Three ways: publish everything, then resolve and project (the
headline, the same measure as before the stages had processes of their
own); project while publishing, as a running backbone does; and the
headline again with the campaign synchronizer running beside the timeline.
Figures are events per second, median of the runs.

Each run is made in a process of its own, started fresh: a process that had
already made runs made its next ones slower (the same simulated day took
24,100 events/s projected while publishing when run first, 19,900 as the
fourth in one process), so later runs measured what earlier ones left
behind (a larger, scattered heap that the stages forked from it inherit),
not the code.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import ParamSpec, TypeVar

from sqlalchemy import func, select

from touchline import parallel
from touchline.bootstrap import build_backbone
from touchline.collector import collect_less_often
from touchline.config import load_settings
from touchline.events.campaign import CAMPAIGN_WIDE
from touchline.logs import configure_logging
from touchline.simulate import batches, simulate_day
from touchline.store.tables import timeline_entries

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Run:
    events: int
    publish_s: float
    project_s: float
    cpu_s: dict[str, float]
    """Each stage's CPU time, by processor name (its process, all threads)."""

    @property
    def end_to_end(self) -> float:
        return self.events / (self.publish_s + self.project_s)


TO_THE_TIMELINE = ("identity-resolver", "timeline")
"""What "publish -> timeline" runs: the campaign synchronizer reads the same
interactions beside the timeline and gates nothing it shows, so the headline
leaves it out; ``with_synchronizer`` runs it too, competing for the cores."""


def one_run(customers: int, seed: int, *, with_synchronizer: bool = False) -> Run:
    _, events = simulate_day(date(2026, 11, 20), customers, seed)
    with tempfile.TemporaryDirectory(prefix="touchline-bench-") as data_dir:
        settings = load_settings({}, data_dir=data_dir)
        only = () if with_synchronizer else TO_THE_TIMELINE
        with build_backbone(settings, only=only) as backbone:
            started = time.perf_counter()
            for batch in batches(events, 1000):
                backbone.publisher.publish(batch)
            published = time.perf_counter()
            with parallel.Stages(backbone) as stages:
                stages.until_caught_up()
                # The last event is in the timeline: stopping the stages
                # (some 20 ms) is not part of it, as in one_pipelined_run.
                projected = time.perf_counter()
            with backbone.engine.connect() as connection:
                rows = connection.execute(
                    select(func.count()).select_from(timeline_entries)
                ).scalar_one()
    # A campaign's launch is on no one's timeline: the synchronizer keeps it.
    expected = sum(1 for event in events if event.type not in CAMPAIGN_WIDE)
    if rows < expected:
        raise RuntimeError(f"only {rows} of {expected} events reached the timeline")
    return Run(len(events), published - started, projected - published, stages.cpu_seconds())


def one_pipelined_run(customers: int, seed: int) -> float:
    """Events per second from the first publish until the last event is in
    the timeline, with the stages running all along."""
    _, events = simulate_day(date(2026, 11, 20), customers, seed)
    with tempfile.TemporaryDirectory(prefix="touchline-bench-") as data_dir:
        settings = load_settings({}, data_dir=data_dir)
        with (
            build_backbone(settings, only=TO_THE_TIMELINE) as backbone,
            parallel.Stages(backbone) as stages,
        ):
            started = time.perf_counter()
            for batch in batches(events, 1000):
                backbone.publisher.publish(batch)
            stages.until_caught_up()
            finished = time.perf_counter()
    return len(events) / (finished - started)


def in_fresh_process(measure: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``measure`` run in a new Python process (spawned, so it inherits
    nothing of this one's heap), which ends with it."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        return pool.submit(_quietly, functools.partial(measure, *args, **kwargs)).result()


def _quietly(measure: Callable[[], T]) -> T:
    configure_logging(level=logging.WARNING)
    # A spawned process starts with the defaults; the touchline command sets it.
    collect_less_often()
    return measure()


def main(runs: int, customers: int) -> list[str]:
    configure_logging(level=logging.WARNING)
    results = [in_fresh_process(one_run, customers, seed=run) for run in range(runs)]
    pipelined = [in_fresh_process(one_pipelined_run, customers, seed=run) for run in range(runs)]
    everything = [
        in_fresh_process(one_run, customers, seed=run, with_synchronizer=True).end_to_end
        for run in range(runs)
    ]
    median = statistics.median
    return [
        f"embedded: {results[0].events:,} events per run, {runs} runs",
        f"  publish -> timeline {median(r.end_to_end for r in results):>9,.0f} events/s (median)",
        f"  publish only        {median(r.events / r.publish_s for r in results):>9,.0f} events/s",
        f"  resolve + project   {median(r.events / r.project_s for r in results):>9,.0f} events/s",
        "  CPU per event, each stage in its process: "
        + ", ".join(
            f"{name} {median(r.cpu_s[name] / r.events for r in results) * 1e6:.1f} us"
            for name in results[0].cpu_s
        ),
        f"  publishing while projecting {median(pipelined):>9,.0f} events/s",
        f"  publish -> timeline, the synchronizer running too {median(everything):>9,.0f} events/s",
        "  runs (end to end): " + ", ".join(f"{r.end_to_end:,.0f}" for r in results),
        "  runs (while projecting): " + ", ".join(f"{rate:,.0f}" for rate in pipelined),
    ]
