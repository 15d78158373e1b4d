"""API keys over real HTTP: who gets in, who is told 401 or 403, and what a
publisher bound to its sources and types may publish."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.api.conftest import Server, problem
from tests.conftest import DAY
from tests.helpers import ANN
from touchline.api.access import required_scopes

SCOPES = ("publish", "agent", "campaigns", "admin")


@contextmanager
def client_of(api: Server, authorization: str | None) -> Iterator[httpx.Client]:
    """A client of the same server sending ``authorization`` (None: nothing)."""
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=api.client.base_url, timeout=30, headers=headers) as client:
        yield client


def bearer(token: str) -> str:
    return f"Bearer {token}"


def basic(username: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _email(source: str, kind: str = "email.opened", minutes: int = 0) -> dict[str, Any]:
    return {
        "id": str(uuid4()),
        "type": kind,
        "version": 1,
        "occurred_at": (DAY + timedelta(minutes=minutes)).isoformat(),
        "source": source,
        "identities": dict(ANN.items()),
        "payload": {"message_id": f"m{minutes}", "subject": "Spring"},
    }


def test_no_key_an_unknown_key_and_a_revoked_key_get_401(api: Server) -> None:
    """401 problem+json with a Bearer and Basic challenge, saying what is needed
    and why the key was refused."""
    path = "/v1/customers/cus_x/timeline"
    made = api.keys.create("agents", ["agent"])
    with client_of(api, None) as anonymous:
        answer = anonymous.get(path)
    body = problem(answer, 401)
    assert "needs an API key with scope agent (or admin)" in str(body["detail"])
    assert "Authorization: Bearer <key>" in str(body["detail"])
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="touchline"')
    assert 'Basic realm="touchline"' in challenge

    unknown = f"tl_{'0' * 16}_{made.token.split('_', 2)[2]}"
    for token, reason in [(unknown, "unknown key"), ("letmein", "not a touchline key")]:
        with client_of(api, bearer(token)) as stranger:
            answer = stranger.get(path)
        assert reason in str(problem(answer, 401)["detail"])
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]

    with client_of(api, bearer(made.token)) as agent:
        assert agent.get(path).status_code == 404  # in, and no such customer
        api.keys.revoke(made.key.key_id)
        answer = agent.get(path)
    assert f"key {made.key.key_id} (agents) was revoked" in str(problem(answer, 401)["detail"])


def test_a_key_without_the_scope_gets_403_naming_both(api: Server) -> None:
    """403 says which scope the operation needs and which the key has."""
    publisher = api.keys.create("crm", ["publish"])
    agent = api.keys.create("desk", ["agent"])
    with client_of(api, bearer(publisher.token)) as client:
        answer = client.get("/v1/customers", params={"email": "ann@example.com"})
    detail = str(problem(answer, 403)["detail"])
    assert detail == (
        f"this operation needs scope agent or campaigns (or admin); "
        f"key {publisher.key.key_id} (crm) has scope publish"
    )
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
    with client_of(api, bearer(agent.token)) as client:
        answer = client.post(
            "/v1/customers/cus_x/unmerge", json={"requested_by": "lee", "reason": "wrong"}
        )
    assert "needs scope admin;" in str(problem(answer, 403)["detail"])


def test_every_scoped_operation_lets_in_its_scopes_and_admin_and_no_other(api: Server) -> None:
    """Every operation but the operational ones, the one-click unsubscribe
    (whose signed token is its credential) and the inbound webhooks (whose
    Standard Webhooks signature is) is secured; for each, a key
    with one of its scopes (or admin) gets past the guard, a key with any
    other scope is 403."""
    document = api.client.get("/schema/openapi.json").json()
    tokens = {scope: api.keys.create(scope, [scope]).token for scope in SCOPES}
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    open_ = {path for path, _, operation in operations if "security" not in operation}
    assert open_ == {
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/unsubscribe/{token}",
        "/v1/webhooks/esp",
        "/v1/webhooks/call-status",
        "/v1/webhooks/fax",
        "/v1/webhooks/partner-orders",
    }
    secured = [
        (path, method, operation["security"][0]["bearer"])
        for path, method, operation in operations
        if path not in open_
    ]
    filled = {"customer_id": "cus_x", "campaign_id": "spring", "event_id": str(uuid4())}
    for path, method, allowed in secured:
        url = path.format(**filled)
        for scope, token in tokens.items():
            # Streamed, and only the head read: a stream's body never ends.
            with (
                client_of(api, bearer(token)) as client,
                client.stream(method, url, params={"web_id": "w"}) as answer,
            ):
                status = answer.status_code
            if scope in allowed or scope == "admin":
                assert status not in {401, 403}, (path, method, scope)
            else:
                assert status == 403, (path, method, scope)


def test_open_routes_need_no_key(api: Server) -> None:
    """Health, readiness, metrics and the OpenAPI document answer anyone."""
    with client_of(api, None) as anonymous:
        for path in ("/healthz", "/readyz", "/metrics", "/schema/openapi.json"):
            assert anonymous.get(path).status_code == 200, path


def test_basic_auth_with_the_key_as_username_publishes(api: Server) -> None:
    """Segment's and RudderStack's SDKs send the write key as Basic's username,
    with an empty password; any password is taken. Bad Basic is a 401."""
    made = api.keys.create("segment", ["publish"])
    for authorization in (basic(made.token), basic(made.token, "ignored")):
        with client_of(api, authorization) as sdk:
            answer = sdk.post("/v1/events", json=[_email("web")])
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == 1
    for authorization, reason in [
        ("Basic !!!", "base64 of key:password"),
        (basic("", made.token), "needs an API key"),
        (f"Token {made.token}", "scheme 'Token' is not taken"),
    ]:
        with client_of(api, authorization) as sdk:
            answer = sdk.post("/v1/events", json=[_email("web")])
        assert reason in str(problem(answer, 401)["detail"])


def test_a_bound_publisher_has_other_sources_and_types_refused_event_by_event(
    api: Server,
) -> None:
    """A key bound to source crm and type email.opened: events of another source
    or type are refused (forbidden, with the field), the rest of the batch is
    accepted, and nothing refused reaches the log."""
    made = api.keys.create("crm", ["publish"], sources=["crm"], types=["email.opened"])
    ours, web, clicked = _email("crm", minutes=1), _email("web"), _email("crm", "email.clicked")
    clicked["payload"]["url"] = "https://example.com/spring"
    with client_of(api, bearer(made.token)) as crm:
        answer = crm.post("/v1/events", json=[web, ours, clicked])
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (1, 2)
    by_index = {result["index"]: result for result in body["results"]}
    assert by_index[1]["status"] == "accepted"
    assert (by_index[0]["code"], by_index[0]["pointer"]) == ("forbidden", "/source")
    assert (
        f"key {made.key.key_id} (crm) may not publish for source 'web'" in (by_index[0]["message"])
    )
    assert (by_index[2]["code"], by_index[2]["pointer"]) == ("forbidden", "/type")
    assert "may not publish 'email.clicked' events" in by_index[2]["message"]
    assert api.client.get(f"/v1/events/{ours['id']}").status_code == 200
    for refused in (web, clicked):
        assert api.client.get(f"/v1/events/{refused['id']}").status_code == 404


def test_a_lone_forbidden_event_is_403_even_when_its_id_was_accepted(api: Server) -> None:
    """A lone event outside the key's bindings is a 403 with its result. An
    event the admin published is neither a duplicate nor, with other
    content, a conflict to a key that could not have sent it: the key learns
    nothing of what others published."""
    made = api.keys.create("crm", ["publish"], sources=["crm"])
    web = _email("web")
    assert api.client.post("/v1/events", json=web).status_code == 202
    changed = {**web, "payload": {"message_id": "m0", "subject": "Autumn"}}
    for sent in (web, changed):
        with client_of(api, bearer(made.token)) as crm:
            answer = crm.post("/v1/events", json=sent)
        errors = problem(answer, 403)["errors"]
        assert isinstance(errors, list)
        [result] = errors
        assert (result["status"], result["code"], result["pointer"]) == (
            "rejected",
            "forbidden",
            "/source",
        )


def test_admin_publishes_for_any_source_and_type(api: Server) -> None:
    """An admin key is bound to nothing."""
    answer = api.client.post("/v1/events", json=[_email("web"), _email("crm", minutes=1)])
    assert answer.json()["accepted"] == 2


def test_the_document_declares_the_key_schemes_and_each_operations_scopes(api: Server) -> None:
    """Bearer and Basic schemes; each secured operation lists its scopes and
    documents 401 and 403; the open ones declare no security."""
    document = api.client.get("/schema/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert {name: scheme["scheme"] for name, scheme in schemes.items()} == {
        "bearer": "bearer",
        "basic": "basic",
    }
    ingest = document["paths"]["/v1/events"]["post"]
    assert ingest["security"] == [{"bearer": ["publish"]}, {"basic": ["publish"]}]
    assert {"401", "403"} <= set(ingest["responses"])
    funnel = document["paths"]["/v1/campaigns/{campaign_id}"]["get"]
    assert funnel["security"][0] == {"bearer": ["campaigns", "agent"]}
    assert "security" not in document["paths"]["/healthz"]["get"]


@pytest.mark.parametrize("declared", ["agnet", ("publish", "root"), ()])
def test_a_route_naming_no_real_scope_is_refused_at_startup(declared: object) -> None:
    """A typo in a route's scope must fail loudly, never leave the route open."""
    with pytest.raises(ValueError, match="names no scope"):
        required_scopes({"scope": declared})
