"""A Python subscriber to the campaign-state feed, on either log engine.

The campaign engine can follow ``touchline.campaign-state`` as a Kafka
consumer group, or with :class:`Subscriber`: it reads the feed from the log
port (the embedded SQLite log or Kafka alike) and keeps its position per
partition in a database under its own name, so it resumes where it left
off. Hand :meth:`Subscriber.poll`'s events to your code, then
:meth:`Subscriber.commit`; to apply each change exactly once, pass the
connection your own writes use, so the position commits with them.

Within a partition, and so for any one customer, events come in the order
they were written; each change carries its pair's ``sequence``, so a
consumer can also tell a repeat from a gap.

The feed holds each change once: the synchronizer writes its changes to an
outbox with its state, and a relay appends them, numbered per partition
(:mod:`touchline.processing.relay`). The one repeat left is the broker's: a
producer that retries after a lost acknowledgement may append a record
twice in a row, and the subscriber hands over a number it has just handed
over only once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from touchline.events import Envelope, EventCodec
from touchline.log.port import Log, TopicPartition
from touchline.processing.relay import number_of
from touchline.store.positions import load_positions, save_positions


@dataclass
class Subscriber:
    """Reads ``topic`` from where the subscriber ``name`` stopped."""

    name: str
    log: Log
    codec: EventCodec
    engine: Engine
    topic: str
    _positions: dict[int, int] | None = field(default=None, init=False, repr=False)
    _read: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    _numbers: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    """The last outbox number handed over, per partition."""

    @property
    def key(self) -> str:
        return f"subscriber:{self.name}"

    def positions(self) -> dict[int, int]:
        if self._positions is None:
            with self.engine.connect() as connection:
                self._positions = load_positions(connection, self.key, self.topic)
        return self._positions

    def poll(self, max_events: int = 500) -> list[Envelope]:
        """The next events after the last commit (or poll), partition by partition."""
        events: list[Envelope] = []
        for partition in range(self.log.partitions(self.topic)):
            start = self._read.get(partition, self.positions().get(partition, 0))
            records = self.log.read(
                TopicPartition(self.topic, partition), start, max_events - len(events)
            )
            for record in records:
                number = number_of(record.headers)
                if number is not None:
                    if number <= self._numbers.get(partition, 0):
                        continue  # the same record again, appended twice by a retry
                    self._numbers[partition] = number
                events.append(self.codec.decode(record.value))
            if records:
                self._read[partition] = records[-1].offset + 1
            if len(events) >= max_events:
                break
        return events

    def commit(self, connection: Connection | None = None) -> None:
        """Store the position past everything polled: in ``connection``'s
        transaction when given (with the subscriber's own writes)."""
        moved = {TopicPartition(self.topic, p): n for p, n in self._read.items()}
        if connection is not None:
            save_positions(connection, self.key, moved)
        else:
            with self.engine.begin() as own:
                save_positions(own, self.key, moved)
        self.positions().update(self._read)
        self._read.clear()

    def rewind(self) -> None:
        """Forget what was polled and not committed: the next poll reads it again."""
        self._read.clear()
        self._numbers.clear()
