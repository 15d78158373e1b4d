"""What the client hands back: the API's answers, as typed values.

The events themselves are the catalogue's :class:`touchline.events.Envelope`;
these are the shapes around them that only the HTTP API has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from touchline.events import Envelope
from touchline.events.campaign_feed import CampaignStateChanged


class EventResult(msgspec.Struct, kw_only=True, frozen=True):
    """What became of one published event."""

    index: int
    """Its place in what was published."""
    status: Literal["accepted", "duplicate", "rejected"]
    """``duplicate``: the API had it already (a retry, or published before)."""
    id: str | None = None
    pointer: str | None = None
    """Rejected: the failing field, a JSON pointer into the event."""
    code: str | None = None
    """Rejected: why, as a code (``invalid``, ``too_large``, ``no_identifier``...)."""
    message: str | None = None


class Published(msgspec.Struct, kw_only=True, frozen=True):
    """The API's answer to a publish: counts and a result per event, in order."""

    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


@dataclass(frozen=True, slots=True)
class Change:
    """A campaign state change from the stream."""

    id: str
    """The stream's position just past it: subscribe from here to resume."""
    event: Envelope
    """The ``campaign.state_changed`` event: campaign and customer ids on
    the envelope, the transition in the payload."""

    @property
    def state(self) -> CampaignStateChanged:
        payload = self.event.payload
        if not isinstance(payload, CampaignStateChanged):
            raise TypeError(f"a {self.event.type} event on the campaign-state stream")
        return payload


class ResetPartition(msgspec.Struct, kw_only=True, frozen=True):
    partition: int
    requested: int
    """The offset the stream was to read from."""
    earliest: int
    """Where it went on from: the earliest the log still holds."""
    reason: str
    """``retention`` (the changes were deleted) or ``beyond_end`` (an id
    from another log)."""


class _ResetData(msgspec.Struct):
    partitions: list[ResetPartition]


@dataclass(frozen=True, slots=True)
class Reset:
    """The stream skipped changes it no longer holds: rebuild what depends
    on them (from the API's reads) rather than trust a gap-free history."""

    id: str
    partitions: tuple[ResetPartition, ...]

    @classmethod
    def from_data(cls, position: str, data: str) -> Reset:
        decoded = msgspec.json.decode(data, type=_ResetData)
        return cls(position, tuple(decoded.partitions))
