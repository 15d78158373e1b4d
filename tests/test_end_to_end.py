"""Issue 13's acceptance, end to end, on both runtimes (the embedded log, and
Kafka with a real ``touchline worker`` on the Tansu broker):

1. a campaign is launched over the API: an email, and beside it a lead for
   the customer's partner (two steps at once, so the lead waits in the
   ledger, ``pending``, while the email is out);
2. the email dispatcher sends the email through a real SMTP server (aiosmtpd):
   one message arrives;
3. the ESP's signed event webhook brings an open and a click back to the API
   (uvicorn on loopback), keyed by the email's Message-ID: the ledger moves
   the email from ``sent`` to ``delivered``;
4. the agent's console shows them, in Chromium (Playwright), live, and over
   the console's own route;
5. the agent accepts the offer on the call, in the console;
6. the pending partner lead is cancelled in the ledger, and ``touchline
   adapters`` (a real process, the partner's webhook configured and a real
   receiver checking signatures) reads the lead's request and never sends it.

A running partner dispatcher takes a pending lead at once (that is its job),
so it starts after the answer: what is shown is that a lead the answer
cancelled is never delivered by a dispatcher that meets its request.
Every wait is on state (a ledger row, a position, what the page shows),
never a fixed sleep.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.adapters.receivers import SECRET, SmtpReceiver, WebhookReceiver, running
from tests.adapters.test_cli_adapters import Adapters
from tests.api.conftest import Server, serving
from tests.api.console_page import chromium, found, fresh_tab, needs_chromium, signed_in
from tests.api.test_webhooks_in import ESP_SECRET, signed
from tests.conftest import TEST_KEY_SECRET
from tests.handlers.conftest import kafka_env
from tests.helpers import ANN, event
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from tests.stores import fresh_database
from touchline.adapters.registry import close_adapters, dispatcher_runners
from touchline.bootstrap import build_backbone
from touchline.config import load_settings
from touchline.events import Identities
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.processing.embedded import wait_until
from touchline.processing.runner import ProcessorRunner
from touchline.store import action_ledger as ledger
from touchline.store.tables import campaign_actions

pytestmark = [needs_chromium, pytest.mark.slow]

CAMPAIGN = "spring"
OFFER = "SPRING10"
PAGE = "https://shop.example/spring"
WAIT = 60.0
"""Deadline of each wait on state: room for a busy 2-core machine, never a pause."""

Runtime = EmbeddedRuntime | KafkaRuntime


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_tab(browser) as opened:
        yield opened


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    yield from running(SmtpReceiver())


@pytest.fixture
def partner() -> Iterator[WebhookReceiver]:
    yield from running(WebhookReceiver("partner"))


@dataclass
class Stack:
    """One runtime's backbone, the settings its processes share, and the API over it."""

    runtime: Runtime
    env: dict[str, str]
    api: Server

    def settle(self) -> None:
        """Let the processors apply everything published so far."""
        self.runtime.drain()


@pytest.fixture(params=["embedded", "kafka"])
def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    smtp: SmtpReceiver,
    partner: WebhookReceiver,
) -> Iterator[Stack]:
    """Embedded: SQLite files, the processors driven by the test. Kafka: a
    ``touchline worker`` process on the broker, PostgreSQL for the stores."""
    channels = {
        "TOUCHLINE_SMTP_HOST": "127.0.0.1",
        "TOUCHLINE_SMTP_PORT": str(smtp.port),
        "TOUCHLINE_EMAIL_DOMAIN": "shop.example",
        "TOUCHLINE_PARTNER_WEBHOOKS": f"P-DEFAULT={partner.url}",
        "TOUCHLINE_PARTNER_DEFAULT": "P-DEFAULT",
        "TOUCHLINE_PARTNER_WEBHOOK_SECRET": SECRET,
        "TOUCHLINE_ESP_WEBHOOK_SECRET": ESP_SECRET,
    }
    if request.param == "embedded":
        env = {
            **os.environ,
            **channels,
            "TOUCHLINE_DATA_DIR": str(tmp_path / "data"),
            "TOUCHLINE_PARTITIONS": "2",
            "TOUCHLINE_KEY_SECRET": TEST_KEY_SECRET,
        }
        embedded = EmbeddedRuntime(build_backbone(load_settings(env)))
        try:
            with serving(embedded.backbone) as api:
                yield Stack(embedded, env, api)
        finally:
            embedded.close()
        return
    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    server: str = request.getfixturevalue("postgres_server_url")
    with fresh_database(server) as database_url:
        base = load_settings(
            {},
            data_dir=str(tmp_path / "data"),
            database_url=database_url,
            partitions=2,
            key_secret=TEST_KEY_SECRET,
        )
        env = {**os.environ, **kafka_env(bootstrap, base, tmp_path), **channels}
        # The test's backbone migrates and creates the topics before the worker starts.
        kafka = KafkaRuntime(build_backbone(load_settings(env)), env)
        try:
            kafka.start_worker()
            with serving(kafka.backbone) as api:
                yield Stack(kafka, env, api)
        finally:
            kafka.close()


