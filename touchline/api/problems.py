"""Every error the API answers is ``application/problem+json`` (RFC 9457).

One shape for every failure, the API's own and Litestar's (an unknown route,
a query parameter of the wrong type, a body over the limit), so a client
reads ``status``, ``title`` and ``detail`` the same way everywhere. Nothing a
client sends reaches the catch-all 500: that is kept for faults of ours, and
it names none of their internals.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from sqlalchemy.exc import DBAPIError

from touchline.log.port import LogError

if TYPE_CHECKING:
    from litestar.types import ExceptionHandlersMap

PROBLEM_JSON = "application/problem+json"
PROBLEMS = "https://touchline.dev/problems/"
"""Base of the ``type`` URIs: each names a kind of problem a client can act on."""

_log = structlog.get_logger(__name__)


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem; ``limit`` and ``errors`` are this API's extensions."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    limit: str | None = None
    """The setting that was exceeded (``TOUCHLINE_API_MAX_BATCH_EVENTS``)."""
    limit_value: int | None = None
    errors: list[Any] | None = None
    """What was wrong, item by item (an event's result, a parameter's message)."""


class ApiProblem(Exception):
    """Raised by a handler: answered as its problem, with ``headers``."""

    def __init__(self, problem: Problem, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(problem.detail or problem.title)
        self.problem = problem
        self.headers = dict(headers or {})


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> Response[Any]:
    return Response(
        content=msgspec.json.encode(problem),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def not_found(detail: str) -> ApiProblem:
    return ApiProblem(
        Problem(type=f"{PROBLEMS}not-found", title="Not found", status=404, detail=detail)
    )


def bad_request(detail: str) -> ApiProblem:
    return ApiProblem(
        Problem(type=f"{PROBLEMS}bad-request", title="Bad request", status=400, detail=detail)
    )


def limit_exceeded(setting: str, value: int, detail: str) -> ApiProblem:
    """413 naming the limit: the environment variable that sets it, and its value."""
    return ApiProblem(
        Problem(
            type=f"{PROBLEMS}limit-exceeded",
            title="Request too large",
            status=413,
            detail=detail,
            limit=setting,
            limit_value=value,
        )
    )


def unavailable(detail: str, retry_after: int) -> ApiProblem:
    return ApiProblem(
        Problem(
            type=f"{PROBLEMS}unavailable", title="Service unavailable", status=503, detail=detail
        ),
        {"Retry-After": str(retry_after)},
    )


def exception_handlers(max_request_bytes: int, retry_after: int) -> ExceptionHandlersMap:
    """Litestar's exception handlers: every error as a problem."""

    def own(_request: Request[Any, Any, Any], error: ApiProblem) -> Response[Any]:
        return problem_response(error.problem, error.headers)

    def too_large(_request: Request[Any, Any, Any], _error: RequestEntityTooLarge) -> Response[Any]:
        # Litestar stops reading the body past the app's request_max_body_size.
        problem = limit_exceeded(
            "TOUCHLINE_API_MAX_REQUEST_BYTES",
            max_request_bytes,
            f"the request body is over the limit of {max_request_bytes} bytes",
        )
        return problem_response(problem.problem)

    def invalid(_request: Request[Any, Any, Any], error: ValidationException) -> Response[Any]:
        extra = error.extra if isinstance(error.extra, list) else None
        problem = Problem(
            type=f"{PROBLEMS}bad-request",
            title="Bad request",
            status=400,
            detail=error.detail,
            errors=extra,
        )
        return problem_response(problem)

    def http(_request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
        problem = Problem(title=_title(error), status=error.status_code, detail=error.detail)
        return problem_response(problem, error.headers)

    def missing(_request: Request[Any, Any, Any], error: NotFoundException) -> Response[Any]:
        return problem_response(not_found(error.detail).problem)

    def away(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
        _log.warning("api.unavailable", path=request.url.path, error=str(error))
        answer = unavailable("the log or the database is unavailable; try again", retry_after)
        return problem_response(answer.problem, answer.headers)

    def fault(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
        _log.exception("api.fault", path=request.url.path, error_type=type(error).__name__)
        problem = Problem(
            type=f"{PROBLEMS}internal",
            title="Internal error",
            status=500,
            detail="an internal error in touchline; it has been logged",
        )
        return problem_response(problem)

    return {
        ApiProblem: own,
        RequestEntityTooLarge: too_large,
        ValidationException: invalid,
        NotFoundException: missing,
        HTTPException: http,
        LogError: away,
        DBAPIError: away,
        Exception: fault,
    }


def _title(error: HTTPException) -> str:
    try:
        return HTTPStatus(error.status_code).phrase
    except ValueError:
        return "Error"


def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: NUL in the path or a query parameter is a 400.

    No store can hold or compare it (PostgreSQL refuses it in any text
    parameter), so it is refused before any handler reads the database.
    """
    if "\x00" in request.url.path or any(
        "\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()
    ):
        raise ApiProblem(
            Problem(
                type=f"{PROBLEMS}bad-request",
                title="Bad request",
                status=400,
                detail="NUL (\\u0000) is not allowed in the path or a query parameter",
            )
        )
