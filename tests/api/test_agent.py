"""What an agent does over real HTTP: next best offer, and actions recorded as events."""

from __future__ import annotations

from datetime import timedelta

from uuid6 import uuid7

from tests.api.conftest import Server, problem
from tests.conftest import DAY
from tests.helpers import event
from touchline.events import Identities, Payload
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.events.email import EmailOpened, EmailSent
from touchline.events.web import PageViewed


def _published(api: Server, *payloads: Payload, **fields: object) -> None:
    events = [event(p, DAY + timedelta(minutes=i), **fields) for i, p in enumerate(payloads)]  # type: ignore[arg-type]
    response = api.publish(events)
    assert response.json()["rejected"] == 0, response.text
    api.backbone.runtime.catch_up()


def _ann(api: Server) -> str:
    _published(api, EmailSent(message_id="m", subject="Hello"))
    found = api.client.get("/v1/customers", params={"email": "ann@example.com"})
    customer_id: str = found.json()["customer_id"]
    return customer_id


def _summaries(api: Server, customer_id: str) -> list[str]:
    api.backbone.runtime.catch_up()
    page = api.client.get(f"/v1/customers/{customer_id}/timeline", params={"limit": 100})
    assert page.status_code == 200, page.text
    return [entry["summary"] for entry in page.json()["entries"]]


def _spring(api: Server) -> None:
    launch = CampaignLaunched(
        name="Spring",
        offers=(OfferTerms(code="SPRING10", priority=5),),
        sequence=(Step(channel="email", after_days=30),),
        channels=("web", "phone"),
    )
    _published(api, launch, identities=Identities(), campaign_id="spring")
    _published(api, CustomerTargeted(segment="all"), campaign_id="spring")


def test_the_next_offer_is_decided_and_recorded_only_when_shown(api: Server) -> None:
    """A targeted customer's next offer comes with why; shown=true records it as
    made by the agent, a plain look records nothing."""
    customer = _ann(api)
    _spring(api)
    path = f"/v1/customers/{customer}/next-offer"
    looked = api.client.get(path, params={"channel": "phone"})
    assert looked.status_code == 200, looked.text
    assert [offer["offer_code"] for offer in looked.json()["offers"]] == ["SPRING10"]
    assert not any("made via" in line for line in _summaries(api, customer))

    shown = api.client.get(path, params={"channel": "phone", "shown": "true", "shown_by": "ag-7"})
    assert shown.json()["offers"][0]["campaign_id"] == "spring"
    assert "Offer SPRING10 made via phone by ag-7" in _summaries(api, customer)

    problem(api.client.get("/v1/customers/cus_nobody/next-offer"), 404)
    problem(api.client.get(path, params={"channel": "pigeon"}), 400)


