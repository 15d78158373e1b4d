"""Refusing breaking changes to a published ``type@version``.

Events of a published version sit in the log for good, and publishers keep
sending them, so what the published schema accepted the new one must accept
the same way. Following msgspec's schema-evolution rules, that means:

- a field may be added only with a default (a new required field breaks);
- a field may not be removed (payloads refuse unknown fields, so old events
  carrying it would no longer decode);
- a field's type never changes, constraints included;
- a default never changes (events are encoded with ``omit_defaults``, so an
  old event that left the field out would silently read the new value);
- the one widening allowed: a set of choices (an ``enum``) may gain values,
  never lose one. Every old event still decodes; a new value reaches only
  readers that know it, because processors are upgraded before the
  publishers that start sending it (the README's upgrade order; the same
  rule as a schema registry's BACKWARD mode).

Titles, descriptions and other annotations may change freely, and so may the
names of ``$defs`` entries: references are followed, not compared. A change
the rules refuse needs a new version, with the old class kept as a
:class:`~touchline.events.base.LegacyPayload` that upcasts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

Schema = Mapping[str, Any]

# Keywords that describe without constraining; "default" is compared on its own.
_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "deprecated", "$comment", "readOnly", "writeOnly"}
)
_DOCUMENT_KEYS = frozenset({"$schema", "$id", "$defs", "default"})
_STRUCT_KEYS = frozenset({"properties", "required"})
# Subschemas inside a field's type: differences there are reported on the field,
# but objects met inside them have their own fields, named by this suffix.
_NESTED = {"items": "[]", "additionalProperties": "{}", "propertyNames": "{}", "contains": "[]"}
_NESTED_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})


def breaking_changes(name: str, published: Schema, generated: Schema) -> list[str]:
    """What ``generated`` breaks of the published schema ``name``, one line each."""
    comparison = _Comparison(name, published, generated)
    comparison.struct(published, generated, "")
    return comparison.problems


def vanished_versions(published: Iterable[str], registered: Iterable[str]) -> dict[str, str]:
    """Published ``type@version`` names no registered class produces any more, each
    with the reason it is refused."""
    known = set(registered)
    return {
        name: f"{name}: published, but no registered class has this type@version; a "
        f"published version may never disappear: keep it as a LegacyPayload with an upcaster"
        for name in sorted(set(published) - known)
    }


class _Comparison:
    """One walk over a published and a generated schema, side by side."""

    def __init__(self, name: str, published: Schema, generated: Schema) -> None:
        self.name = name
        self.old_defs: Schema = published.get("$defs", {})
        self.new_defs: Schema = generated.get("$defs", {})
        self.problems: list[str] = []
        # Verdicts per pair of definitions: each pair is walked (and reported) once.
        self._verdicts: dict[tuple[str, str], bool] = {}

    def report(self, path: str, what: str) -> None:
        self.problems.append(f"{self.name}: field `{path}` {what}")

    def struct(self, old: Schema, new: Schema, path: str) -> None:
        """Compare the fields of two object schemas."""
        old_props: Schema = old.get("properties", {})
        new_props: Schema = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        for field, old_field in old_props.items():
            where = f"{path}.{field}" if path else field
            if field not in new_props:
                self.report(where, "was removed")
                continue
            new_field = new_props[field]
            if field in new_required and field not in old_required:
                self.report(where, "became required")
            elif _default_changed(old_field, new_field):
                self.report(
                    where,
                    f"changed its default from {_json(old_field['default'])} "
                    f"to {_json(new_field['default'])}",
                )
            if not self.same_type(old_field, new_field, where):
                self.report(
                    where,
                    f"changed type from {_describe(old_field, self.old_defs)} "
                    f"to {_describe(new_field, self.new_defs)}",
                )
        for field in sorted(set(new_props) - set(old_props)):
            if field in new_required:
                self.report(f"{path}.{field}" if path else field, "is new and required")

    def same_type(self, old: Schema, new: Schema, path: str) -> bool:
        """Whether two field schemas accept the same values.

        Objects found inside are compared field by field as they are met, so
        a nested change is named by its own path, not only by this field's.
        """
        old_ref, new_ref = old.get("$ref"), new.get("$ref")
        pair = (old_ref, new_ref) if isinstance(old_ref, str) and isinstance(new_ref, str) else None
        if pair is not None:
            if pair in self._verdicts:
                return self._verdicts[pair]
            # Assume alike while inside: a recursive type meets itself again here.
            self._verdicts[pair] = True
        same = self._same_resolved(_resolve(old, self.old_defs), _resolve(new, self.new_defs), path)
        if pair is not None:
            self._verdicts[pair] = same
        return same

    def _same_resolved(self, old: Schema, new: Schema, path: str) -> bool:
        same = True
        if "properties" in old and "properties" in new:
            self.struct(old, new, path)
        elif ("properties" in old) != ("properties" in new):
            same = False
        for key in sorted((set(old) | set(new)) - _ANNOTATIONS - _DOCUMENT_KEYS - _STRUCT_KEYS):
            old_value, new_value = old.get(key), new.get(key)
            if key in _NESTED and isinstance(old_value, dict) and isinstance(new_value, dict):
                same &= self.same_type(old_value, new_value, path + _NESTED[key])
            elif (
                key in _NESTED_LISTS
                and isinstance(old_value, list)
                and isinstance(new_value, list)
                and len(old_value) == len(new_value)
            ):
                for index, (old_item, new_item) in enumerate(
                    zip(old_value, new_value, strict=True)
                ):
                    where = f"{path}[{index}]" if key == "prefixItems" else path
                    same &= self.same_type(old_item, new_item, where)
            elif key == "enum" and isinstance(old_value, list) and isinstance(new_value, list):
                same &= _gains_only(old_value, new_value)
            else:
                same &= old_value == new_value
        return same


def _gains_only(old: list[Any], new: list[Any]) -> bool:
    """Every old choice is still there (new ones may have joined)."""
    kept = {_json(value) for value in new}
    return all(_json(value) in kept for value in old)


def _describe(schema: Schema, defs: Schema) -> str:
    """A short, readable name for a field's type, for the message."""
    if isinstance(schema.get("$ref"), str):
        return _describe_reference(schema, defs)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(_describe(item, defs) for item in schema[key])
    if "const" in schema:
        return f"const {_json(schema['const'])}"
    if "enum" in schema:
        return "one of " + ", ".join(_json(value) for value in schema["enum"])
    kind = schema.get("type", "any")
    label = " | ".join(kind) if isinstance(kind, list) else str(kind)
    if isinstance(schema.get("items"), dict):
        label += f" of {_describe(schema['items'], defs)}"
    if isinstance(schema.get("additionalProperties"), dict):
        label += f" mapping to {_describe(schema['additionalProperties'], defs)}"
    details = [
        f"{key} {_json(value)}"
        for key, value in sorted(schema.items())
        if key not in _ANNOTATIONS | _DOCUMENT_KEYS | _STRUCT_KEYS | {"type", "$ref"}
        and not isinstance(value, dict | list)
    ]
    return f"{label} ({', '.join(details)})" if details else label


def _describe_reference(schema: Schema, defs: Schema) -> str:
    target = _resolve(schema, defs)
    if "$ref" in target:  # points outside this document: its name is all we know
        return str(target["$ref"])
    if "properties" not in target:
        return _describe(target, defs)
    closed = target.get("additionalProperties") is False
    return f"object {schema['$ref'].rsplit('/', 1)[-1]}" + (
        " (refusing unknown fields)" if closed else ""
    )


def _resolve(schema: Schema, defs: Schema) -> Schema:
    """The schema a local ``#/$defs/...`` reference points at (others unchanged)."""
    ref = schema.get("$ref")
    seen: set[str] = set()
    while isinstance(ref, str) and ref.startswith("#/$defs/") and ref not in seen:
        seen.add(ref)
        target = defs.get(ref.removeprefix("#/$defs/"))
        if target is None:
            break
        # Keywords beside the $ref (a field's default, say) still apply.
        schema = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
        ref = target.get("$ref")
    return schema


def _default_changed(old: Schema, new: Schema) -> bool:
    # Gaining a default (required to optional) is safe; losing one is "became required".
    # Compared as JSON: a generated default may be a tuple where the file has a list.
    return "default" in old and "default" in new and _json(old["default"]) != _json(new["default"])


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)
