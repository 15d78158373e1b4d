"""A ``touchline`` command running as a process of its own, as an operator starts it."""

from __future__ import annotations

import subprocess
import sys
import tempfile


class Running:
    """``touchline ARGS...`` in a subprocess; its log in a file (nobody reads a pipe)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "touchline.cli", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )

    def stop(self, sig: int) -> int:
        """Send ``sig`` and wait for the process: its exit code."""
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        finally:
            self.log.close()
