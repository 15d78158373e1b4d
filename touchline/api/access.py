"""Who may call what: API keys and their scopes, checked before each handler.

The contract with route handlers: a handler names the scope it needs in its
``opt``, ``opt={"scope": "publish"}``, or a tuple meaning any of them,
``opt={"scope": ("publish", "agent")}``. A handler that names none is open
(``/healthz``, ``/readyz``, ``/metrics``, the OpenAPI document). An admin key
may do everything.

A client sends its key as ``Authorization: Bearer <key>``, or with HTTP Basic
as the username and any password (how Segment's and RudderStack's SDKs send
a write key). No key, or one that is unknown or revoked, is answered 401
with ``WWW-Authenticate``; a key without the scope, 403. Both say what is
needed and, for a 403, what the key has.

A handler reads the verified key as ``request.auth`` (Litestar's slot for
it, ``scope["auth"]`` in the ASGI scope), or with :func:`caller`: an
:class:`~touchline.store.api_keys.ApiKey` with its id, name, scopes, and a
publisher's bound sources and types. A route that publishes on a key's
behalf holds it to its bindings by passing ``publisher_screen(caller(request))``
to ``Publisher.publish_raw`` (or ``publish``), as ``POST /v1/events`` does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from litestar.routes import HTTPRoute

from touchline.api.problems import PROBLEMS, ApiProblem, Problem
from touchline.events import Envelope
from touchline.publish import Refusal, Screen
from touchline.store.api_keys import ADMIN, SCOPES, ApiKey, ApiKeys, InvalidKey

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler

SCOPE_OPT = "scope"
"""The ``opt`` entry a route handler names its scope in."""
FORBIDDEN = "forbidden"
"""The code of an event a publish key is not bound to (its source or its type)."""
_HOW = "send Authorization: Bearer <key>, or HTTP Basic with the key as the username"


def required_scopes(opt: Mapping[str, Any]) -> tuple[str, ...]:
    """The scopes a handler's ``opt`` names (any one will do); () when open.
    ValueError for a name that is no scope: a typo must not open a route."""
    declared = opt.get(SCOPE_OPT)
    if declared is None:
        return ()
    scopes = (declared,) if isinstance(declared, str) else tuple(declared)
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"opt scope {declared!r} names no scope of {', '.join(SCOPES)}")
    return scopes


def declared_scopes(app: Litestar) -> dict[tuple[str, str], tuple[str, ...]]:
    """Each operation's scopes, by OpenAPI path and lower-case method; open
    operations left out. Raises ValueError for a scope that does not exist."""
    operations: dict[tuple[str, str], tuple[str, ...]] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            scopes = required_scopes(handler.opt)
            for method in handler.http_methods if scopes else ():
                operations[(route.path_format, method.lower())] = scopes
    return operations


def caller(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKey | None:
    """The key a request was let in with; None on an open route."""
    key = connection.scope.get("auth")
    return key if isinstance(key, ApiKey) else None


class RequireScope:
    """The app-wide guard: the key a route's scope needs, verified per request.

    Verified against the database each time, never cached: a revoked key
    stops working on the next request, in every API process.
    """

    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        needed = required_scopes(handler.opt)
        if not needed:
            return
        token = credential(connection.headers.get("authorization"))
        wanted = _named(needed)
        if token is None:
            raise _unauthorized(f"this operation needs an API key with {wanted}: {_HOW}")
        try:
            key = await anyio.to_thread.run_sync(self.keys.verify, token)
        except InvalidKey as error:
            raise _unauthorized(
                f"the API key was refused: {error}", 'error="invalid_token"'
            ) from None
        if not any(key.grants(scope) for scope in needed):
            raise ApiProblem(
                Problem(
                    type=f"{PROBLEMS}forbidden",
                    title="Forbidden",
                    status=403,
                    detail=(
                        f"this operation needs {wanted}; key {key.key_id} ({key.name}) "
                        f"has scope {', '.join(key.scopes)}"
                    ),
                ),
                {
                    "WWW-Authenticate": (
                        f'Bearer realm="touchline", error="insufficient_scope", '
                        f'scope="{" ".join(needed)}"'
                    )
                },
            )
        connection.scope["auth"] = key


def credential(authorization: str | None) -> str | None:
    """The key in an ``Authorization`` header: Bearer, or Basic's username."""
    if not authorization or not authorization.strip():
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized(
                "Basic credentials are base64 of key:password (the key as the username)",
                'error="invalid_request"',
            ) from None
        username, _, _password = decoded.partition(":")
        return username or None
    raise _unauthorized(
        f"the Authorization scheme {scheme!r} is not taken: {_HOW}", 'error="invalid_request"'
    )


def publisher_screen(key: ApiKey | None) -> Screen | None:
    """What a publish key refuses of a batch: events of a source or a type
    it is not bound to. None when it is bound to neither (or is admin)."""
    if key is None or ADMIN in key.scopes or not (key.sources or key.types):
        return None

    def screen(event: Envelope) -> Refusal | None:
        if not key.allows_source(event.source):
            return Refusal(
                f"key {key.key_id} ({key.name}) may not publish for source {event.source!r}; "
                f"it is bound to {', '.join(key.sources)}",
                "$.source",
                FORBIDDEN,
            )
        if not key.allows_type(event.type):
            return Refusal(
                f"key {key.key_id} ({key.name}) may not publish {event.type!r} events; "
                f"it is bound to {', '.join(key.types)}",
                "$.type",
                FORBIDDEN,
            )
        return None

    return screen


def _named(scopes: tuple[str, ...]) -> str:
    either = " or ".join(scopes)
    return f"scope {either}" if ADMIN in scopes else f"scope {either} (or admin)"


def _unauthorized(detail: str, error: str | None = None) -> ApiProblem:
    bearer = 'Bearer realm="touchline"' if error is None else f'Bearer realm="touchline", {error}'
    challenge = f'{bearer}, Basic realm="touchline"'
    return ApiProblem(
        Problem(type=f"{PROBLEMS}unauthorized", title="Unauthorized", status=401, detail=detail),
        {"WWW-Authenticate": challenge},
    )


SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "Authorization: Bearer <key>, a key from `touchline keys create`. Each "
            "operation lists the scopes that let a key in (any one; admin: every operation)."
        ),
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": (
            "HTTP Basic with the key as the username and any password "
            "(how Segment's and RudderStack's SDKs send a write key)."
        ),
    },
}


def document_access(
    document: dict[str, Any], operations: Mapping[tuple[str, str], tuple[str, ...]]
) -> None:
    """Declare the key schemes in ``document``, and on each operation of
    ``operations`` (from :func:`declared_scopes`) its scopes and its 401 and 403.
    OpenAPI 3.1 lets an http scheme's requirement list role names: the scopes."""
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for (path, method), scopes in operations.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        if operation is None:
            continue
        roles = list(scopes)
        operation["security"] = [{"bearer": roles}, {"basic": roles}]
        responses = operation.setdefault("responses", {})
        responses.setdefault("401", {"description": "No API key, or one unknown or revoked"})
        responses.setdefault(
            "403", {"description": f"The key has none of the scopes {', '.join(roles)} (or admin)"}
        )
