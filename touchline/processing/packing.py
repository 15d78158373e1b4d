"""Packing events into log records: the one function the publisher and the
runner both use, with a policy per topic.

- ``PER_PARTITION`` (touchpoints, interactions): the events of a batch that
  share a partition travel in one record, so the log's per-record cost (and
  a Kafka consumer's per-message cost) is paid once per batch, not per event.
- ``PER_EVENT`` (campaign state, actions): one keyed record per event, so a
  subscriber resumes from an event's own offset (an SSE ``Last-Event-ID``)
  and an adapter's send has an offset of its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from enum import Enum

from touchline.events import Envelope, EnvelopeHead, EventCodec
from touchline.log.port import Record, partition_for_key


class Packing(Enum):
    PER_PARTITION = "per-partition"
    PER_EVENT = "per-event"


def pack(
    codec: EventCodec,
    items: Sequence[tuple[Envelope | EnvelopeHead, bytes]],
    partitions: int,
    policy: Packing = Packing.PER_PARTITION,
) -> list[tuple[list[int], Record]]:
    """Records for ``items`` (event, record key), each with the indexes of
    the items it carries, in the order of their first item. A head's
    payload bytes are written as they came.

    A record carrying one event is keyed (the log places it by the key); a
    record carrying several names its partition, the one every key maps to.
    """
    if policy is Packing.PER_EVENT:
        return [([i], Record(value=codec.encode(e), key=k)) for i, (e, k) in enumerate(items)]
    groups: defaultdict[int, list[int]] = defaultdict(list)
    for index, (_, key) in enumerate(items):
        groups[partition_for_key(key, partitions)].append(index)
    packed = []
    for partition, indexes in groups.items():
        if len(indexes) == 1:
            event, key = items[indexes[0]]
            record = Record(value=codec.encode(event), key=key)
        else:
            record = Record(
                value=codec.encode_batch([items[i][0] for i in indexes]), partition=partition
            )
        packed.append((indexes, record))
    return packed


def policy_for(policies: Mapping[str, Packing], topic: str) -> Packing:
    return policies.get(topic, Packing.PER_PARTITION)
