"""JSON Schema documents for every event, generated from the catalogue.

One document per ``type@version`` describes the whole envelope as it travels
the log, with ``type`` and ``version`` as constants and ``payload`` as that
version's typed payload: a publisher writing straight onto Kafka validates
against exactly the file for the event it sends. The envelope's fields come
from :class:`~touchline.events.base.Envelope` itself, so a new envelope field
reaches every schema without anyone editing this module.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Literal

import msgspec

from touchline.events.base import Envelope, LegacyPayload, Payload
from touchline.events.catalogue import Catalogue

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URL = "https://touchline.dev/schemas/"
SCHEMA_DIR = "json"
"""Where the per-type schema files live, relative to the schemas directory."""

Document = dict[str, Any]

# What each envelope field means to someone publishing or consuming events;
# a field without an entry is still in every schema, just without a note.
_ENVELOPE_NOTES = {
    "id": "Time-ordered UUIDv7; the idempotency key: an id already seen is not applied twice.",
    "type": "The event type; with version, picks the payload schema.",
    "version": "The payload version; older versions are upcast when decoded.",
    "occurred_at": "When it happened in the channel: RFC 3339, with its UTC offset.",
    "recorded_at": "When touchline recorded it.",
    "source": "Which channel system published it.",
    "payload": "The typed payload of this type and version (no tag of its own).",
    "identities": "What the channel knows about the person; normalised at the edge.",
    "customer_id": "The canonical customer, set by identity resolution.",
    "correlation_id": "Groups the events of one conversation or process.",
    "causation_id": "The id of the event that caused this one.",
    "campaign_id": "The campaign this event belongs to, where one applies.",
}


def schema_name(type_name: str, version: int) -> str:
    """``email.opened@1``: how a published version is named everywhere."""
    return f"{type_name}@{version}"


def schema_path(type_name: str, version: int) -> str:
    """The schema file of one version, relative to the schemas directory."""
    return f"{SCHEMA_DIR}/{schema_name(type_name, version)}.json"


def render(document: Document) -> str:
    """The one textual form of a document: sorted keys, two-space indent, final newline.

    Byte-stable output is what lets a test compare committed files with the code.
    """
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def envelope_struct(cls: type[Payload]) -> type[msgspec.Struct]:
    """A struct shaped like the envelope, narrowed to one payload class.

    ``type`` and ``version`` become literals and unknown envelope fields are
    refused, as the codec's decoder refuses them.
    """
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for info in msgspec.structs.fields(Envelope):
        annotation: Any = info.type
        if info.name == "type":
            annotation = Literal[cls.type]
        elif info.name == "version":
            annotation = Literal[cls.version]
        elif info.name == "payload":
            annotation = cls
        if info.default is not msgspec.NODEFAULT:
            fields.append((info.name, annotation, info.default))
        elif info.default_factory is not msgspec.NODEFAULT:
            fields.append(
                (info.name, annotation, msgspec.field(default_factory=info.default_factory))
            )
        else:
            fields.append((info.name, annotation))
    return msgspec.defstruct(
        f"{cls.__name__}Envelope",
        fields,
        kw_only=True,
        frozen=True,
        omit_defaults=True,
        forbid_unknown_fields=True,
        rename={info.name: info.encode_name for info in msgspec.structs.fields(Envelope)},
        module=__name__,
    )


def envelope_schema(cls: type[Payload], catalogue: Catalogue) -> Document:
    """The JSON Schema of ``cls``'s events on the wire, envelope and all."""
    generated = msgspec.json.schema(envelope_struct(cls))
    definitions: Document = generated["$defs"]
    for definition in definitions.values():
        # msgspec copies docstrings verbatim, indentation included.
        if isinstance(definition.get("description"), str):
            definition["description"] = inspect.cleandoc(definition["description"])
    root: Document = definitions.pop(generated["$ref"].rsplit("/", 1)[-1])
    root.pop("title", None)
    properties: Document = root["properties"]
    # msgspec renders a one-value Literal as a one-item enum; const says it plainly.
    properties["type"] = {"const": cls.type}
    properties["version"] = {"const": cls.version}
    for name, note in _ENVELOPE_NOTES.items():
        if name in properties:
            properties[name]["description"] = note
    name = schema_name(cls.type, cls.version)
    document: Document = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"{SCHEMA_BASE_URL}{name}.json",
        "title": name,
        "description": _description(cls, catalogue),
        **root,
        "$defs": definitions,
    }
    if issubclass(cls, LegacyPayload):
        document["deprecated"] = True
    return document


def event_schemas(catalogue: Catalogue) -> dict[str, Document]:
    """Every registered version's schema, keyed by its relative file path."""
    return {
        schema_path(cls.type, cls.version): envelope_schema(cls, catalogue)
        for cls in catalogue.versions()
    }


def _description(cls: type[Payload], catalogue: Catalogue) -> str:
    # cls.__doc__, not inspect.getdoc: getdoc would lend an undocumented
    # event its base class's docstring, which describes some other thing.
    doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else ""
    if not doc:
        doc = f"A {cls.type} event, version {cls.version}, in its envelope."
    if issubclass(cls, LegacyPayload):
        current = catalogue.current(cls.type).version
        doc += (
            f"\n\nLegacy version: still accepted, and decoded by upcasting to "
            f"{schema_name(cls.type, current)}. Publish the current version."
        )
    return doc
