"""The HTTP API as one ASGI app, built from a running backbone.

Built in one function from what the backbone already holds (its log,
stores, queries and settings), never at import time. The API's publisher is
the backbone's with two differences: the per-event limit of the API
(``TOUCHLINE_API_MAX_EVENT_BYTES``, at most the codec's own) and the
accepted-ids ledger that makes ``POST /v1/events`` idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar, Response, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from touchline import registry
from touchline.adapters.registry import unsubscribe_key
from touchline.api.access import RequireScope, declared_scopes
from touchline.api.agent import (
    next_offer_for_customer,
    next_offer_for_visitor,
    record_call,
    record_consent,
    record_offer_response,
    unmerge_customer,
)
from touchline.api.console import console_routes, read_console
from touchline.api.gate import IngestGate
from touchline.api.health import Dependencies, healthz, readyz
from touchline.api.ingest import Ingest, IngestLimits, publish_events
from touchline.api.live import CustomerStreams, stream_customer
from touchline.api.metrics import ApiMetrics, ProcessorPosition, metrics_middleware
from touchline.api.openapi import CompleteDocument
from touchline.api.overview import get_customer_overview
from touchline.api.problems import exception_handlers, refuse_nul
from touchline.api.reads import (
    Moved,
    find_customer,
    get_campaign_customer,
    get_funnel,
    get_profile,
    get_timeline,
    moved,
)
from touchline.api.receipts import Receipts, get_event_receipt
from touchline.api.segment import SEGMENT_ROUTES, segment_ingest
from touchline.api.stream import CampaignStream, stream_campaign_state
from touchline.api.unsubscribe import Unsubscribes, unsubscribe
from touchline.api.webhooks_in import WEBHOOK_ROUTES, inbound_webhooks
from touchline.bootstrap import Backbone, make_codec, remembering_publisher
from touchline.offers import NextBestOffer
from touchline.store.accepted import AcceptedEvents
from touchline.store.api_keys import ApiKeys

VERSION = "0.1.0"


@dataclass(frozen=True)
class Api:
    """The ASGI app (metrics outermost, so a 404 is counted too) and its parts."""

    app: Litestar
    metrics: ApiMetrics
    streams: CampaignStream
    """The campaign-state streams, which the server ends as it shuts down."""
    live: CustomerStreams
    """The customers' live streams (the console's), ended with the others."""

    def close_streams(self) -> None:
        """End every open event stream (call from the server's loop as it stops)."""
        self.streams.close()
        self.live.close()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._asgi(scope, receive, send)

    @property
    def _asgi(self) -> Any:
        return metrics_middleware(self.metrics)(self.app)


def create_app(backbone: Backbone) -> Api:
    settings = backbone.settings
    if settings.wire_format != "json":
        raise ValueError("the HTTP API takes JSON: run it with TOUCHLINE_WIRE_FORMAT=json")
    event_limit = min(settings.api_max_event_bytes, settings.max_event_bytes)
    codec = make_codec(msgspec.structs.replace(settings, max_event_bytes=event_limit))
    publisher = remembering_publisher(backbone, codec)
    processors = [
        ProcessorPosition(runner.processor.name, runner.topic, runner.engine)
        for runner in backbone.runners
    ]
    metrics = ApiMetrics(backbone.log, processors, settings.topics.dead_letter)
    ingest = Ingest(
        publisher=publisher,
        gate=IngestGate(settings.api_ingest_concurrency, settings.api_ingest_queue),
        limits=IngestLimits(event_limit, settings.api_max_batch_events),
        metrics=metrics,
        retry_after=settings.api_retry_after_seconds,
    )
    segment = segment_ingest(settings, ingest, metrics.registry)
    receipts = Receipts(AcceptedEvents(backbone.engine), backbone.queries)
    next_offer = NextBestOffer(backbone.stores["campaigns"], backbone.engine, backbone.codec)
    streams = CampaignStream(
        backbone.log,
        settings.topics.campaign_state,
        backbone.codec,
        heartbeat=settings.api_sse_heartbeat_seconds,
    )
    unsubscribes = Unsubscribes(unsubscribe_key(backbone), backbone.stores["campaigns"])
    live = CustomerStreams(heartbeat=settings.api_sse_heartbeat_seconds)
    webhooks = inbound_webhooks(settings, ingest, backbone.stores["campaigns"], metrics.registry)
    dependencies = Dependencies(
        log=backbone.log,
        topic=settings.topics.touchpoints,
        stores=_distinct(backbone),
        retry_after=settings.api_retry_after_seconds,
    )

    @get(
        "/metrics",
        summary="Prometheus metrics",
        tags=["operations"],
        sync_to_thread=True,
        media_type="text/plain; version=0.0.4",
    )
    def metrics_route() -> Response[bytes]:
        return Response(metrics.exposition(), media_type="text/plain; version=0.0.4")

    handlers = exception_handlers(settings.api_max_request_bytes, settings.api_retry_after_seconds)
    app = Litestar(
        route_handlers=[
            publish_events,
            get_event_receipt,
            find_customer,
            get_profile,
            get_timeline,
            get_funnel,
            get_campaign_customer,
            next_offer_for_customer,
            next_offer_for_visitor,
            record_consent,
            record_call,
            record_offer_response,
            unmerge_customer,
            stream_campaign_state,
            unsubscribe,
            *WEBHOOK_ROUTES,
            *SEGMENT_ROUTES,
            get_customer_overview,
            stream_customer,
            *console_routes(read_console()),
            healthz,
            readyz,
            metrics_route,
        ],
        dependencies={
            "ingest": Provide(lambda: ingest, use_cache=True, sync_to_thread=False),
            "queries": Provide(lambda: backbone.queries, use_cache=True, sync_to_thread=False),
            "dependencies": Provide(lambda: dependencies, use_cache=True, sync_to_thread=False),
            "receipts": Provide(lambda: receipts, use_cache=True, sync_to_thread=False),
            "next_offer": Provide(lambda: next_offer, use_cache=True, sync_to_thread=False),
            "campaign_stream": Provide(lambda: streams, use_cache=True, sync_to_thread=False),
            "segment": Provide(lambda: segment, use_cache=True, sync_to_thread=False),
            "unsubscribes": Provide(lambda: unsubscribes, use_cache=True, sync_to_thread=False),
            "customer_streams": Provide(lambda: live, use_cache=True, sync_to_thread=False),
            "webhooks": Provide(lambda: webhooks, use_cache=True, sync_to_thread=False),
        },
        exception_handlers={**handlers, Moved: moved},
        # Faults are logged by touchline's own handlers (structlog, problems.py).
        # Litestar's default logging would reconfigure the process's root
        # logger and write from a listener thread to the stderr it found at
        # start: an embedding program's logging overridden, and under a test
        # runner that swaps stderr, "Logging error" tracebacks once it closes.
        logging_config=None,
        guards=[RequireScope(ApiKeys(backbone.engine))],
        before_request=refuse_nul,
        request_max_body_size=settings.api_max_request_bytes,
        openapi_config=OpenAPIConfig(
            title="touchline",
            version=VERSION,
            description=(
                "Publish touchpoint events; read customers, timelines and campaigns. "
                f"Processors: {', '.join(registry.names())}."
            ),
            path="/schema",
            render_plugins=[CompleteDocument(settings.api_max_batch_events)],
        ),
        debug=False,
    )
    declared_scopes(app)  # a scope that does not exist fails here, not on a request
    return Api(app=app, metrics=metrics, streams=streams, live=live)


def _distinct(backbone: Backbone) -> dict[str, Any]:
    """Each database once (on PostgreSQL every store is one), by store name."""
    seen: dict[int, str] = {}
    for name, engine in backbone.stores.items():
        seen.setdefault(id(engine), name)
    return {name: backbone.stores[name] for name in seen.values()}
