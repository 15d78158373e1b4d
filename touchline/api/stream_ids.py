"""The ids of the campaign-state stream: where it stands on every partition.

An id is the vector of next offsets, one pair per partition of the topic:
``0-15.1-7.2-3`` reads partition 0 from offset 15, partition 1 from 7, and
so on. It is what an SSE client sends back in ``Last-Event-ID`` (or the
``last_event_id`` query parameter), so it is short, URL-safe as it stands,
and names every partition: a stream resumed from it misses nothing and
repeats nothing on any of them. Clients treat it as opaque.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_CHARS = 4_096
"""Longer than any id of a topic with a few hundred partitions."""

_PAIR = re.compile(r"(\d{1,6})-(\d{1,19})")
"""A partition and an offset (Kafka's offsets are 64-bit signed integers)."""
MAX_OFFSET = 2**63 - 1


class MalformedId(ValueError):
    """An id that is not a vector of this topic's partitions and offsets."""


def format_id(positions: Mapping[int, int]) -> str:
    return ".".join(f"{partition}-{offset}" for partition, offset in sorted(positions.items()))


def parse_id(text: str, partitions: int) -> dict[int, int]:
    """The next offset of every partition of a topic of ``partitions``."""
    if len(text) > MAX_CHARS:
        raise MalformedId(f"the id is longer than {MAX_CHARS} characters")
    positions: dict[int, int] = {}
    for pair in text.split("."):
        found = _PAIR.fullmatch(pair)
        if found is None:
            raise MalformedId(
                f"{pair!r} is not partition-offset: an id reads like 0-15.1-7.2-3, "
                "as the stream sent it"
            )
        partition, offset = int(found[1]), int(found[2])
        if offset > MAX_OFFSET:
            raise MalformedId(f"offset {offset} is past any log's (at most 2**63 - 1)")
        if partition >= partitions:
            raise MalformedId(
                f"the id names partition {partition};"
                f" the topic has {partitions} (0-{partitions - 1})"
            )
        if partition in positions:
            raise MalformedId(f"the id names partition {partition} twice")
        positions[partition] = offset
    missing = sorted(set(range(partitions)) - set(positions))
    if missing:
        raise MalformedId(
            f"the id leaves out partition(s) {', '.join(map(str, missing))}: "
            "it must name every partition of the topic"
        )
    return positions
