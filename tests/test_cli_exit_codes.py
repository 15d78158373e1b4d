"""Every exit code ``touchline`` documents, as a script sees it (README, "Exit codes")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.kafka_broker import free_port
from tests.test_edge import raw_event
from touchline import exit_codes
from touchline.cli import main
from touchline.publish import Publisher


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("TOUCHLINE_DATABASE_URL", "TOUCHLINE_LOG_URL", "TOUCHLINE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def _publish(data_dir: Path, tmp_path: Path, content: bytes) -> int:
    path = tmp_path / "events.json"
    path.write_bytes(content)
    return main(["--data-dir", str(data_dir), "publish", str(path)])


def test_0_when_everything_was_accepted(data_dir: Path, tmp_path: Path) -> None:
    assert _publish(data_dir, tmp_path, json.dumps([raw_event(1)]).encode()) == exit_codes.OK == 0


def test_0_and_one_line_for_an_empty_array(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _publish(data_dir, tmp_path, b"[]") == exit_codes.OK
    assert capsys.readouterr().out == "nothing to publish: the array is empty\n"


def test_1_when_some_were_refused(data_dir: Path, tmp_path: Path) -> None:
    batch = [raw_event(1), raw_event(2, "9999-12-31T23:30:00-05:00")]
    assert _publish(data_dir, tmp_path, json.dumps(batch).encode()) == exit_codes.REFUSED == 1


def test_2_for_bad_usage_or_configuration(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = main(["--data-dir", str(data_dir), "publish", str(tmp_path / "nope.json")])
    assert missing == exit_codes.USAGE == 2
    assert "nope.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "the input is empty"), (b"not json", "not an array"), (b"[" * 5000, "too deep")],
)
def test_3_when_the_input_cannot_be_read_at_all(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    words: str,
) -> None:
    assert _publish(data_dir, tmp_path, content) == exit_codes.UNREADABLE == 3
    err = capsys.readouterr().err
    assert err.startswith("touchline: nothing published:")
    assert words in err
    assert err.count("\n") == 1


def test_4_when_the_database_is_unreachable(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PostgreSQL URL on a loopback port nothing listens on.
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/touchline?connect_timeout=2"
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", url)
    assert (
        _publish(data_dir, tmp_path, json.dumps([raw_event(1)]).encode()) == exit_codes.UNAVAILABLE
    )


def test_70_for_an_internal_error_without_a_traceback(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fault of ours is not "some refused": its own code, one line, and the
    traceback only when TOUCHLINE_DEBUG asks for it. The fault is planted."""

    def broken(_self: Publisher, _data: bytes) -> None:
        raise KeyError("planted")

    monkeypatch.setattr(Publisher, "publish_raw", broken)
    content = json.dumps([raw_event(1)]).encode()
    assert _publish(data_dir, tmp_path, content) == exit_codes.INTERNAL == 70
    err = capsys.readouterr().err
    assert "internal error (KeyError: 'planted')" in err
    assert "Traceback" not in err
    monkeypatch.setenv("TOUCHLINE_DEBUG", "1")
    assert _publish(data_dir, tmp_path, content) == exit_codes.INTERNAL
    assert "Traceback" in capsys.readouterr().err
