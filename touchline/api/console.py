"""``/console``: the agent console, three static files the API serves.

The page holds no data and needs no key to load: it asks the agent for
theirs, keeps it in the tab's sessionStorage, and sends it as
``Authorization: Bearer`` on every API call, so every read and action is
checked by the same scopes as any other client's. No build step: the files
in ``touchline/api/console/`` are what the browser gets (package data, so
an installed wheel serves them too).

They are read once, when the app is built, and served from memory with an
ETag: a returning agent's browser revalidates with one small request and
gets ``304 Not Modified``. The Content-Security-Policy allows only this
origin's script, style and API, and no inline script: what the page shows
of a customer is text, never markup.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from touchline.api.problems import not_found

PAGE = "index.html"
ASSETS = {"console.js": "text/javascript", "console.css": "text/css"}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (a 304 costs one round trip): a deploy is seen at once.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, media_type: str) -> StaticFile:
        return cls(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')

    def answer(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        headers = {**HEADERS, "ETag": self.etag}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(b"", status_code=304, headers=headers, media_type=self.media_type)
        return Response(self.body, headers=headers, media_type=self.media_type)


def read_console() -> dict[str, StaticFile]:
    """The console's files from the installed package, by name."""
    folder = resources.files("touchline.api").joinpath("console")
    kinds = {PAGE: "text/html", **ASSETS}
    return {
        name: StaticFile.of(folder.joinpath(name).read_bytes(), kind)
        for name, kind in kinds.items()
    }


def console_routes(files: dict[str, StaticFile]) -> list[HTTPRouteHandler]:
    """The page and its two assets; open routes, left out of the API's document."""

    @get("/console", include_in_schema=False, sync_to_thread=False)
    def page(request: Request[Any, Any, Any]) -> Response[bytes]:
        return files[PAGE].answer(request)

    @get("/console/{name:str}", include_in_schema=False, sync_to_thread=False)
    def asset(name: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        if name not in ASSETS:
            raise not_found(f"the console has no file {name!r}")
        return files[name].answer(request)

    return [page, asset]
