"""Encoding and decoding envelopes on the wire (JSON by default, msgpack optional).

Decoding happens once per stage: the envelope head is decoded with the
payload left raw, ``type@version`` picks one cached typed decoder for the
payload, legacy versions are upcast, and identifiers are normalised. A step
that only routes events stops at the head (:meth:`EventCodec.decode_head`)
and writes the payload's bytes on unchanged. Anything wrong becomes an
:class:`InvalidEvent` that names the event and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import msgspec

from touchline.events.base import Envelope, EnvelopeHead, Identities, Payload
from touchline.events.catalogue import Catalogue, UnknownEventType, upcast
from touchline.events.identifiers import (
    InvalidIdentifier,
    normalise_identifier,
    normalise_identities,
)
from touchline.events.json_split import split_json_array

WireFormat = Literal["json", "msgpack"]
DEFAULT_MAX_EVENT_BYTES = 64 * 1024

_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
# msgspec names a missing or unknown field only in the message, with the path of
# the object around it; the field's own path is what a caller needs.
_INDEX = re.compile(r"^\[(?P<index>\d+)\]")
_NAMED_FIELD = re.compile(r"(?:missing required|contains unknown) field `(?P<name>[^`]+)`")


INVALID = "invalid"
"""Codes a refusal carries, for programs (the HTTP API answers with them):
the event does not match its type's schema;"""
TOO_LARGE = "too_large"
"""its bytes are over the per-event limit;"""
UNKNOWN_TYPE = "unknown_type"
"""its ``type`` or ``version`` is not in the catalogue;"""
UNREADABLE = "unreadable"
"""it cannot be read at all (not JSON, nested too deep)."""


class InvalidEvent(ValueError):
    """An event that cannot enter the log, with what is wrong and where."""

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
        code: str = INVALID,
    ) -> None:
        self.reason = reason
        self.field = field
        self.event_id = event_id
        self.event_type = event_type
        self.code = code
        where = f" at {field}" if field else ""
        which = f"event {event_id or '?'} ({event_type or 'unknown type'})"
        super().__init__(f"{which}: {reason}{where}")

    @property
    def index(self) -> int | None:
        """The event's place in its batch, when it came in one (``[3].payload``)."""
        match = _INDEX.match(self.field or "")
        return int(match["index"]) if match else None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "field": self.field,
            "reason": self.reason,
        }


