"""The processor port: one step of the pipeline, independent of the runtime.

A processor reads one topic in batches. Inside the transaction the runner
opens, it writes its state and returns the events it emits; the runner then
appends those to the log and stores the consumed positions in that same
transaction. Projections are processors that emit nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from touchline.events import Envelope


@dataclass(frozen=True, slots=True)
class Emit:
    """An event a processor wants appended to ``topic`` under ``key``."""

    topic: str
    key: bytes
    event: Envelope


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


@dataclass(slots=True)
class Outcome:
    emitted: list[Emit]
    rejected: list[Rejected]

    @classmethod
    def nothing(cls) -> Outcome:
        return cls([], [])


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
