"""A customer's live stream over real HTTP: what it opens with, what it sends
as the customer's story moves, and when it ends.

Every wait is a read of the stream: a look, then a heartbeat, comes every
``HEARTBEAT`` seconds, so a test that expects nothing more reads a few beats.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest

from tests.api.conftest import LIMITS, Server, problem, serving
from tests.api.console_story import CAMPAIGN, OFFER, anns_day, published, spring_for_ann
from tests.conftest import DAY
from tests.helpers import event
from touchline.bootstrap import build_backbone
from touchline.client.sse import Message, messages
from touchline.config import Settings
from touchline.events import Identities
from touchline.events.call import OutboundCallMade
from touchline.events.email import EmailOpened
from touchline.events.web import PageViewed

HEARTBEAT = 0.05
WAIT_SECONDS = 30
"""How long a test reads a stream for what it expects before it fails."""


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, **LIMITS, api_sse_heartbeat_seconds=HEARTBEAT)


@contextmanager
def _live(api: Server, customer_id: str) -> Iterator[Iterator[Message]]:
    """The stream's messages, on a connection of its own: leaving drops it."""
    with httpx.Client(
        base_url=api.client.base_url, timeout=30, headers=api.client.headers
    ) as client:
        response = client.send(
            client.build_request("GET", f"/v1/customers/{customer_id}/live"), stream=True
        )
        try:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            yield messages(response.iter_lines())
        finally:
            response.close()


def _next(stream: Iterator[Message], kind: str) -> Any:
    """The data of the next ``kind`` message, past heartbeats and other kinds."""
    for message in stream:
        if message.event == kind:
            assert message.data is not None
            return msgspec.json.decode(message.data)
    raise AssertionError(f"the stream ended before an {kind!r} message")


def _until_quiet(stream: Iterator[Message], beats: int = 3) -> list[Message]:
    """Every message up to the ``beats``-th heartbeat (each follows a look)."""
    seen: list[Message] = []
    for message in stream:
        if message.comments == ("heartbeat",):
            beats -= 1
            if beats == 0:
                return seen
        else:
            seen.append(message)
    raise AssertionError("the stream ended")


def _until_told(stream: Iterator[Message], event_ids: list[str]) -> list[Message]:
    """Every message up to a story that follows all of ``event_ids``, then
    up to quiet: heartbeats sent while the processors were still applying the
    events may wait unread in the connection, so quiet alone proves nothing."""
    seen: list[Message] = []
    deadline = time.monotonic() + WAIT_SECONDS
    for message in stream:
        seen.append(message)
        told = set(_entry_ids(seen))
        if message.event == "story" and told >= set(event_ids):
            return [m for m in seen if m.comments != ("heartbeat",)] + _until_quiet(stream)
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no story after {event_ids}; the stream sent {seen[-5:]}")


def _entry_ids(found: list[Message]) -> list[str]:
    return [
        entry["event_id"]
        for message in found
        if message.event == "entries" and message.data is not None
        for entry in msgspec.json.decode(message.data)["entries"]
    ]


def test_the_stream_opens_with_the_newest_entries_and_the_story(api: Server) -> None:
    """A stream opened after the first page was read misses nothing: it starts
    with the newest entries and the story, then says nothing until something lands."""
    customer = anns_day(api)
    spring_for_ann(api)
    everything = api.client.get(f"/v1/customers/{customer}/timeline").json()["entries"]
    with _live(api, customer) as stream:
        opening = next(stream)
        assert opening.comments == (f"live: {customer}",)
        entries = _next(stream, "entries")
        assert entries == {"customer_id": customer, "entries": everything}
        story = _next(stream, "story")
        assert story["customer_id"] == customer
        assert story["profile"]["owning_partner"]["name"] == "Acme Resellers"
        assert [(c["campaign_id"], c["state"]) for c in story["campaigns"]] == [
            (CAMPAIGN, "targeted")
        ]
        assert [o["offer_code"] for o in story["offers"]["offers"]] == [OFFER]
        assert _until_quiet(stream) == []


