"""Per-kind merge rules and the block list: shared identifiers never fuse people."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from tests.conftest import DAY
from tests.helpers import event
from touchline.config import load_settings
from touchline.events import CATALOGUE, Envelope, EventCodec, Identities
from touchline.events.call import InboundCallEnded
from touchline.events.email import EmailOpened
from touchline.handlers.identity import IdentityResolver
from touchline.handlers.identity_graph import find_customer
from touchline.handlers.identity_rules import IdentityRules
from touchline.processing.port import Outcome

SHARED_MAILBOX = "orders@reseller.example"
LANDLINE = "+14155550100"


def _resolve(engine: Engine, rules: IdentityRules, events: Sequence[Envelope]) -> Outcome:
    resolver = IdentityResolver("touchpoints", "interactions", EventCodec(CATALOGUE), rules)
    with engine.begin() as connection:
        return resolver.process(connection, resolver.reads.feed(resolver.codec, events))


def _owner(engine: Engine, kind: str, value: str) -> str | None:
    with engine.connect() as connection:
        return find_customer(connection, kind, value)


def test_a_blocked_mailbox_does_not_merge_the_people_it_carries(engine: Engine) -> None:
    """Two people's orders through one generic reseller mailbox stay two customers."""
    rules = IdentityRules(blocked=frozenset({("email", SHARED_MAILBOX)}))
    events = [
        event(EmailOpened(message_id="a"), DAY, identities=Identities(crm_id="ann")),
        event(EmailOpened(message_id="b"), DAY, identities=Identities(crm_id="bob")),
        event(
            EmailOpened(message_id="c"),
            DAY + timedelta(minutes=1),
            identities=Identities(crm_id="ann", email=SHARED_MAILBOX),
        ),
        event(
            EmailOpened(message_id="d"),
            DAY + timedelta(minutes=2),
            identities=Identities(crm_id="bob", email=SHARED_MAILBOX),
        ),
    ]
    outcome = _resolve(engine, rules, events)
    assert _owner(engine, "crm_id", "ann") != _owner(engine, "crm_id", "bob")
    assert _owner(engine, "email", SHARED_MAILBOX) is None
    assert not [e for e in outcome.emitted if e.event.type == "customer.merged"]


def test_an_event_with_only_blocked_identifiers_is_refused_with_the_reason(engine: Engine) -> None:
    """Nothing lost, nothing guessed: it goes to the dead letters saying why."""
    rules = IdentityRules(blocked=frozenset({("email", SHARED_MAILBOX)}))
    lonely = event(EmailOpened(message_id="x"), DAY, identities=Identities(email=SHARED_MAILBOX))
    outcome = _resolve(engine, rules, [lonely])
    [refused] = outcome.rejected
    assert refused.event.id == lonely.id
    assert SHARED_MAILBOX in refused.reason
    assert "blocked" in refused.reason


def test_an_attach_only_landline_joins_a_customer_but_never_merges_two(engine: Engine) -> None:
    """A household's landline lands on its first owner; with another person's
    email the email decides, and nobody is merged."""
    rules = IdentityRules(attach_only_kinds=frozenset({"phone"}))
    first = event(
        EmailOpened(message_id="1"), DAY, identities=Identities(email="ann@x.test", phone=LANDLINE)
    )
    second = event(EmailOpened(message_id="2"), DAY, identities=Identities(email="bob@x.test"))
    shared = event(
        InboundCallEnded(call_id="c1", duration_seconds=60),
        DAY + timedelta(minutes=5),
        identities=Identities(phone=LANDLINE, email="bob@x.test"),
    )
    alone = event(
        InboundCallEnded(call_id="c2", duration_seconds=30),
        DAY + timedelta(minutes=9),
        identities=Identities(phone=LANDLINE),
    )
    outcome = _resolve(engine, rules, [first, second, shared, alone])
    ann, bob = _owner(engine, "email", "ann@x.test"), _owner(engine, "email", "bob@x.test")
    assert ann != bob
    assert _owner(engine, "phone", LANDLINE) == ann
    attributed = {e.event.id: e.event.customer_id for e in outcome.emitted}
    assert attributed[shared.id] == bob
    assert attributed[alone.id] == ann
    assert not [e for e in outcome.emitted if e.event.type == "customer.merged"]


def test_rules_come_from_settings_normalised_like_events() -> None:
    """A blocked phone written any way matches the E.164 form events carry."""
    settings = load_settings(
        {
            "TOUCHLINE_IDENTITY_ATTACH_ONLY": "phone, fax",
            "TOUCHLINE_IDENTITY_BLOCKED": f"email:{SHARED_MAILBOX.upper()},phone:(415) 555-0100",
        }
    )
    rules = settings.identity_rules()
    assert rules.attach_only_kinds == {"phone", "fax"}
    assert rules.blocked == {("email", SHARED_MAILBOX), ("phone", LANDLINE)}


def test_an_unknown_kind_in_the_rules_is_a_clear_error() -> None:
    """A typo in the settings fails at start-up, naming the valid kinds."""
    with pytest.raises(ValueError, match="unknown identifier kind"):
        load_settings({"TOUCHLINE_IDENTITY_ATTACH_ONLY": "landline"}).identity_rules()


def test_profile_rules_come_from_settings() -> None:
    """Value tiers and windows are configuration; a malformed tier says how to write it."""
    rules = load_settings(
        {"TOUCHLINE_PROFILE_TIERS": "vip:1000", "TOUCHLINE_PROFILE_CURRENCY": "GBP"}
    ).profile_rules()
    assert rules.tiers == (("vip", 1000.0),)
    assert rules.currency == "GBP"
    with pytest.raises(ValueError, match="name:amount"):
        load_settings({"TOUCHLINE_PROFILE_TIERS": "vip"}).profile_rules()
    with pytest.raises(ValueError, match="ascend"):
        load_settings({"TOUCHLINE_PROFILE_TIERS": "gold:2000,silver:500"}).profile_rules()
