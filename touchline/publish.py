"""Publishing touchpoints: the edge where channel systems' events enter the log.

Everything is validated here, once: a publisher gets a clear error per bad
event, and the good events of the same batch are appended all the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from touchline.events import Envelope, EventCodec, InvalidEvent
from touchline.events.keys import source_key
from touchline.log.port import Log, Position, Record, partition_for_key


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class PublishResult:
    """What happened to each event of a batch, in input order."""

    accepted: list[tuple[Envelope, Position]] = field(default_factory=list)
    rejected: list[InvalidEvent] = field(default_factory=list)


class Publisher:
    """Appends touchpoint events to the log, keyed by the source identity."""

    def __init__(
        self,
        log: Log,
        codec: EventCodec,
        topic: str,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.log = log
        self.codec = codec
        self.topic = topic
        self.clock = clock

    def publish(self, events: Sequence[Envelope]) -> PublishResult:
        """Append typed events; ones that cannot be attributed are refused."""
        result = PublishResult()
        accepted: list[tuple[Envelope, bytes]] = []
        now = self.clock()
        for event in events:
            key = source_key(event.identities) or event.customer_id
            if key is None:
                result.rejected.append(
                    InvalidEvent(
                        "an event needs at least one identifier or a customer_id",
                        field="$.identities",
                        event_id=str(event.id),
                        event_type=event.type,
                    )
                )
                continue
            stamped = event
            if event.recorded_at is None:
                stamped = msgspec.structs.replace(event, recorded_at=now)
            accepted.append((stamped, key.encode()))
        if not accepted:
            return result
        # One record per partition: the log's per-record cost (and a Kafka
        # consumer's per-message cost) is paid once per batch, not per event.
        partitions = self.log.partitions(self.topic)
        by_partition: dict[int, list[int]] = defaultdict(list)
        for index, (_, encoded_key) in enumerate(accepted):
            by_partition[partition_for_key(encoded_key, partitions)].append(index)
        groups = list(by_partition.items())
        records = [
            self._record(partition, [accepted[i] for i in group]) for partition, group in groups
        ]
        where: dict[int, Position] = {}
        for (_, group), position in zip(groups, self.log.append(self.topic, records), strict=True):
            where.update(dict.fromkeys(group, position))
        result.accepted = [(event, where[index]) for index, (event, _) in enumerate(accepted)]
        return result

    def _record(self, partition: int, group: list[tuple[Envelope, bytes]]) -> Record:
        if len(group) == 1:
            event, key = group[0]
            return Record(value=self.codec.encode(event), key=key)
        events = [event for event, _ in group]
        return Record(value=self.codec.encode_batch(events), partition=partition)

    def publish_raw(self, data: bytes) -> PublishResult:
        """A JSON (or msgpack) array of events, or one event, from a channel system."""
        stripped = data.lstrip()
        if stripped[:1] == b"{":
            decoded: list[Envelope | InvalidEvent] = []
            try:
                decoded.append(self.codec.decode(data))
            except InvalidEvent as error:
                decoded.append(error)
        else:
            decoded = self.codec.decode_batch(data)
        good = [item for item in decoded if isinstance(item, Envelope)]
        result = self.publish(good)
        bad = [item for item in decoded if isinstance(item, InvalidEvent)]
        result.rejected = bad + result.rejected
        return result
