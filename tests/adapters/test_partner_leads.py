"""Partner leads end to end, at two real partners' webhooks: each lead goes to
the partner with the best affinity for Ann, signed with that partner's own
secret (each receiver takes only its own), the ledger counts each partner's
open leads against its capacity, and the proof keeps the reasons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select, update

from tests.adapters.receivers import SECRET, WebhookReceiver, running
from tests.adapters.scenario import (
    T0,
    Dispatchers,
    adapter_of,
    dead_letters,
    dispatch,
    forget_positions,
    proof_of,
    publish,
    row,
    until_settled,
)
from tests.conftest import TEST_KEY_SECRET
from tests.helpers import event
from touchline.adapters.dispatcher import ROOM_RECHECK
from touchline.adapters.registry import open_leads_from
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import load_settings
from touchline.events import Identities
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.events.instants import to_us
from touchline.events.order import LineItem, OrderPlaced
from touchline.events.partner import LeadRegistered, PartnerOrderPlaced
from touchline.processing.clock import ManualClock
from touchline.store import action_ledger as ledger
from touchline.store.tables import campaign_actions

BAY_SECRET = "whsec_" + "QkFZU0VDUkVU" * 3
US_SECRET = "whsec_" + "VVNTRUNSRVQh" * 3
ITEMS = (LineItem(sku="SKU-1", quantity=1, unit_price=90.0),)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """P-BAY's webhook: covers the 415 area, takes one open lead at a time."""
    yield from running(WebhookReceiver("partner", BAY_SECRET))


@pytest.fixture
def us() -> Iterator[WebhookReceiver]:
    """P-US's webhook: the default partner, covering Great Britain only."""
    yield from running(WebhookReceiver("partner", US_SECRET))


@pytest.fixture
def us_capacity() -> int | None:
    """P-US's capacity: none unless a test says (``parametrize``)."""
    return None


@pytest.fixture
def backbone(
    tmp_path: Path,
    receiver: WebhookReceiver,
    us: WebhookReceiver,
    clock: ManualClock,
    us_capacity: int | None,
) -> Iterator[Backbone]:
    capacity = {} if us_capacity is None else {"capacity": us_capacity}
    partners = {
        "P-BAY": {
            "url": receiver.url,
            "secret": BAY_SECRET,
            "territories": ["+1415"],
            "capacity": 1,
        },
        "P-US": {"url": us.url, "secret": US_SECRET, "territories": ["GB"], **capacity},
    }
    settings = load_settings(
        {},
        data_dir=str(tmp_path / "data"),
        partitions=2,
        key_secret=TEST_KEY_SECRET,
        partners=json.dumps(partners),
        partner_default="P-US",
        # The shared secret, which neither receiver takes: a lead signed
        # with it instead of the partner's own would be refused.
        partner_webhook_secret=SECRET,
    )
    with build_backbone(settings, clock=clock) as backbone:
        yield backbone


def _requested(
    backbone: Backbone, *campaigns: str, valid_days: int | None = None
) -> dict[str, str]:
    """Launch one-step partner campaigns and target Ann in each: campaign -> action id."""
    for at, campaign in enumerate(campaigns):
        terms = CampaignLaunched(
            name=campaign,
            offers=(OfferTerms(code="SPRING10", valid_days=valid_days),),
            sequence=(Step(channel="partner"),),
        )
        launched = T0 + timedelta(seconds=at)
        publish(backbone, event(terms, launched, identities=Identities(), campaign_id=campaign))
        publish(
            backbone,
            event(CustomerTargeted(), launched + timedelta(minutes=1), campaign_id=campaign),
        )
    with backbone.stores["campaigns"].connect() as connection:
        rows = connection.execute(
            select(campaign_actions.c.campaign_id, campaign_actions.c.action_id)
        )
        return {campaign: str(action_id) for campaign, action_id in rows}


def _lead(server: WebhookReceiver, action_id: str) -> dict[str, object]:
    [body] = [b for b in server.bodies if b["data"]["lead_id"] == action_id]
    data = body["data"]
    assert isinstance(data, dict)
    return data


