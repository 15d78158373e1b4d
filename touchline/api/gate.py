"""Overload, defined: more ingest requests than can append and wait their turn.

Appending to the log is the one step a request cannot share: the embedded
log has one writer, and a Kafka producer's acknowledgements are what a
request waits for. So at most ``concurrency`` requests append at once, at
most ``queue`` more wait for a turn, and any request past those is told to
come back (429 with Retry-After) rather than piling up in memory until every
request times out. Reads never pass through the gate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class Overloaded(Exception):
    """Every append slot is taken and the queue is full."""


class IngestGate:
    """Admits ingest requests to the log; used from the event loop only."""

    def __init__(self, concurrency: int, queue: int) -> None:
        if concurrency < 1 or queue < 0:
            raise ValueError(
                "TOUCHLINE_API_INGEST_CONCURRENCY must be at least 1 and "
                "TOUCHLINE_API_INGEST_QUEUE at least 0"
            )
        self.capacity = concurrency + queue
        self._turns = anyio.Semaphore(concurrency)
        self.admitted = 0
        """Requests appending or waiting to (the event loop is the only writer)."""

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn to append; Overloaded at once when none is left."""
        if self.admitted >= self.capacity:
            raise Overloaded
        self.admitted += 1
        try:
            async with self._turns:
                yield
        finally:
            self.admitted -= 1
