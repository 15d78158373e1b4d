"""Reading a dead letter's bytes as far as they can be read.

A letter holds whatever a processor could not take, undecodable bytes
included: what a person sees is the event when it decodes, else the JSON or
msgpack document, else the text, and it names the event and the customers
and identifiers it concerns wherever those can be made out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from touchline.events import Envelope, EventCodec, InvalidEvent
from touchline.events.identity import CustomerMerged, CustomerUnmerged
from touchline.events.keys import KINDS, identity_keys

_SHOWN_LIMIT = 8000


@dataclass(frozen=True, slots=True)
class Peek:
    event_id: str | None
    event_type: str | None
    customer_id: str | None
    concerning: tuple[str, ...]
    """Customer ids and ``kind:value`` identifiers the letter names."""
    shown: str
    """The bytes for a person: indented JSON where they parse."""


def peek_event(codec: EventCodec, value: bytes) -> Peek:
    try:
        event = codec.decode(value)
    except InvalidEvent:
        return _loose(codec, value)
    return Peek(
        event_id=str(event.id),
        event_type=event.type,
        customer_id=event.customer_id,
        concerning=_concerning(event),
        shown=_indented(msgspec.json.encode(event)),
    )


def _concerning(event: Envelope) -> tuple[str, ...]:
    tokens = [f"{kind}:{value}" for kind, value in identity_keys(event.identities)]
    payload = event.payload
    ids = [event.customer_id]
    if isinstance(payload, CustomerMerged):
        ids += [payload.merged_id, payload.survivor_id]
    elif isinstance(payload, CustomerUnmerged):
        ids += [payload.restored_id, payload.survivor_id]
    return tuple(dict.fromkeys(tokens + [i for i in ids if i]))


def _loose(codec: EventCodec, value: bytes) -> Peek:
    """What can be made out of bytes that are not a valid event."""
    document = _document(value)
    if not isinstance(document, dict):
        shown = (
            _indented(msgspec.json.encode(document))
            if document is not None
            else value[:_SHOWN_LIMIT].decode("utf-8", errors="backslashreplace")
        )
        return Peek(None, None, None, (), shown)
    customer_id = _text(document.get("customer_id"))
    tokens: list[str] = []
    identities = document.get("identities")
    if isinstance(identities, dict):
        for kind in KINDS:
            raw = _text(identities.get(kind))
            if raw is not None:
                tokens.append(f"{kind}:{_normalised(codec, kind, raw)}")
    return Peek(
        event_id=_text(document.get("id")),
        event_type=_text(document.get("type")),
        customer_id=customer_id,
        concerning=tuple(tokens + ([customer_id] if customer_id else [])),
        shown=_indented(msgspec.json.encode(document)),
    )


def _document(value: bytes) -> Any:
    """The bytes as JSON, else msgpack, else None (nested too deep counts as neither)."""
    for decode in (msgspec.json.decode, msgspec.msgpack.decode):
        try:
            document = decode(value)
            msgspec.json.encode(document)  # shown as JSON: must encode too
        except Exception:  # any failure means "not this format"
            continue
        return document
    return None


def _normalised(codec: EventCodec, kind: str, raw: str) -> str:
    try:
        return codec.normalise_identifier(kind, raw)
    except ValueError:
        return raw


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and len(value) <= 200 else None


def _indented(encoded: bytes) -> str:
    text = msgspec.json.format(encoded, indent=2).decode(errors="backslashreplace")
    if len(text) > _SHOWN_LIMIT:
        return text[:_SHOWN_LIMIT] + f"\n... ({len(text) - _SHOWN_LIMIT} more characters)"
    return text