def test_a_lead_goes_to_the_partner_covering_the_customer_signed_with_its_secret(
    backbone: Backbone,
    receiver: WebhookReceiver,
    us: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """Ann's phone is in the 415 area: P-BAY's territory, not the default's."""
    actions = _requested(backbone, "spring")
    clock.advance(timedelta(minutes=5))
    dispatch(dispatchers.new())
    action_id = actions["spring"]
    assert receiver.received() == {action_id: 1}
    assert (us.received(), receiver.unsigned, us.unsigned) == ({}, 0, 0)
    reasons = [
        "no owning partner on the profile",
        "territory +1415 covers the customer's phone",
        "P-BAY holds 0 of 1 open leads",
    ]
    assert _lead(receiver, action_id)["routing"] == {"partner": "P-BAY", "reasons": reasons}
    assert proof_of(backbone, action_id).route == f"partner P-BAY: {'; '.join(reasons)}"
    assert row(backbone, action_id).routed_to == "P-BAY"


def test_past_orders_through_a_partner_outweigh_territory(
    backbone: Backbone,
    receiver: WebhookReceiver,
    us: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """Ann bought through P-US before (and is now owned by an unconfigured
    partner): the lead goes to P-US, signed with P-US's own secret."""
    placed = PartnerOrderPlaced(
        partner_account="P-US",
        partner_customer_ref="us-9",
        order_id="PO-1",
        items=ITEMS,
        total=90.0,
        currency="USD",
    )
    other = LeadRegistered(partner_account="P-OTHER", partner_customer_ref="o-1", lead_id="L-1")
    publish(
        backbone,
        event(placed, T0 - timedelta(days=10), source="partner-portal"),
        event(other, T0 - timedelta(days=3), source="partner-portal"),
    )
    actions = _requested(backbone, "spring")
    clock.advance(timedelta(minutes=5))
    dispatch(dispatchers.new())
    action_id = actions["spring"]
    assert us.received() == {action_id: 1}
    assert (receiver.received(), receiver.unsigned, us.unsigned) == ({}, 0, 0)
    assert _lead(us, action_id)["routing"] == {
        "partner": "P-US",
        "reasons": [
            "owning partner P-OTHER has no webhook configured",
            "1 past order through P-US",
        ],
    }
    assert proof_of(backbone, action_id).route == (
        "partner P-US: owning partner P-OTHER has no webhook configured; 1 past order through P-US"
    )


def test_a_partner_at_capacity_is_passed_over_until_its_leads_close(
    backbone: Backbone,
    receiver: WebhookReceiver,
    us: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """P-BAY holds one open lead at most: Ann's second lead goes to the
        default, saying why; a lead stops counting once its campaign converts, or
    once it is older than the window."""
    actions = _requested(backbone, "spring", "summer")
    clock.advance(timedelta(minutes=5))
    dispatch(dispatchers.new())
    first, second = actions["spring"], actions["summer"]
    assert receiver.received() == {first: 1}
    assert us.received() == {second: 1}
    assert _lead(us, second)["routing"] == {
        "partner": "P-US",
        "reasons": [
            "no owning partner on the profile",
            "P-BAY passed over: at capacity (1 of 1 open leads)",
            "the default partner: P-US",
        ],
    }
    assert proof_of(backbone, second).route is not None
    open_leads = open_leads_from(backbone.stores["campaigns"], clock, timedelta(days=30))
    assert open_leads(uuid4()) == {"P-BAY": 1, "P-US": 1}
    assert open_leads(UUID(first)) == {"P-US": 1}  # leaving out the one being routed
    later = open_leads_from(backbone.stores["campaigns"], clock, timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))
    assert later(uuid4()) == {}  # sent before the window: no longer counted
    order = OrderPlaced(order_id="O-1", items=ITEMS, total=90.0, currency="USD", via="web")
    publish(backbone, event(order, clock.now(), campaign_id="spring"))
    assert open_leads(uuid4()) == {"P-US": 1}  # spring converted: P-BAY's lead is closed


FULL = (
    "no owning partner on the profile; P-BAY passed over: at capacity (1 of 1 open leads); "
    "the default partner P-US is at capacity (1 of 1 open leads)"
)


def _split(
    actions: dict[str, str], bay: WebhookReceiver, us: WebhookReceiver
) -> tuple[str, str, str]:
    """The campaigns whose leads went to P-BAY and to P-US, and the one left."""
    [to_bay] = [c for c, a in actions.items() if bay.received() == {a: 1}]
    [to_default] = [c for c, a in actions.items() if us.received() == {a: 1}]
    [left] = set(actions) - {to_bay, to_default}
    return to_bay, to_default, left


@pytest.mark.parametrize("us_capacity", [1])
def test_a_lead_no_partner_has_room_for_waits_until_a_lead_closes(
    backbone: Backbone,
    receiver: WebhookReceiver,
    us: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """Both partners full after two leads: the third is put back, not
    failed, saying why, and tried again every ``ROOM_RECHECK``; once P-BAY's
    lead closes (its campaign converts) the third goes to P-BAY, once."""
    actions = _requested(backbone, "spring", "summer", "autumn")
    clock.advance(timedelta(minutes=5))
    runner = dispatchers.new()
    dispatch(runner)
    to_bay, to_default, left = _split(actions, receiver, us)
    waiting = row(backbone, actions[left])
    assert (waiting.status, waiting.attempts, waiting.proof) == ("pending", 0, None)
    assert waiting.reason == f"waiting for room: {FULL}"
    assert waiting.not_before_us == to_us(clock.now() + ROOM_RECHECK)
    clock.advance(ROOM_RECHECK)
    dispatch(runner)  # still full: put back again, nothing sent
    assert row(backbone, actions[left]).not_before_us == to_us(clock.now() + ROOM_RECHECK)
    assert sum(receiver.received().values()) + sum(us.received().values()) == 2
    order = OrderPlaced(order_id="O-1", items=ITEMS, total=90.0, currency="USD", via="web")
    publish(backbone, event(order, clock.now(), campaign_id=to_bay))
    assert until_settled(backbone, runner, clock, actions[left]) == [ROOM_RECHECK]
    assert receiver.received() == {actions[to_bay]: 1, actions[left]: 1}
    assert us.received() == {actions[to_default]: 1}
    assert row(backbone, actions[left]).status == "sent"


@pytest.mark.parametrize("us_capacity", [1])
def test_a_lead_that_would_expire_before_room_comes_fails_saying_so(
    backbone: Backbone,
    receiver: WebhookReceiver,
    us: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """An offer open for a day, rechecked after two: it fails at once into
    the dead letters with the reason, rather than wait past its end."""
    actions = _requested(backbone, "spring", "summer", "autumn", valid_days=1)
    clock.advance(timedelta(minutes=5))
    runner = dispatchers.new()
    adapter_of(runner).room_recheck = timedelta(days=2)
    dispatch(runner)
    _, _, left = _split(actions, receiver, us)
    failed = row(backbone, actions[left])
    assert (failed.status, failed.attempts) == ("failed", 0)
    assert failed.reason == f"no room before the action expires: {FULL}"
    [letter] = dead_letters(backbone)
    assert letter["reason"] == failed.reason


def test_a_lead_in_flight_at_a_crash_goes_again_to_the_same_partner(
    backbone: Backbone,
    receiver: WebhookReceiver,
    us: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """The partner is in the ledger before the send: a re-send after a crash
    keeps it even when routing would now pick another, so no lead reaches two."""
    actions = _requested(backbone, "spring")
    clock.advance(timedelta(minutes=5))
    runner = dispatchers.new()
    dispatch(runner)
    action_id = actions["spring"]
    with backbone.stores["campaigns"].begin() as connection:  # undo the settle: in flight
        connection.execute(
            update(campaign_actions)
            .where(campaign_actions.c.action_id == action_id)
            .values(status=ledger.DISPATCHING)
        )
    forget_positions(backbone, runner)
    lead = LeadRegistered(partner_account="P-US", partner_customer_ref="us-1", lead_id="L-2")
    publish(backbone, event(lead, clock.now(), source="partner-portal"))  # P-US owns Ann now
    dispatch(dispatchers.new())
    assert receiver.received() == {action_id: 2}  # one webhook-id, deduped by the receiver
    assert us.received() == {}
    assert proof_of(backbone, action_id).route == (
        "partner P-BAY: sent to P-BAY before: kept (routing now would pick P-US)"
    )
