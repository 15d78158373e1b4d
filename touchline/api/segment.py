"""Segment-compatible ingest: ``POST /v1/batch`` and the single-call routes.

Instrumentation already written against Segment's or RudderStack's SDKs
points at touchline by changing the SDK's host: the SDKs post to
``/v1/batch`` (gzip-compressed or not) with the write key as the Basic auth
user, and hand-written clients may post one call to ``/v1/track``,
``/v1/identify``, ``/v1/page`` (or ``/v1/screen``, ``/v1/group``,
``/v1/alias``, kept since they map to no catalogue type).

The answer is 200 whatever became of each call, as Segment answers: the SDKs
read nothing but the status, and Segment's Python SDK takes only a 2xx as
delivered (RudderStack's only 200) and retries a 5xx or 429. Each call's
result still says what became of it. A body that cannot be read at all is a
400 problem, a body or a call over a limit a 413 naming it, overload a 429;
each carries Segment's ``code`` and ``message`` too, which the SDKs read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from prometheus_client import CollectorRegistry

from touchline.api.access import caller, publisher_screen
from touchline.api.gzip_body import read_body
from touchline.api.ingest import Ingest, append
from touchline.api.problems import PROBLEMS, ApiProblem, Problem, bad_request, limit_exceeded
from touchline.api.segment_ingest import (
    Arrived,
    CallResult,
    SegmentAnswer,
    SegmentCounters,
    SegmentIngest,
    take_calls,
)
from touchline.api.segment_rules import segment_rules
from touchline.api.segment_spec import CALL_TYPES, Batch, CallType
from touchline.config import Settings

BATCH_PATH = "/v1/batch"
TAGS = ["segment"]
SCOPE = {"scope": "publish"}
"""What the API keys' guard asks of a caller: a publisher's key (the write key)."""
ERRORS = {
    400: ResponseSpec(None, description="The body is not JSON, or not a batch or a call"),
    413: ResponseSpec(None, description="The body or a single call is over a limit"),
    415: ResponseSpec(None, description="A Content-Encoding other than gzip"),
    429: ResponseSpec(None, description="Too many ingest requests: retry after the time given"),
}


def segment_ingest(
    settings: Settings, ingest: Ingest, registry: CollectorRegistry
) -> SegmentIngest:
    """What the routes need, from the settings and ``POST /v1/events``' ingest."""
    return SegmentIngest(
        ingest=ingest,
        rules=segment_rules(settings),
        source=settings.segment_source,
        dead_letter_topic=settings.topics.dead_letter,
        max_request_bytes=settings.api_max_request_bytes,
        counters=SegmentCounters(registry),
    )


@post(
    BATCH_PATH,
    status_code=200,
    summary="Segment-compatible batch of calls",
    description=(
        "Where Segment's and RudderStack's SDKs post: {batch: [call, ...], context}. "
        "Each call becomes a catalogue event (page, identify, track of a known type or a "
        "configured mapping) or is kept on the dead-letter topic with the reason; the answer "
        "says which, per call. Idempotent on messageId. Content-Encoding: gzip is read."
    ),
    tags=TAGS,
    operation_id="segmentBatch",
    opt=SCOPE,
    responses=ERRORS,
)
async def segment_batch(
    request: Request[Any, Any, Any], segment: NamedDependency[SegmentIngest]
) -> Response[SegmentAnswer]:
    async with _readable_refusals(segment):
        data = await read_body(request, segment.max_request_bytes)
        try:
            batch = _batch(data)
        except Exception as error:  # DecodeError, or RecursionError on deep nesting
            raise bad_request(f"the body is not a Segment batch: {error}") from None
        limit = segment.ingest.limits.max_batch_events
        if len(batch.batch) > limit:
            raise limit_exceeded(
                "TOUCHLINE_API_MAX_BATCH_EVENTS",
                limit,
                f"{len(batch.batch)} calls in one batch, over the limit of {limit}",
            )
        arrived = [Arrived(index, bytes(raw)) for index, raw in enumerate(batch.batch)]
        source, screen = _source(request, segment), publisher_screen(caller(request))
        results = await append(
            segment.ingest,
            lambda calls: take_calls(
                segment,
                calls,
                source=source,
                route=BATCH_PATH,
                context=batch.context,
                screen=screen,
            ),
            arrived,
        )
    return _answer(results)


