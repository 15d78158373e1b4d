"""The webhook adapters' own promises, at a real HTTP server checking the
Standard Webhooks signature: what a call task and a lead carry, where a lead
goes and why, how each HTTP answer is sorted, and a crash between the send
and its record re-sending under the very same webhook-id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy import update

from tests.adapters.receivers import SECRET, WebhookReceiver, running
from tests.adapters.scenario import (
    T0,
    Dispatchers,
    dispatch,
    forget_positions,
    proof_of,
    publish,
    reports,
    requested,
    row,
)
from tests.conftest import TEST_KEY_SECRET
from tests.helpers import event
from tests.kafka_broker import free_port
from touchline.adapters.partners import parse_partner_webhooks
from touchline.adapters.port import Action, Recipient, Undeliverable
from touchline.adapters.registry import UnknownChannel, close_adapters, dispatcher_runners
from touchline.adapters.web_push import WebPushAdapter
from touchline.adapters.webhook import ContactCentreAdapter, WebhookSettings
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import load_settings
from touchline.events import Identities
from touchline.events.action import ActionSettled
from touchline.events.partner import LeadRegistered
from touchline.events.web import PageViewed
from touchline.processing.clock import ManualClock
from touchline.store import action_ledger as ledger
from touchline.store.tables import campaign_actions


@pytest.fixture(params=["partner"])
def receiver(request: pytest.FixtureRequest) -> Iterator[WebhookReceiver]:
    """The channel's signature-checking HTTP server (partner unless a test says)."""
    yield from running(WebhookReceiver(request.param))


def _settled(backbone: Backbone) -> ActionSettled:
    [report] = {e.id: e for e in reports(backbone)}.values()
    assert isinstance(report.payload, ActionSettled)
    return report.payload


