"""The interactions are a hand-off: deleted from the log once every reader has them.

The resolver hands each event to the per-customer readers (the timeline and
the campaign synchronizer) through ``touchline.interactions``: the event as
published, with its customer. Kept for ever, that topic is a third copy of
every event's bytes, beside the touchpoints log (what was published, which
the resolver replays from) and the timeline (each customer's events, the
index a profile and a customer's rows are rebuilt from). So on the embedded
log a record is deleted once every processor that reads the topic has
stored its position past it, as Kafka Streams purges its repartition topics
once they are committed.

A position is stored in the transaction that holds the state it produced,
so nothing is deleted that a reader could still need: after a crash each
reader replays from its stored position, which is never below the deleted
range. A reader that has stored no position at all holds everything back.

What it costs: the interactions cannot be replayed into a store that is
older than the log (a processor added later, a store restored from an older
backup). That runner stops and says so (``ProcessorStopped``); keep the
topic with ``TOUCHLINE_INTERACTIONS_RETENTION=all`` where that matters.
On Kafka, retention is the broker's (``retention.ms`` on the topic).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy.exc import OperationalError

from touchline.log.port import LogError
from touchline.log.sqlite import SqliteLog
from touchline.processing.runner import ProcessorRunner

log = structlog.get_logger(__name__)

CHUNK = 500
"""Records deleted from a partition in one go at most. A deletion holds the
log's write lock, which publishers and the resolver's appends wait on: a
simulated day's interactions (18,259 records, 56.7 MB) took 269 ms to delete
at once, about 15 us a record, so a chunk over 8 partitions holds the lock
some 60 ms. A trim that leaves more to delete is due again at the next call,
not ``every`` seconds later, so the deletions keep up with the appends."""


class HandOff:
    """Deletes what every reader of ``topic`` has taken, every ``every`` seconds."""

    def __init__(
        self,
        log: SqliteLog,
        topic: str,
        readers: Sequence[ProcessorRunner],
        *,
        every: float,
        chunk: int = CHUNK,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.topic = topic
        self.readers = list(readers)
        self.every = every
        self.chunk = chunk
        self._clock = clock
        self._next = clock()

    def due(self) -> int:
        """Trim when ``every`` seconds have passed since a trim found nothing
        more to delete; how many records were deleted."""
        now = self._clock()
        if now < self._next:
            return 0
        self._next = now + self.every
        try:
            deleted, more = self._trim()
        except (LogError, OperationalError) as error:
            # The records stay until the next time: nothing is lost by waiting.
            log.warning("hand-off not trimmed", topic=self.topic, error=str(error))
            return 0
        if more:
            self._next = now
        return deleted

    def kept(self) -> tuple[int, int]:
        """Records the topic holds now, and how many were deleted so far."""
        starts, ends = self.log.start_offsets(self.topic), self.log.end_offsets(self.topic)
        return sum(ends[p] - starts[p] for p in ends), sum(starts.values())

    def taken_by_all(self) -> dict[int, int]:
        """Per partition, the offset below which every reader has stored its
        position (0 where one has stored none)."""
        # Read from each store: the readers may run in other processes.
        positions = [reader.reload_positions() for reader in self.readers]
        return {
            partition: min((mine.get(partition, 0) for mine in positions), default=0)
            for partition in range(self.log.partitions(self.topic))
        }

    def trim(self) -> int:
        """Delete, up to ``chunk`` records a partition, what every reader has
        taken; how many records were deleted."""
        return self._trim()[0]

    def _trim(self) -> tuple[int, bool]:
        """How many records were deleted, and whether a chunk left more."""
        starts = self.log.start_offsets(self.topic)
        floors = {p: floor for p, floor in self.taken_by_all().items() if floor > starts[p]}
        if not floors:
            return 0, False
        below = {p: min(floor, starts[p] + self.chunk) for p, floor in floors.items()}
        self.log.delete_records(self.topic, below)
        deleted = sum(offset - starts[p] for p, offset in below.items())
        log.debug("hand-off trimmed", topic=self.topic, records=deleted)
        return deleted, below != floors
