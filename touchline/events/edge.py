"""What the edge refuses beyond an event's schema: values no processor could store.

The schemas say what shape an event has; they cannot say that a timestamp
must still exist once converted to UTC, that PostgreSQL's text type cannot
hold U+0000, or that an integer must fit the 64 bits a database column or
another language's client holds. Every one of those was accepted once and then
dead-lettered by a processor, so the publisher (and the resolver, for events
produced straight onto Kafka) checks them here, before anything is appended.
The resolver reads only an event's head: it screens the bytes as read
(:func:`suspects_as_read`) and decodes in full only the rare suspect.

The sanity window keeps a channel's clock error (or .NET's
``DateTimeOffset.MaxValue`` standing for "unknown") off the top of every
timeline as the "last contact" forever: ``occurred_at`` and ``recorded_at``
must fall after ``earliest``, and ``occurred_at`` at most ``future`` after
the event was recorded. A far-future date a channel really means (a contract
end, an offer's expiry) belongs in a payload field, where only
representability is checked.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import msgspec

from touchline.events.base import Envelope, EnvelopeHead, Identities
from touchline.events.codec import EventCodec, WireFormat

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DEFAULT_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_FUTURE = timedelta(days=1)
RESOLVER_ONLY = "customer.merged is written by the resolver; link people with customer.identified"
_WRITTEN_BY_TOUCHLINE = {
    "customer.merged": RESOLVER_ONLY,
    **{
        name: f"{name} is written by the campaign synchronizer, never published"
        for name in (
            "campaign.state_changed",
            "campaign.follow_up_due",
            "action.requested",
            "action.cancelled",
        )
    },
    "action.retry_due": "action.retry_due is written by the adapters' dispatchers, never published",
}


@dataclass(frozen=True, slots=True)
class EdgeRules:
    """The sanity window for an event's own timestamps."""

    earliest: datetime = DEFAULT_EARLIEST
    future: timedelta = DEFAULT_FUTURE

    def __post_init__(self) -> None:
        if self.earliest.tzinfo is None:
            raise ValueError("the edge's earliest time needs a zone (e.g. 1970-01-01T00:00Z)")
        if self.future < timedelta(0):
            raise ValueError("the edge's future window cannot be negative")


@dataclass(frozen=True, slots=True)
class EdgeProblem:
    """What is wrong with an event and where (a JSON path from ``$``)."""

    reason: str
    field: str


def edge_problem(event: Envelope, rules: EdgeRules, now: datetime | None) -> EdgeProblem | None:
    """The first value of ``event`` no processor could take, or None.

    The upper bound is the moment of recording: ``occurred_at`` may be at
    most ``rules.future`` past the event's ``recorded_at`` (``now`` when the
    channel left it out), and a ``recorded_at`` a channel supplied at most
    that far past ``now``. A processor passes ``now=None``: it judges by the
    recorded time alone, so a replay decides as the first run did.
    """
    return value_problems([event]).get(0) or envelope_problem(event, rules, now)


def head_problem(
    head: EnvelopeHead, codec: EventCodec, rules: EdgeRules, *, suspect: bool
) -> EdgeProblem | None:
    """:func:`edge_problem` for an event read as its head, as a processor
    judges it (``now=None``). Its value checks need the whole event: only a
    ``suspect`` (its bytes as read, by :func:`suspects_as_read`; rarely any)
    is decoded whole, so InvalidEvent when its payload is not its type's."""
    if suspect:
        problem = value_problem(codec.complete(head))
        if problem is not None:
            return problem
    return envelope_problem(head, rules, None)


def envelope_problem(
    event: Envelope | EnvelopeHead, rules: EdgeRules, now: datetime | None
) -> EdgeProblem | None:
    """The checks on the envelope alone: type, widths, the time window.

    Run after :func:`value_problems`: a time that does not exist in UTC is
    named as such, not as outside the window.
    """
    written_by_us = _WRITTEN_BY_TOUCHLINE.get(event.type)
    if written_by_us is not None:
        return EdgeProblem(written_by_us, "$.type")
    return _width_problem(event) or _time_problem(event, rules, now)


