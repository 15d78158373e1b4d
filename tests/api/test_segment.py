"""Segment-compatible ingest over real HTTP, driven by the real SDKs from PyPI.

Segment's (``segment-analytics-python``) and RudderStack's
(``rudder-sdk-python``) clients point at the running server as they would
at their own services. They send synchronously (``sync_mode``), or a test
builds the SDK's own messages (``send=False``) and posts them as one batch
with the SDK's own ``post``; then ``catch_up()`` applies them, and the
customer is found by email as an agent would find them.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest
from rudderstack.analytics import Client as RudderClient
from rudderstack.analytics.request import APIError as RudderError
from rudderstack.analytics.request import post as rudder_post
from segment.analytics import Client as SegmentClient
from segment.analytics.request import post as segment_post

from tests.api.conftest import LIMITS, Server, problem, serving
from tests.conftest import DAY
from tests.helpers import event
from touchline.api.segment import SEGMENT_ROUTES
from touchline.bootstrap import build_backbone
from touchline.config import Settings
from touchline.dead_letters.index import LetterFilter, list_letters, sync
from touchline.dead_letters.redrive import redrive
from touchline.events import Identities
from touchline.events.email import EmailSent
from touchline.log.port import TopicPartition

BEA = Identities(email="bea@example.com")
MAPPING = {
    "track": {
        "Products Searched": {"type": "web.searched", "rename": {"results": "result_count"}},
    }
}


@pytest.fixture
def write_key(segment_api: Server) -> str:
    """The write key the SDKs send as the Basic auth user: a publish key."""
    return segment_api.keys.create("website", ["publish"]).token


@pytest.fixture
def segment_api(api_settings: Settings) -> Iterator[Server]:
    """The API with one configured track mapping, on SQLite and on PostgreSQL."""
    settings = msgspec.structs.replace(api_settings, segment_mapping=json.dumps(MAPPING))
    with build_backbone(settings) as backbone, serving(backbone) as server:
        yield server


@pytest.fixture
def host(segment_api: Server) -> str:
    return str(segment_api.client.base_url)


@pytest.fixture
def sdk_http(host: str, write_key: str) -> Iterator[httpx.Client]:
    """Plain HTTP as a hand-written Segment client sends it: the write key as
    the Basic auth user, on every call to the Segment routes."""
    with httpx.Client(base_url=host, auth=(write_key, ""), timeout=30) as client:
        yield client


@pytest.fixture
def segment_client(host: str, write_key: str) -> SegmentClient:
    """Segment's client, sending each call as it is made (gzip, as it can)."""
    return SegmentClient(write_key, host=host, sync_mode=True, gzip=True, max_retries=0)


def _at(minutes: int) -> Any:
    return DAY + timedelta(minutes=minutes)


def _timeline(api: Server, **identifier: str) -> list[dict[str, Any]]:
    """The timeline, newest first, of the customer ``identifier`` leads to."""
    found = api.client.get("/v1/customers", params=identifier)
    assert found.status_code == 200, found.text
    timeline = api.client.get(found.json()["timeline"])
    entries: list[dict[str, Any]] = timeline.json()["entries"]
    return entries


def _letters(api: Server, **where: Any) -> list[Any]:
    """The dead letters the Segment routes kept, newest first."""
    backbone = api.backbone
    sync(backbone.engine, backbone.log, backbone.codec, backbone.settings.topics.dead_letter)
    with backbone.engine.connect() as connection:
        return list_letters(connection, LetterFilter(processor="segment-ingest", **where))


def _kept_calls(api: Server) -> list[Any]:
    """The calls the dead-letter topic holds, as JSON."""
    log, topic = api.backbone.log, api.backbone.settings.topics.dead_letter
    return [
        json.loads(record.value)["call"]
        for partition, end in log.end_offsets(topic).items()
        for record in log.read(TopicPartition(topic, partition), 0, max(end, 1))
    ]


