"""Dead letters a person can see, re-drive and discard, on both runtimes.

The commands run as a person types them (``touchline dead-letters ...``),
against the same log and database the runtime's processors use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import func, select

from tests.conftest import DAY
from tests.helpers import event
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.cli import main
from touchline.events import Identities, new_event
from touchline.events.call import InboundCallEnded
from touchline.events.email import EmailOpened
from touchline.events.identity import CustomerIdentified, CustomerUnmerged
from touchline.handlers.identity_graph import find_customer
from touchline.log.port import Record
from touchline.store.tables import timeline_entries

Runtime = EmbeddedRuntime | KafkaRuntime
ANN = Identities(email="ann@example.com")
BOB = Identities(phone="+14155550199")


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """``touchline`` with the runtime's settings; returns (exit code, stdout, stderr)."""
    settings = runtime.backbone.settings
    env = (
        runtime.env
        if isinstance(runtime, KafkaRuntime)
        else {
            "TOUCHLINE_DATA_DIR": settings.data_dir,
            "TOUCHLINE_DATABASE_URL": settings.resolved_database_url,
            "TOUCHLINE_PARTITIONS": str(settings.partitions),
            "TOUCHLINE_KEY_SECRET": settings.key_secret,
        }
    )
    monkeypatch.delenv("TOUCHLINE_LOG_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _letters(run: Cli, *filters: str) -> list[dict[str, object]]:
    code, out, _ = run("dead-letters", "list", "--json", *filters)
    assert code == 0
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def test_round_trip_unknown_customer_then_fixed_then_replayed_once(
    runtime: Runtime, cli: Cli
) -> None:
    """An unmerge naming a customer nobody knows yet is dead-lettered with its
    reason; once the customer exists, a re-drive applies it exactly once."""
    run = cli
    backbone = runtime.backbone
    ann = event(EmailOpened(message_id="m1"), DAY, identities=ANN)
    bob = event(InboundCallEnded(call_id="c1", duration_seconds=60), DAY, identities=BOB)
    survivor, restored = f"cus_{ann.id.hex}", f"cus_{bob.id.hex}"
    unmerge = new_event(
        CustomerUnmerged(
            survivor_id=survivor,
            restored_id=restored,
            requested_by="agent Kim",
            reason="two people",
        ),
        occurred_at=DAY + timedelta(hours=2),
        source="touchline-cli",
        customer_id=survivor,
    )
    assert not backbone.publisher.publish([ann, unmerge]).rejected
    runtime.drain()

    [letter] = _letters(run)
    assert letter["processor"] == "identity-resolver"
    assert letter["event_id"] == str(unmerge.id)
    assert f"unknown customer '{restored}'" in str(letter["reason"])
    assert [row["id"] for row in _letters(run, "--customer", restored)] == [letter["id"]]
    code, out, _ = run("dead-letters", "show", str(letter["id"]))
    assert code == 0
    assert "customer.unmerged" in out
    assert '"requested_by": "agent Kim"' in out
    code, out, _ = run("lag")
    assert "identity-resolver on" in out
    assert "1 dead (touchline dead-letters list --processor identity-resolver)" in out

    # The cause, fixed: Bob exists and is linked to Ann (a merge).
    link = event(CustomerIdentified(method="crm_sync"), DAY + timedelta(hours=1))
    link = msgspec.structs.replace(link, identities=Identities(email=ANN.email, phone=BOB.phone))
    assert not backbone.publisher.publish([bob]).rejected
    runtime.drain()
    assert not backbone.publisher.publish([link]).rejected
    runtime.drain()

    code, out, _ = run("dead-letters", "replay", str(letter["id"]), "--by", "ops")
    assert (code, f"{letter['id']} re-driven -> ") == (0, out[: len(f"{letter['id']}") + 14])
    runtime.drain()
    code, out, _ = run("dead-letters", "replay", str(letter["id"]), "--by", "ops")
    assert "was already redriven" in out
    runtime.drain()

    with backbone.engine.connect() as connection:
        applied = connection.execute(
            select(func.count())
            .select_from(timeline_entries)
            .where(timeline_entries.c.event_id == str(unmerge.id))
        ).scalar_one()
        bobs = find_customer(connection, "phone", "+14155550199")
    assert applied == 1
    assert bobs == restored
    assert _letters(run) == []
    [redriven] = _letters(run, "--status", "redriven")
    assert (redriven["status_by"], str(redriven["redriven_to"]).split(":")[0]) == (
        "ops",
        backbone.settings.topics.touchpoints,
    )


def test_a_conflicting_duplicate_across_batches_is_a_dead_letter(
    runtime: Runtime, cli: Cli
) -> None:
    """A re-sent id with other content keeps the first and dead-letters the
    second with both digests; an exact re-send stays silent."""
    run = cli
    backbone = runtime.backbone
    first = event(EmailOpened(message_id="m1", subject="Spring"), DAY, identities=ANN)
    other = msgspec.structs.replace(first, payload=EmailOpened(message_id="m1", subject="Autumn"))
    for batch in ([first], [first], [other]):
        assert not backbone.publisher.publish(batch).rejected
        runtime.drain()

    [letter] = _letters(run)
    assert (letter["processor"], letter["code"]) == ("timeline", "conflicting-duplicate")
    if isinstance(runtime, EmbeddedRuntime):  # the counter (Kafka: in the worker's process)
        [timeline] = [r for r in backbone.runtime.runners if r.processor.name == "timeline"]
        assert timeline.stats.conflicts == 1
    code, out, _ = run("dead-letters", "show", str(letter["id"]))
    assert "digest.applied: " in out
    assert "digest.received: " in out
    assert '"subject": "Autumn"' in out
    code, out, err = run("timeline", "ann@example.com")
    assert "Spring" in out
    assert "Autumn" not in out
    assert "1 dead letter concerns" in err

    code, out, _ = run(
        "dead-letters", "discard", "--matching", "--code", "conflicting-duplicate",
        "--by", "ops", "--reason", "ESP re-used an id",
    )  # fmt: skip
    assert code == 0
    assert "discarded" in out
    assert _letters(run) == []
    [discarded] = _letters(run, "--status", "discarded")
    assert (discarded["status_by"], discarded["status_note"]) == ("ops", "ESP re-used an id")


def test_an_event_produced_past_the_publisher_is_refused_by_the_resolver(
    runtime: Runtime, cli: Cli
) -> None:
    """A channel producing straight onto the touchpoints topic meets the same
    edge: a time that does not exist in UTC is a dead letter, not a lost event."""
    run = cli
    backbone = runtime.backbone
    good = event(EmailOpened(message_id="m1"), DAY, identities=ANN)
    raw = msgspec.json.decode(backbone.codec.encode(good))
    raw["occurred_at"] = "9999-12-31T23:30:00-05:00"
    record = Record(value=msgspec.json.encode(raw), key=b"email:ann@example.com")
    backbone.log.append(backbone.settings.topics.touchpoints, [record])
    runtime.drain()
    [letter] = _letters(run, "--code", "refused-at-edge")
    assert "cannot be represented in UTC at $.occurred_at" in str(letter["reason"])
    code, _, err = run("profile", "ann@example.com")
    assert code == 1
    assert "no customer is known by 'ann@example.com'" in err
    assert "1 dead letter concerns ann@example.com (1 from identity-resolver)" in err


def test_a_payload_invalid_for_its_type_produced_past_the_publisher_is_a_dead_letter(
    runtime: Runtime, cli: Cli
) -> None:
    """The resolver reads only the head and routes it; the timeline, which
    decodes the payload, refuses it as a dead letter naming the field. Ann's
    valid events apply all the same."""
    run = cli
    backbone = runtime.backbone
    good = event(EmailOpened(message_id="m1"), DAY, identities=ANN)
    bad = event(EmailOpened(message_id="m2"), DAY + timedelta(minutes=1), identities=ANN)
    raw = msgspec.json.decode(backbone.codec.encode(bad))
    raw["payload"]["message_id"] = 42
    record = Record(value=msgspec.json.encode(raw), key=b"email:ann@example.com")
    assert not backbone.publisher.publish([good]).rejected
    backbone.log.append(backbone.settings.topics.touchpoints, [record])
    runtime.drain()

    # Each processor that decodes the payload refuses it: the timeline and the
    # campaign synchronizer, each with a letter of its own naming the field.
    letters = _letters(run)
    assert sorted(str(letter["processor"]) for letter in letters) == ["synchronizer", "timeline"]
    for letter in letters:
        assert letter["event_id"] == str(bad.id)
        assert letter["code"] == "undecodable"
        assert "Expected `str`, got `int` at $.payload.message_id" in str(letter["reason"])
    code, out, err = run("timeline", "ann@example.com")
    assert code == 0
    assert "Opened email" in out
    assert "2 dead letters concern" in err
    with backbone.engine.connect() as connection:
        held = connection.execute(
            select(timeline_entries.c.event_id).where(timeline_entries.c.event_id == str(bad.id))
        ).all()
    assert held == []
