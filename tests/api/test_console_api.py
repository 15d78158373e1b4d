"""The agent console over real HTTP: its page, and the overview it opens with."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.api.conftest import Server, problem
from tests.api.console_story import CAMPAIGN, OFFER, PHONE, anns_day, published, spring_for_ann
from tests.api.test_access import bearer, client_of
from tests.conftest import DAY
from tests.helpers import event
from touchline.events import Identities
from touchline.events.email import EmailOpened
from touchline.events.web import PageViewed

OVERVIEW = "/v1/customer-overview"


def _overview(api: Server, q: str, **params: Any) -> dict[str, Any]:
    answer = api.client.get(OVERVIEW, params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_one_read_holds_the_profile_campaigns_offers_and_first_page(api: Server) -> None:
    """Found by the phone as a caller says it: the profile (tier, value,
    consent, cases, complaints, owners, talking points), the campaign state,
    the offer that can be made now, and the timeline newest first."""
    customer = anns_day(api)
    spring_for_ann(api)

    found = _overview(api, PHONE)

    assert found["customer_id"] == customer
    assert found["matched"] == "phone:+14155550134"
    assert found["live"] == f"/v1/customers/{customer}/live"
    profile = found["profile"]
    assert profile["value_tier"] == "silver"
    assert profile["orders"]["lifetime_value"] == {"USD": 750.0}
    assert [(c["channel"], c["purpose"], c["granted"]) for c in profile["consent"]] == [
        ("phone", "marketing", True)
    ]
    assert [case["case_id"] for case in profile["open_cases"]] == ["CASE-1"]
    assert [c["reference"] for c in profile["recent_complaints"]] == ["CASE-1"]
    assert profile["owning_partner"]["name"] == "Acme Resellers"
    assert profile["owning_rep"]["rep_id"] == "rep-9"
    assert any("Parcel arrived damaged" in point for point in profile["talking_points"])
    assert [(c["campaign_id"], c["state"]) for c in found["campaigns"]] == [(CAMPAIGN, "targeted")]
    assert found["offers"]["channel"] == "phone"
    assert [(o["campaign_id"], o["offer_code"]) for o in found["offers"]["offers"]] == [
        (CAMPAIGN, OFFER)
    ]
    entries = found["timeline"]["entries"]
    assert [e["channel"] for e in entries] == [
        "campaign", "sales", "partner", "call", "service", "consent", "web", "email", "email",
    ]  # fmt: skip
    assert found["timeline"]["next_cursor"] is None


def test_any_identifier_or_the_customer_id_finds_the_same_customer(api: Server) -> None:
    """An email in any case, kind:value, a partner's reference, the customer id."""
    customer = anns_day(api)
    for asked, matched in [
        ("Ann@Example.com", "email:ann@example.com"),
        ("(415) 555-0134", "phone:+14155550134"),
        ("phone:415.555.0134", "phone:+14155550134"),
        ("partner:acme/PC-7", "partner:acme/PC-7"),
        (f"  {customer} ", customer),
    ]:
        found = _overview(api, asked)
        assert (found["customer_id"], found["matched"]) == (customer, matched), asked


def test_the_first_page_is_cut_and_the_next_comes_by_cursor(api: Server) -> None:
    """limit cuts the first page; getTimeline with its cursor goes on where it
    stopped, and the two pages are the whole timeline once."""
    customer = anns_day(api)
    first = _overview(api, PHONE, limit=3)["timeline"]
    assert len(first["entries"]) == 3
    assert first["next_cursor"] is not None
    rest = api.client.get(
        f"/v1/customers/{customer}/timeline", params={"cursor": first["next_cursor"]}
    ).json()
    everything = api.client.get(f"/v1/customers/{customer}/timeline").json()["entries"]
    assert first["entries"] + rest["entries"] == everything