def test_segment_sdk_calls_land_on_the_customers_timeline(
    segment_api: Server, segment_client: SegmentClient
) -> None:
    """Page views made anonymously, then identify, then a track: all on the
    one customer found by the email the identify carried."""
    segment_client.page(
        anonymous_id="anon-1",
        name="Pricing",
        properties={"url": "https://shop.example/pricing"},
        timestamp=_at(1),
    )
    segment_client.page(
        anonymous_id="anon-1",
        properties={"url": "https://shop.example/plans", "title": "Plans"},
        timestamp=_at(2),
    )
    segment_api.backbone.runtime.catch_up()
    anonymous = segment_api.client.get("/v1/customers", params={"web_id": "anon-1"})
    assert anonymous.status_code == 200, "the visitor is a customer before they log in"
    segment_client.identify(
        user_id="u-1",
        anonymous_id="anon-1",
        traits={"email": "Ann@Example.com", "plan": "pro"},
        timestamp=_at(3),
    )
    segment_client.track(
        user_id="u-1",
        event="campaign.offer_responded",
        properties={"response": "accepted", "via": "web", "campaign_id": "spring"},
        timestamp=_at(4),
    )
    segment_api.backbone.runtime.catch_up()

    entries = _timeline(segment_api, email="ann@example.com")
    assert [(e["type"], e["source"]) for e in entries] == [
        ("campaign.offer_responded", "segment"),
        ("customer.identified", "segment"),
        ("web.page_viewed", "segment"),
        ("web.page_viewed", "segment"),
    ]
    assert entries[0]["campaign_id"] == "spring"
    assert "Plans" in entries[2]["summary"]
    assert "Pricing" in entries[3]["summary"]
    assert _timeline(segment_api, web_id="anon-1") == entries
    assert _timeline(segment_api, crm_id="u-1") == entries


def test_rudderstack_sdk_calls_land_on_the_customers_timeline(
    segment_api: Server, host: str, write_key: str
) -> None:
    """RudderStack's client (gzip by default, traits in context.traits, a
    mapped track). The visitor browsed anonymously, and was applied as a
    customer of their own, while the CRM already knew them by email: the
    identify merges the two, and the page view is on the one customer."""
    crm = event(EmailSent(message_id="m-1", subject="Welcome"), _at(0), identities=BEA)
    assert segment_api.publish([crm]).json()["accepted"] == 1
    rudder = RudderClient(write_key, host=host, sync_mode=True, max_retries=0)
    assert rudder.gzip
    rudder.page(
        anonymous_id="anon-2",
        name="Boots",
        properties={"url": "https://shop.example/boots"},
        timestamp=_at(1),
    )
    segment_api.backbone.runtime.catch_up()
    anonymous = segment_api.client.get("/v1/customers", params={"web_id": "anon-2"}).json()
    known = segment_api.client.get("/v1/customers", params={"email": BEA.email}).json()
    assert anonymous["customer_id"] != known["customer_id"]

    rudder.identify(
        user_id="u-2",
        anonymous_id="anon-2",
        traits={"email": "Bea@Example.com", "phone": "(415) 555-0188"},
        timestamp=_at(2),
    )
    rudder.track(
        user_id="u-2",
        event="Products Searched",
        properties={"query": "boots", "results": 4},
        timestamp=_at(3),
    )
    segment_api.backbone.runtime.catch_up()

    entries = _timeline(segment_api, email="bea@example.com")
    # The merge happened at the identify's time: the two share it, in either order.
    types = [e["type"] for e in entries]
    assert (types[0], sorted(types[1:3]), types[3:]) == (
        "web.searched",
        ["customer.identified", "customer.merged"],
        ["web.page_viewed", "email.sent"],
    )
    merged = next(e for e in entries if e["type"] == "customer.merged")
    assert f"into {known['customer_id']}" in merged["summary"], "the older customer survives"
    assert entries[0]["summary"] == "Searched 'boots' (4 results)"
    assert _timeline(segment_api, phone="+14155550188") == entries
    assert _timeline(segment_api, web_id="anon-2") == entries


def _messages(write_key: str) -> list[dict[str, Any]]:
    """A batch as Segment's client builds it: a page, then four calls no
    catalogue type fits (an unknown track, an alias, a screen, a track whose
    properties are not its type's)."""
    builder = SegmentClient(write_key, send=False)
    calls = [
        builder.page(anonymous_id="anon-3", properties={"url": "https://shop.example/"}),
        builder.track(anonymous_id="anon-3", event="Signed Up", properties={"plan": "pro"}),
        builder.alias(previous_id="anon-3", user_id="u-3"),
        builder.screen(user_id="u-3", name="Home"),
        builder.track(user_id="u-3", event="web.searched", properties={"query": 7}),
    ]
    return [message for _, message in calls]


