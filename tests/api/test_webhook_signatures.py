"""Providers' own signatures on the inbound webhooks, over real HTTP: SendGrid's
ECDSA event webhook signature and Twilio's request validation, beside the
Standard Webhooks one; each checked against the provider's published test
vector too, so a scheme consistent with itself but not with the provider's
cannot pass."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.adapters.scenario import CAMPAIGN, requested, row
from tests.api.conftest import Server, problem
from tests.api.test_webhooks_in import CALLS_SECRET, ESP_SECRET, PAYLOADS, _letters, signed
from tests.campaign_log import written
from touchline.api.webhook_signatures import (
    SendGridSignature,
    SignatureRefused,
    Signed,
    TwilioSignature,
)
from touchline.config import Settings

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
TWILIO_TOKEN = "9f2c4e7a1b3d5f6e8a0c2b4d6f8e1a3c"
PUBLIC_URL = "https://touchline.shop.example"
ESP = "/v1/webhooks/esp"
CALLS = "/v1/webhooks/call-status"
FORM = "application/x-www-form-urlencoded"


def _verification_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as SendGrid's settings page shows it: base64 DER SPKI."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture
def overrides() -> dict[str, object]:
    """Settings a test changes from the module's (parametrized where it does)."""
    return {}


@pytest.fixture
def api_settings(api_settings: Settings, overrides: dict[str, object]) -> Settings:
    return msgspec.structs.replace(
        api_settings,
        **{
            "esp_webhook_public_key": _verification_key(SENDGRID_KEY),
            "esp_webhook_secret": ESP_SECRET,
            "twilio_auth_token": TWILIO_TOKEN,
            "contact_centre_secret": CALLS_SECRET,
            "public_url": PUBLIC_URL,
            **overrides,
        },
    )


def sendgrid_signed(
    body: str, key: ec.EllipticCurvePrivateKey = SENDGRID_KEY, *, at: datetime | None = None
) -> dict[str, str]:
    stamp = str(int((at or datetime.now(UTC)).timestamp()))
    signature = key.sign(stamp.encode() + body.encode(), ec.ECDSA(hashes.SHA256()))
    return {
        "content-type": "application/json",
        "x-twilio-email-event-webhook-signature": base64.b64encode(signature).decode(),
        "x-twilio-email-event-webhook-timestamp": stamp,
    }


def twilio_signed(body: str, url: str, token: str = TWILIO_TOKEN) -> dict[str, str]:
    """As Twilio signs: the URL it called, then each field's name and value by name."""
    text = url + "".join(name + value for name, value in sorted(parse_qsl(body, True)))
    mac = hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()
    return {"content-type": FORM, "x-twilio-signature": base64.b64encode(mac).decode()}


