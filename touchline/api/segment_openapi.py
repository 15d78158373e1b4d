"""The Segment routes' request bodies, for the OpenAPI document.

The routes read their bodies as bytes (a body may come gzipped, and each
call is decoded on its own), so Litestar cannot see what they take; this
says it, from the same msgspec Struct that reads a call.
"""

from __future__ import annotations

from typing import Any

import msgspec

from touchline.api.segment_spec import CALL_TYPES, Call

BATCH = "/v1/batch"
_NAME = "SegmentCall"
_REF = "#/components/schemas/{name}"


def document_segment(document: dict[str, Any], max_batch_events: int) -> None:
    """Put the request bodies of the Segment routes into ``document``."""
    (_, components) = msgspec.json.schema_components([Call], ref_template=_REF)
    call = components.pop(Call.__name__)
    call.update(
        title=_NAME,
        description="One call of the Segment spec (identify, track, page, screen, group, alias)",
    )
    document.setdefault("components", {}).setdefault("schemas", {})[_NAME] = call
    ref = {"$ref": _REF.format(name=_NAME)}
    paths = document["paths"]
    paths[BATCH]["post"]["requestBody"] = _body(
        f"Segment's batch: at most {max_batch_events} calls, each at most the per-event limit",
        {
            "type": "object",
            "required": ["batch"],
            "properties": {
                "batch": {"type": "array", "items": ref, "maxItems": max_batch_events},
                "context": {"type": "object", "description": "Applies to every call"},
            },
        },
    )
    for kind in CALL_TYPES:
        paths[f"/v1/{kind}"]["post"]["requestBody"] = _body(
            f"One {kind} call (its type is the route's)", ref
        )


def _body(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": True,
        "description": f"{description}; Content-Encoding: gzip is read",
        "content": {"application/json": {"schema": schema}},
    }