def test_an_event_that_lands_is_sent_once_even_when_it_sorts_below_others(api: Server) -> None:
    """A new event and a late one (it happened before events already shown)
    each come once, followed by the story they changed."""
    customer = anns_day(api)
    with _live(api, customer) as stream:
        _next(stream, "story")
        new = event(OutboundCallMade(call_id="c9", duration_seconds=60), DAY + timedelta(days=1))
        late = event(PageViewed(url="https://shop.example/late"), DAY + timedelta(minutes=5))
        published(api, new, late)
        found = _until_told(stream, [str(new.id), str(late.id)])
        assert sorted(_entry_ids(found)) == sorted([str(new.id), str(late.id)])
        assert found[-1].event == "story"


def test_an_accepted_offer_moves_the_story_it_sends(api: Server) -> None:
    """An agent's acceptance lands on the timeline, and the story that follows
    shows the campaign responded and the offer no longer to be made."""
    customer = anns_day(api)
    spring_for_ann(api)
    with _live(api, customer) as stream:
        _next(stream, "story")
        answer = {"agent": "ag-7", "campaign_id": CAMPAIGN, "response": "accepted"}
        accepted = api.client.post(f"/v1/customers/{customer}/offer-responses", json=answer)
        assert accepted.status_code == 202, accepted.text
        api.backbone.runtime.catch_up()
        found = _until_told(stream, [accepted.json()["event_id"]])
        assert _entry_ids(found) == [accepted.json()["event_id"]]
        assert found[-1].event == "story"
        assert found[-1].data is not None
        story = msgspec.json.decode(found[-1].data)
        assert [(c["campaign_id"], c["state"]) for c in story["campaigns"]] == [
            (CAMPAIGN, "responded")
        ]
        assert story["offers"]["offers"] == []


def test_a_merge_is_told_once_and_ends_the_stream(api: Server) -> None:
    """The customer on screen is merged into an older one: the stream names
    the survivor and ends; the merged id is then redirected there."""
    published(api, event(EmailOpened(message_id="m", subject="s"), DAY))
    phone = Identities(phone="+14155550199")
    published(api, event(PageViewed(url="https://x.example/"), DAY, identities=phone))
    merged = api.client.get("/v1/customers", params={"phone": "+14155550199"}).json()
    survivor = api.client.get("/v1/customers", params={"email": "ann@example.com"}).json()
    with _live(api, merged["customer_id"]) as stream:
        _next(stream, "story")
        both = Identities(email="ann@example.com", phone="+14155550199")
        published(api, event(EmailOpened(message_id="n", subject="s"), DAY, identities=both))
        told = _next(stream, "merged")
        assert told == {
            "merged_id": merged["customer_id"],
            "customer_id": survivor["customer_id"],
        }
        assert [m for m in stream if m.data is not None] == []  # it ended
    moved = api.client.get(f"/v1/customers/{merged['customer_id']}/live")
    assert moved.status_code == 308
    assert moved.headers["location"] == f"/v1/customers/{survivor['customer_id']}/live"


def test_no_one_has_no_stream(api: Server) -> None:
    """An id that is no customer's is a 404 problem, not an empty stream."""
    anns_day(api)
    problem(api.client.get("/v1/customers/cus_nobody/live"), 404)
    problem(api.client.get("/v1/customers/nobody/live"), 404)


def test_a_dropped_client_ends_its_stream_on_the_server(api: Server) -> None:
    """The server stops looking for a client that went away."""
    customer = anns_day(api)
    with _live(api, customer) as stream:
        next(stream)
        assert api.app.live.open == 1
    deadline = time.monotonic() + 10
    while api.app.live.open and time.monotonic() < deadline:
        time.sleep(0.01)
    assert api.app.live.open == 0


def test_a_server_stopping_ends_its_live_streams(api_settings: Settings) -> None:
    """A stop ends the open streams (serving() fails when its server does
    not stop), and the client sees its stream end."""
    with build_backbone(api_settings) as backbone:
        served = serving(backbone)
        api = served.__enter__()
        customer = anns_day(api)
        with _live(api, customer) as stream:
            next(stream)
            assert api.app.live.open == 1
            served.__exit__(None, None, None)
            list(stream)  # runs out: the server ended the response
        assert api.app.live.open == 0
