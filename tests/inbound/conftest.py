"""The partner order files' fixtures: the embedded backbone in a temporary
directory, a publisher that remembers what it accepted (as the watcher's
does), and a watched folder with the recorded example file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY_SECRET
from touchline.bootstrap import Backbone, build_backbone, remembering_publisher
from touchline.config import load_settings
from touchline.publish import Publisher

EXAMPLE = Path(__file__).parent.parent / "adapters" / "payloads" / "partner_orders.csv"
"""A partner's export: good lines, bad lines of every kind, a repeat and a conflict."""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The settings, as a ``touchline`` process would read them."""
    return {
        **os.environ,
        "TOUCHLINE_DATA_DIR": str(tmp_path / "data"),
        "TOUCHLINE_PARTITIONS": "2",
        "TOUCHLINE_KEY_SECRET": TEST_KEY_SECRET,
    }


@pytest.fixture
def backbone(env: dict[str, str]) -> Iterator[Backbone]:
    with build_backbone(load_settings(env)) as backbone:
        yield backbone


@pytest.fixture
def publisher(backbone: Backbone) -> Publisher:
    return remembering_publisher(backbone)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    drop = tmp_path / "drop"
    drop.mkdir()
    return drop