def _actions(stack: Stack) -> dict[str, ledger.ActionRow]:
    """The ledger's rows, by channel."""
    with stack.runtime.backbone.stores["campaigns"].connect() as connection:
        ids = connection.execute(select(campaign_actions.c.action_id)).scalars().all()
        rows = [ledger.load_action(connection, action_id) for action_id in ids]
    return {row.channel: row for row in rows if row is not None}


def _launched_and_targeted(stack: Stack, at: datetime) -> None:
    """Over the API, as the campaign engine publishes: the launch, then Ann."""
    launch = CampaignLaunched(
        name="Spring sale",
        offers=(OfferTerms(code=OFFER, priority=5, page=PAGE),),
        sequence=(Step(channel="email"), Step(channel="partner")),
        channels=("phone",),
    )
    for published in (
        event(launch, at, identities=Identities(), campaign_id=CAMPAIGN),
        event(CustomerTargeted(), at + timedelta(seconds=1), identities=ANN, campaign_id=CAMPAIGN),
    ):
        answer = stack.api.publish([published])
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == 1, answer.text
        stack.settle()


def _sent_by_the_email_dispatcher(stack: Stack, action_id: str) -> None:
    """The email dispatcher, as ``touchline adapters`` builds it, until its action is out."""
    backbone = stack.runtime.backbone
    [runner] = dispatcher_runners(backbone, only=["email"])
    try:

        def sent() -> bool:
            runner.step()
            return _status(stack, action_id) == ledger.SENT

        assert wait_until(sent, timeout=WAIT)
        while runner.step():
            pass
    finally:
        close_adapters([runner])
    stack.settle()  # its report, action.settled, onto the timeline


def _status(stack: Stack, action_id: str) -> str:
    with stack.runtime.backbone.stores["campaigns"].connect() as connection:
        row = ledger.load_action(connection, action_id)
    assert row is not None
    return row.status


def _esp_webhook(message_id: str, at: datetime) -> str:
    """SendGrid's event webhook: Ann opened the email and clicked the offer."""
    common = {
        "email": "ann@example.com",
        "smtp-id": message_id,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "category": [CAMPAIGN],
    }
    opened = {
        **common,
        "event": "open",
        "timestamp": int(at.timestamp()),
        "sg_event_id": f"open-{uuid4().hex}",
        "useragent": "Mozilla/5.0",
    }
    clicked = {
        **common,
        "event": "click",
        "timestamp": int(at.timestamp()) + 30,
        "sg_event_id": f"click-{uuid4().hex}",
        "url": PAGE,
    }
    return json.dumps([opened, clicked])


def _overview_types(api: Server) -> list[str]:
    """The timeline's types as the console's own first read gives them."""
    agent = api.keys.create("desk", ["agent"])
    answer = api.client.get(
        "/v1/customer-overview",
        params={"q": "ann@example.com", "channel": "phone"},
        headers={"Authorization": f"Bearer {agent.token}"},
    )
    assert answer.status_code == 200, answer.text
    return [entry["type"] for entry in answer.json()["timeline"]["entries"]]


def _caught_up(watch: list[ProcessorRunner]) -> bool:
    """Every dispatcher's stored position at the end of the actions topic."""
    for runner in watch:
        runner.forget()
    return not any(lag for runner in watch for lag in runner.lag().values())