def test_an_unknown_web_visitor_gets_an_anonymous_decision(api: Server) -> None:
    """A web id linked to no one is decided for as an anonymous visitor, not refused."""
    _ann(api)
    answer = api.client.get("/v1/next-offer", params={"web_id": "w-never-seen"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["customer_id"] is None
    assert answer.json()["channel"] == "web"


def test_a_consent_change_names_the_agent_and_a_retry_adds_nothing(api: Server) -> None:
    """The change is an event on the timeline naming the agent; the same
    event_id again is a duplicate, not a second event."""
    customer = _ann(api)
    body = {
        "agent": "ag-7",
        "contact_channel": "email",
        "purpose": "marketing",
        "granted": False,
        "reason": "asked on the phone",
        "event_id": str(uuid7()),  # its time is the action's: a retry is the same event
    }
    first = api.client.post(f"/v1/customers/{customer}/consent", json=body)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "accepted"
    again = api.client.post(f"/v1/customers/{customer}/consent", json=body)
    assert again.json() == {**first.json(), "status": "duplicate"}
    lines = _summaries(api, customer)
    revoked = [line for line in lines if line.startswith("Consent revoked")]
    assert revoked == [
        "Consent revoked for marketing by email: asked on the phone (recorded by ag-7)"
    ]
    profile = api.client.get(f"/v1/customers/{customer}").json()
    [email] = [c for c in profile["consent"] if c["channel"] == "email"]
    assert (email["purpose"], email["granted"]) == ("marketing", False)


def test_a_call_outcome_and_an_offer_answer_reach_timeline_and_campaign(api: Server) -> None:
    """An outbound call and an acceptance heard on it: both on the timeline,
    and the campaign state moves to responded."""
    customer = _ann(api)
    _spring(api)
    call = {
        "agent_id": "ag-7",
        "agent_name": "Sam",
        "call_id": "c-1",
        "direction": "outbound",
        "duration_seconds": 240,
        "outcome": "answered",
    }
    recorded = api.client.post(f"/v1/customers/{customer}/calls", json=call)
    assert recorded.status_code == 202, recorded.text
    assert recorded.json()["type"] == "call.outbound_made"
    answer = {"agent": "ag-7", "campaign_id": "spring", "response": "accepted", "via": "phone"}
    responded = api.client.post(f"/v1/customers/{customer}/offer-responses", json=answer)
    assert responded.status_code == 202, responded.text
    lines = _summaries(api, customer)
    assert any(line.startswith("Outbound call") or "c-1" in line for line in lines), lines
    assert "Offer accepted via phone (recorded by ag-7)" in lines
    state = api.client.get(f"/v1/campaigns/spring/customers/{customer}").json()
    assert state["state"] == "responded"


def test_actions_with_a_bad_body_are_problems(api: Server) -> None:
    """A missing field, an unknown field, an impossible combination: 400 problems."""
    customer = _ann(api)
    path = f"/v1/customers/{customer}/calls"
    problem(api.client.post(path, json={"agent_id": "a"}), 400)
    good = {"agent_id": "a", "call_id": "c", "direction": "inbound", "duration_seconds": 1}
    problem(api.client.post(path, json={**good, "colour": "red"}), 400)
    problem(api.client.post(path, json={**good, "outcome": "busy"}), 400)
    problem(api.client.post(path, json={**good, "duration_seconds": -1}), 400)
    assert api.client.post(path, json=good).status_code == 202


def test_an_unmerge_over_http_splits_the_customers(api: Server) -> None:
    """Unmerging a customer that is not merged is a 409; a merged one is split,
    and an action on the merged id meanwhile is redirected to the survivor."""
    email, phone = Identities(email="ann@example.com"), Identities(phone="+14155550134")
    _published(api, EmailOpened(message_id="m", subject="s"), identities=email)
    _published(api, PageViewed(url="https://x.example/"), identities=phone)
    merged = api.client.get("/v1/customers", params={"phone": "+14155550134"}).json()
    survivor = api.client.get("/v1/customers", params={"email": "ann@example.com"}).json()
    both = Identities(email="ann@example.com", phone="+14155550134")
    _published(api, EmailOpened(message_id="n", subject="s"), identities=both)
    merged_id, survivor_id = merged["customer_id"], survivor["customer_id"]

    problem(api.client.post(f"/v1/customers/{survivor_id}/unmerge", json=_why()), 409)
    problem(api.client.post("/v1/customers/cus_nobody/unmerge", json=_why()), 404)
    consent = {"agent": "a", "contact_channel": "sms", "purpose": "marketing", "granted": True}
    redirected = api.client.post(f"/v1/customers/{merged_id}/consent", json=consent)
    assert redirected.status_code == 308
    assert redirected.headers["location"] == f"/v1/customers/{survivor_id}/consent"

    split = api.client.post(f"/v1/customers/{merged_id}/unmerge", json=_why())
    assert split.status_code == 202, split.text
    assert split.json()["type"] == "customer.unmerged"
    api.backbone.runtime.catch_up()
    back = api.client.get("/v1/customers", params={"phone": "+14155550134"}).json()
    assert back["customer_id"] == merged_id


def _why() -> dict[str, str]:
    return {"requested_by": "admin-1", "reason": "two people behind one phone"}
