"""The OpenAPI 3.1 document: Litestar's, completed where it cannot know.

Litestar documents each route from its handler's types. Two things it cannot
see: the ingest body is read as bytes (the publisher's own codec decodes it,
so nothing validates it twice), and the errors are problem+json from
exception handlers. This fills both in, from msgspec Structs, when the
document is served (``/schema/openapi.json``).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin

from touchline.api.problems import PROBLEM_JSON, Problem
from touchline.events import Identities

INGEST_PATH = "/v1/events"
_REF = "#/components/schemas/{name}"


class Event(msgspec.Struct, kw_only=True):
    """An event as a channel system sends it: the envelope around one typed
    payload. Each ``type`` and ``version`` has its payload's JSON Schema in
    touchline/schemas/json/ (``email.opened@1.json``)."""

    id: UUID
    type: str
    version: int
    occurred_at: datetime
    source: str
    payload: dict[str, Any]
    identities: Identities | None = None
    recorded_at: datetime | None = None
    customer_id: str | None = None
    correlation_id: UUID | None = None
    causation_id: UUID | None = None
    campaign_id: str | None = None


class CompleteDocument(JsonRenderPlugin):
    """Serves the document with the ingest body and the problem responses in."""

    def __init__(self, max_batch_events: int) -> None:
        super().__init__(path="/openapi.json")
        self.max_batch_events = max_batch_events

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, complete(openapi_schema, self.max_batch_events))


def complete(document: dict[str, Any], max_batch_events: int) -> dict[str, Any]:
    """``document`` with the ingest request body and every operation's
    problem+json error response."""
    done = copy.deepcopy(document)
    (event, problem), components = msgspec.json.schema_components(
        [Event, Problem], ref_template=_REF
    )
    schemas = done.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components)
    ingest = done["paths"][INGEST_PATH]["post"]
    ingest["requestBody"] = {
        "required": True,
        "description": f"One event, or an array of at most {max_batch_events}",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        event,
                        {"type": "array", "items": event, "maxItems": max_batch_events},
                    ]
                }
            }
        },
    }
    for operations in done["paths"].values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"]["default"] = {
                "description": "An error, as RFC 9457 problem details",
                "content": {PROBLEM_JSON: {"schema": problem}},
            }
    return done