def test_what_maps_to_no_event_is_kept_and_reported(
    segment_api: Server, host: str, write_key: str
) -> None:
    """Each call's result says what became of it; the kept ones are dead
    letters with the reason, found by the identifiers they named, counted in
    /metrics, and not re-drivable (they were never on a topic)."""
    messages = _messages(write_key)
    response = segment_post(write_key, host=host, gzip=True, batch=messages)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["success"], answer["accepted"], answer["kept"]) == (True, 1, 4)
    results = answer["results"]
    assert [(r["index"], r["messageId"]) for r in results] == [
        (i, m["messageId"]) for i, m in enumerate(messages)
    ]
    assert [(r["status"], r.get("code")) for r in results] == [
        ("accepted", None),
        ("kept", "unknown_track"),
        ("kept", "unsupported_call"),
        ("kept", "unsupported_call"),
        ("kept", "invalid"),
    ]
    assert results[0]["eventType"] == "web.page_viewed"
    assert "'Signed Up'" in results[1]["reason"]
    assert "`properties.query`" in results[4]["reason"]

    letters = _letters(segment_api)
    assert sorted(letter.event_id for letter in letters) == sorted(
        r["eventId"] for r in results[1:]
    )
    by_id = {letter.event_id: letter for letter in letters}
    signed_up = by_id[results[1]["eventId"]]
    assert (signed_up.event_type, signed_up.code) == ("segment.track", "unknown_track")
    assert signed_up.reason == results[1]["reason"]
    assert signed_up.origin == "POST /v1/batch:-1:-1[1]"
    assert messages[1] in _kept_calls(segment_api), "the call is kept as it was sent"
    # Found by the visitor they concern, as `touchline dead-letters list --customer` does.
    about_anon = _letters(segment_api, concerning=("web_id:anon-3",))
    assert {letter.event_type for letter in about_anon} == {"segment.track"}

    metrics = segment_api.client.get("/metrics").text
    assert 'touchline_api_segment_calls_total{call="page",status="accepted"} 1.0' in metrics
    assert 'touchline_api_segment_calls_total{call="track",status="kept"} 2.0' in metrics
    assert 'touchline_api_segment_kept_total{code="unsupported_call"} 2.0' in metrics
    assert "touchline_dead_letters_records 4.0" in metrics

    backbone = segment_api.backbone
    with pytest.raises(ValueError, match="never on a topic"):
        redrive(
            backbone.engine,
            backbone.log,
            backbone.settings.topics.dead_letter,
            [signed_up.id],
            by="test",
        )
    assert _letters(segment_api)[0].status == "dead"


def test_a_retry_of_the_same_message_ids_creates_nothing_new(
    segment_api: Server, segment_client: SegmentClient, host: str, write_key: str
) -> None:
    """The same batch again is answered duplicate call by call (kept ones
    too) and appends nothing; a hand-made retry with a fresh timestamp is
    the same event (Segment deduplicates on messageId)."""
    messages = _messages(write_key)
    first = segment_post(write_key, host=host, gzip=False, batch=messages).json()
    again = segment_post(write_key, host=host, gzip=True, batch=messages).json()
    assert [r["status"] for r in again["results"]] == ["duplicate"] * len(messages)
    assert [r["eventId"] for r in again["results"]] == [r["eventId"] for r in first["results"]]
    assert len(_letters(segment_api)) == 4

    segment_client.track(
        user_id="u-3",
        event="web.searched",
        properties={"query": "boots", "result_count": 1},
        message_id="m-1",
        timestamp=_at(1),
    )
    segment_client.track(
        user_id="u-3",
        event="web.searched",
        properties={"query": "boots", "result_count": 1},
        message_id="m-1",
        timestamp=_at(2),
    )
    segment_api.backbone.runtime.catch_up()
    entries = _timeline(segment_api, crm_id="u-3")
    assert [e["type"] for e in entries] == ["web.searched"]
    assert entries[0]["occurred_at"].startswith(_at(1).isoformat()[:19])


def test_single_call_routes_take_one_call_of_their_type(
    segment_api: Server, sdk_http: httpx.Client
) -> None:
    """/v1/identify, /v1/page and /v1/track each take one call, its type the
    route's, with the write key as the Basic auth user."""
    calls: dict[str, dict[str, Any]] = {
        "/v1/identify": {"userId": "u-4", "traits": {"email": "cy@example.com"}},
        "/v1/page": {"userId": "u-4", "properties": {"url": "https://shop.example/"}},
        "/v1/track": {
            "userId": "u-4",
            "event": "web.searched",
            "properties": {"query": "hats", "result_count": 0},
        },
        "/v1/group": {"userId": "u-4", "groupId": "g-1"},
    }
    answers = {
        path: sdk_http.post(path, json={**call, "timestamp": _at(i).isoformat()})
        for i, (path, call) in enumerate(calls.items())
    }
    assert {path: a.status_code for path, a in answers.items()} == dict.fromkeys(calls, 200)
    results = {path: a.json()["results"][0] for path, a in answers.items()}
    assert results["/v1/identify"]["eventType"] == "customer.identified"
    assert results["/v1/page"]["eventType"] == "web.page_viewed"
    assert results["/v1/track"]["eventType"] == "web.searched"
    assert (results["/v1/group"]["status"], results["/v1/group"]["code"]) == (
        "kept",
        "unsupported_call",
    )
    segment_api.backbone.runtime.catch_up()
    entries = _timeline(segment_api, email="cy@example.com")
    assert [e["type"] for e in entries] == [
        "web.searched",
        "web.page_viewed",
        "customer.identified",
    ]


