"""A long-running command's stop: SIGTERM or Ctrl-C ends it cleanly.

The signal only sets an event the command's loop checks between units of
work (a batch, an action, a file), so nothing is cut off half done.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType


def stop_on_signals(after: str) -> threading.Event:
    """An event SIGTERM and SIGINT set, saying so on stderr: ``after`` names
    the unit of work the command finishes first (``this batch``)."""
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        print(f"touchline: {name}, stopping after {after}", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop
