"""The Segment mapping's configuration, read and checked once when the API starts.

``TOUCHLINE_SEGMENT_MAPPING`` is inline JSON (it starts with ``{``) or the
path of a ``.json`` or ``.toml`` file, holding a table of track event names::

    [track."Products Searched"]
    type = "web.searched"                      # a catalogue type
    rename = { results = "result_count" }      # Segment property -> payload field
    ignore = ["category"]                      # properties left out on purpose

    [track."Signed Up"]
    type = "web.form_submitted"
    fixed = { form = "sign-up" }               # payload fields the mapping sets
    ignore = ["plan"]

A mistake (a type the catalogue lacks, a field its payload does not have) stops
the API from starting, naming the setting: a typo found at deploy time, not
as every call of that name being kept.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

from touchline.api.segment_mapping import SegmentRules, TrackMapping
from touchline.config import Settings
from touchline.events import CATALOGUE

SETTING = "TOUCHLINE_SEGMENT_MAPPING"


class _Document(msgspec.Struct, forbid_unknown_fields=True):
    track: dict[str, TrackMapping] = msgspec.field(default_factory=dict)


def segment_rules(settings: Settings) -> SegmentRules:
    """The rules ``settings`` configure (ValueError naming what is wrong)."""
    return SegmentRules(
        user_id=settings.segment_user_id,
        default_region=settings.default_region,
        tracks=track_mappings(settings.segment_mapping),
    )


def track_mappings(setting: str) -> dict[str, TrackMapping]:
    """The track mappings ``setting`` holds or names; none when it is empty."""
    text = setting.strip()
    if not text:
        return {}
    try:
        if text.startswith("{"):
            document = msgspec.json.decode(text, type=_Document)
        else:
            path = Path(text)
            if path.suffix == ".toml":
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
                document = msgspec.convert(raw, _Document)
            else:
                document = msgspec.json.decode(path.read_bytes(), type=_Document)
    except (OSError, tomllib.TOMLDecodeError, msgspec.DecodeError) as error:
        raise ValueError(f"bad {SETTING}: {error}") from None
    for name, mapping in document.track.items():
        _check(name, mapping)
    return {name.strip(): mapping for name, mapping in document.track.items()}


def _check(name: str, mapping: TrackMapping) -> None:
    where = f"bad {SETTING}: track {name!r}"
    if mapping.type not in CATALOGUE:
        raise ValueError(f"{where} maps to {mapping.type!r}, which is no catalogue type")
    fields = set(CATALOGUE.current(mapping.type).__struct_fields__) | {"campaign_id"}
    for field in [*mapping.rename.values(), *mapping.fixed]:
        if field not in fields:
            raise ValueError(f"{where}: {mapping.type} has no field {field!r}")
