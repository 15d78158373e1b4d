"""The embedded runtime: every processor in one process, on the SQLite log."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Protocol

import structlog
from sqlalchemy.exc import OperationalError

from touchline.log.port import LogError
from touchline.processing.port import RetryLater
from touchline.processing.runner import ProcessorRunner

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]
"""Called with (events applied so far, log records still waiting)."""


class AlreadyRunning(RuntimeError):
    """Another embedded runner holds this data directory."""


class RunnerLock:
    """One embedded runner per data directory: two would both apply every batch.

    An flock dies with its process, so a runner killed with -9 never leaves a
    stale lock behind.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "runner.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(f"{self.path} is held by {holder}") from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Stop(Protocol):
    """What a run stops on: a ``threading.Event``, or a flag shared with a parent process."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float) -> object:
        """Return after ``timeout`` seconds, or sooner once set."""


class EmbeddedRuntime:
    """Cycles through the runners, in pipeline order, until told to stop."""

    def __init__(
        self,
        runners: Sequence[ProcessorRunner],
        *,
        idle_sleep: float = 0.05,
        housekeeping: Callable[[], object] | None = None,
    ) -> None:
        self.runners = list(runners)
        self.idle_sleep = idle_sleep
        self.housekeeping = housekeeping
        """Called between the rounds of ``run`` (not of ``catch_up``): the
        hand-off's trim, which decides itself whether it is due."""

    def waiting(self) -> int:
        return sum(sum(runner.lag().values()) for runner in self.runners)

    def step(self) -> int:
        """Fire each runner's due timers, relay what its outbox holds, then
        one batch per partition with records waiting; how many records were
        appended or consumed."""
        return sum(
            runner.fire_due() + runner.relay_waiting() + runner.step() for runner in self.runners
        )

    def catch_up(self, progress: Progress | None = None) -> int:
        """Run until nothing is waiting on any topic; how many events were taken
        (applied or dead-lettered; a log record may carry many)."""
        taken_before = self.events_taken()
        while self.step():
            if progress is not None:
                progress(self.events_taken() - taken_before, self.waiting())
        return self.events_taken() - taken_before

    def events_taken(self) -> int:
        return sum(runner.stats.taken for runner in self.runners)

    def run(
        self,
        stop: Stop,
        *,
        max_backoff: float = 5.0,
        each_round: Callable[[int | None], None] | None = None,
    ) -> None:
        """Run until ``stop`` is set; back off while the database or the log is
        unavailable or a processor asks to retry later. A ProcessorStopped
        (a fault in a processor) ends it, with nothing of that batch committed.
        ``each_round`` is called after every round with how many records it
        appended or consumed, None when it failed and will be tried again (a
        stage process reports its progress with it)."""
        backoff = self.idle_sleep
        while not stop.is_set():
            try:
                consumed = self.step()
                if self.housekeeping is not None:
                    self.housekeeping()
            except (RetryLater, OperationalError, LogError) as error:
                log.error("retrying later", error=str(error), retry_in=backoff)
                wanted = error.after if isinstance(error, RetryLater) else None
                stop.wait(backoff if wanted is None else wanted)
                backoff = min(backoff * 2, max_backoff)
                consumed = None
            else:
                backoff = self.idle_sleep
            if each_round is not None:
                each_round(consumed)
            if consumed == 0:
                stop.wait(self.idle_sleep)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
