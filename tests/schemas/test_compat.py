"""Export refuses to break a published type@version, and allows what is safe.

Each variant below is the same ``test.thing_happened@1`` after one edit; the
classes live at module level so their annotations resolve.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import msgspec
import pytest

from touchline.events.base import LegacyPayload, Payload
from touchline.events.catalogue import Catalogue
from touchline.schemas import SchemaCompatibilityError, check_schemas, export_schemas

HINT = "run `touchline schemas export` (or `python -m touchline.schemas`)"


class Detail(msgspec.Struct, frozen=True, kw_only=True):
    colour: str


class ThingEvent(Payload, frozen=True, kw_only=True):
    type: ClassVar[str] = "test.thing_happened"
    channel: ClassVar[str] = "web"


class ThingHappened(ThingEvent, frozen=True, kw_only=True):
    """Something happened to a thing."""

    name: str
    count: int = 0
    detail: Detail | None = None


class OtherHappened(Payload, frozen=True, kw_only=True):
    type: ClassVar[str] = "test.other_happened"
    channel: ClassVar[str] = "web"


class WithoutCount(ThingEvent, frozen=True, kw_only=True):
    name: str
    detail: Detail | None = None


class WithTextCount(ThingEvent, frozen=True, kw_only=True):
    name: str
    count: str = "0"
    detail: Detail | None = None


class WithOwner(ThingEvent, frozen=True, kw_only=True):
    name: str
    owner: str
    count: int = 0
    detail: Detail | None = None


class ShadedDetail(msgspec.Struct, frozen=True, kw_only=True):
    colour: str
    shade: int


class WithShade(ThingEvent, frozen=True, kw_only=True):
    name: str
    count: int = 0
    detail: ShadedDetail | None = None


class CountingFromOne(ThingEvent, frozen=True, kw_only=True):
    name: str
    count: int = 1
    detail: Detail | None = None


class Rewritten(ThingEvent, frozen=True, kw_only=True):
    title: str
    count: float = 0


class WithNote(ThingEvent, frozen=True, kw_only=True):
    name: str
    count: int = 0
    detail: Detail | None = None
    note: str | None = None


class Particulars(msgspec.Struct, frozen=True, kw_only=True):
    """Now documented."""

    colour: str


class Reworded(ThingEvent, frozen=True, kw_only=True):
    """Reworded."""

    name: str
    count: int = 0
    detail: Particulars | None = None


class ThingHappenedV2(ThingEvent, frozen=True, kw_only=True):
    version: ClassVar[int] = 2

    name: str
    owner: str
    count: str = "0"


class ThingHappenedV1(LegacyPayload, frozen=True, kw_only=True):
    """Something happened to a thing."""

    type: ClassVar[str] = "test.thing_happened"
    channel: ClassVar[str] = "web"

    name: str
    count: int = 0
    detail: Detail | None = None

    def upcast(self) -> ThingHappenedV2:
        return ThingHappenedV2(name=self.name, owner="unknown", count=str(self.count))


class Painted(ThingEvent, frozen=True, kw_only=True):
    name: str
    finish: Literal["matt", "gloss"] = "matt"


class PaintedMoreWays(ThingEvent, frozen=True, kw_only=True):
    name: str
    finish: Literal["matt", "gloss", "satin"] = "matt"


class PaintedFewerWays(ThingEvent, frozen=True, kw_only=True):
    name: str
    finish: Literal["matt"] = "matt"


def _published(tmp_path: Path, *classes: type[Payload]) -> Path:
    export_schemas(tmp_path, Catalogue(classes))
    return tmp_path


def _refusal(directory: Path, *classes: type[Payload]) -> str:
    with pytest.raises(SchemaCompatibilityError) as caught:
        export_schemas(directory, Catalogue(classes))
    return str(caught.value)


def test_removed_field_is_refused(tmp_path: Path) -> None:
    """Removing a field from a published version is refused, naming the field."""
    message = _refusal(_published(tmp_path, ThingHappened), WithoutCount)
    assert "test.thing_happened@1: field `payload.count` was removed" in message


def test_changed_type_is_refused(tmp_path: Path) -> None:
    """Changing a field's type is refused, naming the field and both types."""
    message = _refusal(_published(tmp_path, ThingHappened), WithTextCount)
    assert "field `payload.count` changed type from integer to string" in message