# Nearly every event holds no bad value, and a few C-level searches of a
# batch's JSON encoding clear them all at once; only a hit sends the batch's
# events to the exact (slow) walk, which decides. Suspect: any ``\u``
# escape (an escaped NUL; msgspec writes one only for a control character,
# but bytes from elsewhere may spell any character so, a date's digits
# included); a year that can leave the calendar once moved to UTC; ``null``
# (how NaN and infinity encode; omitted defaults make it rare otherwise); a
# run of 19 digits (digits all mapped to 9 first).
_json = msgspec.json.Encoder().encode
_from_msgpack = msgspec.msgpack.Decoder().decode
_DIGITS_AS_NINES = bytes.maketrans(b"0123456789", b"9" * 10)
_NINETEEN = b"9" * 19


def _suspect(encoded: bytes) -> bool:
    return (
        # One byte is a memchr, two a slower search (this one was the dearest
        # of the five, 0.26 us an event of a batch), and msgspec writes a
        # backslash only for an escape, rare in events.
        (b"\\" in encoded and b"\\u" in encoded)
        or b'"0001-' in encoded
        or b'"9999-' in encoded
        or b"null" in encoded
        or _NINETEEN in encoded.translate(_DIGITS_AS_NINES)
    )


def suspects_as_read(events: Sequence[bytes], wire: WireFormat) -> set[int]:
    """The places of the events whose bytes, as read from the log, may hold a
    bad value; one search of the whole batch clears nearly every batch.

    An event not named is cleared without decoding it: in JSON nothing that
    decodes to a bad value escapes the searches above (JSON has no NaN or
    infinity, msgspec refuses a number out of a float's range, and a NUL or a
    date spelt with escapes is caught by the escape). msgpack is binary: it
    is searched in its JSON form, transcoded untyped (all in C); what will
    not transcode is suspect, and the exact walk decides.
    """
    texts = list(events) if wire == "json" else [_as_json(data) for data in events]
    readable = [text for text in texts if text is not None]
    # Joined, the batch holds every event's bytes: it can only match more.
    if len(readable) == len(texts) and not _suspect(b"\n".join(readable)):
        return set()
    return {place for place, text in enumerate(texts) if text is None or _suspect(text)}


def _as_json(data: bytes) -> bytes | None:
    try:
        return _json(_from_msgpack(data))
    except Exception:  # an extension type, bad bytes: not cleared here, the walk decides
        return None


def value_problems(events: Sequence[Envelope]) -> dict[int, EdgeProblem]:
    """The first bad value of each event that has one, by place in ``events``."""
    if not events or not _suspect(_json(events)):
        return {}
    found = {}
    for place, event in enumerate(events):
        if len(events) > 1 and not _suspect(_json(event)):
            continue
        problem = value_problem(event)
        if problem is not None:
            found[place] = problem
    return found


def value_problem(event: Envelope) -> EdgeProblem | None:
    """The first bad value of ``event``, by walking every value in it (slow:
    for the events a cheap search made suspect)."""
    for path, value in _leaves(event, "$"):
        problem = _leaf_problem(value)
        if problem is not None:
            return EdgeProblem(problem, path)
    return None


def _width_problem(event: Envelope | EnvelopeHead) -> EdgeProblem | None:
    # Most events are far inside every width: one cheap test against the
    # narrowest identifier width before naming the field.
    if (
        len(event.source) > _SOURCE_WIDTH
        or len(event.campaign_id or "") > _CAMPAIGN_WIDTH
        or len(event.customer_id or "") > _CUSTOMER_WIDTH
        or _longest_identifier(event.identities) > _NARROWEST_IDENTIFIER
    ):
        for path, text, width in _widths(event):
            if text is not None and len(text) > width:
                return EdgeProblem(
                    f"{len(text)} characters is longer than the {width} a projection stores here",
                    path,
                )
    return None


