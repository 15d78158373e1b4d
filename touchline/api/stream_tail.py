"""Following the campaign-state topic from a vector of positions, as the
stream sends it: each change once, in order per partition, or a reset.

Blocking (it reads the log port), so the stream calls it in a worker thread.
A reset is the one way a position moves past records not sent: when the
offset asked for is below what the log still holds (retention deleted the
records), or past the partition's end (an id from another log, or one wiped
since), the stream says so and goes on from the earliest offset held.

As :class:`touchline.subscribe.Subscriber` does, a record the relay's
producer appended twice in a row (a retry after a lost acknowledgement) is
sent once: each carries its outbox number, and a number not above the last
one seen on its partition is a repeat. A resumed stream learns that number
from the record just before where it resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec
import structlog

from touchline.api.stream_ids import format_id
from touchline.events import EventCodec, InvalidEvent
from touchline.log.port import Log, OffsetOutOfRange, TopicPartition
from touchline.processing.relay import number_of

_log = structlog.get_logger(__name__)


class PartitionReset(msgspec.Struct, kw_only=True):
    partition: int
    requested: int
    """The offset the stream was to read from."""
    earliest: int
    """The earliest offset the log still holds: where the stream goes on from."""
    reason: Literal["retention", "beyond_end"]
    """``retention``: the records from ``requested`` on were deleted;
    ``beyond_end``: the partition ends before ``requested``."""


class StreamReset(msgspec.Struct, kw_only=True):
    """The data of an ``event: reset``: changes were skipped on these partitions."""

    partitions: list[PartitionReset]


@dataclass(frozen=True, slots=True)
class Change:
    id: str
    """The positions just past this change."""
    data: bytes
    """The event as the codec encodes it (JSON)."""


@dataclass(frozen=True, slots=True)
class Reset:
    id: str
    """The positions the stream goes on from."""
    notice: StreamReset


class Tail:
    """Reads ``topic`` on from ``positions`` (the next offset per partition)."""

    def __init__(self, log: Log, topic: str, codec: EventCodec, positions: dict[int, int]) -> None:
        self.log = log
        self.topic = topic
        self.codec = codec
        self.positions = dict(positions)
        self._numbers: dict[int, int] = {}
        """The last outbox number seen, per partition."""

    @classmethod
    def open(
        cls,
        log: Log,
        topic: str,
        codec: EventCodec,
        asked: dict[int, int] | None,
        *,
        from_start: bool = False,
    ) -> tuple[Tail, Reset | None]:
        """A tail from ``asked`` (else the log's start or end), and the reset
        to send first when ``asked`` is not all held by the log."""
        starts = log.start_offsets(topic)
        ends = log.end_offsets(topic)
        if asked is None:
            return cls(log, topic, codec, starts if from_start else ends), None
        resets = [
            PartitionReset(
                partition=partition,
                requested=offset,
                earliest=starts[partition],
                reason="retention" if offset < starts[partition] else "beyond_end",
            )
            for partition, offset in sorted(asked.items())
            if not starts[partition] <= offset <= ends[partition]
        ]
        tail = cls(log, topic, codec, asked | {r.partition: r.earliest for r in resets})
        for partition, offset in tail.positions.items():
            if offset > starts[partition]:
                tail._learn_number(partition, offset - 1)
        reset = Reset(format_id(tail.positions), StreamReset(partitions=resets)) if resets else None
        return tail, reset

    def poll(self, max_records: int) -> list[Change | Reset]:
        """What follows, up to ``max_records`` records from each partition."""
        items: list[Change | Reset] = []
        for partition in sorted(self.positions):
            tp = TopicPartition(self.topic, partition)
            try:
                records = self.log.read(tp, self.positions[partition], max_records)
            except OffsetOutOfRange:
                items.append(self._reset(partition))
                continue  # the next poll reads from the new position
            for record in records:
                self.positions[partition] = record.offset + 1
                if self._repeated(partition, number_of(record.headers)):
                    continue
                try:
                    self.codec.decode(record.value)
                except InvalidEvent as error:
                    # Only touchline writes this topic: a record it cannot
                    # read is a fault to report, not a change to send.
                    _log.error(
                        "stream.unreadable_record",
                        topic=self.topic,
                        partition=partition,
                        offset=record.offset,
                        error=str(error),
                    )
                    continue
                items.append(Change(format_id(self.positions), record.value))
        return items

    def _reset(self, partition: int) -> Reset:
        """The partition's records from its position were deleted while the
        stream read: go on from the earliest held."""
        earliest = self.log.start_offsets(self.topic)[partition]
        requested = self.positions[partition]
        self.positions[partition] = earliest
        self._numbers.pop(partition, None)
        notice = PartitionReset(
            partition=partition, requested=requested, earliest=earliest, reason="retention"
        )
        return Reset(format_id(self.positions), StreamReset(partitions=[notice]))

    def _repeated(self, partition: int, number: int | None) -> bool:
        if number is None:
            return False
        if number <= self._numbers.get(partition, 0):
            return True
        self._numbers[partition] = number
        return False

    def _learn_number(self, partition: int, offset: int) -> None:
        """Remember the outbox number of the record at ``offset``, the last
        one the client was sent before resuming."""
        try:
            before = self.log.read(TopicPartition(self.topic, partition), offset, 1)
        except OffsetOutOfRange:
            return  # deleted meanwhile: nothing to compare the next record with
        if before:
            self._repeated(partition, number_of(before[0].headers))
