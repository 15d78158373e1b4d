"""POST /v1/events over real HTTP: per-event results, idempotency, limits, overload."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import timedelta
from uuid import uuid4

import httpx
import msgspec
import pytest

from tests.api.conftest import LIMITS, Server, problem, serving
from tests.conftest import DAY
from tests.helpers import ANN, event
from touchline.bootstrap import build_backbone
from touchline.config import Settings
from touchline.events import Identities
from touchline.events.email import EmailOpened, EmailSent


def _call(minutes: int, identities: Identities = ANN) -> dict[str, object]:
    """A call as a contact centre sends it (JSON), ``minutes`` after DAY."""
    return {
        "id": str(uuid4()),
        "type": "call.inbound_ended",
        "version": 2,
        "occurred_at": (DAY + timedelta(minutes=minutes)).isoformat(),
        "source": "contact-centre",
        "identities": dict(identities.items()),
        "payload": {"call_id": f"c{minutes}", "duration_seconds": 60, "agent_name": "Lee"},
    }


def test_a_mixed_batch_answers_per_event_and_projects_the_valid_ones(api: Server) -> None:
    """Valid events are accepted beside invalid ones; each result names the
    event, and a refusal its field as a JSON pointer with a code."""
    good, other = _call(1), _call(2)
    wrong_type = {**_call(3), "payload": {"call_id": 7, "duration_seconds": 60}}
    nobody = {**_call(4), "identities": {}}
    unknown = {**_call(5), "type": "call.teleported"}
    response = api.client.post("/v1/events", json=[good, wrong_type, other, nobody, unknown])
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (2, 0, 3)
    results = answer["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in results] == [
        "accepted",
        "rejected",
        "accepted",
        "rejected",
        "rejected",
    ]
    assert [r["id"] for r in results] == [
        e["id"] for e in (good, wrong_type, other, nobody, unknown)
    ]
    assert (results[1]["pointer"], results[1]["code"]) == ("/payload/call_id", "invalid")
    assert (results[3]["pointer"], results[3]["code"]) == ("/identities", "no_identifier")
    assert (results[4]["pointer"], results[4]["code"]) == ("/type", "unknown_type")
    assert all(r["message"] for r in results if r["status"] == "rejected")

    api.backbone.runtime.catch_up()
    found = api.client.get("/v1/customers", params={"email": "ann@example.com"}).json()
    timeline = api.client.get(f"/v1/customers/{found['customer_id']}/timeline").json()
    assert [e["event_id"] for e in timeline["entries"]] == [other["id"], good["id"]]


def test_the_ingest_answer_links_to_the_receipt_of_what_it_took(api: Server) -> None:
    """Location leads to the first event taken: accepted at once, then on the
    customer's timeline once applied; a batch of refusals links nowhere."""
    lone = _call(1)
    answer = api.client.post("/v1/events", json=lone)
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/v1/events/{lone['id']}"
    before = api.client.get(answer.headers["location"]).json()
    assert (before["event_id"], before["customer_id"]) == (lone["id"], None)
    assert before["accepted_at"] is not None

    api.backbone.runtime.catch_up()
    after = api.client.get(answer.headers["location"]).json()
    customer = api.backbone.queries.find("ann@example.com").customer_id
    assert after["customer_id"] == customer
    assert after["timeline"] == f"/v1/customers/{customer}/timeline"

    refused = api.client.post("/v1/events", json=[{**_call(2), "identities": {}}])
    assert refused.status_code == 202
    assert "location" not in refused.headers
    problem(api.client.get(f"/v1/events/{uuid4()}"), 404)
    problem(api.client.get("/v1/events/not-a-uuid"), 404)


def test_a_retried_batch_creates_nothing_new(api: Server) -> None:
    """A batch sent twice is answered duplicate per event and appends nothing;
    the same id with other content is refused as a conflicting duplicate."""
    batch = [event(EmailSent(message_id=f"m{i}", subject="Hi"), DAY) for i in range(3)]
    first = api.publish(batch)
    assert [r["status"] for r in first.json()["results"]] == ["accepted"] * 3
    log, topic = api.backbone.log, api.backbone.settings.topics.touchpoints
    end = log.end_offsets(topic)

    again = api.publish([*batch, batch[0]])
    assert again.status_code == 202
    assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 4
    assert log.end_offsets(topic) == end

    changed = event(EmailSent(message_id="m0", subject="Other"), DAY)
    conflicting = api.client.post(
        "/v1/events",
        json={**json.loads(api.backbone.codec.encode(changed)), "id": str(batch[0].id)},
    )
    problem(conflicting, 422)
    [result] = conflicting.json()["errors"]
    assert (result["code"], result["pointer"]) == ("conflicting_duplicate", "/id")
    assert log.end_offsets(topic) == end

    api.backbone.runtime.catch_up()
    customer = api.backbone.queries.find("ann@example.com").customer_id
    assert customer is not None
    assert len(api.backbone.queries.timeline(customer).entries) == 3


