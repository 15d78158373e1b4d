"""The `touchline` command, as a person at a terminal uses it."""

from __future__ import annotations

import gc
import json
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import select

from tests.conftest import DAY
from tests.helpers import ann_story, event
from touchline.bootstrap import build_backbone, make_codec
from touchline.cli import main
from touchline.collector import THRESHOLDS
from touchline.config import load_settings
from touchline.events import Identities
from touchline.events.email import EmailOpened
from touchline.handlers.identity_graph import surviving_customer
from touchline.store.tables import customers


def _run(data_dir: Path, *args: str) -> int:
    return main(["--data-dir", str(data_dir), *args])


def test_demo_prints_one_customer_across_five_channels(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo simulates a day, refuses a broken feed, and shows Ann's whole story."""
    assert _run(data_dir, "demo", "--customers", "40") == 0
    out = capsys.readouterr().out
    assert "refused at the edge" in out
    assert "unknown event type 'fax.recieved'" in out
    for channel in ("email", "web", "call", "fax", "partner"):
        assert f"  {channel} " in out, f"no {channel} entry in the demo timeline"
    assert "Inbound call, 4m12s, agent Lee" in out
    assert "profile, as the agent's screen shows it" in out
    assert "owning partner: Acme Resellers" in out


def test_demo_twice_doubles_nothing(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The simulated day has deterministic event ids: running the demo again adds nothing."""
    _run(data_dir, "demo", "--customers", "20")
    first = capsys.readouterr().out.split("customer cus_")[1]
    _run(data_dir, "demo", "--customers", "20")
    second = capsys.readouterr().out.split("customer cus_")[1]
    assert first.split("done in")[0] == second.split("done in")[0]


def test_timeline_by_email_phone_and_filters(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any identifier finds the customer; filters and JSON output work."""
    _run(data_dir, "demo", "--customers", "20")
    capsys.readouterr()
    assert _run(data_dir, "timeline", "ann.example.0@EXAMPLE.com", "--channel", "call") == 0
    out = capsys.readouterr().out
    assert "Inbound call" in out
    assert "email" not in out.split("\n", 1)[1]

    assert _run(data_dir, "timeline", "+1 (200) 555-1000", "--json", "--limit", "2") == 0
    page = json.loads(capsys.readouterr().out)
    assert len(page["entries"]) == 2
    assert page["next_cursor"]

    assert _run(data_dir, "timeline", "+12005551000", "--cursor", page["next_cursor"]) == 0
    assert "Timeline of cus_" in capsys.readouterr().out


def test_timeline_of_nobody_says_so(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown identifier exits 1 with a message; an unreadable one exits 2."""
    assert _run(data_dir, "timeline", "nobody@example.com") == 1
    assert "no customer is known by 'nobody@example.com'" in capsys.readouterr().err
    assert _run(data_dir, "timeline", "gibberish") == 2
    assert "kind:value" in capsys.readouterr().err


def test_publish_reports_each_event(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Accepted events print their position; rejected ones their reason; exit 1 if any failed."""
    codec = make_codec(load_settings({}))
    events = [msgspec.json.decode(codec.encode(e)) for e in ann_story(DAY)]
    events[1]["payload"] = {"message_id": 7}
    path = tmp_path / "events.json"
    path.write_bytes(msgspec.json.encode(events))

    assert _run(data_dir, "publish", str(path)) == 1
    captured = capsys.readouterr()
    assert captured.out.count("accepted ") == 2
    assert "[1].payload.message_id" in captured.err

    # Lag counts log records, and a batch's events that share a partition
    # travel in one record: where they land depends on the keyed hash.
    records = {line.split("-> ")[1] for line in captured.out.splitlines()}
    assert _run(data_dir, "lag") == 0
    behind = f"identity-resolver on touchline.touchpoints: {len(records)} records behind"
    shown = capsys.readouterr().out
    assert behind in shown
    assert "outbox: 0 records waiting for touchline.campaign-state" in shown


def test_db_upgrade_and_schema_check(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Migrations apply idempotently and the published schemas match the code."""
    assert _run(data_dir, "db", "upgrade") == 0
    assert _run(data_dir, "db", "upgrade") == 0
    assert "is up to date" in capsys.readouterr().out
    assert _run(data_dir, "schemas", "check") == 0


def test_a_bad_setting_is_a_clear_error(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped environment variable names the setting instead of a traceback."""
    monkeypatch.setenv("TOUCHLINE_PARTITIONS", "many")
    assert _run(data_dir, "lag") == 2
    assert "partitions" in capsys.readouterr().err


def test_profile_shows_the_360_degree_view(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any identifier finds the profile; text and JSON carry the same view."""
    _run(data_dir, "demo", "--customers", "20")
    capsys.readouterr()
    assert _run(data_dir, "profile", "ann.example.0@example.com") == 0
    out = capsys.readouterr().out
    assert out.startswith("Profile of cus_")
    assert "value_tier:" in out
    assert "\n    - email:ann.example.0@example.com\n" in out
    assert _run(data_dir, "profile", "ann.example.0@example.com", "--json") == 0
    profile = json.loads(capsys.readouterr().out)
    assert "email:ann.example.0@example.com" in profile["identifiers"]
    assert _run(data_dir, "profile", "email:nobody@example.com") == 1


def test_unmerge_splits_a_merged_customer_with_who_and_why(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The request is published; once processed, the customer stands alone again."""
    settings = load_settings(data_dir=data_dir)
    with build_backbone(settings) as backbone:
        # Bob's email and Bob's phone make a customer each, until an event
        # naming both ties them together.
        opened = EmailOpened(message_id="m1", subject="Spring offer")
        bob = Identities(email="bob@example.com", phone="+14155550199")
        apart = [
            event(opened, DAY, identities=Identities(email=bob.email)),
            event(opened, DAY + timedelta(hours=1), identities=Identities(phone=bob.phone)),
        ]
        for batch in (apart, [event(opened, DAY + timedelta(hours=2), identities=bob)]):
            assert not backbone.publisher.publish(batch).rejected
            backbone.runtime.catch_up()
    with build_backbone(settings) as backbone, backbone.graph.connect() as connection:
        merged, survivor = connection.execute(
            select(customers.c.customer_id, customers.c.root_id).where(
                customers.c.merged_into.is_not(None)
            )
        ).first() or pytest.fail("nobody was merged")
    capsys.readouterr()
    assert _run(data_dir, "unmerge", survivor, "--by", "agent-1", "--reason", "x") == 1
    assert "is not merged" in capsys.readouterr().err
    assert _run(data_dir, "unmerge", merged, "--by", "agent-1", "--reason", "two people") == 0
    assert survivor in capsys.readouterr().out
    with build_backbone(settings) as backbone:
        backbone.runtime.catch_up()
        with backbone.graph.connect() as connection:
            assert surviving_customer(connection, merged) == merged
    assert _run(data_dir, "timeline", merged, "--type", "customer.unmerged") == 0
    assert "at the request of agent-1: two people" in capsys.readouterr().out


def test_rebuild_profiles_and_one_timeline(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full profile rebuild reports what it folded; the timeline rebuilds per customer."""
    _run(data_dir, "demo", "--customers", "20")
    capsys.readouterr()
    assert _run(data_dir, "rebuild", "profile") == 0
    assert "profiles into a new generation" in capsys.readouterr().out
    assert _run(data_dir, "rebuild", "timeline") == 2
    assert "per customer" in capsys.readouterr().err
    assert _run(data_dir, "rebuild", "timeline", "--customer", "ann.example.0@example.com") == 0
    assert "rebuilt the timeline of cus_" in capsys.readouterr().out


def test_every_command_collects_garbage_less_often(data_dir: Path) -> None:
    """The command sets the collector's thresholds for its process (and the
    stages it forks): at CPython's defaults, collection took a seventh of
    publishing's time, and HTTP ingest ran 10-20% slower."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        assert _run(data_dir, "lag") == 0
        assert gc.get_threshold() == THRESHOLDS
    finally:
        gc.set_threshold(*before)
