"""What the codec fuzz target checks: the codec and the edge, with the pure
parts of every projection (``fuzz/codec.py`` drives it).

For any bytes a channel system could send:

- decoding raises nothing but :class:`InvalidEvent` (``UnreadableInput``
  included): never a RecursionError, never a traceback at the edge;
- an event the edge accepts encodes and decodes back to itself, and the
  projections' pure steps take it (the timeline row, the profile fold, the
  content digest): accepted means applied;
- read as the resolver reads it (the head, the payload left as bytes) and
  attributed, it decodes to the very event the whole decode gives;
- a bad value in bytes that decode is never cleared by the cheap screen the
  resolver runs on the bytes as read (``suspects_as_read``).

``./dev fuzz [SECONDS]`` runs it (default 300 s), growing ``fuzz/corpus/codec``
with every input that reaches new code; commit what it adds. CI replays the
corpus and runs a short, bounded fuzz (``tests/test_fuzz_codec.py``). A
failing input is written to ``crash-*``: replay it with
``.venv/bin/python -m fuzz.codec crash-...``.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import msgspec

from touchline.events import CATALOGUE, Envelope, EventCodec, InvalidEvent, WireFormat
from touchline.events.digest import content_digest
from touchline.events.edge import EdgeRules, edge_problem, suspects_as_read, value_problem
from touchline.projections.profile import apply
from touchline.projections.profile_state import ProfileState
from touchline.projections.timeline import TimelineProjection

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
"""A fixed clock: a finding replays the same whatever the day."""
RULES = EdgeRules()
CODECS: dict[WireFormat, EventCodec] = {
    wire: EventCodec(CATALOGUE, wire) for wire in ("json", "msgpack")
}


def check(data: bytes) -> None:
    """One input through every wire format; raises only on a real defect."""
    for wire, codec in CODECS.items():
        try:
            decoded = codec.decode_batch(data)
        except InvalidEvent:
            decoded = []
        with contextlib.suppress(InvalidEvent):
            decoded.append(codec.decode(data))
        for item in decoded:
            if isinstance(item, Envelope):
                _accepted_means_applied(wire, item)
        for raw in _events_in(codec, data):
            with contextlib.suppress(InvalidEvent):
                _screened(wire, raw, codec.decode(raw))


def _events_in(codec: EventCodec, data: bytes) -> list[bytes]:
    """The bytes of each event a runner would read from a record holding ``data``."""
    if not codec.is_batch(data):
        return [data]
    with contextlib.suppress(InvalidEvent):
        return codec.split_batch(data)
    return []


def _screened(wire: WireFormat, raw: bytes, event: Envelope) -> None:
    problem = value_problem(event)
    if problem is not None and not suspects_as_read([raw], wire):
        raise AssertionError(f"{wire}: the screen cleared {problem} in {raw!r}")


def _accepted_means_applied(wire: WireFormat, event: Envelope) -> None:
    if event.recorded_at is None:  # as the publisher stamps it
        event = msgspec.structs.replace(event, recorded_at=NOW)
    if edge_problem(event, RULES, NOW) is not None:
        return
    codec = CODECS[wire]
    again = codec.decode(codec.encode(event))
    if again != event:
        raise AssertionError(f"{wire} round trip changed the event:\n{event!r}\n{again!r}")
    routed = codec.decode_head(codec.encode(event)).with_customer("cus_fuzz")
    attributed = codec.decode(codec.encode(routed))
    if attributed != event.with_customer("cus_fuzz"):
        raise AssertionError(f"{wire} head path changed the event:\n{event!r}\n{attributed!r}")
    TimelineProjection.row(attributed, codec.encode(routed), "cus_fuzz")
    apply(ProfileState(), event)
    content_digest(event)
