"""The relay: appends a processor's outbox to its topic, each record exactly once.

A batch's records for such a topic (the campaign-state feed) go to the
outbox in the batch's own transaction; after the commit the relay appends
them, each carrying its outbox number in a header, then deletes them. A
crash between the append and the delete leaves rows already on the log:
the next relay reads the partition's last record and skips every row up to
the number it carries, so a consumer group reads each record once.

One relay of a partition runs at a time (it holds the partition's outbox
head while it appends), so two workers after a rebalance cannot both
append a row. The records are appended with their partition named, so the
number on a partition's last record is the highest one the relay got to.
"""

from __future__ import annotations

from collections.abc import Collection

import structlog
from sqlalchemy import Engine

from touchline.log.port import Log, OffsetOutOfRange, Record, TopicPartition
from touchline.store import outbox

log = structlog.get_logger(__name__)

HEADER = "touchline-outbox"
"""The record header holding the row's number in the partition's outbox."""


def number_of(headers: tuple[tuple[str, bytes], ...]) -> int | None:
    """The outbox number a record carries, if the relay appended it."""
    for name, value in headers:
        if name == HEADER:
            return int(value)
    return None


class Relay:
    """Appends the outbox rows of ``topics`` from ``engine`` to ``log``."""

    def __init__(self, log: Log, engine: Engine, topics: Collection[str], batch: int) -> None:
        self.log = log
        self.engine = engine
        self.topics = tuple(sorted(topics))
        self.batch = batch

    def waiting(self) -> int:
        if not self.topics:
            return 0
        with self.engine.connect() as connection:
            return sum(outbox.waiting(connection, topic) for topic in self.topics)

    def run(self, partitions: Collection[int] | None = None) -> int:
        """Append what waits (on ``partitions`` only, when given); how many records."""
        appended = 0
        for topic in self.topics:
            with self.engine.connect() as connection:
                waiting = outbox.waiting_partitions(connection, topic)
            for partition in waiting:
                if partitions is None or partition in partitions:
                    appended += self._partition(TopicPartition(topic, partition))
        return appended

    def _partition(self, tp: TopicPartition) -> int:
        appended = 0
        while True:
            with self.engine.begin() as connection:
                outbox.hold(connection, tp.topic, tp.partition)
                on_log = self._last_number(tp)
                rows = outbox.rows(connection, tp.topic, tp.partition, self.batch)
                fresh = [row for row in rows if row.seq > on_log]
                if len(fresh) < len(rows):
                    log.warning(
                        "outbox rows already on the log (a relay stopped after appending)",
                        topic=tp.topic,
                        partition=tp.partition,
                        skipped=len(rows) - len(fresh),
                    )
                self.log.append(
                    tp.topic,
                    [
                        Record(
                            value=row.value,
                            key=row.key,
                            headers=((HEADER, str(row.seq).encode()),),
                            partition=tp.partition,
                        )
                        for row in fresh
                    ],
                )
                if rows:
                    outbox.relayed(connection, tp.topic, tp.partition, rows[-1].seq)
            appended += len(fresh)
            if len(rows) < self.batch:
                return appended

    def _last_number(self, tp: TopicPartition) -> int:
        """The outbox number on the partition's last record (0: none there)."""
        end = self.log.end_offsets(tp.topic)[tp.partition]
        if end == 0:
            return 0
        try:
            last = self.log.read(tp, end - 1, 1)
        except OffsetOutOfRange:
            # Retention deleted every record of the partition: whatever
            # waits was written after them (a row is relayed within moments
            # of its commit, retention deletes after days), so none is there.
            return 0
        if not last:
            return 0
        return number_of(last[-1].headers) or 0
