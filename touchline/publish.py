"""Publishing touchpoints: the edge where channel systems' events enter the log.

Everything is validated here, once: a publisher gets a clear error per bad
event, and the good events of the same batch are appended all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from touchline.events import Envelope, EventCodec, InvalidEvent
from touchline.events.keys import source_key
from touchline.log.port import Log, Position, Record


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
        records: list[Record] = []
        accepted: list[Envelope] = []
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
            accepted.append(stamped)
            records.append(Record(value=self.codec.encode(stamped), key=key.encode()))
        if records:
            positions = self.log.append(self.topic, records)
            result.accepted = list(zip(accepted, positions, strict=True))
        return result

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
