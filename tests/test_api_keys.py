"""API keys in the system database: made once, kept hashed, verified, revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from tests.conftest import DAY
from touchline.api.serve import key_hint
from touchline.store.api_keys import ApiKeys, InvalidKey, UnknownKey
from touchline.store.tables import api_keys


def _keys(engine: Engine) -> ApiKeys:
    return ApiKeys(engine, clock=lambda: DAY)


def test_a_key_verifies_and_only_its_digest_is_stored(engine: Engine) -> None:
    """The token verifies to its key; the database holds no part of the secret."""
    keys = _keys(engine)
    made = keys.create("crm", ["publish"], sources=["crm"], types=["email.sent"])
    prefix, key_id, secret = made.token.split("_", 2)
    assert (prefix, key_id) == ("tl", made.key.key_id)
    assert len(secret) >= 40  # 32 random bytes, base64url
    assert keys.verify(made.token) == made.key
    assert made.key.sources == ("crm",)
    assert made.key.types == ("email.sent",)
    with engine.connect() as connection:
        row = connection.execute(select(api_keys)).one()
    assert all(secret not in str(value) for value in row)


def test_tokens_that_are_no_live_key_are_refused(engine: Engine) -> None:
    """A wrong secret, an unknown id, garbage and a revoked key all fail to verify."""
    keys = _keys(engine)
    made = keys.create("agents", ["agent"])
    other = made.token[:-4] + ("aaaa" if not made.token.endswith("aaaa") else "bbbb")
    for token in (other, f"tl_{'0' * 16}_{made.token.split('_', 2)[2]}", "", "Bearer x"):
        with pytest.raises(InvalidKey):
            keys.verify(token)
    keys.revoke(made.key.key_id)
    with pytest.raises(InvalidKey, match="revoked"):
        keys.verify(made.token)


def test_list_shows_every_key_and_no_secret(engine: Engine) -> None:
    """Listed oldest first, revoked ones with their time; revoking again keeps it."""
    now = [DAY]
    keys = ApiKeys(engine, clock=lambda: now[0])
    first = keys.create("crm", ["publish"])
    now[0] += timedelta(hours=1)
    second = keys.create("engine", ["campaigns"])
    now[0] += timedelta(hours=1)
    keys.revoke(first.key.key_id)
    now[0] += timedelta(hours=1)
    listed = keys.list_keys()
    assert [key.name for key in listed] == ["crm", "engine"]
    assert listed[0].revoked_at == DAY + timedelta(hours=2)
    assert listed[1].revoked_at is None
    assert keys.revoke(first.key.key_id).revoked_at == DAY + timedelta(hours=2)
    assert second.token.split("_", 2)[2] not in repr(listed)
    with pytest.raises(UnknownKey):
        keys.revoke("feedfacefeedface")


@pytest.mark.parametrize(
    ("scopes", "sources", "types", "message"),
    [
        (["owner"], [], [], "unknown scope 'owner': choose from publish"),
        ([], [], [], "no scope given"),
        (["publish"], [], ["email.teleported"], "unknown event type 'email.teleported'"),
        (["agent"], ["crm"], [], "bind a publish key"),
        (["publish", "admin"], [], ["email.sent"], "not an admin key"),
    ],
)
def test_bad_requests_for_a_key_are_refused_with_the_reason(
    engine: Engine, scopes: list[str], sources: list[str], types: list[str], message: str
) -> None:
    """Unknown scopes and types, and bindings that would not apply, make no key."""
    keys = _keys(engine)
    with pytest.raises(ValueError, match=message):
        keys.create("k", scopes, sources=sources, types=types)
    assert keys.list_keys() == []


def test_admin_grants_every_scope_and_publishes_anything(engine: Engine) -> None:
    """Admin implies every scope; a bound publisher is held to its bindings."""
    keys = _keys(engine)
    admin = keys.create("root", ["admin"]).key
    bound = keys.create("crm", ["publish"], sources=["crm"], types=["email.sent"]).key
    assert all(admin.grants(scope) for scope in ("publish", "agent", "campaigns", "admin"))
    assert admin.allows_source("anything")
    assert admin.allows_type("order.placed")
    assert (bound.grants("publish"), bound.grants("agent")) == (True, False)
    assert (bound.allows_source("crm"), bound.allows_source("web")) == (True, False)
    assert (bound.allows_type("email.sent"), bound.allows_type("email.opened")) == (True, False)


def test_touchline_api_says_how_to_make_a_key_until_a_live_one_exists(engine: Engine) -> None:
    """No key, or only revoked ones: the hint; a live key: none."""
    keys = ApiKeys(engine)
    assert "touchline keys create" in str(key_hint(keys))
    made = keys.create("crm", ["publish"])
    assert key_hint(keys) is None
    keys.revoke(made.key.key_id)
    assert key_hint(keys) is not None
