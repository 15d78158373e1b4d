"""Time, injected: the wall clock in production, a hand-moved one in tests.

Timers fire when the runner's clock reaches them, so a test of "three days
without engagement" moves a :class:`ManualClock` three days on and steps the
runtime: no sleeping, and the same path as in production.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (thread-safe: a Kafka worker reads it too)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's time must be aware")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> datetime:
        if by < timedelta(0):
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += by
            return self._now
