"""From records to what a processor reads: each event decoded once, the rest dead-lettered.

A record carries one event, or several packed as an array
(:mod:`touchline.processing.packing`). Each event is read on its own, as far
as the processor's :class:`~touchline.processing.port.Reading` asks, so one
undecodable event costs only itself. Each keeps where it came from and its
bytes, so the dead letter of an event a processor rejects holds the bytes as
they were read, never an encoding of them made again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from touchline.events import EventCodec, InvalidEvent
from touchline.log.port import Record, StoredRecord
from touchline.processing.dead_letter import dead_letter
from touchline.processing.port import UNDECODABLE

Origin = tuple[StoredRecord, int | None, bytes]
"""The record an event came from, its index when the record carries a batch,
and the event's own bytes."""


@dataclass(slots=True)
class Batch:
    """Events as the processor reads them, where each came from, and the undecodable."""

    events: list[Any]
    """What the processor's reading made of each event (its ``In``)."""
    origins: list[Origin]
    dead: list[Record]

    @classmethod
    def empty(cls) -> Batch:
        return cls([], [], [])


def read_records(
    records: Sequence[StoredRecord],
    codec: EventCodec,
    read: Callable[[bytes], Any],
    processor: str,
) -> Batch:
    """``records`` read with ``read`` (a reading's reader for ``codec``)."""
    batch = Batch.empty()

    def take(record: StoredRecord, index: int | None, data: bytes) -> None:
        try:
            batch.events.append(read(data))
        except InvalidEvent as error:
            item = None if index is None else (index, data)
            letter = dead_letter(record, str(error), processor, item=item, code=UNDECODABLE)
            batch.dead.append(letter)
        else:
            batch.origins.append((record, index, data))

    for record in records:
        if not codec.is_batch(record.value):
            take(record, None, record.value)
            continue
        try:
            items = codec.split_batch(record.value)
        except InvalidEvent as error:
            batch.dead.append(dead_letter(record, str(error), processor, code=UNDECODABLE))
            continue
        for index, item in enumerate(items):
            take(record, index, item)
    return batch