def _answer(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _statuses(answer: dict[str, Any]) -> list[str]:
    return [r["status"] for r in answer["results"]]


def _types(api: Server, key: str) -> list[str]:
    customer_id = api.backbone.queries.find(key).customer_id
    assert customer_id is not None, key
    return [e.type for e in api.backbone.queries.timeline(customer_id).entries]


def test_sendgrid_signed_events_land_once(api: Server) -> None:
    """The recorded event array under SendGrid's own signature maps as under a
    Standard Webhooks one; its resend, freshly signed, is all duplicates."""
    action_id = requested(api.backbone, "email")
    body = (PAYLOADS / "sendgrid_events.json").read_text().replace("ACTION_ID", action_id)
    answer = _answer(api.client.post(ESP, content=body, headers=sendgrid_signed(body)))
    assert _statuses(answer) == ["skipped", *["accepted"] * 4, "kept"]
    again = _answer(api.client.post(ESP, content=body, headers=signed(body, ESP_SECRET)))
    assert _statuses(again) == ["skipped", *["duplicate"] * 5]
    api.backbone.runtime.catch_up()
    types = _types(api, "email:ann@example.com")
    for kind in ("email.delivered", "email.opened", "email.clicked", "email.unsubscribed"):
        assert types.count(kind) == 1, types


def test_a_bad_sendgrid_signature_is_401(api: Server) -> None:
    """A tampered body, another key, a stale or future timestamp, a timestamp
    changed after signing, a signature that is not base64: each a 401 problem."""
    body = (PAYLOADS / "sendgrid_bounce_spam.json").read_text()
    headers = sendgrid_signed(body)
    tampered = body.replace("bo@example.com", "eve@example.com")
    assert "SendGrid" in str(problem(api.client.post(ESP, content=tampered, headers=headers), 401))
    other = sendgrid_signed(body, ec.generate_private_key(ec.SECP256R1()))
    problem(api.client.post(ESP, content=body, headers=other), 401)
    stale = sendgrid_signed(body, at=datetime.now(UTC) - timedelta(minutes=6))
    assert "too old" in str(problem(api.client.post(ESP, content=body, headers=stale), 401))
    ahead = sendgrid_signed(body, at=datetime.now(UTC) + timedelta(minutes=6))
    assert "too new" in str(problem(api.client.post(ESP, content=body, headers=ahead), 401))
    moved = {
        **headers,
        "x-twilio-email-event-webhook-timestamp": str(int(datetime.now(UTC).timestamp()) + 1),
    }
    problem(api.client.post(ESP, content=body, headers=moved), 401)
    garbled = {**headers, "x-twilio-email-event-webhook-signature": "not base64!"}
    problem(api.client.post(ESP, content=body, headers=garbled), 401)
    unstamped = {k: v for k, v in headers.items() if not k.endswith("timestamp")}
    assert "Timestamp" in str(problem(api.client.post(ESP, content=body, headers=unstamped), 401))
    assert _answer(api.client.post(ESP, content=body, headers=headers))["accepted"] == 2


def test_a_twilio_form_callback_maps_and_its_resend_is_a_duplicate(api: Server) -> None:
    """Twilio's form post, signed over the public URL (not the one the server
    sees behind the proxy): a completed outbound call on the customer it rang.
    Twilio signs no timestamp: the replay is stopped by the CallSid's event id."""
    requested(api.backbone, "phone")
    body = (PAYLOADS / "twilio_call_status.form").read_text()
    headers = twilio_signed(body, PUBLIC_URL + CALLS)
    answer = _answer(api.client.post(CALLS, content=body, headers=headers))
    assert _statuses(answer) == ["accepted"]
    assert answer["results"][0]["event_type"] == "call.outbound_made"
    replayed = _answer(api.client.post(CALLS, content=body, headers=headers))
    assert _statuses(replayed) == ["duplicate"]
    api.backbone.runtime.catch_up()
    assert _types(api, "phone:+14155550134").count("call.outbound_made") == 1


def test_a_twilio_signature_is_over_the_public_url_port_or_none(api: Server) -> None:
    """Signed with the default port written out (Twilio has signed both ways),
    accepted; with the query it was called with, accepted; over the address
    the server itself sees, refused."""
    body = (PAYLOADS / "twilio_call_status.form").read_text()
    with_port = twilio_signed(body, "https://touchline.shop.example:443" + CALLS)
    assert _statuses(_answer(api.client.post(CALLS, content=body, headers=with_port))) == [
        "accepted"
    ]
    queried = CALLS + "?source=twilio%20eu"
    headers = twilio_signed(body, PUBLIC_URL + queried)
    assert _statuses(_answer(api.client.post(queried, content=body, headers=headers))) == [
        "duplicate"
    ]
    internal = twilio_signed(body, str(api.client.base_url).rstrip("/") + CALLS)
    problem(api.client.post(CALLS, content=body, headers=internal), 401)


@pytest.mark.parametrize("overrides", [{"public_url": "", "unsubscribe_url": ""}])
def test_without_a_public_url_twilio_signs_the_request_url(api: Server) -> None:
    body = (PAYLOADS / "twilio_call_status.form").read_text()
    url = str(api.client.base_url).rstrip("/") + CALLS
    assert _answer(api.client.post(CALLS, content=body, headers=twilio_signed(body, url)))
    problem(
        api.client.post(CALLS, content=body, headers=twilio_signed(body, PUBLIC_URL + CALLS)), 401
    )


@pytest.mark.parametrize("overrides", [{"public_url": "", "unsubscribe_url": PUBLIC_URL + "/"}])
def test_the_unsubscribe_url_is_the_public_url_when_none_is_set(api: Server) -> None:
    body = (PAYLOADS / "twilio_call_status.form").read_text()
    headers = twilio_signed(body, PUBLIC_URL + CALLS)
    assert _statuses(_answer(api.client.post(CALLS, content=body, headers=headers))) == ["accepted"]


def test_a_bad_twilio_signature_is_401(api: Server) -> None:
    """A changed field, another account's token, a JSON body (the signature
    would cover the URL alone): each a 401 problem; nothing is kept."""
    body = (PAYLOADS / "twilio_call_status.form").read_text()
    headers = twilio_signed(body, PUBLIC_URL + CALLS)
    tampered = body.replace("CallDuration=187", "CallDuration=1870")
    assert "Twilio" in str(problem(api.client.post(CALLS, content=tampered, headers=headers), 401))
    other = twilio_signed(body, PUBLIC_URL + CALLS, token="0" * 32)
    problem(api.client.post(CALLS, content=body, headers=other), 401)
    as_json = json.dumps(dict(parse_qsl(body, True)))
    json_headers = {**twilio_signed("", PUBLIC_URL + CALLS), "content-type": "application/json"}
    refused = problem(api.client.post(CALLS, content=as_json, headers=json_headers), 401)
    assert "form-encoded" in str(refused)
    assert _letters(api) == []
    answer = _answer(api.client.post(CALLS, content=body, headers=headers))
    assert _statuses(answer) == ["accepted"]


def test_the_standard_webhooks_signature_still_works_and_takes_a_form(api: Server) -> None:
    """With Twilio's token set, a Standard Webhooks-signed callback is still
    accepted, JSON or form-encoded."""
    requested(api.backbone, "phone")
    body = (PAYLOADS / "twilio_call_status.form").read_text()
    headers = {**signed(body, CALLS_SECRET), "content-type": FORM}
    assert _statuses(_answer(api.client.post(CALLS, content=body, headers=headers))) == ["accepted"]
    garbled = "CallSid&CallStatus"
    headers = {**signed(garbled, CALLS_SECRET), "content-type": FORM}
    assert "form" in str(problem(api.client.post(CALLS, content=garbled, headers=headers), 400))


@pytest.mark.parametrize(
    ("path", "overrides"),
    [
        (ESP, {"esp_webhook_public_key": "", "esp_webhook_secret": ""}),
        (CALLS, {"twilio_auth_token": "", "contact_centre_secret": ""}),
    ],
)
def test_a_route_with_no_key_refuses_every_signature(api: Server, path: str) -> None:
    """As before the providers' own schemes: nothing configured, nothing taken."""
    if path == ESP:
        body = (PAYLOADS / "sendgrid_bounce_spam.json").read_text()
        native = sendgrid_signed(body)
    else:
        body = (PAYLOADS / "twilio_call_status.form").read_text()
        native = twilio_signed(body, PUBLIC_URL + path)
    for headers in (native, signed(body, ESP_SECRET if path == ESP else CALLS_SECRET)):
        refused = problem(api.client.post(path, content=body, headers=headers), 401)
        assert "no key configured" in str(refused)


@pytest.mark.parametrize("overrides", [{"esp_webhook_secret": "", "twilio_auth_token": ""}])
def test_a_scheme_without_its_key_is_refused_by_name(api: Server) -> None:
    """Standard Webhooks headers where only SendGrid's key is set, Twilio's
    where only the whsec secret is: refused, saying which signature was wanted."""
    body = (PAYLOADS / "sendgrid_bounce_spam.json").read_text()
    refused = problem(api.client.post(ESP, content=body, headers=signed(body, ESP_SECRET)), 401)
    assert "SendGrid (X-Twilio-Email-Event-Webhook-Signature)" in str(refused)
    form = (PAYLOADS / "twilio_call_status.form").read_text()
    twilio = twilio_signed(form, PUBLIC_URL + CALLS)
    refused = problem(api.client.post(CALLS, content=form, headers=twilio), 401)
    assert "Standard Webhooks" in str(refused)


# --- the providers' published test vectors -----------------------------------------

SENDGRID_VECTOR_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7"
    "yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
)
"""SendGrid's libraries' test vector (sendgrid-nodejs packages/eventwebhook)."""
SENDGRID_VECTOR_SIGNATURE = (
    "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsb"
    "VRamr2nlxFDWYNH2j/0="
)
SENDGRID_VECTOR_BODY = (
    b'{"category":"example_payload","event":"test_event","message_id":"message_id"}'
)


