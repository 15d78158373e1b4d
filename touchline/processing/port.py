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

A processor declares what it reads (``reads``), and the runner decodes each
event once, that far: decoded envelopes (:data:`EVENTS`), the same with each
event's bytes as read, trusting the identities as their writer
normalised them (:data:`WRITTEN_WITH_BYTES`: the timeline stores the bytes
rather than encode the event again), or envelope heads with the payload left
as bytes (:data:`HEADS_WITH_BYTES`: the identity resolver routes events and
writes their payloads on unchanged). What does not decode that far is
dead-lettered by the runner, never handed over.

A timer is an event a processor wants appended later: when the injected
clock reaches ``due_at`` the runner appends it (its id set by the processor,
so a re-fire after a crash is a harmless duplicate) and it flows through the
log like any other event, so a replay meets it at the same place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar
from uuid import UUID

import msgspec
from sqlalchemy import Connection

from touchline.events import Envelope, EnvelopeHead, EventCodec


class Identified(Protocol):
    """What a processor is handed per event: whatever it is, it names the event."""

    @property
    def id(self) -> UUID: ...


In = TypeVar("In", bound=Identified)
Decoded = TypeVar("Decoded", Envelope, EnvelopeHead)


class Received(msgspec.Struct, Generic[Decoded], frozen=True, gc=False):
    """An event as the runner read it: decoded as far as its processor asked,
    and its bytes as they sit in the log (a record's value, or one item of a
    record that carries a batch).

    A struct the garbage collector does not track (it holds an event and
    bytes, so it can form no cycle): one is made per event, and a tuple would
    count towards the collector's thresholds and bring its full passes (each
    milliseconds over a stage's heap) sooner.
    """

    event: Decoded
    data: bytes

    @property
    def id(self) -> UUID:
        return self.event.id


@dataclass(frozen=True, slots=True)
class Reading(Generic[In]):
    """What the runner hands a processor for each event it reads."""

    about: str
    reader: Callable[[EventCodec], Callable[[bytes], In]]
    """Given the codec, what the runner calls on each event's bytes; it raises
    InvalidEvent for bytes that are no event (the runner dead-letters them)."""

    def feed(self, codec: EventCodec, events: Iterable[Envelope]) -> list[In]:
        """What the runner would hand the processor had ``events`` been read
        from the log: for tests and benchmarks that drive a processor directly."""
        read = self.reader(codec)
        return [read(codec.encode(event)) for event in events]


def _events(codec: EventCodec) -> Callable[[bytes], Envelope]:
    return codec.decode


def _written_with_bytes(codec: EventCodec) -> Callable[[bytes], Received[Envelope]]:
    decode = codec.decode_written

    def read(data: bytes) -> Received[Envelope]:
        return Received(decode(data), data)

    return read


def _heads_with_bytes(codec: EventCodec) -> Callable[[bytes], Received[EnvelopeHead]]:
    decode_head = codec.decode_head

    def read(data: bytes) -> Received[EnvelopeHead]:
        return Received(decode_head(data), data)

    return read


EVENTS = Reading("decoded events", _events)
WRITTEN_WITH_BYTES = Reading(
    "decoded events of a topic only touchline writes (identities taken as read), "
    "each with its bytes as read",
    _written_with_bytes,
)
HEADS_WITH_BYTES = Reading(
    "envelope heads, the payload left as bytes, each with its bytes as read", _heads_with_bytes
)


@dataclass(frozen=True, slots=True)
class Emit:
    """An event a processor wants appended to ``topic`` under ``key``: a
    whole envelope, or a head whose payload bytes go on as they came."""

    topic: str
    key: bytes
    event: Envelope | EnvelopeHead
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

    event: Envelope | EnvelopeHead
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


class Processor(ABC, Generic[In]):
    """A named step that turns a batch of events into writes and emits.

    ``process`` must be idempotent per event id (redelivery and replay happen)
    and deterministic given its stored state (a crash between emitting and
    committing replays the batch, and must emit the same events again).
    """

    name: str
    source_topic: str
    reads: Reading[In]
    """What ``process`` is handed per event: :data:`EVENTS` unless the
    processor needs less decoded, or the bytes too."""

    @abstractmethod
    def process(self, connection: Connection, events: Sequence[In]) -> Outcome:
        """Apply ``events`` using ``connection`` (inside the runner's transaction)."""

    def rolled_back(self) -> None:  # optional: most processors keep no cache to drop
        """The transaction holding the last ``process`` call was rolled back."""