def test_unreadable_bodies_and_limits_are_problems(
    segment_api: Server, sdk_http: httpx.Client
) -> None:
    """Not JSON, not gzip, another encoding: 400 or 415; a batch or a call
    over its limit, or a body over it once decompressed: 413 naming the
    setting. A call over the per-call limit inside a batch is rejected alone."""
    client = sdk_http
    gzipped = {"Content-Encoding": "gzip"}
    assert problem(client.post("/v1/batch", content=b"{not json"), 400)
    assert problem(client.post("/v1/batch", json={"calls": []}), 400)
    assert problem(client.post("/v1/track", json=[{"event": "x"}]), 400)
    assert problem(client.post("/v1/batch", content=b"\x1f\x8bnope", headers=gzipped), 400)
    half = gzip.compress(b'{"batch": []}')[:-6]
    assert problem(client.post("/v1/batch", content=half, headers=gzipped), 400)
    brotli = {"Content-Encoding": "br"}
    assert problem(client.post("/v1/batch", content=b"{}", headers=brotli), 415)

    limits = segment_api.backbone.settings
    many = {"batch": [{"type": "page"}] * (limits.api_max_batch_events + 1)}
    too_many = problem(client.post("/v1/batch", json=many), 413)
    assert too_many["limit"] == "TOUCHLINE_API_MAX_BATCH_EVENTS"
    big = {"userId": "u", "event": "x", "properties": {"text": "x" * limits.api_max_event_bytes}}
    too_big = problem(client.post("/v1/track", json=big), 413)
    assert too_big["limit"] == "TOUCHLINE_API_MAX_EVENT_BYTES"
    bomb = gzip.compress(b'{"batch": [], "pad": "' + b" " * limits.api_max_request_bytes + b'"}')
    assert len(bomb) < limits.api_max_request_bytes
    inflated = problem(client.post("/v1/batch", content=bomb, headers=gzipped), 413)
    assert inflated["limit"] == "TOUCHLINE_API_MAX_REQUEST_BYTES"
    plain = b" " * (limits.api_max_request_bytes + 1)
    too_long = problem(client.post("/v1/batch", content=plain), 413)
    assert (too_long["limit"], too_long["code"]) == (
        "TOUCHLINE_API_MAX_REQUEST_BYTES",
        "limit-exceeded",
    )

    mixed = {"batch": [{**big, "type": "track"}, {"type": "page", "anonymousId": "a"}]}
    answer = client.post("/v1/batch", json=mixed).json()
    assert [(r["status"], r.get("code")) for r in answer["results"]] == [
        ("rejected", "too_large"),
        ("kept", "invalid"),
    ]
    assert len(_letters(segment_api)) == 1, "the oversize call is not kept"


def test_the_sdks_read_a_refusal(host: str, write_key: str, sdk_http: httpx.Client) -> None:
    """A refusal carries Segment's code and message: RudderStack's client
    raises it as the API's error (without them it takes it for a network
    fault, and retries a 413 as though it could pass)."""
    too_many = [{"type": "page", "anonymousId": "a"}] * (LIMITS["api_max_batch_events"] + 1)
    with pytest.raises(RudderError) as refused:
        rudder_post(write_key, host=host, gzip=True, batch=too_many)
    assert (refused.value.status, refused.value.code) == (413, "limit-exceeded")
    assert "over the limit" in refused.value.message
    answer = sdk_http.post("/v1/batch", content=b"[", headers={"Content-Type": "x"})
    assert problem(answer, 400)["code"] == "bad-request"


def test_a_call_of_no_readable_shape_is_kept_as_sent(
    segment_api: Server, sdk_http: httpx.Client
) -> None:
    """A call that is not an object, or has fields of the wrong types, is
    kept byte for byte and reported unreadable beside the good ones."""
    body = b'{"batch": [7, {"type": "track", "userId": ["u"], "messageId": "m-9"}]}'
    answer = sdk_http.post("/v1/batch", content=body)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["status"], r["code"]) for r in results] == [("kept", "unreadable")] * 2
    assert results[1]["messageId"] == "m-9"
    assert len(_letters(segment_api)) == 2


