"""Segment calls through the API's own publisher: each an event, a duplicate, or kept.

The events go through the publisher (and the gate) that ``POST /v1/events``
uses, so the edge checks them the same way and the accepted-ids ledger
makes a retry ``duplicate``. Nothing a call says is silently dropped: a call
that becomes no event (unmappable, or refused by the edge) is kept on the
dead-letter topic (:mod:`touchline.api.segment_keep`) and its result says
why. The one exception is a call over the per-event limit, ``rejected`` as
``POST /v1/events`` rejects one: keeping it would undo the limit.

Segment deduplicates on ``messageId`` alone, so a call whose id was taken
before (by a batch that died before its answer, or earlier in the same
batch) is ``duplicate`` even when its content differs (the SDKs stamp a
fresh ``timestamp`` on a hand-made retry): the first wins.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec
import structlog
from prometheus_client import CollectorRegistry, Counter

from touchline.api.access import FORBIDDEN
from touchline.api.ingest import Ingest
from touchline.api.kept_letters import KeptBefore, kept_id
from touchline.api.segment_keep import Kept, letter
from touchline.api.segment_mapping import SegmentRules, Unmapped, event_id, map_call
from touchline.api.segment_spec import CALL_TYPES, Call, CallHead
from touchline.events import Envelope
from touchline.events.codec import TOO_LARGE, UNREADABLE
from touchline.publish import CONFLICTING_DUPLICATE, REFUSED, Screen, utc_now

log = structlog.get_logger(__name__)

Status = Literal["accepted", "duplicate", "kept", "rejected"]


class CallResult(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    """What became of one call of the request."""

    index: int
    """Its place in the batch (0 for a single call)."""
    status: Status
    """``kept``: no event, kept on the dead-letter topic (``code``, ``reason``
    say why); ``rejected``: over the size limit, or outside the key's
    bindings, not kept."""
    message_id: str | None = None
    event_id: str | None = None
    """The event's id (derived from the messageId), kept calls' too."""
    event_type: str | None = None
    """The catalogue type it became."""
    code: str | None = None
    """``unknown_track``, ``unsupported_call``, ``invalid``, ``unreadable``,
    ``no_identifier``, ``refused`` (by the edge), ``too_large`` or
    ``forbidden`` (the key is not bound to the event's source or type)."""
    reason: str | None = None


class SegmentAnswer(msgspec.Struct, kw_only=True):
    success: bool = True
    """Segment's own answer: the SDKs read only the status, 200."""
    accepted: int
    duplicates: int
    kept: int
    rejected: int
    results: list[CallResult]


class SegmentCounters:
    """The routes' counters, in the API's metrics registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "touchline_api_segment_calls",
            "Segment calls received, by call type and status (accepted, duplicate, kept, rejected)",
            ["call", "status"],
            registry=registry,
        )
        self.kept = Counter(
            "touchline_api_segment_kept",
            "Segment calls kept on the dead-letter topic or rejected, by the reason's code",
            ["code"],
            registry=registry,
        )


@dataclass(frozen=True, slots=True)
class SegmentIngest:
    """What the Segment routes need: ``POST /v1/events``' ingest (publisher,
    gate, limits), the mapping's rules and where kept calls go."""

    ingest: Ingest
    rules: SegmentRules
    source: str
    """The events' ``source`` when the request names none of its own."""
    dead_letter_topic: str
    max_request_bytes: int
    counters: SegmentCounters
    clock: Callable[[], datetime] = utc_now


@dataclass(frozen=True, slots=True)
class Arrived:
    """One call as it arrived: its bytes, and the type its route implies."""

    index: int
    raw: bytes
    route_type: str = ""


@dataclass(frozen=True, slots=True)
class _Read:
    arrived: Arrived
    call: Call | None
    """None: the bytes are no call (``problem`` says why)."""
    problem: str
    message_id: str | None
    call_type: str
    event_id: UUID


def take_calls(
    segment: SegmentIngest,
    arrived: Sequence[Arrived],
    *,
    source: str,
    route: str,
    context: Mapping[str, Any] | None = None,
    screen: Screen | None = None,
) -> list[CallResult]:
    """Publish what maps, keep what does not; a result per call, in order.

    Blocking (the log, the ledger): run in a worker thread, in a gate turn.
    ``context`` is the batch's, under each call's own. ``screen`` is the
    publish key's bindings: a call it refuses is rejected, not kept (the
    dead-letter topic is no way round a key's bindings).
    """
    received_at = segment.clock()
    limit = segment.ingest.limits.max_event_bytes
    results: dict[int, CallResult] = {}
    events: list[tuple[_Read, Envelope]] = []
    kept: list[tuple[_Read, Kept]] = []
    kinds: dict[int, str] = {}
    for item in arrived:
        if len(item.raw) > limit:
            results[item.index] = CallResult(
                index=item.index,
                status="rejected",
                code=TOO_LARGE,
                reason=f"the call is {len(item.raw)} bytes, over the limit of {limit} "
                "(TOUCHLINE_API_MAX_EVENT_BYTES)",
            )
            continue
        read = _read(source, item, context)
        kinds[item.index] = read.call_type
        if read.call is None:
            kept.append((read, _kept(read, Unmapped(UNREADABLE, read.problem))))
            continue
        mapped = map_call(
            read.call,
            segment.rules,
            source=source,
            event_id=read.event_id,
            received_at=received_at,
        )
        if isinstance(mapped, Unmapped):
            kept.append((read, _kept(read, mapped)))
        else:
            events.append((read, mapped))
    kept += _publish(segment, events, results, screen)
    _keep(segment, kept, results, source=source, route=route, now=received_at)
    ordered = [results[item.index] for item in arrived]
    _count(segment.counters, kinds, ordered)
    return ordered


