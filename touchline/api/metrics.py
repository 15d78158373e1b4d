"""``/metrics`` in Prometheus' text format: requests, ingest, processor lag.

Each app has a registry of its own, built with the app: Litestar's
Prometheus plugin keeps its metrics at class level in the process-wide
registry, so two apps in one process (the tests start one per store) would
count into each other. The request middleware here is a plain ASGI wrapper
that labels by route template (``/v1/customers/{customer_id:str}``), never by
the path a client sent, so the label set stays bounded.

Lag per processor is read at scrape time from what each processor stored
(its positions, in its own database) against the log's end offsets: a few
small queries, and no state shared with runners that may be running.
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

    def __init__(self, log: Log, processors: Sequence[ProcessorPosition]) -> None:
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
        registry.register(_LagCollector(log, processors))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def count_events(self, accepted: int, duplicates: int, codes: Iterable[str]) -> None:
        self.events.labels("accepted").inc(accepted)
        self.events.labels("duplicate").inc(duplicates)
        for code in codes:
            self.events.labels("rejected").inc()
            self.rejections.labels(code).inc()


class _LagCollector(Collector):
    def __init__(self, log: Log, processors: Sequence[ProcessorPosition]) -> None:
        self.log = log
        self.processors = processors

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "touchline_processor_lag_records",
            "Records on the processor's topic it has not applied yet",
            labels=["processor"],
        )
        for processor in self.processors:
            with processor.engine.connect() as connection:
                stored = load_positions(connection, processor.name, processor.topic)
            ends = self.log.end_offsets(processor.topic)
            behind = sum(end - stored.get(partition, 0) for partition, end in ends.items())
            family.add_metric([processor.name], behind)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Described without collecting: registering must not query the stores.
        yield GaugeMetricFamily("touchline_processor_lag_records", "", labels=["processor"])


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