def test_the_segment_routes_are_documented(segment_api: Server) -> None:
    """Each route is in the OpenAPI document under the segment tag, with the
    call's schema as its body and a result per call as its 200 answer."""
    document = segment_api.client.get("/schema/openapi.json").json()
    batch = document["paths"]["/v1/batch"]["post"]
    assert batch["tags"] == ["segment"]
    body = batch["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["batch"]["items"] == {"$ref": "#/components/schemas/SegmentCall"}
    assert (
        body["properties"]["batch"]["maxItems"]
        == segment_api.backbone.settings.api_max_batch_events
    )
    call = document["components"]["schemas"]["SegmentCall"]
    assert {"messageId", "anonymousId", "userId", "event", "properties"} <= set(call["properties"])
    for kind in ("track", "identify", "page", "screen", "group", "alias"):
        operation = document["paths"][f"/v1/{kind}"]["post"]
        assert (operation["tags"], operation["summary"]) == (
            ["segment"],
            f"Segment-compatible {kind} call",
        )
        assert set(operation["responses"]) >= {"200", "400", "413", "415", "429"}


def test_the_segment_routes_ask_for_a_publishers_key() -> None:
    """The API keys' guard reads each route's scope: a write key is a publisher's."""
    assert {route.opt.get("scope") for route in SEGMENT_ROUTES} == {"publish"}


def test_a_write_key_bound_to_a_source_and_types_is_held_to_them(
    segment_api: Server, host: str
) -> None:
    """A key bound to source ``website`` publishes as ``website``; one bound to
    page views has a track rejected ``forbidden`` and not kept (the dead-letter
    topic is no way round its bindings), its page view accepted. No key: 401."""
    keys = segment_api.keys
    website = keys.create("website", ["publish"], sources=["website"]).token
    pages_only = keys.create("pages", ["publish"], types=["web.page_viewed"]).token
    page = {
        "type": "page",
        "anonymousId": "anon-7",
        "properties": {"url": "https://shop.example/"},
        "timestamp": _at(1).isoformat(),
    }
    track = {
        "type": "track",
        "userId": "u-7",
        "event": "campaign.offer_responded",
        "properties": {"response": "accepted", "via": "web", "campaign_id": "spring"},
        "timestamp": _at(2).isoformat(),
    }
    with httpx.Client(base_url=host, auth=(website, ""), timeout=30) as client:
        assert client.post("/v1/page", json=page).json()["accepted"] == 1
    with httpx.Client(base_url=host, auth=(pages_only, ""), timeout=30) as client:
        answer = client.post("/v1/batch", json={"batch": [track, {**page, "messageId": "p"}]})
    assert [(r["status"], r.get("code")) for r in answer.json()["results"]] == [
        ("rejected", "forbidden"),
        ("accepted", None),
    ]
    assert _letters(segment_api) == []
    with httpx.Client(base_url=host, timeout=30) as anonymous:
        assert problem(anonymous.post("/v1/page", json=page), 401)
    segment_api.backbone.runtime.catch_up()
    # The bound key's page view is the website's; the other key's, the default.
    assert sorted(e["source"] for e in _timeline(segment_api, web_id="anon-7")) == [
        "segment",
        "website",
    ]


def test_values_the_edge_refuses_are_kept_not_a_fault(
    segment_api: Server, sdk_http: httpx.Client
) -> None:
    """A time outside UTC's calendar, an integer past 64 bits, a NUL, a web id
    wider than any store's column: each call kept with the edge's reason (the
    NUL kept out of the letter's index), never a 500."""
    page = {"type": "page", "anonymousId": "a", "properties": {"url": "https://x.example/"}}
    calls = [
        {**page, "timestamp": "0001-01-01T00:00:00+01:00"},
        {**page, "properties": {"url": "https://x.example/", "title": "\u0000"}},
        {**page, "anonymousId": "w" * 600},
        {
            "type": "track",
            "anonymousId": "a",
            "event": "web.searched",
            "properties": {"query": "q", "result_count": 10**23},
        },
        {"type": "identify", "userId": "\u0000u"},
    ]
    response = sdk_http.post("/v1/batch", json={"batch": calls})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["status"], r["code"]) for r in results] == [("kept", "refused")] * len(calls)
    letters = _letters(segment_api)
    assert len(letters) == len(calls)
    assert not any("\x00" in letter.reason for letter in letters)
