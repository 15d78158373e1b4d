"""The processor port: one step of the pipeline, independent of the runtime.

A processor reads one topic in batches. Inside the transaction the runner
opens, it writes its state and returns an :class:`Outcome`: the events it
emits, the events it rejects (dead-lettered with the reason), and the timers
it sets or cancels. The runner appends the emits to the log and stores the
consumed positions, the timers and the state in that same transaction.
Projections are processors that emit nothing.

What a processor raises decides what happens to the batch:

- :class:`RetryLater` (and the runner treats a database or log outage, and
  any ``OSError``, the same way): transient. Nothing is written or
  dead-lettered; the runtime backs off and retries the same batch.
- ``ValueError``, ``TypeError``, ``LookupError``, ``ArithmeticError`` or a
  database error about the data: the batch is retried one event at a time,
  and the event that fails again is dead-lettered with the error.
- Anything else is a fault in the processor: the runner stops with
  :class:`ProcessorStopped`, which names the processor, the partition and
  the offsets, and nothing of the batch is committed.

A timer is an event a processor wants appended later: when the injected
clock reaches ``due_at`` the runner appends it (its id set by the processor,
so a re-fire after a crash is a harmless duplicate) and it flows through the
log like any other event, so a replay meets it at the same place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from touchline.events import Envelope


@dataclass(frozen=True, slots=True)
class Emit:
    """An event a processor wants appended to ``topic`` under ``key``."""

    topic: str
    key: bytes
    event: Envelope
    everywhere: bool = False
    """One copy on every partition (same bytes, same id), not one placed by
    ``key``: for an event every reader of the topic needs in its own order,
    such as a campaign's launch."""


CONFLICTING_DUPLICATE = "conflicting-duplicate"
"""An event id already applied, arriving again with other content."""
UNDECODABLE = "undecodable"
REFUSED_AT_EDGE = "refused-at-edge"


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event a processor could not take, and why: it goes to the dead letters."""

    event: Envelope
    reason: str
    code: str = "rejected"
    """A short kind to filter on (``conflicting-duplicate``, ``refused-at-edge``)."""
    details: tuple[tuple[str, str], ...] = ()
    """More headers for the dead letter (e.g. both digests of a conflict)."""


@dataclass(frozen=True, slots=True)
class Timer:
    """An event to append to ``topic`` under ``key`` once the clock reaches ``due_at``.

    ``name`` is unique per processor: setting a timer of the same name again
    moves it (new time, new event), and cancelling it by name removes it.
    An event without ``recorded_at`` is stamped with ``due_at`` when it
    fires, never with the clock, so every firing of it has the same bytes.
    """

    name: str
    due_at: datetime
    topic: str
    key: bytes
    event: Envelope


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Cancel the timer ``name`` (nothing happens when none is set)."""

    name: str


@dataclass(slots=True)
class Outcome:
    emitted: list[Emit] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    timers: list[Timer | CancelTimer] = field(default_factory=list)
    """Timers to set (or move) and to cancel, in the order decided: the last
    word on a name stands. Kept in the batch's transaction."""

    @classmethod
    def nothing(cls) -> Outcome:
        return cls()


class RetryLater(Exception):
    """Transient: roll the batch back, keep it, and try it again after a while.

    Raised by a processor that depends on something outside the database
    that is briefly unavailable (an SMTP relay, a partner's API), and by the
    runner itself for database, log and operating-system errors.
    """

    def __init__(self, reason: str, *, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after
        """Seconds the processor asks to wait; None leaves it to the runtime's backoff."""


class ProcessorStopped(RuntimeError):
    """A processor raised something no rule covers: a fault in its code.

    The batch is not committed, so nothing is lost; the runner stops rather
    than dead-letter good events because of a bug. The message says where.
    """


class Processor(ABC):
    """A named step that turns a batch of decoded events into writes and emits.

    ``process`` must be idempotent per event id (redelivery and replay happen)
    and deterministic given its stored state (a crash between emitting and
    committing replays the batch, and must emit the same events again).
    """

    name: str
    source_topic: str

    @abstractmethod
    def process(self, connection: Connection, events: Sequence[Envelope]) -> Outcome:
        """Apply ``events`` using ``connection`` (inside the runner's transaction)."""

    def rolled_back(self) -> None:  # noqa: B027 - optional hook, most processors keep no cache
        """The transaction holding the last ``process`` call was rolled back."""