def test_each_limit_answers_413_naming_it(api: Server) -> None:
    """Too many events, too large a body, too large a lone event: 413 with the
    limit's setting and value; in a batch, a too-large event is its own refusal."""
    many = [_call(i) for i in range(LIMITS["api_max_batch_events"] + 1)]
    body = problem(api.client.post("/v1/events", json=many), 413)
    assert (body["limit"], body["limit_value"]) == ("TOUCHLINE_API_MAX_BATCH_EVENTS", 50)

    huge = b"[" + b" " * LIMITS["api_max_request_bytes"] + b"]"
    body = problem(api.client.post("/v1/events", content=huge), 413)
    assert (body["limit"], body["limit_value"]) == ("TOUCHLINE_API_MAX_REQUEST_BYTES", 65536)

    fat = _call(1)
    fat["payload"] = {**fat["payload"], "disposition": "x" * LIMITS["api_max_event_bytes"]}  # type: ignore[dict-item]
    body = problem(api.client.post("/v1/events", json=fat), 413)
    assert (body["limit"], body["limit_value"]) == ("TOUCHLINE_API_MAX_EVENT_BYTES", 4096)

    response = api.client.post("/v1/events", json=[_call(2), fat])
    assert response.status_code == 202
    statuses = [(r["status"], r.get("code")) for r in response.json()["results"]]
    assert statuses == [("accepted", None), ("rejected", "too_large")]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b"", 400, id="empty"),
        pytest.param(b"{not json", 400, id="not-json"),
        pytest.param(b"[1, 2", 400, id="array-never-closes"),
        pytest.param(b'"an event"', 400, id="a-string"),
        pytest.param(b'{"id": 5}', 422, id="wrong-types"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, 413, id="nested-past-the-body-limit"),
    ],
)
def test_unreadable_or_wrong_bodies_are_problems_never_500(
    api: Server, body: bytes, status: int
) -> None:
    """Bad input gets 400, 413 or 422 as problem+json, nothing is appended."""
    log, topic = api.backbone.log, api.backbone.settings.topics.touchpoints
    problem(api.client.post("/v1/events", content=body), status)
    assert sum(log.end_offsets(topic).values()) == 0


def test_deep_nesting_and_long_strings_in_a_batch_are_refused_per_event(api: Server) -> None:
    """An event nested too deep to read, or with a string past every width,
    is refused by itself; its neighbours are accepted."""
    deep = b"[" + b'{"a":' * 600 + b"1" + b"}" * 600 + b"," + json.dumps(_call(1)).encode()
    long_source = {**_call(2), "source": "s" * 300}
    response = api.client.post(
        "/v1/events", content=deep + b"," + json.dumps(long_source).encode() + b"]"
    )
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "accepted", "rejected"]
    assert results[2]["pointer"] == "/source"


def test_overload_answers_429_with_retry_after(api_settings: Settings) -> None:
    """With every append slot and queue place taken, a request is told to come
    back: 429, Retry-After, problem+json; the one appending then completes."""
    narrow = msgspec.structs.replace(api_settings, api_ingest_concurrency=1, api_ingest_queue=0)
    with build_backbone(narrow) as backbone, serving(backbone) as api:
        # Another writer holds the log: the first request waits inside its append.
        blocker = sqlite3.connect(narrow.resolved_log_url.removeprefix("sqlite:///"))
        blocker.execute("BEGIN IMMEDIATE")
        first: list[httpx.Response] = []
        opened = event(EmailOpened(message_id="m", subject="s"), DAY)
        sending = threading.Thread(target=lambda: first.append(api.publish(opened)))
        sending.start()
        try:
            while "touchline_api_ingest_in_flight 1.0" not in api.client.get("/metrics").text:
                assert sending.is_alive(), first
            overloaded = api.publish(event(EmailOpened(message_id="n", subject="s"), DAY))
            body = problem(overloaded, 429)
            assert overloaded.headers["retry-after"] == "1"
            assert "TOUCHLINE_API_INGEST_CONCURRENCY" in str(body["detail"])
        finally:
            blocker.rollback()
            blocker.close()
            sending.join()
        [response] = first
        assert response.status_code == 202
        assert api.client.get("/metrics").text.count("touchline_api_overloaded_total 1.0") == 1


def test_values_no_store_could_hold_are_refused_not_a_fault(api: Server) -> None:
    """A time outside UTC's calendar once converted, an integer past 64 bits:
    refused by the edge with the reason, never a 500 (their digest is taken first)."""
    early = {**_call(1), "occurred_at": "0001-01-01T00:00:00+01:00"}
    huge = {**_call(2), "payload": {"call_id": "c", "duration_seconds": 10**23}}
    response = api.client.post("/v1/events", json=[early, huge])
    assert response.status_code == 202, response.text
    assert [r["code"] for r in response.json()["results"]] == ["refused", "refused"]