@pytest.mark.parametrize("receiver", ["phone"], indirect=True)
def test_a_call_task_carries_the_screen_pop(
    backbone: Backbone,
    receiver: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    action_id = requested(backbone, "phone")
    clock.advance(timedelta(minutes=5))
    dispatch(dispatchers.new())
    assert receiver.received() == {action_id: 1}
    [body] = receiver.bodies
    assert body["type"] == "call_task.requested"
    data = body["data"]
    assert (data["task_id"], data["phone"]) == (action_id, "+14155550134")
    assert data["customer_id"] == row(backbone, action_id).customer_id
    assert data["offer"]["offer_code"] == "SPRING10"
    assert data["offer"]["campaign_name"] == "Spring sale"
    assert isinstance(data["screen_pop"]["talking_points"], list)
    assert _settled(backbone).message_id == action_id


@pytest.mark.parametrize("receiver", ["web"], indirect=True)
def test_a_web_step_pushes_the_offer_with_what_the_site_knows_the_customer_by(
    backbone: Backbone,
    receiver: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    """``offer.push``: the customer, the identifiers a site knows (not the phone), the offer."""
    visit = PageViewed(url="https://shop.example/spring")
    ann_on_the_web = Identities(email="ann@example.com", web_id="v-123")
    publish(backbone, event(visit, T0 - timedelta(days=1), identities=ann_on_the_web))
    action_id = requested(backbone, "web")
    clock.advance(timedelta(minutes=5))
    dispatch(dispatchers.new())
    assert receiver.received() == {action_id: 1}
    [body] = receiver.bodies
    assert body["type"] == "offer.push"
    data = body["data"]
    assert data["push_id"] == action_id
    assert data["identifiers"] == {"web_id": ["v-123"], "email": ["ann@example.com"]}
    assert (data["offer"]["offer_code"], data["offer"]["campaign_id"]) == ("SPRING10", "spring")
    assert _settled(backbone).outcome == "sent"


@pytest.mark.parametrize("receiver", ["web"], indirect=True)
def test_a_web_push_for_a_customer_no_site_knows_is_undeliverable(
    receiver: WebhookReceiver,
) -> None:
    """Only a phone number: nothing a site could show the offer against."""
    adapter = WebPushAdapter(receiver.url, WebhookSettings(secret=SECRET))
    try:
        with pytest.raises(Undeliverable, match="no identifier a site knows"):
            adapter.render(_action(), ANN)
    finally:
        adapter.close()


def test_a_lead_goes_to_the_partner_that_owns_the_customer(
    backbone: Backbone,
    receiver: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    lead = LeadRegistered(partner_account="P-NORTH", partner_customer_ref="n-17", lead_id="L1")
    publish(backbone, event(lead, T0 - timedelta(days=3), source="partner-portal"))
    action_id = requested(backbone, "partner")
    clock.advance(timedelta(minutes=5))
    dispatch(dispatchers.new())
    assert receiver.received() == {action_id: 1}
    [body] = receiver.bodies
    assert body["type"] == "lead.referred"
    routing = body["data"]["routing"]
    assert routing["partner"] == "P-NORTH"
    assert routing["reasons"][0].startswith("owning partner on the profile: P-NORTH")
    settled = _settled(backbone)
    assert settled.outcome == "sent"
    assert settled.proof is not None
    assert settled.proof.route is not None
    assert settled.proof.route.startswith("partner P-NORTH: owning partner on the profile")


def test_a_lead_without_an_owning_partner_goes_to_the_default_saying_so(
    backbone: Backbone,
    receiver: WebhookReceiver,
    clock: ManualClock,
    dispatchers: Dispatchers,
) -> None:
    action_id = requested(backbone, "partner")
    clock.advance(timedelta(minutes=5))
    dispatch(dispatchers.new())
    [body] = receiver.bodies
    assert body["data"]["routing"] == {
        "partner": "P-DEFAULT",
        "reasons": [
            "no owning partner on the profile",
            "no configured partner has sold to or covers the customer",
            "the default partner: P-DEFAULT",
        ],
    }
    assert body["data"]["contact"]["email"] == ["ann@example.com"]
    assert proof_of(backbone, action_id).route == (
        "partner P-DEFAULT: no owning partner on the profile; no configured partner has sold "
        "to or covers the customer; the default partner: P-DEFAULT"
    )


def test_a_crash_between_the_send_and_its_record_resends_under_the_same_id(
    backbone: Backbone,
    receiver: WebhookReceiver,
    dispatchers: Dispatchers,
) -> None:
    """The receiver took it, the dispatcher died before settling: the restart
    sends it again with the same webhook-id, which the receiver dedups by."""
    action_id = requested(backbone, "partner")
    runner = dispatchers.new()
    dispatch(runner)
    with backbone.stores["campaigns"].begin() as connection:  # undo the settle: in flight
        connection.execute(
            update(campaign_actions)
            .where(campaign_actions.c.action_id == action_id)
            .values(status=ledger.DISPATCHING)
        )
    forget_positions(backbone, runner)
    dispatch(dispatchers.new())
    assert receiver.received() == {action_id: 2}  # two arrivals, one webhook-id
    first, second = receiver.bodies
    assert first == second  # the same message, to be deduped by its id
    assert row(backbone, action_id).status == "sent"


def _action() -> Action:
    return Action(uuid4(), "spring", "Spring sale", "c1", "phone", "SPRING10", 0, None)


ANN = Recipient("c1", {"phone": ("+14155550134",)}, {"name": "Ann"})


@pytest.mark.parametrize("receiver", ["phone"], indirect=True)
@pytest.mark.parametrize(
    ("reply", "transient"),
    [
        ("408 Request Timeout", True),
        ("429 Too Many Requests", True),
        ("500 Internal Server Error", True),
        ("503 Service Unavailable", True),
        ("400 Bad Request", False),
        ("404 Not Found", False),
        ("410 Gone", False),
    ],
)
def test_http_answers_are_sorted_transient_or_permanent(
    receiver: WebhookReceiver, reply: str, transient: bool
) -> None:
    adapter = ContactCentreAdapter(receiver.url, WebhookSettings(secret=SECRET))
    receiver.refuse(1, reply)
    action = _action()
    try:
        sent = adapter.send(action, adapter.render(action, ANN))
        assert (sent.outcome, sent.transient) == ("failed", transient)
        assert sent.reason is not None
        assert sent.reason.startswith(reply.split(maxsplit=1)[0])
        again = adapter.send(action, adapter.render(action, ANN))
        assert again.outcome == "sent"
    finally:
        adapter.close()


def test_a_refused_connection_is_transient_and_a_wrong_secret_permanent(
    receiver: WebhookReceiver,
) -> None:
    nobody = ContactCentreAdapter(
        f"http://127.0.0.1:{free_port()}/", WebhookSettings(secret=SECRET, connect_timeout=2)
    )
    wrong = ContactCentreAdapter(receiver.url, WebhookSettings(secret="whsec_" + "QUJD" * 8))
    action = _action()
    try:
        refused = nobody.send(action, nobody.render(action, ANN))
        assert (refused.outcome, refused.transient) == ("failed", True)
        forged = wrong.send(action, wrong.render(action, ANN))
        assert (forged.outcome, forged.transient) == ("failed", False)
        assert receiver.unsigned == 1
        assert receiver.received() == {}
    finally:
        nobody.close()
        wrong.close()


def test_partner_webhooks_are_read_as_pairs_or_json() -> None:
    assert parse_partner_webhooks("") == {}
    assert parse_partner_webhooks("A=https://a.example/h, B=https://b.example/h") == {
        "A": "https://a.example/h",
        "B": "https://b.example/h",
    }
    assert parse_partner_webhooks('{"A": "https://a.example/h"}') == {"A": "https://a.example/h"}
    with pytest.raises(ValueError, match="partner=url"):
        parse_partner_webhooks("A")


def test_an_unconfigured_webhook_channel_is_left_alone_or_named(tmp_path: Path) -> None:
    """``touchline adapters`` runs what is configured; asked for an unconfigured
    channel, it says which settings are missing instead of failing its actions."""
    settings = load_settings({}, data_dir=str(tmp_path / "data"), key_secret=TEST_KEY_SECRET)
    with build_backbone(settings) as backbone:
        runners = dispatcher_runners(backbone)
        try:
            assert [r.processor.name for r in runners] == ["adapter-email"]
        finally:
            close_adapters(runners)
        with pytest.raises(UnknownChannel, match="phone: not configured"):
            dispatcher_runners(backbone, only=["phone"])
        with pytest.raises(UnknownChannel, match="web: not configured"):
            dispatcher_runners(backbone, only=["web"])
