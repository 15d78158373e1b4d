"""The parts of a campaign's definition (``campaign.launched@2``).

A campaign makes one or more offers through a channel sequence (email, then
a call three days later without engagement, then the owning partner), under
the rules that keep channels in step: a limit on contact pressure counted
across every channel, quiet hours, an end date, a pause after a complaint,
and the consent purpose it needs. Each part is a frozen struct that refuses
unknown fields, as payloads do.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from touchline.events.base import Currency, Money, NonEmpty, require_together
from touchline.events.consent import ContactChannel

__all__ = ["ContactPressure", "OfferTerms", "QuietHours", "Step"]

_Days = Annotated[int, msgspec.Meta(ge=0, le=3650)]
_ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class _Part(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    pass


class OfferTerms(_Part, frozen=True, kw_only=True):
    """One offer of the campaign; arbitration prefers a higher ``priority``,
    then a higher ``value``."""

    code: NonEmpty
    priority: Annotated[int, msgspec.Meta(ge=-1000, le=1000)] = 0
    value: Money | None = None
    currency: Currency | None = None
    products: tuple[NonEmpty, ...] = ()
    """SKUs or categories it is about: a customer who just viewed or bought
    one of them ranks it higher."""
    page: str | None = None
    """The offer's web page (a path or URL prefix): a visit to it is engagement."""
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None
    """How long the offer stays open once made (none: until the campaign ends)."""

    def __post_init__(self) -> None:
        require_together(self.value, self.currency, field="value")


class Step(_Part, frozen=True, kw_only=True):
    """Make the offer via ``channel``, ``after_days`` days without engagement
    after the previous step (the first step's ``after_days`` is from targeting)."""

    channel: ContactChannel
    after_days: _Days = 0


class ContactPressure(_Part, frozen=True, kw_only=True):
    """At most ``touches`` marketing touches per customer in any ``window_days``
    (event time), counted across every channel, people's touches included."""

    touches: Annotated[int, msgspec.Meta(ge=1, le=1000)]
    window_days: Annotated[int, msgspec.Meta(ge=1, le=365)]


class QuietHours(_Part, frozen=True, kw_only=True):
    """No outbound touch between ``start`` and ``end`` (``HH:MM``, may span
    midnight) in ``timezone`` (IANA name)."""

    start: _ClockTime
    end: _ClockTime
    timezone: NonEmpty = "UTC"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r} (an IANA name)") from None