class UnreadableInput(InvalidEvent):
    """The input as a whole cannot be read: no event in it can be told apart."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, code=UNREADABLE)

    def __str__(self) -> str:
        return self.reason  # no event to name: the reason is the whole message


_TOO_DEEP = "nesting is too deep to read (an event is a flat object with small nested parts)"


def _undecodable(error: Exception) -> str:
    """Why a decoder failed with something other than its own validation error.

    msgspec recurses per nesting level and raises RecursionError past
    Python's limit; anything else it raises (it should not) is named too,
    so a publisher always gets a refusal rather than a traceback.
    """
    if isinstance(error, RecursionError):
        return _TOO_DEEP
    return f"could not be decoded ({type(error).__name__}: {error})"


class _Peek(msgspec.Struct):
    """Just enough of a broken event to name it in the error."""

    id: Any = None
    type: Any = None


@dataclass(frozen=True, slots=True)
class _Wire:
    encode: Callable[[Any], bytes]
    head: Callable[[bytes], EnvelopeHead]
    peek: Callable[[bytes], _Peek]
    raw_list: Callable[[bytes], list[msgspec.Raw]]
    payload_decoder: Callable[[type[Payload]], Callable[[bytes], Payload]]


def _json_wire() -> _Wire:
    encoder = msgspec.json.Encoder()
    return _Wire(
        encode=encoder.encode,
        head=msgspec.json.Decoder(EnvelopeHead).decode,
        peek=msgspec.json.Decoder(_Peek).decode,
        raw_list=msgspec.json.Decoder(list[msgspec.Raw]).decode,
        payload_decoder=lambda cls: msgspec.json.Decoder(cls).decode,
    )


def _msgpack_wire() -> _Wire:
    encoder = msgspec.msgpack.Encoder()
    return _Wire(
        encode=encoder.encode,
        head=msgspec.msgpack.Decoder(EnvelopeHead).decode,
        peek=msgspec.msgpack.Decoder(_Peek).decode,
        raw_list=msgspec.msgpack.Decoder(list[msgspec.Raw]).decode,
        payload_decoder=lambda cls: msgspec.msgpack.Decoder(cls).decode,
    )


class EventCodec:
    """Encodes and decodes envelopes for one catalogue and one wire format."""

    def __init__(
        self,
        catalogue: Catalogue,
        wire: WireFormat = "json",
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        default_region: str = "US",
    ) -> None:
        self.catalogue = catalogue
        self.wire_format = wire
        self.max_event_bytes = max_event_bytes
        self.default_region = default_region
        self._wire = _json_wire() if wire == "json" else _msgpack_wire()
        self._payload_decoders = {
            (cls.type, cls.version): self._wire.payload_decoder(cls) for cls in catalogue.versions()
        }

    def normalise_identifier(self, kind: str, value: str) -> str:
        """An identifier typed by a person, in the form the log stores."""
        return normalise_identifier(kind, value, self.default_region)

    def encode(self, event: Envelope | EnvelopeHead) -> bytes:
        return self._wire.encode(event)

    def encode_many(self, events: Sequence[Envelope]) -> list[bytes]:
        encode = self._wire.encode
        return [encode(event) for event in events]

    def decode(self, data: bytes | memoryview) -> Envelope:
        """One envelope, or InvalidEvent saying what is wrong."""
        head = self._head(data)
        payload = self._payload(head)
        return self._envelope(head, payload, self._identities(head))

    def decode_written(self, data: bytes | memoryview) -> Envelope:
        """:meth:`decode` for a topic only touchline writes (the interactions):
        its identities were normalised by whoever wrote it, so they are taken
        as read, and the head and payload are checked as :meth:`decode`
        checks them. Normalising them again cost the timeline about 3 of its
        20 us an event (``./dev bench --only embedded``): nearly every batch
        of a day brings identity sets the normaliser's cache has not seen."""
        head = self._head(data)
        return self._envelope(head, self._payload(head), head.identities)

    def decode_head(self, data: bytes | memoryview) -> EnvelopeHead:
        """The envelope's head, its payload left as bytes: the same checks as
        :meth:`decode` (size, shape, a known ``type@version``, identifiers
        normalised) except the payload's own, which :meth:`complete` makes."""
        head = self._head(data)
        identities = self._identities(head)
        if identities == head.identities:  # as the publisher writes them: nothing to copy
            return head
        return msgspec.structs.replace(head, identities=identities)

    def complete(self, head: EnvelopeHead) -> Envelope:
        """The whole event from its head: the payload decoded (and upcast)."""
        return self._envelope(head, self._payload(head), head.identities)

    def _head(self, data: bytes | memoryview) -> EnvelopeHead:
        raw = data if isinstance(data, bytes) else bytes(data)
        if len(raw) > self.max_event_bytes:
            raise InvalidEvent(
                f"event is {len(raw)} bytes, over the limit of {self.max_event_bytes}",
                code=TOO_LARGE,
                **self._names(raw),
            )
        try:
            head = self._wire.head(raw)
        except msgspec.DecodeError as error:
            raise self._invalid(error, self._names(raw), prefix="") from None
        except Exception as error:  # RecursionError and the unforeseen: refused, never a traceback
            raise InvalidEvent(_undecodable(error), code=UNREADABLE, **self._names(raw)) from None
        if (head.type, head.version) not in self._payload_decoders:
            raise self._unknown(head)
        return head

    def _payload(self, head: EnvelopeHead) -> Payload:
        decoder = self._payload_decoders[head.type, head.version]
        try:
            payload = decoder(head.payload)
        except msgspec.DecodeError as error:
            raise self._invalid(error, _ids(head), prefix=".payload") from None
        except Exception as error:  # as in _head
            raise InvalidEvent(
                _undecodable(error), field="$.payload", code=UNREADABLE, **_ids(head)
            ) from None
        return upcast(payload)

    def _identities(self, head: EnvelopeHead) -> Identities:
        try:
            return normalise_identities(head.identities, self.default_region)
        except InvalidIdentifier as error:
            field = f"$.identities.{error.field}"
            raise InvalidEvent(str(error), field=field, **_ids(head)) from None

    @staticmethod
    def _envelope(head: EnvelopeHead, payload: Payload, identities: Identities) -> Envelope:
        return Envelope(
            id=head.id,
            type=payload.type,
            version=payload.version,
            occurred_at=head.occurred_at,
            source=head.source,
            payload=payload,
            identities=identities,
            recorded_at=head.recorded_at,
            customer_id=head.customer_id,
            correlation_id=head.correlation_id,
            causation_id=head.causation_id,
            campaign_id=head.campaign_id,
        )

    def encode_batch(self, events: Sequence[Envelope | EnvelopeHead]) -> bytes:
        """Several events as one array: one log record carries them all."""
        return self._wire.encode(events)

    def is_batch(self, data: bytes) -> bool:
        """Whether a record holds an array of events rather than one event."""
        first = data[:1]
        if self.wire_format == "json":
            return data.lstrip()[:1] == b"["
        # msgpack: fixarray, array 16 or array 32.
        return bool(first) and (0x90 <= first[0] <= 0x9F or first[0] in (0xDC, 0xDD))

    def split_batch(self, data: bytes) -> list[bytes]:
        """The raw bytes of each event in an array (InvalidEvent if not an array)."""
        try:
            return [bytes(item) for item in self._wire.raw_list(data)]
        except msgspec.DecodeError as error:
            raise InvalidEvent(f"batch is not an array of events: {error}") from None
        except Exception as error:  # as in decode
            raise InvalidEvent(f"batch is not an array of events: {_undecodable(error)}") from None

    def decode_batch(self, data: bytes) -> list[Envelope | InvalidEvent]:
        """A JSON/msgpack array of events: each decoded on its own, so one bad
        event never costs the good ones; the result keeps the input order.

        UnreadableInput when no event can be told apart: empty input, not an
        array, or (JSON) an array whose brackets do not close.
        """
        if not data.strip():
            raise UnreadableInput("the input is empty: expected an event or an array of events")
        try:
            items: Sequence[bytes | msgspec.Raw] = self._wire.raw_list(data)
        except Exception as error:  # DecodeError, or RecursionError on deep nesting
            # One malformed or too deeply nested element makes the strict
            # parse refuse the whole array: find the elements by their
            # brackets instead, and judge each on its own.
            found = split_json_array(data) if self.wire_format == "json" else None
            if found is None:
                reason = str(error) if isinstance(error, msgspec.DecodeError) else None
                raise UnreadableInput(
                    f"not an array of events: {reason or _undecodable(error)}"
                ) from None
            items = found
        results: list[Envelope | InvalidEvent] = []
        for index, item in enumerate(items):
            try:
                results.append(self.decode(item))
            except InvalidEvent as error:
                # A new error rather than a patched field, so its message
                # names the same indexed place that ``field`` does.
                results.append(
                    InvalidEvent(
                        error.reason,
                        field=f"[{index}]{(error.field or '$')[1:]}",
                        event_id=error.event_id,
                        event_type=error.event_type,
                        code=error.code,
                    )
                )
        return results

    def _names(self, raw: bytes) -> _Names:
        try:
            peek = self._wire.peek(raw)
        except Exception:  # only naming the event: any failure leaves it unnamed
            return {"event_id": None, "event_type": None}
        return {
            "event_id": peek.id if isinstance(peek.id, str) else None,
            "event_type": peek.type if isinstance(peek.type, str) else None,
        }

    def _unknown(self, head: EnvelopeHead) -> InvalidEvent:
        try:
            self.catalogue.lookup(head.type, head.version)
        except UnknownEventType as error:
            field = "$.version" if head.type in self.catalogue else "$.type"
            return InvalidEvent(str(error.args[0]), field=field, code=UNKNOWN_TYPE, **_ids(head))
        raise AssertionError("catalogue and decoders disagree")  # pragma: no cover

    @staticmethod
    def _invalid(error: msgspec.DecodeError, names: _Names, *, prefix: str) -> InvalidEvent:
        message = str(error)
        match = _PATH.search(message)
        path = match["path"] if match else ""
        reason = message[: match.start()] if match else message
        named = _NAMED_FIELD.search(reason)
        if named:
            path = f"{path}.{named['name']}"
        field = f"${prefix}{path}" if (prefix or path) else None
        # A ValidationError is valid JSON of the wrong shape; any other
        # DecodeError is bytes that are not JSON (or msgpack) at all.
        code = INVALID if isinstance(error, msgspec.ValidationError) else UNREADABLE
        return InvalidEvent(reason, field=field, code=code, **names)


class _Names(TypedDict):
    """What names an event in an InvalidEvent."""

    event_id: str | None
    event_type: str | None


def _ids(head: EnvelopeHead) -> _Names:
    return {"event_id": str(head.id), "event_type": head.type}
