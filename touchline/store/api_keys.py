"""The HTTP API's keys: made, listed, revoked and verified, kept hashed.

A key reads ``tl_<key id>_<secret>``. The id finds the row and is no secret
(``touchline keys list`` shows it); the secret is 32 random bytes of which
only the SHA-256 is kept, so a copy of the database lets nobody in. A secret
that random needs no slow password hash: there is no dictionary to try, and
verifying stays one cheap hash per request. The digests are compared in
constant time.

The keys live in the system database, beside the accepted-ids ledger, so
every API process of a deployment knows every key, and a revocation counts
on the next request each of them answers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from difflib import get_close_matches
from typing import Any, Final, NamedTuple

import msgspec
from sqlalchemy import Engine, Row, insert, select, update

from touchline.events import CATALOGUE
from touchline.events.instants import from_us, to_us
from touchline.store.tables import api_keys

PUBLISH: Final = "publish"
AGENT: Final = "agent"
CAMPAIGNS: Final = "campaigns"
ADMIN: Final = "admin"
SCOPES: Final = (PUBLISH, AGENT, CAMPAIGNS, ADMIN)
"""What a key may do: publish events; read customers and record agent
actions; read campaigns and follow their state; and (admin) all of those
plus unmerging and rebuilding."""

PREFIX = "tl"
_KEY = re.compile(r"tl_(?P<key_id>[0-9a-f]{1,32})_(?P<secret>[A-Za-z0-9_-]{1,200})")
_MAX_NAME = 200


class UnknownKey(LookupError):
    """No key has the id asked for."""


class InvalidKey(Exception):
    """A credential that is no live key: malformed, unknown, or revoked."""


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key as stored, without its secret."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    sources: tuple[str, ...] = ()
    """The sources a publisher may publish for; empty: any."""
    types: tuple[str, ...] = ()
    """The event types a publisher may publish; empty: any."""
    created_at: datetime
    revoked_at: datetime | None = None

    def grants(self, scope: str) -> bool:
        """Whether the key may do ``scope`` (admin may do everything)."""
        return ADMIN in self.scopes or scope in self.scopes

    def allows_source(self, source: str) -> bool:
        return ADMIN in self.scopes or not self.sources or source in self.sources

    def allows_type(self, event_type: str) -> bool:
        return ADMIN in self.scopes or not self.types or event_type in self.types


class NewKey(NamedTuple):
    key: ApiKey
    token: str
    """The whole key, ``tl_<id>_<secret>``: shown once, never stored."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def checked(
    name: str, scopes: Iterable[str], sources: Iterable[str], types: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The scopes (in :data:`SCOPES` order), sources and types, each once;
    ValueError naming what is wrong."""
    if not name.strip() or len(name) > _MAX_NAME:
        raise ValueError(f"a key needs a name of 1 to {_MAX_NAME} characters")
    asked = list(dict.fromkeys(scopes))
    unknown = [scope for scope in asked if scope not in SCOPES]
    if unknown or not asked:
        given = f"unknown scope {', '.join(map(repr, unknown))}" if unknown else "no scope given"
        raise ValueError(f"{given}: choose from {', '.join(SCOPES)}")
    bound_sources = tuple(dict.fromkeys(sources))
    bound_types = tuple(dict.fromkeys(types))
    if any(not source.strip() for source in bound_sources):
        raise ValueError("a source to bind a key to cannot be empty")
    strangers = [event_type for event_type in bound_types if event_type not in CATALOGUE]
    if strangers:
        known = [cls.type for cls in CATALOGUE.current_types()]
        near = get_close_matches(strangers[0], known, n=3)
        hint = f"did you mean {' or '.join(near)}?" if near else f"known: {', '.join(known)}"
        raise ValueError(f"unknown event type {', '.join(map(repr, strangers))} ({hint})")
    if (bound_sources or bound_types) and (PUBLISH not in asked or ADMIN in asked):
        # Bindings narrow publishing; an admin key publishes anything. Refused
        # rather than stored to no effect, so nobody believes a key narrower
        # than it is.
        raise ValueError("sources and event types bind a publish key, and not an admin key")
    return tuple(s for s in SCOPES if s in asked), bound_sources, bound_types


class ApiKeys:
    """The keys on ``engine`` (each call its own transaction)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def create(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        sources: Iterable[str] = (),
        types: Iterable[str] = (),
    ) -> NewKey:
        """A new key; its token is in the answer and nowhere else."""
        granted, bound_sources, bound_types = checked(name, scopes, sources, types)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=key_id,
            name=name,
            scopes=granted,
            sources=bound_sources,
            types=bound_types,
            created_at=self.clock(),
        )
        with self.engine.begin() as connection:
            connection.execute(
                insert(api_keys).values(
                    key_id=key_id,
                    name=name,
                    secret_sha256=digest(secret),
                    scopes=_encode(key.scopes),
                    sources=_encode(key.sources),
                    types=_encode(key.types),
                    created_at_us=to_us(key.created_at),
                )
            )
        return NewKey(key, f"{PREFIX}_{key_id}_{secret}")

    def list_keys(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        k = api_keys.c
        with self.engine.connect() as connection:
            rows = connection.execute(select(*_COLUMNS).order_by(k.created_at_us, k.key_id)).all()
        return [_key(row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke ``key_id`` now (a key revoked before keeps its time); UnknownKey."""
        k = api_keys.c
        with self.engine.begin() as connection:
            connection.execute(
                update(api_keys)
                .where(k.key_id == key_id, k.revoked_at_us.is_(None))
                .values(revoked_at_us=to_us(self.clock()))
            )
            row = connection.execute(select(*_COLUMNS).where(k.key_id == key_id)).first()
        if row is None:
            raise UnknownKey(f"no key {key_id!r} (touchline keys list shows them)")
        return _key(row)

    def verify(self, token: str) -> ApiKey:
        """The live key ``token`` is; InvalidKey saying why not."""
        found = _KEY.fullmatch(token)
        if found is None:
            raise InvalidKey(f"not a touchline key: keys read {PREFIX}_<key id>_<secret>")
        k = api_keys.c
        with self.engine.connect() as connection:
            row = connection.execute(
                select(k.secret_sha256, *_COLUMNS).where(k.key_id == found["key_id"])
            ).first()
        # Said alike for an unknown id and a wrong secret; the id is no
        # secret, only the secret is, and its digest is compared in constant time.
        if row is None or not hmac.compare_digest(row.secret_sha256, digest(found["secret"])):
            raise InvalidKey("unknown key")
        key = _key(row)
        if key.revoked_at is not None:
            raise InvalidKey(f"key {key.key_id} ({key.name}) was revoked at {key.revoked_at}")
        return key


_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.name,
    api_keys.c.scopes,
    api_keys.c.sources,
    api_keys.c.types,
    api_keys.c.created_at_us,
    api_keys.c.revoked_at_us,
)
_strings = msgspec.json.Decoder(tuple[str, ...]).decode


def _encode(values: tuple[str, ...]) -> str:
    return msgspec.json.encode(values).decode()


def _key(row: Row[*tuple[Any, ...]]) -> ApiKey:
    revoked_at_us: int | None = row.revoked_at_us
    return ApiKey(
        key_id=row.key_id,
        name=row.name,
        scopes=_strings(row.scopes),
        sources=_strings(row.sources),
        types=_strings(row.types),
        created_at=from_us(row.created_at_us),
        revoked_at=None if revoked_at_us is None else from_us(revoked_at_us),
    )
