"""``/metrics`` in Prometheus' text format: requests, ingest, processors, dead letters.

Each app has a registry of its own, built with the app: Litestar's
Prometheus plugin keeps its metrics at class level in the process-wide
registry, so two apps in one process (the tests start one per store) would
count into each other. The request middleware here is a plain ASGI wrapper
that labels by route template (``/v1/customers/{customer_id:str}``), never by
the path a client sent, so the label set stays bounded.

Each processor's progress is read at scrape time from what it stored (its
positions, in its own database): records processed (the positions' sum)
and its lag against the log's end offsets; dead letters are the
dead-letter topic's records. A few small queries, and no state shared with
runners that may be running.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from touchline.log.port import Log
from touchline.store.positions import load_positions

Scope = dict[str, Any]
Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProcessorPosition:
    """Where one processor keeps its positions, and which topic it reads."""

    name: str
    topic: str
    engine: Engine


class ApiMetrics:
    """The counters the API keeps, in a registry of its own."""

    def __init__(
        self, log: Log, processors: Sequence[ProcessorPosition], dead_letter_topic: str
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "touchline_api_requests",
            "HTTP requests answered, by method, route and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "touchline_api_request_seconds",
            "Time to answer an HTTP request, by method and route",
            ["method", "route"],
            registry=registry,
        )
        self.events = Counter(
            "touchline_api_events",
            "Events received on POST /v1/events, by status (accepted, duplicate, rejected)",
            ["status"],
            registry=registry,
        )
        self.rejections = Counter(
            "touchline_api_events_rejected_by_code",
            "Events refused on POST /v1/events, by the refusal's code",
            ["code"],
            registry=registry,
        )
        self.overloaded = Counter(
            "touchline_api_overloaded",
            "Ingest requests answered 429: every append slot and queue place taken",
            registry=registry,
        )
        self.in_flight = Gauge(
            "touchline_api_ingest_in_flight",
            "Ingest requests appending to the log or waiting for a turn",
            registry=registry,
        )
        registry.register(_ProgressCollector(log, processors, dead_letter_topic))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def count_events(self, accepted: int, duplicates: int, codes: Iterable[str]) -> None:
        self.events.labels("accepted").inc(accepted)
        self.events.labels("duplicate").inc(duplicates)
        for code in codes:
            self.events.labels("rejected").inc()
            self.rejections.labels(code).inc()


class _ProgressCollector(Collector):
    def __init__(
        self, log: Log, processors: Sequence[ProcessorPosition], dead_letter_topic: str
    ) -> None:
        self.log = log
        self.processors = processors
        self.dead_letter_topic = dead_letter_topic

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag, processed, dead = self._families()
        for processor in self.processors:
            with processor.engine.connect() as connection:
                stored = load_positions(connection, processor.name, processor.topic)
            ends = self.log.end_offsets(processor.topic)
            behind = sum(end - stored.get(partition, 0) for partition, end in ends.items())
            lag.add_metric([processor.name], behind)
            processed.add_metric([processor.name], sum(stored.values()))
        dead.add_metric([], sum(self.log.end_offsets(self.dead_letter_topic).values()))
        yield from (lag, processed, dead)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Described without collecting: registering must not query the stores.
        yield from self._families()

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "touchline_processor_lag_records",
                "Records on the processor's topic it has not applied yet",
                labels=["processor"],
            ),
            GaugeMetricFamily(
                "touchline_processor_processed_records",
                "Records of its topic the processor has applied (or dead-lettered), all time",
                labels=["processor"],
            ),
            GaugeMetricFamily(
                "touchline_dead_letters_records",
                "Records on the dead-letter topic: events a processor or the API could not take",
            ),
        )


def metrics_middleware(metrics: ApiMetrics) -> Any:
    """An ASGI middleware factory (Litestar's ``middleware=[...]``) that counts
    and times every HTTP request by its route template."""

    def wrap(app: Any) -> Any:
        async def middleware(scope: Scope, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, sending)
            finally:
                route = scope.get("path_template") or "unmatched"
                method = scope["method"]
                metrics.requests.labels(method, route, str(status)).inc()
                metrics.latency.labels(method, route).observe(time.perf_counter() - started)

        return middleware

    return wrap
