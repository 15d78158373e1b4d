"""Operating the API: health, readiness, metrics, the OpenAPI document."""

from __future__ import annotations

import logging
import re

from openapi_spec_validator import validate

from tests.api.conftest import Server, serving
from tests.conftest import DAY
from tests.helpers import event
from touchline.bootstrap import build_backbone
from touchline.config import Settings
from touchline.events.email import EmailSent

ROUTES = {
    "/v1/events": {"post"},
    "/v1/customers": {"get"},
    "/v1/customers/{customer_id}": {"get"},
    "/v1/customers/{customer_id}/timeline": {"get"},
    "/v1/campaigns/{campaign_id}": {"get"},
    "/v1/campaigns/{campaign_id}/customers/{customer_id}": {"get"},
    "/v1/events/{event_id}": {"get"},
    "/v1/customers/{customer_id}/next-offer": {"get"},
    "/v1/next-offer": {"get"},
    "/v1/customers/{customer_id}/consent": {"post"},
    "/v1/customers/{customer_id}/calls": {"post"},
    "/v1/customers/{customer_id}/offer-responses": {"post"},
    "/v1/customers/{customer_id}/unmerge": {"post"},
    "/v1/streams/campaign-state": {"get"},
    "/v1/batch": {"post"},
    "/v1/track": {"post"},
    "/v1/identify": {"post"},
    "/v1/page": {"post"},
    "/v1/screen": {"post"},
    "/v1/group": {"post"},
    "/v1/alias": {"post"},
    "/v1/unsubscribe/{token}": {"post"},
    "/v1/customer-overview": {"get"},
    "/v1/customers/{customer_id}/live": {"get"},
    "/v1/webhooks/esp": {"post"},
    "/v1/webhooks/call-status": {"post"},
    "/v1/webhooks/fax": {"post"},
    "/v1/webhooks/partner-orders": {"post"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
}


def test_the_openapi_document_is_valid_and_lists_every_route(api: Server) -> None:
    """OpenAPI 3.1, valid, every route with its methods; the ingest body is
    an event or an array of them, and errors are problem+json."""
    document = api.client.get("/schema/openapi.json").json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert {path: set(ops) for path, ops in document["paths"].items()} == ROUTES
    ingest = document["paths"]["/v1/events"]["post"]
    body = ingest["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][1]["maxItems"] == 50
    assert "application/problem+json" in ingest["responses"]["default"]["content"]


def test_health_and_readiness(api: Server) -> None:
    """/healthz answers while the process runs; /readyz checks the log and stores."""
    assert api.client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = api.client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["checks"]["log"] == "ok"


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_metrics_count_requests_events_and_lag(api: Server) -> None:
    """Prometheus text: requests by route and status, events by outcome and
    refusal code, each processor's lag and records processed, dead letters."""
    sent = event(EmailSent(message_id="m", subject="Hi"), DAY)
    api.publish([sent, sent])
    api.client.post("/v1/events", json=[{"id": "nope"}])
    api.client.get("/v1/customers/cus_nobody")
    text = api.client.get("/metrics").text
    assert _sample(text, "touchline_api_events_total", status="accepted") == 1
    assert _sample(text, "touchline_api_events_total", status="duplicate") == 1
    assert _sample(text, "touchline_api_events_total", status="rejected") == 1
    assert _sample(text, "touchline_api_events_rejected_by_code_total", code="invalid") == 1
    requests = "touchline_api_requests_total"
    assert _sample(text, requests, method="POST", route="/v1/events", status="202") == 2
    route = "/v1/customers/{customer_id}"
    assert _sample(text, requests, method="GET", route=route, status="404") == 1
    assert "touchline_api_request_seconds_bucket" in text
    assert _sample(text, "touchline_processor_lag_records", processor="identity-resolver") == 1

    processed = "touchline_processor_processed_records"
    assert _sample(text, processed, processor="identity-resolver") == 0
    assert _sample(text, "touchline_dead_letters_records") == 0

    api.backbone.runtime.catch_up()
    text = api.client.get("/metrics").text
    assert _sample(text, "touchline_processor_lag_records", processor="identity-resolver") == 0
    assert _sample(text, processed, processor="identity-resolver") == 1
    assert _sample(text, processed, processor="timeline") >= 1


def test_serving_leaves_the_process_logging_alone(api_settings: Settings) -> None:
    """touchline logs through structlog; the web framework must not take over
    the root logger (an embedding program's logging) or start a thread that
    writes to the stderr it found at start."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with build_backbone(api_settings) as backbone, serving(backbone) as server:
        assert server.client.get("/healthz").status_code == 200
        assert root.handlers == handlers
        assert root.level == level
        assert not logging.getLogger("litestar").handlers
