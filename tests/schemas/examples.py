"""Hypothesis strategies that build payloads of any registered class.

They read the class's own type information (msgspec.inspect), constraints
included, so a new event in the catalogue gets examples without a line here;
a type the strategies do not know raises and names itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st

from touchline.events.base import Payload

_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
# Room for a few items is enough to exercise a collection's schema.
_MAX_ITEMS = 3
_MAX_TEXT = 40
_INVALID = object()


def payloads(cls: type[Payload]) -> st.SearchStrategy[Payload]:
    """Payloads of ``cls`` whose values meet every declared constraint."""
    return _struct(cls)


def aware_datetimes() -> st.SearchStrategy[datetime]:
    # Hypothesis takes naive bounds and adds the zone from ``timezones``.
    low = datetime(1970, 1, 1)  # noqa: DTZ001 -- a naive bound, as hypothesis requires
    high = datetime(2200, 1, 1)  # noqa: DTZ001 -- a naive bound, as hypothesis requires
    return st.datetimes(min_value=low, max_value=high, timezones=_ZONES)


def _struct(cls: type[Any]) -> st.SearchStrategy[Any]:
    info = mi.type_info(cls)
    if not isinstance(info, mi.StructType):
        raise TypeError(f"{cls!r} is not a msgspec Struct")
    required = {f.name: strategy(f.type) for f in info.fields if f.required}
    optional = {f.name: strategy(f.type) for f in info.fields if not f.required}

    def construct(kwargs: dict[str, Any]) -> Any:
        # __post_init__ may refuse a combination (say, an amount without a
        # currency); such draws are dropped, not failed.
        try:
            return cls(**kwargs)
        except (ValueError, TypeError, msgspec.ValidationError):
            return _INVALID

    drawn = st.fixed_dictionaries(required, optional=optional).map(construct)
    return drawn.filter(lambda value: value is not _INVALID)


def strategy(t: mi.Type) -> st.SearchStrategy[Any]:  # noqa: PLR0911, PLR0912 -- one branch per kind of type reads best
    """Values of the msgspec type ``t``, within its constraints."""
    if isinstance(t, mi.Metadata):
        return strategy(t.type)
    if isinstance(t, mi.StructType):
        return _struct(t.cls)
    if isinstance(t, mi.UnionType):
        return st.one_of([strategy(option) for option in t.types])
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.EnumType):
        return st.sampled_from(list(t.cls))
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.StrType):
        return _text(t)
    if isinstance(t, mi.IntType):
        return _integers(t)
    if isinstance(t, mi.FloatType):
        return _floats(t)
    if isinstance(t, mi.DateTimeType):
        return aware_datetimes() if t.tz is not False else st.datetimes()
    if isinstance(t, mi.DateType):
        return st.dates()
    if isinstance(t, mi.UUIDType):
        return st.uuids()
    if isinstance(t, mi.DecimalType):
        return st.decimals(allow_nan=False, allow_infinity=False, places=2)
    if isinstance(t, mi.TupleType):
        return st.tuples(*(strategy(item) for item in t.item_types))
    if isinstance(t, mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType):
        return _collection(t)
    if isinstance(t, mi.DictType):
        return st.dictionaries(
            strategy(t.key_type),
            strategy(t.value_type),
            min_size=t.min_length or 0,
            max_size=max(t.min_length or 0, _MAX_ITEMS),
        )
    raise NotImplementedError(f"no example strategy for {t!r}: add one in {__name__}")


def _text(t: mi.StrType) -> st.SearchStrategy[str]:
    low, high = t.min_length or 0, t.max_length
    if t.pattern is None:
        return st.text(min_size=low, max_size=min(high or _MAX_TEXT, max(low, _MAX_TEXT)))
    # fullmatch: a string the whole pattern describes also satisfies its search.
    return st.from_regex(t.pattern, fullmatch=True).filter(
        lambda text: len(text) >= low and (high is None or len(text) <= high)
    )


def _integers(t: mi.IntType) -> st.SearchStrategy[int]:
    low = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else -(2**53))
    high = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else 2**53)
    numbers = st.integers(min_value=low, max_value=high)
    if t.multiple_of is not None:
        step = t.multiple_of
        numbers = numbers.map(lambda n: n - n % step).filter(lambda n: low <= n <= high)
    return numbers


def _floats(t: mi.FloatType) -> st.SearchStrategy[float]:
    if t.multiple_of is not None:
        raise NotImplementedError(f"no example strategy for {t!r}: add one in {__name__}")
    low = t.ge if t.ge is not None else t.gt
    high = t.le if t.le is not None else t.lt
    return st.floats(
        min_value=low,
        max_value=high,
        exclude_min=t.gt is not None,
        exclude_max=t.lt is not None,
        allow_nan=False,
        allow_infinity=False,
    )


def _collection(
    t: mi.ListType | mi.VarTupleType | mi.SetType | mi.FrozenSetType,
) -> st.SearchStrategy[Any]:
    low = t.min_length or 0
    high = t.max_length if t.max_length is not None else max(low, _MAX_ITEMS)
    unique = isinstance(t, mi.SetType | mi.FrozenSetType)
    items = st.lists(strategy(t.item_type), min_size=low, max_size=high, unique=unique)
    if isinstance(t, mi.VarTupleType):
        return items.map(tuple)
    if isinstance(t, mi.SetType):
        return items.map(set)
    if isinstance(t, mi.FrozenSetType):
        return items.map(frozenset)
    return items