def _vector(body: bytes, headers: dict[str, str], url: str = "", now: int = 1588788367) -> Signed:
    return Signed(body, headers, url, datetime.fromtimestamp(now, UTC))


def test_sendgrids_published_vector_verifies() -> None:
    scheme = SendGridSignature.from_setting(SENDGRID_VECTOR_KEY, "K")
    headers = {
        "x-twilio-email-event-webhook-signature": SENDGRID_VECTOR_SIGNATURE,
        "x-twilio-email-event-webhook-timestamp": "1588788367",
    }
    scheme.verify(_vector(SENDGRID_VECTOR_BODY, headers))
    with pytest.raises(SignatureRefused):
        scheme.verify(_vector(SENDGRID_VECTOR_BODY.replace(b"test", b"best"), headers))


TWILIO_VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
"""Twilio's documented example (its security docs and every helper library's tests)."""
TWILIO_VECTOR_FORM = (
    b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309"
    b"&To=%2B18005551212"
)


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        (TWILIO_VECTOR_FORM, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        # A name given thrice: twilio-python's test of repeated fields.
        (
            b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234",
            "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
        ),
    ],
)
def test_twilios_published_vectors_verify(body: bytes, signature: str) -> None:
    scheme = TwilioSignature("12345")
    headers = {"content-type": FORM, "x-twilio-signature": signature}
    scheme.verify(_vector(body, headers, TWILIO_VECTOR_URL))
    with pytest.raises(SignatureRefused):
        scheme.verify(_vector(body, headers, TWILIO_VECTOR_URL + "&baz=3"))


