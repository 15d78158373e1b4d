"""How fast and how often the dispatcher tries: backoff with jitter, a token bucket.

The backoff only says how long: the dispatcher puts the action back until
then (:mod:`touchline.adapters.retries`) and never sleeps on it. The bucket
takes time through injected functions (``monotonic``, ``sleep``), so a test
moves a fake clock instead of waiting.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits a random time up
    to ``base * 2**(n-1)`` seconds (at most ``cap``), so many dispatchers
    failing together do not all come back at the same moment."""

    attempts: int = 5
    """Attempts in all, the first included; then the action fails."""
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("at least one attempt")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (from 1)."""
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))


class TokenBucket:
    """At most ``rate`` sends a second on average, ``burst`` at once."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate above 0 and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = burst
        self._at = monotonic()
        # Sends run on several threads; one waits for its token at a time,
        # holding the others back, which is what a limit is for.
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self) -> float:
        """Take one token, waiting for it if need be; the seconds waited."""
        with self._lock:
            self._refill()
            waited = 0.0
            if self._tokens < 1:
                waited = (1 - self._tokens) / self.rate
                self._sleep(waited)
                self._refill()
            self._tokens -= 1
            return waited
