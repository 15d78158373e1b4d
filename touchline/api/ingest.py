"""``POST /v1/events``: one event or a batch, a result per event.

The body goes through the publisher's own path (``Publisher.publish_raw``:
the codec, then the edge), so the API refuses exactly what ``touchline
publish`` refuses, with the same reasons. What the API adds: the limits
(413 naming the one passed), overload (429), idempotency on event id
through the accepted-ids ledger, so a retried batch appends nothing and is
answered ``duplicate`` per event, and the key's bindings: a publish key bound
to sources or event types has the others refused, event by event
(``forbidden``).

A batch is answered 202 whatever became of its events: each result says.
A body holding one event (an object, not an array) is answered as that
event: 202 when accepted or a duplicate, else 413 (too large), 403 (not the
key's source or type) or 422, with the event's result in the problem's
``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import anyio.to_thread
import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency

from touchline.api.access import FORBIDDEN, caller, publisher_screen
from touchline.api.gate import IngestGate, Overloaded
from touchline.api.metrics import ApiMetrics
from touchline.api.problems import PROBLEMS, ApiProblem, Problem, bad_request, limit_exceeded
from touchline.api.receipts import location
from touchline.events.codec import TOO_LARGE, UNREADABLE, UnreadableInput
from touchline.events.json_split import split_json_array
from touchline.publish import Publisher, PublishResult

_T = TypeVar("_T")
_R = TypeVar("_R")


class EventResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What became of one event of the request."""

    index: int
    """Its place in the request (0 for a lone event)."""
    status: Literal["accepted", "duplicate", "rejected"]
    id: str | None = None
    """The event's id, when it could be read."""
    pointer: str | None = None
    """Rejected: the failing field, a JSON pointer into the event (RFC 6901;
    ``""`` is the event as a whole)."""
    code: str | None = None
    """Rejected: ``invalid`` (not its type's schema), ``too_large``,
    ``unknown_type``, ``unreadable`` (not JSON), ``no_identifier``,
    ``conflicting_duplicate`` (the id was accepted with other content),
    ``refused`` (a value no processor could store, or outside the time window)
    or ``forbidden`` (the key is not bound to the event's source or type)."""
    message: str | None = None


class IngestAnswer(msgspec.Struct, kw_only=True):
    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_event_bytes: int
    max_batch_events: int


@dataclass(frozen=True, slots=True)
class Ingest:
    """What the ingest route needs: the API's publisher (with the ledger and
    the per-event limit), the gate, the limits and the counters."""

    publisher: Publisher
    gate: IngestGate
    limits: IngestLimits
    metrics: ApiMetrics
    retry_after: int


