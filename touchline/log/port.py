"""The log port: what every engine (embedded SQLite, Kafka) offers the handlers.

The shape follows Kafka's semantics so that handlers written against it run
unchanged on either engine: named topics split into partitions, records placed
by a hash of their key, offsets that only grow, and consumer-group positions.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Self

import murmurhash2


class LogError(Exception):
    """Base of every error the log raises."""


class UnknownTopicError(LogError):
    """The topic was never created."""


class OffsetOutOfRange(LogError):
    """A read from an offset the log no longer holds (retention deleted the
    records before it): raised, never answered from a later offset, so a
    reader cannot skip records without knowing it."""


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class Position(NamedTuple):
    """Where an appended record landed."""

    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Record:
    """A record to append. ``partition`` places it explicitly; otherwise ``key``
    decides (None: round robin). A batch of events bound for one partition is
    appended as one record with an explicit partition."""

    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = field(default=())
    partition: int | None = None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as read back from the log."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = field(default=())


_KAFKA_MURMUR2_SEED = 0x9747B28C


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash (Java client ``Utils.murmur2``) as an unsigned 32-bit int.

    Kafka's murmur2 is Appleby's MurmurHash2 with the seed below; the
    ``murmurhash2`` package computes it in native code (0.15 µs a key, where
    the pure-Python version here took 4.6 µs, 14% of publishing a day whose
    identifiers are new). Not kafka-python's: importing ``kafka`` pulls in
    the whole client (a fifth of a second at every start), which the
    embedded engine needs none of, and its murmur2 is pure Python too.
    """
    return murmurhash2.murmurhash2(data, _KAFKA_MURMUR2_SEED)


def check_topic_spec(name: str, partitions: int) -> None:
    """What every engine refuses before creating a topic."""
    if not name:
        raise LogError("a topic needs a name")
    if partitions < 1:
        raise LogError(f"topic {name!r} needs at least one partition, not {partitions}")


@functools.lru_cache(maxsize=1 << 16)  # keys (customer ids, identifiers) repeat heavily
def partition_for_key(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2), so both engines place a key alike."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def place(
    topic: str, partitions: int, records: Sequence[Record], turn: int
) -> tuple[list[int], int]:
    """Each record's partition, and the round-robin turn to continue from.

    The same rule on every engine: an explicit partition, else the key's
    murmur2 hash, else the next in rotation.
    """
    placed = []
    for record in records:
        if record.partition is not None:
            if not 0 <= record.partition < partitions:
                raise LogError(f"{topic} has no partition {record.partition} (it has {partitions})")
            placed.append(record.partition)
        elif record.key is None:
            placed.append(turn % partitions)
            turn += 1
        else:
            placed.append(partition_for_key(record.key, partitions))
    return placed, turn % partitions


class Log(ABC):
    """A partitioned, append-only log with consumer-group positions."""

    @abstractmethod
    def create_topic(self, name: str, partitions: int) -> None:
        """Create ``name`` with ``partitions`` partitions.

        Idempotent when the topic exists with the same count; raises LogError
        when it exists with another count (partitions never silently change).
        """

    @abstractmethod
    def partitions(self, topic: str) -> int:
        """How many partitions ``topic`` has; UnknownTopicError if none."""

    @abstractmethod
    def append(self, topic: str, records: Sequence[Record]) -> list[Position]:
        """Append records, durably, in order per key; return where each landed."""

    @abstractmethod
    def read(self, tp: TopicPartition, offset: int, max_records: int) -> list[StoredRecord]:
        """Up to ``max_records`` records of one partition from ``offset`` on;
        OffsetOutOfRange when ``offset`` is below the partition's start offset."""

    @abstractmethod
    def start_offsets(self, topic: str) -> dict[int, int]:
        """The earliest offset still held, per partition: 0 until retention
        deletes records, then the first one kept (the end when none is)."""

    @abstractmethod
    def end_offsets(self, topic: str) -> dict[int, int]:
        """The next offset to be written, per partition."""

    @abstractmethod
    def commit(self, group: str, offsets: Mapping[TopicPartition, int]) -> None:
        """Store a consumer group's next offsets."""

    @abstractmethod
    def committed(self, group: str, topic: str) -> dict[int, int]:
        """A consumer group's stored next offsets for ``topic`` (absent: none stored)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the log stays on disk."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
