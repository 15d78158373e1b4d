"""A small JSON Schema 2020-12 validator for the keywords the generated schemas use.

jsonschema is not a dependency, and a test should not need one just for this.
Every keyword is either checked here or listed as an annotation; any other
keyword raises, so a schema using something new cannot pass unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

Schema = Mapping[str, Any]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples"}
    | {"deprecated", "readOnly", "writeOnly"}
)
_TYPES: dict[str, Callable[[object], bool]] = {
    "null": lambda value: value is None,
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}


def _parses(parse: Callable[[str], object]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            parse(text)
        except (ValueError, InvalidOperation):
            return False
        return True

    return check


def _aware_datetime(text: str) -> datetime:
    # RFC 3339 date-time requires an offset; fromisoformat alone would not.
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None or "T" not in text.upper():
        raise ValueError(text)
    return parsed


_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _parses(_aware_datetime),
    "date": _parses(date.fromisoformat),
    "uuid": _parses(UUID),
    "decimal": _parses(Decimal),
}


def validation_errors(instance: object, schema: Schema) -> list[str]:
    """Where and why ``instance`` fails ``schema``; empty when it is valid."""
    return _Validator(schema).errors(instance, schema, "$")


class _Validator:
    def __init__(self, root: Schema) -> None:
        self.root = root

    def errors(self, value: object, schema: Schema, at: str) -> list[str]:
        found: list[str] = []
        for keyword, expected in schema.items():
            if keyword in _ANNOTATIONS or keyword in {"required", "additionalProperties"}:
                continue  # annotations say nothing; the last two are checked with properties
            check = getattr(self, "_" + keyword.replace("$", "dollar_"), None)
            if check is None:
                raise NotImplementedError(f"validator does not know keyword {keyword!r}")
            found.extend(check(value, expected, schema, at))
        if "properties" not in schema and (
            "required" in schema or "additionalProperties" in schema
        ):
            found.extend(self._properties(value, {}, schema, at))
        return found

    def _dollar_ref(self, value: object, ref: str, _schema: Schema, at: str) -> list[str]:
        if ref == "#":
            return self.errors(value, self.root, at)
        if not ref.startswith("#/$defs/"):
            raise NotImplementedError(f"validator follows local references only, not {ref}")
        return self.errors(value, self.root["$defs"][ref.removeprefix("#/$defs/")], at)

    def _type(self, value: object, expected: str | list[str], _s: Schema, at: str) -> list[str]:
        kinds = [expected] if isinstance(expected, str) else expected
        ok = any(_TYPES[kind](value) for kind in kinds)
        return [] if ok else [f"{at}: {value!r} is not of type {expected}"]

    def _const(self, value: object, expected: object, _s: Schema, at: str) -> list[str]:
        return [] if _same(value, expected) else [f"{at}: {value!r} is not {expected!r}"]

    def _enum(self, value: object, expected: list[object], _s: Schema, at: str) -> list[str]:
        ok = any(_same(value, option) for option in expected)
        return [] if ok else [f"{at}: {value!r} is not one of {expected!r}"]

    def _anyOf(self, value: object, options: list[Schema], _s: Schema, at: str) -> list[str]:
        if any(not self.errors(value, option, at) for option in options):
            return []
        return [f"{at}: {value!r} matches none of the anyOf options"]

    def _properties(self, value: object, props: Schema, schema: Schema, at: str) -> list[str]:
        if not isinstance(value, dict):
            return []
        found = [
            f"{at}: missing {name!r}" for name in schema.get("required", ()) if name not in value
        ]
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in props:
                found.extend(self.errors(item, props[name], f"{at}.{name}"))
            elif extra is False:
                found.append(f"{at}: unexpected property {name!r}")
            elif isinstance(extra, dict):
                found.extend(self.errors(item, extra, f"{at}.{name}"))
        return found

    def _items(self, value: object, item: Schema, _s: Schema, at: str) -> list[str]:
        if not isinstance(value, list):
            return []
        return [error for i, x in enumerate(value) for error in self.errors(x, item, f"{at}[{i}]")]

    def _prefixItems(self, value: object, items: list[Schema], _s: Schema, at: str) -> list[str]:
        if not isinstance(value, list):
            return []
        pairs = zip(value, items, strict=False)
        return [
            error for i, (x, s) in enumerate(pairs) for error in self.errors(x, s, f"{at}[{i}]")
        ]

    def _minItems(self, value: object, bound: int, _s: Schema, at: str) -> list[str]:
        short = isinstance(value, list) and len(value) < bound
        return [f"{at}: fewer than {bound} items"] if short else []

    def _maxItems(self, value: object, bound: int, _s: Schema, at: str) -> list[str]:
        long = isinstance(value, list) and len(value) > bound
        return [f"{at}: more than {bound} items"] if long else []

    def _minLength(self, value: object, bound: int, _s: Schema, at: str) -> list[str]:
        short = isinstance(value, str) and len(value) < bound
        return [f"{at}: shorter than {bound}"] if short else []

    def _maxLength(self, value: object, bound: int, _s: Schema, at: str) -> list[str]:
        long = isinstance(value, str) and len(value) > bound
        return [f"{at}: longer than {bound}"] if long else []

    def _pattern(self, value: object, pattern: str, _s: Schema, at: str) -> list[str]:
        # JSON Schema patterns are unanchored: search, not match.
        bad = isinstance(value, str) and re.search(pattern, value) is None
        return [f"{at}: {value!r} does not match {pattern}"] if bad else []

    def _format(self, value: object, name: str, _s: Schema, at: str) -> list[str]:
        if name not in _FORMATS:
            raise NotImplementedError(f"validator does not know format {name!r}")
        bad = isinstance(value, str) and not _FORMATS[name](value)
        return [f"{at}: {value!r} is not a {name}"] if bad else []

    def _minimum(self, value: object, bound: float, _s: Schema, at: str) -> list[str]:
        return _compare(value, at, lambda x: x >= bound, f">= {bound}")

    def _maximum(self, value: object, bound: float, _s: Schema, at: str) -> list[str]:
        return _compare(value, at, lambda x: x <= bound, f"<= {bound}")

    def _exclusiveMinimum(self, value: object, bound: float, _s: Schema, at: str) -> list[str]:
        return _compare(value, at, lambda x: x > bound, f"> {bound}")

    def _exclusiveMaximum(self, value: object, bound: float, _s: Schema, at: str) -> list[str]:
        return _compare(value, at, lambda x: x < bound, f"< {bound}")


def _compare(value: object, at: str, holds: Callable[[float], bool], what: str) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    return [] if holds(value) else [f"{at}: {value!r} is not {what}"]


def _same(value: object, expected: object) -> bool:
    # JSON compares numbers by value (1 is 1.0) but true is never 1.
    if isinstance(value, bool) or isinstance(expected, bool):
        return type(value) is type(expected) and value == expected
    return value == expected
