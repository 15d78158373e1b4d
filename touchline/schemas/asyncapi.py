"""The AsyncAPI 3.0 document: touchline's topics, their keys and their messages.

Messages point at the per-type JSON Schema files by relative path, so the
AsyncAPI document and the schemas never disagree about an event's shape. What
each topic carries is declared once, in :data:`TOPIC_ROUTES`; a topic in
:class:`~touchline.config.Topics` without a route is an error, not a silent gap.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import touchline
from touchline.config import Topics
from touchline.events.base import LegacyPayload, Payload
from touchline.events.catalogue import Catalogue
from touchline.log.port import StoredRecord
from touchline.processing.dead_letter import dead_letter
from touchline.schemas.generate import Document, schema_name, schema_path

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
ASYNCAPI_FILE = "asyncapi.json"
"""Where the document lives, relative to the schemas directory."""


@dataclass(frozen=True, slots=True)
class TopicRoute:
    """What one topic carries, how it is keyed, and which way touchline uses it."""

    field: str
    """The :class:`~touchline.config.Topics` field naming the topic."""
    key: str
    """The entry of ``components.messageBindings`` that describes the record key."""
    action: Literal["send", "receive"]
    """From touchline's side: it receives touchpoints and sends everything else."""
    summary: str
    carries: Callable[[type[Payload]], bool]
    """Which registered event versions appear on the topic."""


def _every_version(_cls: type[Payload]) -> bool:
    # Records stay in the log as written, so readers meet old versions too.
    return True


def _type_prefix(prefix: str) -> Callable[[type[Payload]], bool]:
    def carries(cls: type[Payload]) -> bool:
        return cls.type.startswith(prefix)

    return carries


def _nothing(_cls: type[Payload]) -> bool:
    return False


TOPIC_ROUTES: tuple[TopicRoute, ...] = (
    TopicRoute(
        "touchpoints",
        "sourceIdentity",
        "receive",
        "Raw events as channel systems publish them.",
        _every_version,
    ),
    TopicRoute(
        "interactions",
        "customerId",
        "send",
        "The same events after identity resolution: the per-customer ordered log "
        "every projection reads.",
        _every_version,
    ),
    TopicRoute(
        "campaign_state",
        "customerId",
        "send",
        "Campaign state changes, for the campaign engine.",
        _type_prefix("campaign."),
    ),
    TopicRoute(
        "actions",
        "customerId",
        "send",
        "Commands for channel adapters.",
        _type_prefix("action."),
    ),
    TopicRoute(
        "dead_letter",
        "originalKey",
        "send",
        "What could not be decoded or delivered: the original record with the reason.",
        _nothing,
    ),
)

_KEYS: dict[str, Document] = {
    "sourceIdentity": {
        "type": "string",
        "description": "HMAC-SHA-256, as lower-case hex, of the most specific identifier "
        "the channel knows as normalised `kind:value` (kinds in order crm_id, email, phone, "
        "partner, fax, web_id; email lower-cased, phone and fax E.164, partner "
        "`account/reference`), keyed with the deployment's secret (TOUCHLINE_KEY_SECRET). "
        "No identifier in any key: a plain hash could be reversed by hashing guesses. "
        "The envelope's `customer_id` when there is no identifier; no key on a record "
        "packing several events for one partition. A producer without the secret may "
        "send no key: placement is then round robin, and identity resolution does not "
        "depend on order.",
        "examples": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
    },
    "customerId": {
        "type": "string",
        "description": "The canonical customer id: the envelope's `customer_id` (no key "
        "on a record that packs several customers' events for one partition).",
    },
    "originalKey": {
        "description": "The failed record's key, unchanged (no key if it had none).",
    },
}


def asyncapi_document(catalogue: Catalogue, topics: Topics | None = None) -> Document:
    """The AsyncAPI 3.0 document for ``catalogue``'s events on ``topics``."""
    topics = topics if topics is not None else Topics()
    routes = {route.field: route for route in TOPIC_ROUTES}
    unrouted = [name for name in Topics.__struct_fields__ if name not in routes]
    if unrouted:
        raise ValueError(f"topics without a route in TOPIC_ROUTES: {', '.join(unrouted)}")
    channels: Document = {}
    operations: Document = {}
    for name in Topics.__struct_fields__:
        route = routes[name]
        channel_id = channel_name(name)
        messages = {
            message_name(cls): _event_message(cls, catalogue, route.key)
            for cls in catalogue.versions()
            if route.carries(cls)
        }
        if name == "dead_letter":
            messages["dead-letter"] = _dead_letter_message(route.key)
        channels[channel_id] = {
            "address": getattr(topics, name),
            "title": channel_id,
            "description": route.summary,
            "messages": messages,
        }
        operations[f"{route.action}-{channel_id}"] = {
            "action": route.action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": route.summary,
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "touchline",
            "version": touchline.__version__,
            "description": "Every customer touchpoint as a typed event in one log. Each "
            "message's payload is the whole envelope; its JSON Schema is the file named "
            "by `type@version`. touchline's own publisher and processors also pack the "
            "events bound for one partition into one record: a JSON array of envelopes, "
            "in log order, with no key (the partition is chosen explicitly). Consumers "
            "accept both shapes; a channel system may publish either.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messageBindings": {
                key: {"kafka": {"key": schema, "bindingVersion": KAFKA_BINDING_VERSION}}
                for key, schema in _KEYS.items()
            },
        },
    }


def channel_name(topics_field: str) -> str:
    """``campaign_state`` -> ``campaign-state``: the channel id matches the topic's name."""
    return topics_field.replace("_", "-")


def message_name(cls: type[Payload]) -> str:
    """``email.opened.v1``: AsyncAPI ids may not contain ``@``."""
    return f"{cls.type}.v{cls.version}"


def _event_message(cls: type[Payload], catalogue: Catalogue, key: str) -> Document:
    summary = _first_line(cls) or f"A {cls.type} event."
    if issubclass(cls, LegacyPayload):
        current = schema_name(cls.type, catalogue.current(cls.type).version)
        summary += f" Legacy version, upcast to {current} when decoded."
    return {
        "name": cls.type,
        "title": schema_name(cls.type, cls.version),
        "summary": summary,
        "payload": {"$ref": schema_path(cls.type, cls.version)},
        "bindings": {"$ref": f"#/components/messageBindings/{key}"},
    }


def _dead_letter_message(key: str) -> Document:
    # The header names come from the function that writes dead letters, so
    # the document follows it; a sample record is all it needs to show them.
    sample = StoredRecord(topic="t", partition=0, offset=0, key=None, value=b"", timestamp_ms=0)
    headers = [name for name, _ in dead_letter(sample, reason="r", processor="p").headers]
    return {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "The original record's value, byte for byte, with headers saying why.",
        "contentType": "application/octet-stream",
        "payload": {"description": "The original record value: anything, even invalid JSON."},
        "headers": {
            "type": "object",
            "properties": {name: {"type": "string"} for name in headers},
            "required": headers,
        },
        "bindings": {"$ref": f"#/components/messageBindings/{key}"},
    }


def _first_line(cls: type[Payload]) -> str:
    doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else ""
    return doc.split("\n\n", 1)[0].replace("\n", " ")