def _read(source: str, item: Arrived, context: Mapping[str, Any] | None) -> _Read:
    try:
        call = msgspec.json.decode(item.raw, type=Call)
    except Exception as error:  # a DecodeError, or RecursionError: kept, never a traceback
        head = _head(item.raw)
        message_id = _text(head.message_id)
        kind = item.route_type or (head.type if isinstance(head.type, str) else "")
        problem = f"not a Segment call: {error}" if str(error) else "not a Segment call"
        return _Read(item, None, problem, message_id, kind, event_id(source, message_id, item.raw))
    if item.route_type:
        call.type = item.route_type
    if context:
        call.context = {**context, **(call.context or {})}
    message_id = _text(call.message_id)
    return _Read(item, call, "", message_id, call.type, event_id(source, message_id, item.raw))


def _head(raw: bytes) -> CallHead:
    try:
        return msgspec.json.decode(raw, type=CallHead)
    except Exception:  # only naming the call: any failure leaves it unnamed
        return CallHead()


def _text(value: object) -> str | None:
    """A messageId as the answer names it: a string or a number (not a bool)."""
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _kept(read: _Read, unmapped: Unmapped) -> Kept:
    return Kept(
        index=read.arrived.index,
        event_id=read.event_id,
        call_type=read.call_type,
        code=unmapped.code,
        reason=unmapped.reason,
        identities=unmapped.identities,
        raw=read.arrived.raw,
    )


def _publish(
    segment: SegmentIngest,
    events: list[tuple[_Read, Envelope]],
    results: dict[int, CallResult],
    screen: Screen | None,
) -> list[tuple[_Read, Kept]]:
    """Publish the events; what the edge refused, to be kept."""
    if not events:
        return []
    result = segment.ingest.publisher.publish([event for _, event in events], screen)
    kept = []
    for place, error in result.refusals(len(events)):
        read, event = events[place]
        if error.code == CONFLICTING_DUPLICATE:
            results[read.arrived.index] = _result(read, "duplicate", event)
            continue
        if error.code == FORBIDDEN:
            results[read.arrived.index] = _result(
                read, "rejected", event, code=FORBIDDEN, reason=error.reason
            )
            continue
        unmapped = Unmapped(error.code or REFUSED, error.reason, event.identities)
        kept.append((read, _kept(read, unmapped)))
    for place, (_, status) in result.statuses.items():
        read, event = events[place]
        results[read.arrived.index] = _result(read, status, event)
    return kept


def _keep(
    segment: SegmentIngest,
    kept: list[tuple[_Read, Kept]],
    results: dict[int, CallResult],
    *,
    source: str,
    route: str,
    now: datetime,
) -> None:
    """Append a letter per call not taken before.

    The ledger remembers a kept call under an id of its own
    (:func:`kept_id`), not its event's: a retry of a kept call keeps nothing
    new, and the same call sent again once a mapping covers it is published.
    A call whose event was published before is a duplicate either way.
    """
    if not kept:
        return
    publisher = segment.ingest.publisher
    ledger = publisher.ledger
    before = KeptBefore(ledger, (keep.event_id for _, keep in kept))
    fresh: list[Kept] = []
    for read, keep in kept:
        if not before.first_time(keep.event_id):
            results[keep.index] = _result(read, "duplicate")
            continue
        fresh.append(keep)
        results[keep.index] = _result(read, "kept", code=keep.code, reason=keep.reason)
    if not fresh:
        return
    letters = [
        letter(keep, source=source, route=route, key_secret=publisher.key_secret) for keep in fresh
    ]
    publisher.log.append(segment.dead_letter_topic, letters)
    # Counts and codes only: a call's content is personal data.
    log.info(
        "segment calls kept",
        calls=len(fresh),
        codes=sorted({keep.code for keep in fresh}),
        route=route,
        topic=segment.dead_letter_topic,
    )
    if ledger is not None:
        # After the append, never before, as the publisher does.
        ledger.record([(kept_id(keep.event_id), _digest(keep.raw)) for keep in fresh], now)


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:32]


def _result(
    read: _Read,
    status: Status,
    event: Envelope | None = None,
    *,
    code: str | None = None,
    reason: str | None = None,
) -> CallResult:
    return CallResult(
        index=read.arrived.index,
        status=status,
        message_id=read.message_id,
        event_id=str(read.event_id),
        event_type=None if event is None else event.type,
        code=code,
        reason=reason,
    )


def _count(
    counters: SegmentCounters, kinds: Mapping[int, str], results: Sequence[CallResult]
) -> None:
    for result in results:
        kind = kinds.get(result.index, "")
        counters.calls.labels(kind if kind in CALL_TYPES else "other", result.status).inc()
        if result.code is not None:
            counters.kept.labels(result.code).inc()