def test_a_verification_key_that_is_not_sendgrids_kind_is_a_settings_error() -> None:
    """Not base64 DER, an RSA key, a P-384 key: each named by its setting; PEM is read."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad in (
        "not a key",
        base64.b64encode(
            rsa_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode(),
        _verification_key(ec.generate_private_key(ec.SECP384R1())),
    ):
        with pytest.raises(ValueError, match="TOUCHLINE_ESP_WEBHOOK_PUBLIC_KEY"):
            SendGridSignature.from_setting(bad, "TOUCHLINE_ESP_WEBHOOK_PUBLIC_KEY")
    pem = SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert SendGridSignature.from_setting(pem.decode(), "K").key == SENDGRID_KEY.public_key()


def test_a_twilio_callback_names_its_call_task_in_the_url_it_was_given(api: Server) -> None:
    """Twilio posts only its own fields: the call task's id comes in the status
    callback URL (signed with it), and the call lands on that action's
    customer and campaign by the ledger."""
    action_id = requested(api.backbone, "phone")
    body = (PAYLOADS / "twilio_call_status.form").read_text()
    called = f"{CALLS}?TaskId={action_id}"
    headers = twilio_signed(body, PUBLIC_URL + called)
    answer = _answer(api.client.post(called, content=body, headers=headers))
    assert _statuses(answer) == ["accepted"]
    [call] = [
        e
        for e in written(api.backbone, api.backbone.settings.topics.touchpoints)
        if e.type == "call.outbound_made"
    ]
    assert call.campaign_id == CAMPAIGN
    assert call.customer_id == row(api.backbone, action_id).customer_id
