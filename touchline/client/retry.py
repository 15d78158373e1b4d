"""When the client tries again, and how long it waits first.

Worth a retry: no answer (refused, reset, timed out: the server restarting),
a 5xx, and a 429. Nothing else: a 4xx says the request is wrong. Every call
of the API is safe to repeat: reads change nothing, and a publish carries
event ids the API deduplicates on.

The wait doubles from ``backoff`` up to ``max_backoff``, each time a random
point in its upper half, so clients a restart disconnected together do not
come back together; a ``Retry-After`` the server sends is waited out instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRIED_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
"""No answer, or a broken one; not a request httpx itself refused to send."""


@dataclass
class Backoff:
    retries: int = 3
    """Attempts after the first."""
    backoff: float = 0.5
    max_backoff: float = 30.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0 for the first)."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number of them, or an HTTP date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
