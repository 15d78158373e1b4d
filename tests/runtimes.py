"""The runtimes every scenario runs on: embedded, and Kafka with a real worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO

from touchline.bootstrap import Backbone
from touchline.processing.kafka_worker import worker_id
from touchline.store.assignments import holdings


@dataclass
class EmbeddedRuntime:
    """Processors run in the test's own process, on the SQLite log."""

    backbone: Backbone
    name: str = "embedded"

    def drain(self, timeout: float = 60.0) -> None:
        """Run until nothing is waiting."""
        del timeout
        self.backbone.runtime.catch_up()

    def close(self) -> None:
        self.backbone.close()


@dataclass
class KafkaRuntime:
    """A real `touchline worker` process (Faust) on a real broker.

    The worker's log goes to a file, never to a pipe: nobody reads a pipe
    while the worker runs, and once its 64 KiB fill (a broker outage logs a
    lot) every thread that logs blocks in write(), the worker's event loop
    among them, until the test gives up and reads it.
    """

    backbone: Backbone
    env: dict[str, str]
    name: str = "kafka"
    worker: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start_worker(self) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - read and closed in stop_worker
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "touchline.cli", "worker"],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def worker_log(self) -> str:
        """What the running (or last stopped) worker has logged so far."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    @property
    def worker_id(self) -> str | None:
        """How the running worker names itself in the partitions it records holding."""
        return None if self.worker is None else worker_id(self.worker.pid)

    def holders(self) -> dict[str, dict[int, str]]:
        """Per processor, the worker holding each partition, as the workers recorded it."""
        with self.backbone.engine.connect() as connection:
            return {
                runner.processor.name: {
                    partition: holding.worker
                    for partition, holding in holdings(
                        connection, runner.processor.name, runner.topic
                    ).items()
                }
                for runner in self.backbone.runtime.runners
            }

    def drain(self, timeout: float = 90.0) -> None:
        """Wait until every processor's stored position is at its topic's end,
        twice in a row (what the resolver emits is the timeline's input)."""
        deadline = time.monotonic() + timeout
        settled = 0
        while settled < 2:
            if self.worker is not None and self.worker.poll() is not None:
                code = self.worker.returncode
                raise AssertionError(f"worker exited {code}: {self.stop_worker()[-3000:]}")
            if time.monotonic() > deadline:
                lags = self.lags()
                log = self.stop_worker()
                raise AssertionError(f"worker did not drain in {timeout}s: {lags}\n{log[-4000:]}")
            settled = settled + 1 if not any(self.lags().values()) else 0
            time.sleep(0.2)

    def lags(self) -> dict[str, int]:
        lags = {}
        for runner in self.backbone.runtime.runners:
            runner.forget()
            # What a relay has still to append counts: the feed is not there yet.
            lags[runner.processor.name] = sum(runner.lag().values()) + runner.relay.waiting()
        return lags

    def stop_worker(self, sig: int = signal.SIGTERM) -> str:
        if self.worker is None:
            return ""
        if self.worker.poll() is None:
            self.worker.send_signal(sig)
        try:
            self.worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait()
        self.worker = None
        logged = self.worker_log()
        if self._log is not None:
            self._log.close()
            self._log = None
        return logged

    def close(self) -> None:
        self.stop_worker()
        self.backbone.close()
