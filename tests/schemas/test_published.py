"""The committed contract matches the code, and the AsyncAPI document covers it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from touchline.config import Topics
from touchline.events import CATALOGUE
from touchline.schemas import check_schemas, export_schemas, generated_files
from touchline.schemas.asyncapi import ASYNCAPI_FILE, channel_name, message_name
from touchline.schemas.generate import schema_path

ASYNCAPI: dict[str, Any] = json.loads(generated_files()[ASYNCAPI_FILE])


def test_committed_schemas_match_the_code() -> None:
    """The files under touchline/schemas are exactly what the catalogue generates."""
    problems = check_schemas()
    assert not problems, (
        "the published schemas drifted from touchline.events; if the change is intended, "
        "run `touchline schemas export` (or `python -m touchline.schemas`) and commit:\n"
        + "\n".join(problems)
    )


@pytest.mark.slow
def test_export_is_deterministic(tmp_path: Path) -> None:
    """An export in another process, under another hash seed, writes identical bytes."""
    export_schemas(tmp_path / "here")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "touchline.schemas",
            "export",
            "--directory",
            str(tmp_path / "there"),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    here = {
        p.relative_to(tmp_path / "here"): p.read_bytes() for p in tmp_path.glob("here/**/*.json")
    }
    there = {
        p.relative_to(tmp_path / "there"): p.read_bytes() for p in tmp_path.glob("there/**/*.json")
    }
    assert here == there
    assert all(text.endswith(b"}\n") for text in here.values())


def test_every_registered_version_has_a_schema_file() -> None:
    """One JSON Schema per type@version, legacy versions included, with $id and consts."""
    files = generated_files()
    for cls in CATALOGUE.versions():
        schema = json.loads(files[schema_path(cls.type, cls.version)])
        assert schema["$id"] == f"https://touchline.dev/schemas/{cls.type}@{cls.version}.json"
        assert schema["properties"]["type"] == {
            "const": cls.type,
            "description": schema["properties"]["type"]["description"],
        }
        assert schema["properties"]["version"]["const"] == cls.version


def test_asyncapi_lists_every_topic_with_its_address() -> None:
    """Every configured topic is a channel addressed by its default name."""
    addresses = {name: channel["address"] for name, channel in ASYNCAPI["channels"].items()}
    topics = Topics()
    assert addresses == {channel_name(f): getattr(topics, f) for f in Topics.__struct_fields__}
    assert ASYNCAPI["asyncapi"] == "3.0.0"


def test_asyncapi_carries_every_current_type() -> None:
    """Touchpoints and interactions carry every current type, keyed as DESIGN says."""
    channels = ASYNCAPI["channels"]
    bindings = ASYNCAPI["components"]["messageBindings"]
    for channel, key in (("touchpoints", "sourceIdentity"), ("interactions", "customerId")):
        messages = channels[channel]["messages"]
        for cls in CATALOGUE.current_types():
            message = messages[message_name(cls)]
            assert message["payload"] == {"$ref": schema_path(cls.type, cls.version)}
            assert message["bindings"] == {"$ref": f"#/components/messageBindings/{key}"}
        assert "key" in bindings[key]["kafka"]


def test_asyncapi_references_resolve() -> None:
    """Every payload file and every local reference the document names exists."""
    files = generated_files()
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            refs.extend([node["$ref"]] if isinstance(node.get("$ref"), str) else [])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(ASYNCAPI)
    for ref in refs:
        if ref.startswith("#/"):
            target: Any = ASYNCAPI
            for part in ref[2:].split("/"):
                target = target[part]
        else:
            assert ref in files, ref
