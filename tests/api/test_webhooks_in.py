"""Inbound webhooks over real HTTP: an ESP's event webhook and a contact
centre's call-status callbacks, signed the Standard Webhooks way, from
recorded provider-style payloads (tests/adapters/payloads/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import msgspec
import pytest
from standardwebhooks.webhooks import Webhook

from tests.adapters.scenario import requested
from tests.api.conftest import Server, problem
from touchline.config import Settings
from touchline.dead_letters.index import LetterFilter, LetterRow, list_letters, sync
from touchline.log.port import TopicPartition
from touchline.processing.dead_letter import describe

PAYLOADS = Path(__file__).parent.parent / "adapters" / "payloads"
ESP_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
CALLS_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAX_SECRET = "whsec_ZmF4IGdhdGV3YXkgc2VjcmV0IGtleSE="
PARTNER_SECRET = "whsec_cGFydG5lciBvcmRlcnMgc2VjcmV0IQ=="
NORTH_SECRET = "whsec_UC1OT1JUSCBvd24gc2VjcmV0IGtleSE="


@pytest.fixture
def api_settings(api_settings: Settings) -> Settings:
    return msgspec.structs.replace(
        api_settings,
        esp_webhook_secret=ESP_SECRET,
        contact_centre_secret=CALLS_SECRET,
        fax_webhook_secret=FAX_SECRET,
        partner_webhook_secret=PARTNER_SECRET,
        partners=json.dumps(
            {"P-NORTH": {"url": "https://north.example/leads", "secret": NORTH_SECRET}}
        ),
    )


def _payload(name: str, action_id: str = "") -> str:
    return (PAYLOADS / name).read_text().replace("ACTION_ID", action_id)


def signed(body: str, secret: str, *, at: datetime | None = None) -> dict[str, str]:
    webhook_id = f"msg_{uuid4().hex}"
    at = at or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


def _post(api: Server, path: str, body: str, secret: str) -> dict[str, object]:
    answer = api.client.post(path, content=body, headers=signed(body, secret))
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def _statuses(answer: dict[str, object]) -> list[str]:
    results = answer["results"]
    assert isinstance(results, list)
    return [r["status"] for r in results]


def _types(api: Server, customer_id: str) -> list[str]:
    return [e.type for e in api.backbone.queries.timeline(customer_id).entries]


def _letters(api: Server) -> list[dict[str, str]]:
    backbone = api.backbone
    topic = backbone.settings.topics.dead_letter
    return [
        describe(record)
        for partition in range(backbone.log.partitions(topic))
        for record in backbone.log.read(TopicPartition(topic, partition), 0, 1000)
    ]


def test_esp_events_land_on_the_customer_the_email_went_to_once(api: Server) -> None:
    """Keyed by the adapter's Message-ID (the action id): Ann's timeline gets
    delivered, opened, clicked, unsubscribed; ``processed`` is skipped, an
    unmappable ``dropped`` kept with the reason; a resend adds nothing."""
    action_id = requested(api.backbone, "email")
    body = _payload("sendgrid_events.json", action_id)
    answer = _post(api, "/v1/webhooks/esp", body, ESP_SECRET)
    assert _statuses(answer) == ["skipped", *["accepted"] * 4, "kept"]
    api.backbone.runtime.catch_up()
    ann = api.backbone.queries.find("email:ann@example.com").customer_id
    assert ann is not None
    types = _types(api, ann)
    for kind in ("email.delivered", "email.opened", "email.clicked", "email.unsubscribed"):
        assert types.count(kind) == 1, types
    [letter] = _letters(api)
    assert letter["code"] == "unknown_event"
    assert "dropped" in letter["reason"]
    [indexed] = _indexed(api, concerning=["email:ann@example.com"])
    assert indexed.origin.startswith("POST /v1/webhooks/esp")

    again = _post(api, "/v1/webhooks/esp", body, ESP_SECRET)
    assert _statuses(again) == ["skipped", *["duplicate"] * 5]
    api.backbone.runtime.catch_up()
    assert _types(api, ann) == types
    assert len(_letters(api)) == 1


def test_esp_events_for_messages_not_ours_land_by_address(api: Server) -> None:
    body = _payload("sendgrid_bounce_spam.json")
    answer = _post(api, "/v1/webhooks/esp", body, ESP_SECRET)
    assert answer["accepted"] == 2
    api.backbone.runtime.catch_up()
    bo = api.backbone.queries.find("email:bo@example.com").customer_id
    cy = api.backbone.queries.find("email:cy@example.com").customer_id
    assert bo is not None
    assert cy is not None
    assert "email.bounced" in _types(api, bo)
    assert "email.complained" in _types(api, cy)


def test_call_status_callbacks_become_call_events(api: Server) -> None:
    """The outbound call found by its task id (Ann's phone action); an inbound
    one by its caller's number; a call ringing skipped; an unknown status kept."""
    action_id = requested(api.backbone, "phone")
    body = _payload("call_status.json", action_id)
    answer = _post(api, "/v1/webhooks/call-status", body, CALLS_SECRET)
    assert _statuses(answer) == ["skipped", "accepted", "accepted", "kept"]
    api.backbone.runtime.catch_up()
    ann = api.backbone.queries.find("phone:+14155550134").customer_id
    caller = api.backbone.queries.find("phone:+14155550177").customer_id
    assert ann is not None
    assert caller is not None
    assert "call.outbound_made" in _types(api, ann)
    assert "call.inbound_ended" in _types(api, caller)
    [letter] = _letters(api)
    assert letter["code"] == "unknown_status"
    again = _post(api, "/v1/webhooks/call-status", body, CALLS_SECRET)
    assert _statuses(again) == ["skipped", "duplicate", "duplicate", "duplicate"]


SECRETS = {
    "/v1/webhooks/esp": ESP_SECRET,
    "/v1/webhooks/call-status": CALLS_SECRET,
    "/v1/webhooks/fax": FAX_SECRET,
    "/v1/webhooks/partner-orders": PARTNER_SECRET,
}


@pytest.mark.parametrize("path", list(SECRETS))
def test_a_bad_signature_or_a_replay_is_401_and_a_signed_non_json_400(
    api: Server, path: str
) -> None:
    secret = SECRETS[path]
    body = json.dumps([{"event": "delivered"}])
    forged = signed(body, "whsec_" + "QUJD" * 8)
    assert "signature" in str(problem(api.client.post(path, content=body, headers=forged), 401))
    stale = signed(body, secret, at=datetime.now(UTC) - timedelta(minutes=10))
    assert "too old" in str(problem(api.client.post(path, content=body, headers=stale), 401))
    bare = {"content-type": "application/json"}
    problem(api.client.post(path, content=body, headers=bare), 401)
    tampered = signed(body, secret)
    problem(api.client.post(path, content=body.replace("delivered", "open"), headers=tampered), 401)
    garbage = "{not json"
    problem(api.client.post(path, content=garbage, headers=signed(garbage, secret)), 400)
    assert _letters(api) == []


def test_fax_reports_become_fax_events(api: Server) -> None:
    """Sent (on the customer of the action it names), failed after retries (by
    number), received (by the caller's number); one still queued skipped."""
    action_id = requested(api.backbone, "fax")
    body = _payload("phaxio_fax.json", action_id)
    answer = _post(api, "/v1/webhooks/fax", body, FAX_SECRET)
    assert _statuses(answer) == ["accepted", "accepted", "accepted", "skipped"]
    api.backbone.runtime.catch_up()
    ann = api.backbone.queries.find("email:ann@example.com").customer_id
    other = api.backbone.queries.find("fax:+14155550199").customer_id
    caller = api.backbone.queries.find("fax:+14155550188").customer_id
    assert ann is not None
    assert other is not None
    assert caller is not None
    assert "fax.sent" in _types(api, ann)  # by the action: the number joins no one
    assert caller != ann
    assert "fax.failed" in _types(api, other)
    assert "fax.received" in _types(api, caller)
    again = _post(api, "/v1/webhooks/fax", body, FAX_SECRET)
    assert again["duplicates"] == 3


def test_partner_orders_become_partner_events(api: Server) -> None:
    body = _payload("partner_orders.json")
    answer = _post(api, "/v1/webhooks/partner-orders", body, PARTNER_SECRET)
    assert _statuses(answer) == ["accepted", "accepted", "kept"]
    api.backbone.runtime.catch_up()
    ann = api.backbone.queries.find("email:ann@example.com").customer_id
    assert ann is not None
    types = _types(api, ann)
    assert "partner.order_placed" in types
    assert "partner.order_shipped" in types
    [letter] = _letters(api)
    assert letter["code"] == "unknown_event"
    assert "order.returned" in letter["reason"]


def test_a_partner_signs_its_orders_with_its_own_secret_for_its_own_orders(
    api: Server,
) -> None:
    """``?partner=P-NORTH`` checks P-NORTH's own secret (not the shared one, nor
    another's); an item naming another partner is kept, never published."""
    path = "/v1/webhooks/partner-orders?partner=P-NORTH"
    body = _payload("partner_orders.json")
    shared = api.client.post(path, content=body, headers=signed(body, PARTNER_SECRET))
    assert "signature" in str(problem(shared, 401))
    unknown = "/v1/webhooks/partner-orders?partner=P-SOUTH"
    refused = api.client.post(unknown, content=body, headers=signed(body, NORTH_SECRET))
    assert "no partner P-SOUTH" in str(problem(refused, 401))
    answer = _post(api, path, body, NORTH_SECRET)
    assert _statuses(answer) == ["accepted", "accepted", "kept"]
    posing = body.replace('"P-NORTH"', '"P-EAST"').replace("evt_01", "evt_02")
    assert _statuses(_post(api, path, posing, NORTH_SECRET)) == ["kept", "kept", "kept"]
    codes = sorted(letter["code"] for letter in _letters(api))
    assert codes == ["unknown_event", "unknown_event", "wrong_partner", "wrong_partner"]


def test_an_esp_event_goes_by_its_message_not_by_the_address_it_names(api: Server) -> None:
    """Ann's email forwarded to another address: the open is still Ann's."""
    action_id = requested(api.backbone, "email")
    body = _payload("sendgrid_events.json", action_id).replace("ann@example.com", "fwd@example.org")
    _post(api, "/v1/webhooks/esp", body, ESP_SECRET)
    api.backbone.runtime.catch_up()
    ann = api.backbone.queries.find("email:ann@example.com").customer_id
    assert ann is not None
    assert "email.opened" in _types(api, ann)
    assert api.backbone.queries.find("email:fwd@example.org").customer_id is None


def test_more_items_than_the_batch_limit_is_413(api: Server) -> None:
    body = json.dumps([{"event": "processed", "sg_event_id": str(n)} for n in range(51)])
    answer = api.client.post("/v1/webhooks/esp", content=body, headers=signed(body, ESP_SECRET))
    assert problem(answer, 413)["limit"] == "TOUCHLINE_API_MAX_BATCH_EVENTS"


def test_an_unmappable_item_naming_a_nul_is_kept_and_indexed(api: Server) -> None:
    """The letter drops the identifier no database can store, keeps the reason."""
    body = json.dumps([{"event": "dropped", "email": "a\u0000b@example.com", "sg_event_id": "x"}])
    answer = _post(api, "/v1/webhooks/esp", body, ESP_SECRET)
    assert _statuses(answer) == ["kept"]
    [letter] = _letters(api)
    assert letter["code"] == "invalid"
    [indexed] = _indexed(api)
    assert (indexed.code, indexed.event_type) == ("invalid", "webhook.esp")


def _indexed(api: Server, **where: Any) -> list[LetterRow]:
    backbone = api.backbone
    sync(backbone.engine, backbone.log, backbone.codec, backbone.settings.topics.dead_letter)
    with backbone.engine.connect() as connection:
        return list_letters(connection, LetterFilter(processor="webhooks-in", **where))


def test_svix_headers_are_the_same_signature(api: Server) -> None:
    body = _payload("sendgrid_bounce_spam.json")
    headers = {k.replace("webhook-", "svix-"): v for k, v in signed(body, ESP_SECRET).items()}
    answer = api.client.post("/v1/webhooks/esp", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 2
    exposition = api.client.get("/metrics").text
    assert 'touchline_api_webhook_items_total{provider="esp",status="accepted"} 2.0' in exposition
