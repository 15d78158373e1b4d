"""`touchline campaigns`, as the campaign engine's operator uses it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from touchline.bootstrap import build_backbone
from touchline.cli import main
from touchline.config import load_settings
from touchline.events import Identities, new_event
from touchline.events.consent import ConsentGranted

SPRING = {
    "name": "Spring",
    "offers": [{"code": "SPRING10", "priority": 5}],
    "sequence": [{"channel": "email"}, {"channel": "phone", "after_days": 3}],
}


def _run(data_dir: Path, *args: str) -> int:
    return main(["--data-dir", str(data_dir), *args])


def _catch_up(data_dir: Path) -> None:
    with build_backbone(load_settings({}, data_dir=str(data_dir))) as backbone:
        backbone.runtime.catch_up()


def test_launch_target_by_identifier_and_segment_then_funnel_show_and_watch(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A campaign launched from a file reaches the people targeted by identifier and by
    segment; the funnel, one customer's history and the feed say what happened."""
    definition = tmp_path / "spring.json"
    definition.write_text(json.dumps(SPRING))
    assert _run(data_dir, "campaigns", "target", "spring", "ann@example.com") == 1
    assert "no campaign 'spring' has been launched" in capsys.readouterr().err
    assert _run(data_dir, "campaigns", "launch", "spring", str(definition)) == 0
    assert "launched spring" in capsys.readouterr().out
    _catch_up(data_dir)
    with build_backbone(load_settings({}, data_dir=str(data_dir))) as backbone:
        for email in ("bob@example.com", "cy@example.com"):
            granted = ConsentGranted(contact_channel="email", purpose="marketing")
            backbone.publisher.publish(
                [
                    new_event(
                        granted,
                        occurred_at=datetime.now(UTC),
                        source="web",
                        identities=Identities(email=email),
                    )
                ]
            )
        backbone.runtime.catch_up()
    assert _run(data_dir, "campaigns", "target", "spring", "ann@example.com") == 0
    assert _run(data_dir, "campaigns", "target", "spring", "--consent", "email") == 0
    assert "targeted 2 customer(s)" in capsys.readouterr().out
    _catch_up(data_dir)
    assert _run(data_dir, "campaigns", "funnel", "spring") == 0
    funnel = capsys.readouterr().out
    assert "spring: 3 customer(s)" in funnel
    assert "offered via email: offered 3" in funnel
    assert _run(data_dir, "campaigns", "show", "ann@example.com") == 0
    shown = capsys.readouterr().out
    assert "spring: offered, offer SPRING10" in shown
    assert "offered    email" in shown
    assert _run(data_dir, "campaigns", "watch", "--once") == 0
    feed = capsys.readouterr().out.splitlines()
    assert len(feed) == 6  # three customers, targeted then offered
    assert _run(data_dir, "campaigns", "watch", "--once") == 0
    assert capsys.readouterr().out == ""  # the subscriber resumes past what it printed


def test_a_bad_definition_is_refused_with_the_field(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A definition missing its sequence is refused, naming what is wrong."""
    definition = tmp_path / "bad.json"
    definition.write_text(json.dumps({"name": "x", "offers": [{"code": "A"}]}))
    assert _run(data_dir, "campaigns", "launch", "bad", str(definition)) == 1
    assert "missing required field `sequence`" in capsys.readouterr().err
