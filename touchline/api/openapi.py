"""The OpenAPI 3.1 document: Litestar's, completed where it cannot know.

Litestar documents each route from its handler's types. Three things it
cannot see: the ingest body is read as bytes (the publisher's own codec
decodes it, so nothing validates it twice), the errors are problem+json from
exception handlers, and the scopes are in each handler's ``opt`` (read by the
guard in access.py). This fills them in, from msgspec Structs and the routes,
when the document is served (``/schema/openapi.json``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request
from litestar.openapi.plugins import JsonRenderPlugin

from touchline.api.access import declared_scopes, document_access
from touchline.api.problems import PROBLEM_JSON, Problem
from touchline.api.segment_openapi import document_segment
from touchline.events import EnvelopeHead

INGEST_PATH = "/v1/events"
_REF = "#/components/schemas/{name}"


EVENT = (
    "An event as a channel system sends it: the envelope around one typed payload. "
    "Each type and version has its payload's JSON Schema in touchline/schemas/json/ "
    "(email.opened@1.json)."
)


class CompleteDocument(JsonRenderPlugin):
    """Serves the document with the ingest body and the problem responses in."""

    def __init__(self, max_batch_events: int) -> None:
        super().__init__(path="/openapi.json")
        self.max_batch_events = max_batch_events

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        operations = declared_scopes(request.app)
        return self.render_json(
            request, complete(openapi_schema, self.max_batch_events, operations)
        )


def complete(
    document: dict[str, Any],
    max_batch_events: int,
    operations: Mapping[tuple[str, str], tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """``document`` with the ingest request body, each operation's keys and
    scopes (``operations``: :func:`touchline.api.access.declared_scopes`),
    and every operation's problem+json error response."""
    done = copy.deepcopy(document)
    document_access(done, operations or {})
    # The envelope's head is the envelope with its payload left unread:
    # exactly what the API can say of every event, whatever its type.
    (_, problem), components = msgspec.json.schema_components(
        [EnvelopeHead, Problem], ref_template=_REF
    )
    envelope = components.pop("EnvelopeHead")
    envelope.update(title="Event", description=EVENT)
    envelope["properties"]["payload"] = {"type": "object", "description": "the typed payload"}
    components["Event"] = envelope
    event = {"$ref": _REF.format(name="Event")}
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
    ingest["responses"]["202"].setdefault("headers", {})["Location"] = {
        "description": "The receipt of the first event taken (GET it to see where it went)",
        "schema": {"type": "string"},
    }
    _link(done, ("/v1/events", "post", "202"), "getEventReceipt", event_id="results/0/id")
    document_segment(done, max_batch_events)
    for target in ("getProfile", "getTimeline", "getNextOffer"):
        _link(done, ("/v1/customers", "get", "200"), target, customer_id="customer_id")
    _link(done, ("/v1/customers", "get", "200"), "getCustomerOverview", q="customer_id")
    _link(
        done,
        ("/v1/customer-overview", "get", "200"),
        "getTimeline",
        customer_id="customer_id",
        cursor="timeline/next_cursor",
    )
    for path_item in done["paths"].values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            # Litestar documents its own 4xx as application/json; every
            # error this API answers is problem+json (problems.py).
            for status, answer in responses.items():
                if status.isdigit() and int(status) >= 400:
                    answer["content"] = {PROBLEM_JSON: {"schema": problem}}
            responses["default"] = {
                "description": "An error, as RFC 9457 problem details",
                "content": {PROBLEM_JSON: {"schema": problem}},
            }
    return done


def _link(
    document: dict[str, Any], source: tuple[str, str, str], target: str, **parameters: str
) -> None:
    """An OpenAPI link: a value of ``source``'s answer (a JSON pointer into its
    body) is a parameter of ``target`` (what a client, or schemathesis's
    stateful tests, calls next)."""
    path, method, status = source
    answer = document["paths"][path][method]["responses"][status]
    answer.setdefault("links", {})[target] = {
        "operationId": target,
        "parameters": {name: f"$response.body#/{at}" for name, at in parameters.items()},
    }
