"""Hypothesis strategies for events at the edges of every field type.

Payloads are built field by field from each catalogued class's own type
hints, without the schemas' limits, so the draws go past them: datetimes at
the extremes of the calendar in every offset, huge and tiny numbers, NaN and
infinities, long and odd Unicode (NUL and astral characters), deep
containers, and every optional field missing. The result is the JSON a
channel system could send; the edge decides what of it is accepted.
"""

from __future__ import annotations

import types
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints
from uuid import UUID

import msgspec
from hypothesis import strategies as st

from touchline.events import CATALOGUE, Payload

_ZONES = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
EXTREME_DATETIMES = st.datetimes(timezones=_ZONES)  # 0001..9999, any offset
RECENT_DATETIMES = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds, zones apart
    max_value=datetime(2026, 11, 1),  # noqa: DTZ001 - (as above)
    timezones=_ZONES,
)
DATETIMES = RECENT_DATETIMES | EXTREME_DATETIMES
TEXTS = (
    st.text(min_size=1, max_size=12)
    | st.text(max_size=600)
    | st.sampled_from(["\x00", "a\x00b", "😀" * 300, "x" * 10_001, " ", "\u202e", "\ufeff"])
)
INTEGERS = (
    st.integers(min_value=-5, max_value=1000)
    | st.integers()
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30])
)
FLOATS = st.floats() | st.sampled_from([0.0, -0.0, 5e-324, 1e15, 1e15 + 1, 1e308])


def _for(hint: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy for values of ``hint`` (limits in Annotated metadata ignored)."""
    origin = get_origin(hint)
    if origin is Annotated:
        return _for(get_args(hint)[0], depth)
    if origin is Literal:
        return st.sampled_from(get_args(hint)) | TEXTS
    if origin in (Union, types.UnionType):
        return st.one_of(*(_for(arm, depth) for arm in get_args(hint)))
    if origin is tuple or origin is list:
        args = get_args(hint)
        return st.lists(_for(args[0], depth + 1), max_size=3 if depth < 2 else 0).map(list)
    if origin is dict:
        return st.dictionaries(TEXTS, _leaf_for_dict(), max_size=4)
    return _plain(hint, depth)


def _plain(hint: Any, depth: int) -> st.SearchStrategy[Any]:
    if hint is type(None):
        return st.none()
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        return struct_dicts(hint, depth + 1)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: TEXTS,
        bool: st.booleans(),
        int: INTEGERS,
        float: FLOATS | INTEGERS,
        datetime: DATETIMES.map(lambda moment: moment.isoformat()),
        UUID: st.uuids().map(str),
    }
    if hint in simple:
        return simple[hint]
    raise TypeError(f"no strategy for {hint!r}: teach tests/edge_strategies.py")


def _leaf_for_dict() -> st.SearchStrategy[Any]:
    return st.recursive(
        TEXTS | INTEGERS | FLOATS | st.booleans() | st.none(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
        max_leaves=20,
    )


@st.composite
def struct_dicts(draw: st.DrawFn, cls: type[msgspec.Struct], depth: int = 0) -> dict[str, Any]:
    """A struct as a JSON object: each field drawn, or left out when it may be."""
    hints = get_type_hints(cls, include_extras=True)
    out: dict[str, Any] = {}
    for field in msgspec.structs.fields(cls):
        optional = field.required is False
        if optional and draw(st.booleans()):
            continue
        out[field.encode_name] = draw(_for(hints[field.name], depth))
    return out


IDENTITIES = st.one_of(
    st.builds(lambda n: {"email": f"p{n}@example.com"}, st.integers(0, 50)),
    st.builds(lambda n: {"phone": f"+1415555{n:04d}"}, st.integers(0, 50)),
    st.builds(lambda n: {"crm_id": f"CRM-{n}"}, st.integers(0, 50)),
    st.builds(lambda n: {"web_id": f"w-{n}"}, st.integers(0, 50)),
    st.dictionaries(
        st.sampled_from(["email", "phone", "crm_id", "web_id", "fax", "partner_account"]),
        TEXTS,
        max_size=3,
    ),
)
PAYLOAD_CLASSES: list[type[Payload]] = [
    cls
    for cls in CATALOGUE.versions()
    # An unmerge names a customer that may not exist yet, a targeting or a
    # close a campaign that may not be launched yet: their refusal depends
    # on state, not shape (a dead letter to re-drive once it does).
    if cls.type not in ("customer.unmerged", "campaign.targeted", "campaign.closed")
]


@st.composite
def raw_events(draw: st.DrawFn) -> dict[str, Any]:
    """One event as a channel system might send it: mostly well formed, with
    every field free to sit at an edge."""
    cls = draw(st.sampled_from(PAYLOAD_CLASSES))
    event: dict[str, Any] = {
        "id": str(draw(st.uuids())),
        "type": cls.type,
        "version": cls.version,
        "occurred_at": draw(DATETIMES).isoformat(),
        "source": draw(st.sampled_from(["esp", "ivr", "crm"]) | TEXTS),
        "identities": draw(IDENTITIES),
        "payload": draw(struct_dicts(cls)),
    }
    optional: dict[str, st.SearchStrategy[Any]] = {
        "recorded_at": DATETIMES.map(lambda moment: moment.isoformat()),
        "campaign_id": st.sampled_from(["spring"]) | TEXTS,
        "customer_id": TEXTS,
        "correlation_id": st.uuids().map(str),
    }
    for name, strategy in optional.items():
        if draw(st.integers(0, 3)) == 0:
            event[name] = draw(strategy)
    return event