def test_a_merged_customer_id_opens_its_survivor(api: Server) -> None:
    """The id an agent held before a merge opens the customer it merged into."""
    published(api, event(EmailOpened(message_id="m", subject="s"), DAY))
    published(api, event(PageViewed(url="https://x.example/"), DAY, identities=_phone()))
    merged = api.client.get("/v1/customers", params={"phone": "+14155550199"}).json()
    survivor = api.client.get("/v1/customers", params={"email": "ann@example.com"}).json()
    both = Identities(email="ann@example.com", phone="+14155550199")
    published(api, event(EmailOpened(message_id="n", subject="s"), DAY, identities=both))

    found = _overview(api, merged["customer_id"])
    assert found["customer_id"] == survivor["customer_id"]
    assert found["matched"] == merged["customer_id"]
    assert {e["channel"] for e in found["timeline"]["entries"]} == {"email", "web", "identity"}


def _phone() -> Identities:
    return Identities(phone="+14155550199")


def test_no_one_and_nonsense_are_problems(api: Server) -> None:
    """Nobody behind the identifier: 404; an identifier of no kind, no q,
    a bad limit or channel: 400."""
    anns_day(api)
    assert "no customer has phone:+14155550000" in str(
        problem(api.client.get(OVERVIEW, params={"q": "+1 415 555 0000"}), 404)["detail"]
    )
    problem(api.client.get(OVERVIEW, params={"q": "cus_nobody"}), 404)
    problem(api.client.get(OVERVIEW, params={"q": "who knows"}), 400)
    problem(api.client.get(OVERVIEW), 400)
    problem(api.client.get(OVERVIEW, params={"q": PHONE, "limit": 0}), 400)
    problem(api.client.get(OVERVIEW, params={"q": PHONE, "channel": "pigeon"}), 400)


def test_the_overview_takes_an_agent_key_and_refuses_a_publisher(api: Server) -> None:
    """Scope agent: an agent's key reads it, a publisher's is 403, none is 401."""
    anns_day(api)
    agent = api.keys.create("desk", ["agent"])
    publisher = api.keys.create("shop", ["publish"])
    with client_of(api, bearer(agent.token)) as client:
        assert client.get(OVERVIEW, params={"q": PHONE}).status_code == 200
    with client_of(api, bearer(publisher.token)) as client:
        problem(client.get(OVERVIEW, params={"q": PHONE}), 403)
    with client_of(api, None) as client:
        problem(client.get(OVERVIEW, params={"q": PHONE}), 401)


def test_the_page_loads_without_a_key_and_runs_only_its_own_script(api: Server) -> None:
    """/console holds no data: it loads with no key; its policy allows only the
    origin's script and style (no inline script); the files are revalidated
    by ETag (304); a name that is not one of its files is a 404."""
    with client_of(api, None) as browser:
        page = browser.get("/console")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assets = re.findall(r'(?:src|href)="(/console/[^"]+)"', page.text)
        assert sorted(assets) == ["/console/console.css", "/console/console.js"]
        kinds = {asset: browser.get(asset).headers["content-type"] for asset in assets}
        assert kinds == {
            "/console/console.css": "text/css; charset=utf-8",
            "/console/console.js": "text/javascript; charset=utf-8",
        }
        again = browser.get("/console", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        problem(browser.get("/console/secrets.txt"), 404)
        problem(browser.get("/console/..%2Fapp.py"), 404)


def test_the_page_is_left_out_of_the_api_document(api: Server) -> None:
    """The page is no API operation; the overview and the live stream are."""
    paths = api.client.get("/schema/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/console")]
    assert paths[OVERVIEW]["get"]["security"] == [{"bearer": ["agent"]}, {"basic": ["agent"]}]
    assert "/v1/customers/{customer_id}/live" in paths


def test_a_key_in_the_page_is_never_needed_for_its_files(api: Server) -> None:
    """A wrong key does not stop the page loading (the agent is asked again)."""
    with httpx.Client(
        base_url=api.client.base_url, headers={"Authorization": "Bearer nope"}
    ) as client:
        assert client.get("/console").status_code == 200
        assert client.get("/console/console.js").status_code == 200