def test_an_email_an_open_and_a_click_then_a_yes_on_the_call_stops_the_partner_lead(
    stack: Stack, smtp: SmtpReceiver, partner: WebhookReceiver, page: Page
) -> None:
    """Launched; emailed once; opened and clicked, which the console shows live;
    accepted on the call in the console; the pending partner lead cancelled and,
    with the partner's dispatcher running, never delivered."""
    api = stack.api
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)

    # 1. Launched: the email and the partner lead, both pending.
    _launched_and_targeted(stack, start)
    requested = _actions(stack)
    assert {channel: row.status for channel, row in requested.items()} == {
        "email": ledger.PENDING,
        "partner": ledger.PENDING,
    }
    email, lead = requested["email"].action_id, requested["partner"].action_id
    message_id = f"<{email}@shop.example>"

    # 2. The email goes out through the SMTP server, once.
    _sent_by_the_email_dispatcher(stack, email)
    assert smtp.received() == {message_id: 1}

    # The agent has Ann on screen while the ESP reports back.
    signed_in(api, page)
    found(page, "ann@example.com")
    story = page.locator("#story")
    campaign = story.locator(f".campaigns [data-campaign={CAMPAIGN}]")
    expect(campaign).to_have_attribute("data-state", "offered")
    expect(page.locator("#live")).to_have_attribute("data-live", "on")

    # 3. The ESP's open and click, signed, to the API.
    body = _esp_webhook(message_id, start + timedelta(minutes=5))
    answer = api.client.post("/v1/webhooks/esp", content=body, headers=signed(body, ESP_SECRET))
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["results"]] == ["accepted", "accepted"]
    stack.settle()
    assert _status(stack, email) == ledger.DELIVERED  # an open is proof it arrived

    # 4. The console shows them, without a reload; so does its own route.
    timeline = page.locator("#timeline .entry")
    expect(timeline.filter(has_text="Opened email")).to_have_count(1)
    expect(timeline.filter(has_text=f"Clicked {PAGE} in email")).to_have_count(1)
    expect(campaign).to_have_attribute("data-state", "engaged")
    types = _overview_types(api)
    assert [t for t in types if t.startswith("email.")] == ["email.clicked", "email.opened"]
    assert types.count("action.settled") == 1  # the dispatcher's report of the send

    # 5. Accepted on the call, in the console.
    offer = story.locator(f".offer[data-offer={OFFER}]")
    offer.get_by_role("button", name="Accept").click()
    expect(offer).to_contain_text("Accepted, recorded")
    stack.settle()
    expect(campaign).to_have_attribute("data-state", "responded")
    expect(timeline.first).to_contain_text(f"Offer {OFFER} accepted via phone (recorded by ag-7)")

    # 6. The lead is cancelled; the dispatchers, partner's included, run past it.
    assert _status(stack, lead) == ledger.CANCELLED
    assert _status(stack, email) == ledger.DELIVERED  # already out: nothing to cancel
    watch = dispatcher_runners(stack.runtime.backbone, only=["email", "partner"])
    adapters = Adapters(stack.env)
    try:
        assert wait_until(lambda: _caught_up(watch), timeout=WAIT)
    finally:
        assert adapters.stop(signal.SIGTERM) == 0
        close_adapters(watch)
    assert _status(stack, lead) == ledger.CANCELLED
    assert partner.received() == {}
    assert partner.unsigned == 0
    assert smtp.received() == {message_id: 1}


def test_the_lead_would_have_gone_without_the_answer(
    stack: Stack, smtp: SmtpReceiver, partner: WebhookReceiver
) -> None:
    """The same campaign unanswered: the running dispatcher delivers the lead
    once, so the silence of the receiver above is the answer's doing."""
    _launched_and_targeted(stack, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10))
    lead = _actions(stack)["partner"].action_id
    adapters = Adapters(stack.env)
    try:
        assert wait_until(lambda: _status(stack, lead) == ledger.SENT, timeout=WAIT)
    finally:
        assert adapters.stop(signal.SIGTERM) == 0
    assert partner.received() == {lead: 1}
    assert len(smtp.received()) == 1
