"""The demo's last word: how to open the agent console on its data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from touchline import registry
from touchline.cli import main
from touchline.config import Settings, load_settings
from touchline.demo import CONSOLE_URL, touchline_command
from touchline.store.api_keys import ApiKeys, InvalidKey
from touchline.store.engine import make_engine

LINE = re.compile(
    r"^  open the console: \.venv/bin/touchline --data-dir (?P<dir>\S+) api, "
    r"then (?P<url>\S+) \(agent key (?P<key>tl_\S+); find (?P<phone>[^)]+)\)$",
    re.MULTILINE,
)


def _demo(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> re.Match[str]:
    assert main(["--data-dir", str(data_dir), "demo", "--customers", "20"]) == 0
    found = LINE.search(capsys.readouterr().out)
    assert found is not None, "no line on how to open the console"
    return found


def test_the_demo_says_how_to_open_the_console_with_a_working_agent_key(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line: the command on the demo's data, the page, an agent key that
    the API will take, and the showcase customer's phone. A second run
    replaces the key: one demo key works at a time."""
    first = _demo(data_dir, capsys)
    assert (first["dir"], first["url"], first["phone"]) == (
        str(data_dir),
        CONSOLE_URL,
        "+1 200 555 1000",
    )
    second = _demo(data_dir, capsys)
    engine = make_engine(load_settings({}, data_dir=str(data_dir)).store_url(registry.SYSTEM_STORE))
    try:
        keys = ApiKeys(engine)
        assert keys.verify(second["key"]).scopes == ("agent",)
        with pytest.raises(InvalidKey):
            keys.verify(first["key"])
    finally:
        engine.dispose()


def test_the_default_data_directory_goes_unsaid() -> None:
    """`./dev demo` uses the default directory: the command is as short as it gets."""
    assert touchline_command(Settings()) == ".venv/bin/touchline"
    custom = touchline_command(Settings(data_dir="my data"))
    assert custom == ".venv/bin/touchline --data-dir 'my data'"
