"""The read routes over real HTTP: lookups, merges, timeline paging, campaigns, 404s."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.conftest import Server, problem
from tests.conftest import DAY
from tests.helpers import event
from touchline.events import Identities
from touchline.events.call import InboundCallEnded
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.events.email import EmailOpened, EmailSent
from touchline.events.web import PageViewed

EVERY_KIND = Identities(
    email="Ann@Example.com",
    phone="(415) 555-0134",
    crm_id="CRM-1",
    web_id="w-1",
    fax="+1 415 555 0199",
    partner_account="acme",
    partner_customer_ref="PC-1",
)


def _published(api: Server, *events: object) -> None:
    response = api.publish(list(events))  # type: ignore[arg-type]
    assert response.json()["rejected"] == 0, response.text
    api.backbone.runtime.catch_up()


def test_a_customer_is_found_by_each_kind_of_identifier(api: Server) -> None:
    """Each identifier, typed as a person would, leads to the one customer."""
    _published(api, event(EmailSent(message_id="m", subject="Hi"), DAY, identities=EVERY_KIND))
    asks = [
        {"email": "ann@example.com"},
        {"phone": "+1 415 555 0134"},
        {"crm_id": "CRM-1"},
        {"web_id": "w-1"},
        {"fax": "(415) 555-0199"},
        {"partner_account": "acme", "partner_customer_ref": "PC-1"},
    ]
    found = [api.client.get("/v1/customers", params=ask) for ask in asks]
    assert all(response.status_code == 200 for response in found), [r.text for r in found]
    assert len({response.json()["customer_id"] for response in found}) == 1
    assert found[1].json()["matched"] == "phone:+14155550134"
    profile = api.client.get(found[0].json()["profile"]).json()
    assert "email:ann@example.com" in profile["identifiers"]

    problem(api.client.get("/v1/customers", params={"email": "bob@example.com"}), 404)
    problem(api.client.get("/v1/customers"), 400)
    problem(api.client.get("/v1/customers", params={"email": "a@b.c", "crm_id": "x"}), 400)
    problem(api.client.get("/v1/customers", params={"partner_account": "acme"}), 400)


def test_a_merged_customer_leads_to_the_survivor(api: Server) -> None:
    """A merged id answers 308 to the survivor's resource; its identifiers
    find the survivor."""
    by_email, by_phone = Identities(email="ann@example.com"), Identities(phone="+14155550134")
    _published(api, event(EmailOpened(message_id="m", subject="s"), DAY, identities=by_email))
    later = DAY + timedelta(hours=1)
    _published(api, event(PageViewed(url="https://x.example/"), later, identities=by_phone))
    older = api.client.get("/v1/customers", params={"email": "ann@example.com"}).json()
    newer = api.client.get("/v1/customers", params={"phone": "+14155550134"}).json()
    assert older["customer_id"] != newer["customer_id"]

    both = Identities(email="ann@example.com", phone="+14155550134")
    _published(api, event(EmailOpened(message_id="n", subject="s"), later, identities=both))
    survivor, merged = older["customer_id"], newer["customer_id"]
    moved = api.client.get(f"/v1/customers/{merged}/timeline", params={"limit": 2})
    assert moved.status_code == 308
    assert moved.headers["location"] == f"/v1/customers/{survivor}/timeline?limit=2"
    followed = api.client.get(f"/v1/customers/{merged}", follow_redirects=True)
    assert followed.status_code == 200
    assert followed.json()["customer_id"] == survivor
    found = api.client.get("/v1/customers", params={"phone": "+14155550134"}).json()
    assert found["customer_id"] == survivor


def test_timeline_pages_by_cursor_with_no_gap_or_repeat(api: Server) -> None:
    """Paging by next_cursor walks every entry once, newest first; filters apply."""
    calls = [
        event(
            InboundCallEnded(call_id=f"c{i}", duration_seconds=60),
            DAY + timedelta(minutes=i // 2),  # pairs share a time: the id breaks ties
        )
        for i in range(23)
    ]
    _published(api, *calls, event(EmailSent(message_id="m", subject="s"), DAY))
    customer = api.client.get("/v1/customers", params={"email": "ann@example.com"}).json()
    path = f"{customer['profile']}/timeline"
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"channel": "call", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = api.client.get(path, params=params).json()
        seen += [entry["event_id"] for entry in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == {str(call.id) for call in calls}
    problem(api.client.get(path, params={"cursor": "not-a-cursor"}), 400)
    problem(api.client.get(path, params={"limit": 0}), 400)


def test_a_campaign_funnel_and_one_customers_state(api: Server) -> None:
    """The funnel counts the targeted customer; her state carries its history."""
    launch = CampaignLaunched(
        name="Spring", offers=(OfferTerms(code="SPRING10"),), sequence=(Step(channel="email"),)
    )
    _published(api, event(launch, DAY, identities=Identities(), campaign_id="spring"))
    targeted = DAY + timedelta(minutes=1)
    _published(api, event(CustomerTargeted(segment="all"), targeted, campaign_id="spring"))
    funnel = api.client.get("/v1/campaigns/spring").json()
    assert funnel["customers"] == 1
    customer = api.client.get("/v1/customers", params={"email": "ann@example.com"}).json()
    state = api.client.get(f"/v1/campaigns/spring/customers/{customer['customer_id']}").json()
    assert state["history"][0]["state"] == "targeted"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customers/cus_nobody",
        "/v1/customers/cus_nobody/timeline",
        "/v1/campaigns/none",
        "/v1/campaigns/none/customers/cus_nobody",
        "/v2/anything",
    ],
)
def test_what_is_not_there_is_a_404_problem(api: Server, path: str) -> None:
    """An unknown customer, campaign or route: 404 as problem+json."""
    problem(api.client.get(path), 404)