# A person's events bring the same identities again and again: a hit is
# 0.09 us, the measure 0.45 (the publisher and the resolver ask once an event).
@lru_cache(maxsize=65_536)
def _longest_identifier(ids: Identities) -> int:
    return max(map(len, filter(None, msgspec.structs.astuple(ids))), default=0)


def _time_problem(
    event: Envelope | EnvelopeHead, rules: EdgeRules, now: datetime | None
) -> EdgeProblem | None:
    for name in ("occurred_at", "recorded_at"):
        moment: datetime | None = getattr(event, name)
        if moment is not None and moment < rules.earliest:
            return EdgeProblem(
                f"{moment.isoformat()} is before {rules.earliest.isoformat()}, "
                "the earliest time the edge accepts (TOUCHLINE_EDGE_EARLIEST)",
                f"$.{name}",
            )
    recorded = event.recorded_at
    if now is not None and recorded is not None and recorded > now + rules.future:
        return _too_late(recorded, rules, "$.recorded_at", "now")
    reference = recorded or now
    if reference is not None and event.occurred_at > reference + rules.future:
        return _too_late(event.occurred_at, rules, "$.occurred_at", "it was recorded")
    return None


def _too_late(moment: datetime, rules: EdgeRules, field: str, than: str) -> EdgeProblem:
    return EdgeProblem(
        f"{moment.isoformat()} is more than {_span(rules.future)} after {than} "
        "(TOUCHLINE_EDGE_FUTURE_SECONDS); a far-future time belongs in a payload field",
        field,
    )


# The widths of the columns that hold envelope texts (touchline/store/tables.py).
_SOURCE_WIDTH, _CAMPAIGN_WIDTH, _CUSTOMER_WIDTH = 200, 100, 64
# A partner's account and reference are stored joined (``account/reference``) in 320.
_IDENTIFIER_WIDTHS = {"partner_account": 100}
_IDENTIFIER_WIDTH = 200
_NARROWEST_IDENTIFIER = min(_IDENTIFIER_WIDTH, *_IDENTIFIER_WIDTHS.values())


def _widths(event: Envelope | EnvelopeHead) -> Iterator[tuple[str, str | None, int]]:
    """Envelope texts with the width of the column that holds them.

    PostgreSQL enforces a VARCHAR's width, SQLite does not: past it, an
    event was dead-lettered on one store and kept on the other. The
    published schemas cannot narrow (that is a breaking change for a
    published version), so the edge holds the line, the same on every store.
    """
    yield "$.source", event.source, _SOURCE_WIDTH
    yield "$.campaign_id", event.campaign_id, _CAMPAIGN_WIDTH
    yield "$.customer_id", event.customer_id, _CUSTOMER_WIDTH
    ids = event.identities
    for name in ids.__struct_fields__:
        width = _IDENTIFIER_WIDTHS.get(name, _IDENTIFIER_WIDTH)
        yield f"$.identities.{name}", getattr(ids, name), width


def _leaf_problem(value: object) -> str | None:
    if isinstance(value, str):
        return "text cannot contain the NUL character (U+0000)" if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    if isinstance(value, int) and not isinstance(value, bool):
        in_range = INT64_MIN <= value <= INT64_MAX
        return None if in_range else f"integer {value} does not fit in 64 bits"
    if isinstance(value, datetime):
        try:
            value.astimezone(UTC)
        except OverflowError:
            return f"{value.isoformat()} cannot be represented in UTC"
    return None


def _leaves(value: Any, path: str) -> Iterator[tuple[str, object]]:
    """Every scalar inside an event, with its path; structs, lists and dicts walked."""
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield from _leaves(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield path, key
            yield from _leaves(item, f"{path}.{key}")
    else:
        yield path, value


def _span(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} hours" if hours < 48 else f"{hours / 24:g} days"
