"""Writing the published contract, and checking it against the code.

The schemas directory holds what has been published: ``json/<type>@<version>.json``
per event version and ``asyncapi.json``. :func:`export_schemas` rewrites it from
the catalogue, but only when nothing published would break; :func:`check_schemas`
lists every way the directory and the code disagree, for tests and CI.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from touchline.config import Topics
from touchline.events import CATALOGUE
from touchline.events.catalogue import Catalogue
from touchline.schemas.asyncapi import ASYNCAPI_FILE, asyncapi_document
from touchline.schemas.compat import breaking_changes, vanished_versions
from touchline.schemas.generate import SCHEMA_DIR, event_schemas, render

PACKAGE_DIRECTORY = Path(__file__).parent
"""The schemas shipped inside the package: the default place to export to."""

EXPORT_HINT = "run `touchline schemas export` (or `python -m touchline.schemas`)"

_SCHEMA_FILE = re.compile(r"^(?P<type>.+)@(?P<version>[1-9][0-9]*)\.json$")


class SchemaCompatibilityError(Exception):
    """The code would break published schemas; ``problems`` says how, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"refusing to export: {len(problems)} breaking change(s) to published "
            f"schemas (bump the version and keep the old class as a LegacyPayload "
            f"with an upcaster):\n{lines}"
        )


@dataclass(frozen=True, slots=True)
class ExportReport:
    """What an export did, by path relative to ``directory``."""

    directory: Path
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """One line for a person at a terminal."""
        return (
            f"{self.directory}: {len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged"
        )


def generated_files(
    catalogue: Catalogue = CATALOGUE, topics: Topics | None = None
) -> dict[str, str]:
    """Every file of the contract, rendered: relative path -> text."""
    files = {path: render(schema) for path, schema in event_schemas(catalogue).items()}
    files[ASYNCAPI_FILE] = render(asyncapi_document(catalogue, topics))
    return dict(sorted(files.items()))


def export_schemas(
    directory: Path | None = None,
    catalogue: Catalogue = CATALOGUE,
    topics: Topics | None = None,
) -> ExportReport:
    """Write the contract to ``directory`` (default: the package's own copy).

    Refuses with :class:`SchemaCompatibilityError`, writing nothing, when a
    published version would change incompatibly or disappear.
    """
    directory = directory if directory is not None else PACKAGE_DIRECTORY
    files = generated_files(catalogue, topics)
    problems = compatibility_problems(directory, files)
    if problems:
        raise SchemaCompatibilityError(problems)
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    for relative, text in files.items():
        target = directory / relative
        existing = _read_text(target)
        if existing == text:
            unchanged.append(relative)
            continue
        (created if existing is None else updated).append(relative)
        _write_atomically(target, text)
    return ExportReport(directory, tuple(created), tuple(updated), tuple(unchanged))


def check_schemas(
    directory: Path | None = None,
    catalogue: Catalogue = CATALOGUE,
    topics: Topics | None = None,
) -> list[str]:
    """Every disagreement between ``directory`` and the code; empty when in step.

    Breaking changes and vanished versions come first; then drift: files that
    differ from what the code generates, or that are missing.
    """
    directory = directory if directory is not None else PACKAGE_DIRECTORY
    files = generated_files(catalogue, topics)
    by_name = _compatibility(directory, files)
    problems = [problem for found in by_name.values() for problem in found]
    for relative, text in files.items():
        existing = _read_text(directory / relative)
        if existing is None:
            problems.append(f"{relative} is missing: {EXPORT_HINT}")
        # A file already reported as breaking needs no second, vaguer line.
        elif existing != text and not by_name.get(_published_name(relative)):
            problems.append(f"{relative} differs from what the code generates: {EXPORT_HINT}")
    return problems


def compatibility_problems(directory: Path, files: Mapping[str, str]) -> list[str]:
    """Breaking changes of ``files`` against what ``directory`` has published."""
    return [problem for found in _compatibility(directory, files).values() for problem in found]


def _compatibility(directory: Path, files: Mapping[str, str]) -> dict[str, list[str]]:
    published = published_schemas(directory)
    generated = {_published_name(path): text for path, text in files.items()}
    generated.pop("", None)
    problems: dict[str, list[str]] = {}
    for name, problem in vanished_versions(published, generated).items():
        problems[name] = [problem]
    for name, published_text in published.items():
        text = generated.get(name)
        if text is None:
            continue
        try:
            old = json.loads(published_text)
        except json.JSONDecodeError as error:
            problems[name] = [f"{name}: the published file is not valid JSON ({error})"]
            continue
        problems[name] = breaking_changes(name, old, json.loads(text))
    return problems


def published_schemas(directory: Path) -> dict[str, str]:
    """The published per-type schemas in ``directory``: ``type@version`` -> text."""
    schema_dir = directory / SCHEMA_DIR
    if not schema_dir.is_dir():
        return {}
    published: dict[str, str] = {}
    for path in sorted(schema_dir.glob("*.json")):
        # A file not named type@version cannot be any class's: it reports as vanished.
        published[path.name.removesuffix(".json")] = path.read_text(encoding="utf-8")
    return published


def _published_name(relative: str) -> str:
    """``json/email.opened@1.json`` -> ``email.opened@1``; '' for other files."""
    directory, _, filename = relative.rpartition("/")
    match = _SCHEMA_FILE.match(filename)
    return f"{match['type']}@{match['version']}" if directory == SCHEMA_DIR and match else ""


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _write_atomically(target: Path, text: str) -> None:
    # A reader (or an interrupted export) never sees half a schema file.
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        # mkstemp makes the file private; package data is for everyone to read.
        Path(temporary).chmod(0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