_batch = msgspec.json.Decoder(Batch).decode


def _single(kind: CallType) -> HTTPRouteHandler:
    path = f"/v1/{kind}"
    mapped = {
        "track": "a catalogue event of its type or mapping",
        "identify": "customer.identified",
        "page": "web.page_viewed",
    }
    becomes = mapped.get(kind)

    async def one_call(
        request: Request[Any, Any, Any], segment: NamedDependency[SegmentIngest]
    ) -> Response[SegmentAnswer]:
        async with _readable_refusals(segment):
            data = await read_body(request, segment.max_request_bytes)
            limit = segment.ingest.limits.max_event_bytes
            if len(data) > limit:
                raise limit_exceeded(
                    "TOUCHLINE_API_MAX_EVENT_BYTES",
                    limit,
                    f"the call is {len(data)} bytes, over the limit of {limit}",
                )
            if not _is_object(data):
                raise bad_request(f"the body is not one Segment {kind} call (a JSON object)")
            source, screen = _source(request, segment), publisher_screen(caller(request))
            results = await append(
                segment.ingest,
                lambda calls: take_calls(segment, calls, source=source, route=path, screen=screen),
                [Arrived(0, data, kind)],
            )
        return _answer(results)

    one_call.__name__ = f"segment_{kind}"
    return post(
        path,
        status_code=200,
        summary=f"Segment-compatible {kind} call",
        description=(
            f"One {kind} call; its type is the route's. It becomes {becomes}, or is kept "
            "on the dead-letter topic with the reason."
            if becomes
            else f"One {kind} call. No catalogue type fits it: it is kept on the "
            "dead-letter topic and reported kept."
        ),
        tags=TAGS,
        operation_id=f"segment{kind.capitalize()}",
        opt=SCOPE,
        responses=ERRORS,
    )(one_call)


SEGMENT_ROUTES = [segment_batch, *(_single(kind) for kind in CALL_TYPES)]
"""Every Segment-compatible route, for the app's route handlers."""


def _source(request: Request[Any, Any, Any], segment: SegmentIngest) -> str:
    """The events' ``source``: the configured one (``TOUCHLINE_SEGMENT_SOURCE``),
    unless the write key is bound to sources that exclude it, then the first
    of the key's (an SDK cannot say which source it is; its key can)."""
    key = caller(request)
    if key is None or not key.sources or segment.source in key.sources:
        return segment.source
    return key.sources[0]


class SdkProblem(Problem, kw_only=True, omit_defaults=True):
    """A problem the SDKs read too: on an error they look for Segment's
    ``code`` and ``message``. RudderStack's client takes an answer without
    them for a network fault and retries even a 400 or a 413."""

    code: str
    message: str


@asynccontextmanager
async def _readable_refusals(segment: SegmentIngest) -> AsyncIterator[None]:
    """Every refusal of a Segment route as an :class:`SdkProblem`."""
    try:
        yield
    except RequestEntityTooLarge:
        # Raised while reading the body (the app's request_max_body_size).
        limit = segment.max_request_bytes
        refusal = limit_exceeded(
            "TOUCHLINE_API_MAX_REQUEST_BYTES",
            limit,
            f"the request body is over the limit of {limit} bytes",
        )
        raise _for_sdks(refusal) from None
    except ApiProblem as refusal:
        raise _for_sdks(refusal) from None


def _for_sdks(refusal: ApiProblem) -> ApiProblem:
    problem = refusal.problem
    code = problem.type.removeprefix(PROBLEMS) if problem.type != "about:blank" else "error"
    readable = SdkProblem(
        **msgspec.structs.asdict(problem), code=code, message=problem.detail or problem.title
    )
    return ApiProblem(readable, refusal.headers)


def _is_object(data: bytes) -> bool:
    try:
        return isinstance(msgspec.json.decode(data), dict)
    except Exception:  # not JSON, or nested too deep to read: not a call
        return False


def _answer(results: Sequence[CallResult]) -> Response[SegmentAnswer]:
    statuses = Counter(result.status for result in results)
    answer = SegmentAnswer(
        accepted=statuses["accepted"],
        duplicates=statuses["duplicate"],
        kept=statuses["kept"],
        rejected=statuses["rejected"],
        results=list(results),
    )
    return Response(answer, status_code=200)
