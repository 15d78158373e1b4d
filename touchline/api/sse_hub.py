"""What every server-sent-events route keeps: its open streams, and how to end them.

uvicorn waits for every open response to finish before it stops, and an
event stream never finishes on its own: :meth:`StreamHub.close` (called from
:class:`touchline.api.serve.ApiServer`'s shutdown) wakes and ends them all.
Each stream looks for news in a worker thread; at most ``readers`` look at
once, so streams never hold every thread the API's other routes need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class StreamHub:
    """Open streams of one route, their heartbeat and their polling pace."""

    def __init__(self, *, heartbeat: float, poll: float, readers: int) -> None:
        self.heartbeat = heartbeat
        self.poll = poll
        self._readers = readers
        self._wakes: set[anyio.Event] = set()
        self._closed = False
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def open(self) -> int:
        """How many streams are being served."""
        return len(self._wakes)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End every stream, and any started later (call from the server's loop)."""
        self._closed = True
        for wake in self._wakes:
            wake.set()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[anyio.Event]:
        """One stream's place among the open ones: set when it must end."""
        wake = anyio.Event()
        self._wakes.add(wake)
        try:
            yield wake
        finally:
            self._wakes.discard(wake)

    def limiter(self) -> anyio.CapacityLimiter:
        """Threads that may look at once (made on first use: a limiter belongs
        to the event loop it is made in)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._readers)
        return self._limiter