def test_new_required_field_is_refused(tmp_path: Path) -> None:
    """A new field without a default is refused, naming the field."""
    message = _refusal(_published(tmp_path, ThingHappened), WithOwner)
    assert "field `payload.owner` is new and required" in message


def test_new_required_field_in_nested_object_is_refused(tmp_path: Path) -> None:
    """A new required field inside a nested struct ($defs) is refused by its full path."""
    message = _refusal(_published(tmp_path, ThingHappened), WithShade)
    assert "field `payload.detail.shade` is new and required" in message


def test_changed_default_is_refused(tmp_path: Path) -> None:
    """A changed default is refused: old events that omitted the field would read it."""
    message = _refusal(_published(tmp_path, ThingHappened), CountingFromOne)
    assert "field `payload.count` changed its default from 0 to 1" in message


def test_every_breaking_change_is_listed_and_nothing_written(tmp_path: Path) -> None:
    """One refusal lists every breaking change, and leaves the published files alone."""
    published = _published(tmp_path, ThingHappened)
    before = {path: path.read_text() for path in published.rglob("*.json")}
    with pytest.raises(SchemaCompatibilityError) as caught:
        export_schemas(published, Catalogue([Rewritten]))
    fields = [problem.split("`")[1] for problem in caught.value.problems]
    assert fields == ["payload.count", "payload.detail", "payload.name", "payload.title"]
    assert {path: path.read_text() for path in published.rglob("*.json")} == before


def test_optional_field_added_is_accepted(tmp_path: Path) -> None:
    """A new field with a default is compatible: the export rewrites the file."""
    published = _published(tmp_path, ThingHappened)
    report = export_schemas(published, Catalogue([WithNote]))
    assert report.updated == ("asyncapi.json", "json/test.thing_happened@1.json")
    assert '"note"' in (published / "json/test.thing_happened@1.json").read_text()


def test_version_bump_with_legacy_class_is_accepted(tmp_path: Path) -> None:
    """A breaking change under a new version, old class kept as legacy, publishes both."""
    published = _published(tmp_path, ThingHappened)
    bumped = Catalogue([ThingHappenedV2], [ThingHappenedV1])
    report = export_schemas(published, bumped)
    assert report.created == ("json/test.thing_happened@2.json",)
    names = sorted(path.name for path in (published / "json").iterdir())
    assert names == ["test.thing_happened@1.json", "test.thing_happened@2.json"]
    assert check_schemas(published, bumped) == []


def test_vanished_version_is_refused(tmp_path: Path) -> None:
    """A published type@version whose class is gone is refused: versions never disappear."""
    published = _published(tmp_path, ThingHappened, OtherHappened)
    message = _refusal(published, ThingHappened)
    assert "test.other_happened@1: published, but no registered class" in message
    assert (published / "json/test.other_happened@1.json").exists()


def test_annotations_and_definition_names_may_change(tmp_path: Path) -> None:
    """Renaming classes and rewording docstrings changes no contract."""
    published = _published(tmp_path, ThingHappened)
    export_schemas(published, Catalogue([Reworded]))
    assert "Reworded." in (published / "json/test.thing_happened@1.json").read_text()


def test_check_reports_breaking_missing_and_drifted(tmp_path: Path) -> None:
    """check_schemas names breaking, missing and drifted files, and says how to fix drift."""
    published = _published(tmp_path, ThingHappened, OtherHappened)
    other = published / "json/test.other_happened@1.json"
    other.write_text(other.read_text().replace('"title"', '"title" ', 1))
    (published / "asyncapi.json").unlink()
    problems = check_schemas(published, Catalogue([WithoutCount, OtherHappened]))
    assert problems == [
        "test.thing_happened@1: field `payload.count` was removed",
        f"asyncapi.json is missing: {HINT}",
        f"json/test.other_happened@1.json differs from what the code generates: {HINT}",
    ]


def test_a_choice_may_be_added(tmp_path: Path) -> None:
    """An enum that gains a value still accepts every published event: allowed."""
    published = _published(tmp_path, Painted)
    report = export_schemas(published, Catalogue([PaintedMoreWays]))
    assert report.updated == ("json/test.thing_happened@1.json",)
    assert '"satin"' in (published / "json/test.thing_happened@1.json").read_text()


def test_a_choice_may_not_be_removed(tmp_path: Path) -> None:
    """An enum that loses a value would refuse published events: refused."""
    message = _refusal(_published(tmp_path, Painted), PaintedFewerWays)
    assert "field `payload.finish` changed type" in message