@post(
    "/v1/events",
    status_code=202,
    summary="Publish one event or a batch",
    description=(
        "A JSON event or an array of events (see the published JSON Schemas). "
        "Answers 202 with a result per event; a lone event that is refused is "
        "answered 413, 403 or 422. Idempotent on event id. A key bound to sources "
        "or event types has events of others refused (code forbidden)."
    ),
    tags=["events"],
    operation_id="publishEvents",
    opt={"scope": "publish"},
)
async def publish_events(
    request: Request[Any, Any, Any], ingest: NamedDependency[Ingest]
) -> Response[IngestAnswer]:
    # The body as bytes: the publisher's codec is the one validator.
    data = await request.body()
    count = _event_count(data, ingest.limits)
    screen = publisher_screen(caller(request))
    try:
        result = await append(ingest, lambda body: ingest.publisher.publish_raw(body, screen), data)
    except UnreadableInput as error:
        raise bad_request(f"the body cannot be read as events: {error.reason}") from None
    results = _results(result, count)
    ingest.metrics.count_events(
        sum(r.status == "accepted" for r in results),
        sum(r.status == "duplicate" for r in results),
        [r.code or "" for r in results if r.status == "rejected"],
    )
    if count is None and results[0].status == "rejected":
        raise _lone_refusal(results[0], ingest.limits)
    answer = IngestAnswer(
        accepted=sum(r.status == "accepted" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=results,
    )
    # The first event taken (accepted now or before) links to its receipt:
    # a lone event's own, a batch's first (each id leads to its own the same way).
    taken = next((r.id for r in results if r.status != "rejected" and r.id), None)
    headers = {} if taken is None else {"Location": location(taken)}
    return Response(answer, status_code=202, headers=headers)


async def append(ingest: Ingest, publish: Callable[[_T], _R], events: _T) -> _R:
    """``publish(events)`` in a worker thread, when the gate gives a turn:
    every route that appends to the log takes its turn here (429 when none)."""
    try:
        async with ingest.gate.turn():
            ingest.metrics.in_flight.inc()
            try:
                return await anyio.to_thread.run_sync(publish, events)
            finally:
                ingest.metrics.in_flight.dec()
    except Overloaded:
        ingest.metrics.overloaded.inc()
        raise ApiProblem(
            Problem(
                type=f"{PROBLEMS}overloaded",
                title="Too many requests",
                status=429,
                detail=(
                    f"{ingest.gate.capacity} ingest requests are appending or waiting "
                    "(TOUCHLINE_API_INGEST_CONCURRENCY + TOUCHLINE_API_INGEST_QUEUE); "
                    "retry after the time given"
                ),
            ),
            {"Retry-After": str(ingest.retry_after)},
        ) from None


def _event_count(data: bytes, limits: IngestLimits) -> int | None:
    """How many events an array holds (None for a lone event); 413 past the limit.

    Counted from the array's structure alone, before any event is decoded.
    An array that cannot be split is left to the publisher, which names the
    problem.
    """
    if data.lstrip()[:1] != b"[":
        return None
    try:
        count = len(_raw_items(data))
    except Exception:  # malformed somewhere, or nested too deep: split by brackets
        found = split_json_array(data)
        count = 0 if found is None else len(found)
    if count > limits.max_batch_events:
        raise limit_exceeded(
            "TOUCHLINE_API_MAX_BATCH_EVENTS",
            limits.max_batch_events,
            f"{count} events in one request, over the limit of {limits.max_batch_events}",
        )
    return count


_raw_items = msgspec.json.Decoder(list[msgspec.Raw]).decode


def _results(result: PublishResult, count: int | None) -> list[EventResult]:
    results: dict[int, EventResult] = {
        index: EventResult(index=index, status=status, id=str(event_id))
        for index, (event_id, status) in result.statuses.items()
    }
    for error in result.rejected:
        index = error.index or 0
        results[index] = EventResult(
            index=index,
            status="rejected",
            id=error.event_id,
            pointer=json_pointer(error.field),
            code=error.code,
            message=error.reason,
        )
    expected = 1 if count is None else count
    assert len(results) == expected, "the publisher answers for every event"
    return [results[index] for index in range(expected)]


def _lone_refusal(result: EventResult, limits: IngestLimits) -> ApiProblem:
    if result.code == TOO_LARGE:
        problem = limit_exceeded(
            "TOUCHLINE_API_MAX_EVENT_BYTES",
            limits.max_event_bytes,
            result.message or "the event is too large",
        )
        problem.problem.errors = [result]
        return problem
    if result.code == UNREADABLE:
        return bad_request(f"the body cannot be read as an event: {result.message}")
    if result.code == FORBIDDEN:
        return ApiProblem(
            Problem(
                type=f"{PROBLEMS}forbidden",
                title="Forbidden",
                status=403,
                detail=result.message,
                errors=[result],
            )
        )
    return ApiProblem(
        Problem(
            type=f"{PROBLEMS}invalid-event",
            title="Event refused",
            status=422,
            detail=result.message,
            errors=[result],
        )
    )


_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def json_pointer(field: str | None) -> str:
    """The codec's field path (``$.payload.items[0].sku``, or ``[3].payload``
    inside a batch) as a JSON pointer into the event (``/payload/items/0/sku``)."""
    path = re.sub(r"^(\$|\[\d+\])", "", field or "")
    steps = [name or index for name, index in _STEP.findall(path)]
    return "".join("/" + step.replace("~", "~0").replace("/", "~1") for step in steps)
