"""A progress line for long work: redrawn in place on a terminal, sparse otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    def __init__(
        self,
        label: str,
        *,
        waiting: str = "records waiting",
        stream: TextIO = sys.stderr,
        every: float = 0.5,
    ) -> None:
        self.label = label
        self.waiting = waiting
        self.stream = stream
        self.every = every if stream.isatty() else 5.0
        self._started = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, waiting: int) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        rate = done / max(now - self._started, 1e-9)
        text = f"{self.label}: {done:,} events, {waiting:,} {self.waiting} ({rate:,.0f}/s)"
        end = "\r" if self.stream.isatty() else "\n"
        print(text, end=end, file=self.stream, flush=True)

    def finish(self, done: int) -> None:
        elapsed = time.monotonic() - self._started
        rate = done / max(elapsed, 1e-9)
        clear = "\r\033[K" if self.stream.isatty() else ""
        text = f"{self.label}: {done:,} events in {elapsed:.1f}s ({rate:,.0f}/s)"
        print(f"{clear}{text}", file=self.stream)
