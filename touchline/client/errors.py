"""What the client raises: the API's problem, or no answer at all."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec


class TouchlineError(Exception):
    """Base of everything the client raises."""


class ProblemError(TouchlineError):
    """The API answered with an error: its RFC 9457 problem, as sent.

    Raised at once for a 4xx (the request itself is wrong: retrying it
    changes nothing), and for a 429 or 5xx once the retries are spent.
    """

    def __init__(self, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        self.status = status
        self.problem = problem
        self.headers = headers
        super().__init__(f"{status} {self.title}" + (f": {self.detail}" if self.detail else ""))

    @property
    def type(self) -> str:
        return str(self.problem.get("type", "about:blank"))

    @property
    def title(self) -> str:
        return str(self.problem.get("title", "error"))

    @property
    def detail(self) -> str | None:
        detail = self.problem.get("detail")
        return None if detail is None else str(detail)

    @property
    def errors(self) -> list[Any]:
        """Item by item, what was wrong (an event's result, a parameter's message)."""
        errors = self.problem.get("errors")
        return errors if isinstance(errors, list) else []

    @classmethod
    def from_response(cls, response: httpx.Response) -> ProblemError:
        """The problem in ``response`` (read), or one made from its status line
        when the body is not a problem (a proxy's error page)."""
        try:
            problem = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            problem = None
        if not isinstance(problem, dict):
            problem = {"title": response.reason_phrase or "error", "status": response.status_code}
        return cls(response.status_code, problem, response.headers)


class ConnectionFailed(TouchlineError):
    """No answer from the API (refused, reset, timed out), after every retry;
    the last transport error is the cause."""
