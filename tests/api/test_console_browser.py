"""The agent console in a real browser: Debian's Chromium, headless, driven by Playwright.

The API is the test's real server (tests/api/conftest.py) and the
processors are the test's to drive, so what the page shows is decided, not
raced: every wait is Playwright's ``expect``, which retries until the page
shows it (or its deadline passes). The browser is the system's
(tests/api/console_page.py). The SQLite store is enough here: the reads
under the page run on both stores in test_console_api.py and test_live.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.conftest import Server
from tests.api.console_page import chromium, found, fresh_tab, needs_chromium, signed_in
from tests.api.console_story import CAMPAIGN, OFFER, PHONE, anns_day, published, spring_for_ann
from tests.conftest import DAY
from tests.helpers import event
from touchline.events import Identities
from touchline.events.email import EmailOpened
from touchline.events.web import PageViewed, ProductViewed

pytestmark = [
    needs_chromium,
    pytest.mark.parametrize("store_url", ["sqlite"], indirect=True),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with fresh_tab(browser) as opened:
        yield opened


def test_an_agent_finds_a_caller_sees_the_story_live_and_takes_an_offer(
    api: Server, page: Page, tmp_path: Path
) -> None:
    """Open the console, find the caller by phone, read profile and timeline,
    see a published event arrive without a reload (and without losing what the
    agent was typing), filter by channel, accept the offer and see the
    campaign move, record the call; then a screenshot."""
    customer = anns_day(api)
    spring_for_ann(api)
    signed_in(api, page)
    found(page, PHONE)

    story = page.locator("#story")
    expect(story.locator("h2")).to_have_text(customer)
    expect(story.locator(".tier")).to_have_text("silver")
    expect(story.locator(".ltv")).to_have_text("750.00 USD")
    expect(story.locator("tr[data-channel=phone][data-purpose=marketing] .yes")).to_be_visible()
    expect(story.locator("[data-case=CASE-1]")).to_contain_text("Parcel arrived damaged")
    expect(story.locator(".complaints")).to_contain_text("Parcel arrived damaged")
    expect(story.locator(".partner")).to_have_text("Acme Resellers")
    expect(story.locator(".rep")).to_have_text("Sam Rep (rep-9)")
    expect(story.locator(".points")).to_contain_text("Complaint CASE-1 is open")
    campaign = story.locator(f".campaigns [data-campaign={CAMPAIGN}]")
    expect(campaign).to_have_attribute("data-state", "targeted")
    offer = story.locator(f".offer[data-offer={OFFER}]")
    expect(offer.get_by_role("button", name="Accept")).to_be_visible()
    expect(offer.get_by_role("button", name="Decline")).to_be_visible()

    timeline = page.locator("#timeline .entry")
    expect(timeline).to_have_count(9)
    expect(timeline.first).to_contain_text("Targeted by the campaign (segment 'all')")
    expect(timeline.filter(has_text="Inbound call, 4m12s, agent Lee")).to_have_count(1)

    # Live: the stream is open; an event published through the API appears
    # where it sorts, on the same page (the marker survives: no reload).
    expect(page.locator("#live")).to_have_attribute("data-live", "on")
    page.evaluate("window.notReloaded = true")
    page.get_by_label("What it was about").fill("took the spring")  # mid-sentence
    viewed = ProductViewed(sku="TRAIL-1", name="Trail shoe X", price=129.0, currency="USD")
    arrived = event(viewed, DAY + timedelta(days=1))
    published(api, arrived)
    expect(timeline.first).to_contain_text("Viewed product 'Trail shoe X'")
    expect(timeline.first).to_have_attribute("data-event-id", str(arrived.id))
    assert page.evaluate("window.notReloaded") is True
    expect(page.get_by_label("What it was about")).to_have_value("took the spring")

    # Channel filters: only calls, then everything again.
    filters = page.locator("#filters")
    filters.get_by_role("button", name="call", exact=True).click()
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_have_attribute("data-channel", "call")
    filters.get_by_role("button", name="all", exact=True).click()
    expect(timeline).to_have_count(10)

    # The offer: accepted on the call; the campaign moves to responded.
    offer.get_by_role("button", name="Accept").click()
    expect(offer).to_contain_text("Accepted, recorded")
    api.backbone.runtime.catch_up()
    expect(campaign).to_have_attribute("data-state", "responded")
    expect(story.locator(".offer")).to_have_count(0)
    expect(timeline.first).to_contain_text(f"Offer {OFFER} accepted via phone (recorded by ag-7)")

    # The call's outcome.
    page.get_by_label("Minutes").fill("3")
    page.get_by_label("What it was about").fill("took the spring offer")
    page.get_by_role("button", name="Record the call").click()
    expect(page.locator("#status")).to_have_text("Call recorded.")
    api.backbone.runtime.catch_up()
    expect(timeline.first).to_contain_text("Inbound call, 3m00s, agent ag-7: took the spring offer")

    shot = tmp_path / "console.png"
    page.screenshot(path=shot)
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_what_a_channel_sent_is_shown_as_text_never_run(api: Server, page: Page) -> None:
    """Markup in an event (a page title here) is shown as the characters it
    is: no element is made of it and no script of it runs."""
    customer = anns_day(api)
    trap = '<img src=x onerror="window.pwned = 1">Winter <b>sale</b>'
    published(api, event(PageViewed(url="https://x.example/", title=trap), DAY + timedelta(1)))
    signed_in(api, page)
    found(page, customer)
    first = page.locator("#timeline .entry").first
    expect(first.locator(".summary")).to_have_text(f"Viewed page '{trap}' (https://x.example/)")
    assert first.locator("img, b").count() == 0
    assert page.evaluate("window.pwned") is None


def test_a_merge_during_the_call_opens_the_customer_it_merged_into(api: Server, page: Page) -> None:
    """The caller on screen turns out to be a customer already known: the
    page moves to the survivor by itself, with both stories in one."""
    published(api, event(EmailOpened(message_id="m", subject="Winter sale"), DAY))
    phone = Identities(phone="+14155550199")
    published(api, event(PageViewed(url="https://shop.example/"), DAY, identities=phone))
    merged = api.client.get("/v1/customers", params={"phone": "+14155550199"}).json()
    survivor = api.client.get("/v1/customers", params={"email": "ann@example.com"}).json()
    signed_in(api, page)
    found(page, "(415) 555-0199")
    expect(page.locator("#story h2")).to_have_text(merged["customer_id"])
    expect(page.locator("#live")).to_have_attribute("data-live", "on")

    both = Identities(email="ann@example.com", phone="+14155550199")
    published(api, event(EmailOpened(message_id="n", subject="Hello"), DAY, identities=both))
    expect(page.locator("#story h2")).to_have_text(survivor["customer_id"])
    expect(page.locator("#status")).to_contain_text(
        f"{merged['customer_id']} was merged into {survivor['customer_id']}"
    )
    channels = page.locator("#timeline .entry .channel")
    expect(channels).to_have_count(4)
    assert sorted(channels.all_text_contents()) == ["email", "email", "identity", "web"]


def test_scrolling_down_fetches_the_next_page_by_cursor(api: Server, page: Page) -> None:
    """Past the first page, the end of the timeline coming into view fetches
    the next one; every entry is shown once."""
    customer = anns_day(api)
    views = [
        event(PageViewed(url=f"https://shop.example/p{i}"), DAY + timedelta(hours=1, seconds=i))
        for i in range(40)
    ]
    published(api, *views)
    signed_in(api, page)
    with page.expect_request(lambda request: "cursor=" in request.url) as paged:
        found(page, customer)
        timeline = page.locator("#timeline .entry")
        expect(timeline).to_have_count(30)
        page.locator("#timeline-end").scroll_into_view_if_needed()
    assert f"/v1/customers/{customer}/timeline" in paged.value.url
    expect(timeline).to_have_count(48)
    expect(page.get_by_role("button", name="Load older entries")).to_be_hidden()
    ids = timeline.evaluate_all("items => items.map(i => i.dataset.eventId)")
    assert len(set(ids)) == 48


def test_a_refused_key_asks_the_agent_again(api: Server, page: Page) -> None:
    """A key the API refuses sends the agent back to sign in, saying why."""
    anns_day(api)
    page.goto(f"{api.client.base_url}/console")
    page.get_by_label("API key").fill("tl_not_a_key")
    page.get_by_label("Your agent id").fill("ag-7")
    page.get_by_role("button", name="Sign in").click()
    found(page, PHONE)
    expect(page.locator("#status")).to_have_text("The API refused that key: sign in again.")
    expect(page.get_by_label("API key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('touchline.key')") is None
