"""A real HTTP server on a free loopback port, over each projection store.

uvicorn serves the app in a thread of the test's process, on a socket the
fixture has bound and put to listening first: a client's first request
waits in the socket's backlog until the server accepts, so readiness is one
``GET /readyz``, never a sleep. The processors are the test's to drive
(``backbone.runtime.catch_up()``), so what the timeline shows is decided,
not raced. The client sends an admin key, made in the system database as
``touchline keys create`` makes one, so every route lets it in;
tests/api/test_access.py makes the narrower keys.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import msgspec
import pytest

from touchline.api.app import Api, create_app
from touchline.api.serve import ApiServer
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import Settings
from touchline.events import Envelope
from touchline.store.api_keys import ApiKeys, NewKey

LIMITS = {
    "api_max_event_bytes": 4_096,
    "api_max_batch_events": 50,
    "api_max_request_bytes": 64 * 1024,
}
"""Small limits, so each is passed with a small request."""


@dataclass
class Server:
    client: httpx.Client
    """Sends the admin key ``admin``."""
    backbone: Backbone
    admin: NewKey
    app: Api

    @property
    def keys(self) -> ApiKeys:
        return ApiKeys(self.backbone.engine)

    def publish(self, events: list[Envelope] | Envelope) -> httpx.Response:
        """POST events as a channel system would send them (JSON)."""
        codec = self.backbone.codec
        body = codec.encode(events) if isinstance(events, Envelope) else codec.encode_batch(events)
        return self.client.post("/v1/events", content=body)


@contextmanager
def serving(backbone: Backbone) -> Iterator[Server]:
    app = create_app(backbone)
    server = ApiServer(app, log_level="warning")
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(128)
    port = listening.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        admin = ApiKeys(backbone.engine).create("tests", ["admin"])
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=30,
            headers={"Authorization": f"Bearer {admin.token}"},
        ) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            yield Server(client, backbone, admin, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()
    assert not thread.is_alive(), "the server did not stop (a response that never ends?)"


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, **LIMITS)


@pytest.fixture
def api(api_settings: Settings) -> Iterator[Server]:
    """The API over a fresh embedded backbone, on SQLite and on PostgreSQL."""
    with build_backbone(api_settings) as backbone, serving(backbone) as server:
        yield server


PROBLEM_JSON = "application/problem+json"


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    """The problem+json body of ``response``, after checking its status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body
