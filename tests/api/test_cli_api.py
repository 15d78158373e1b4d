"""``touchline api`` as a person runs it: one command, a working backbone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import DAY
from tests.helpers import event
from touchline.bootstrap import make_codec
from touchline.cli import main
from touchline.config import load_settings
from touchline.events.email import EmailSent

SCOPES = ["--scope", "publish", "agent"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _until(deadline: float, check: Callable[[], httpx.Response | None]) -> httpx.Response:
    """Poll ``check`` until it gives a response: the server's state, by deadline."""
    while time.monotonic() < deadline:
        try:
            response = check()
        except httpx.TransportError:  # not listening yet
            response = None
        if response is not None:
            return response
        time.sleep(0.05)
    raise AssertionError("the API did not answer in time")


@pytest.mark.slow
def test_touchline_api_serves_and_projects_on_the_embedded_log(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Posted over HTTP with a key from `touchline keys create`, an event
    reaches the timeline with nothing else running: the processors run beside
    the API; a key revoked meanwhile is refused; SIGINT stops it cleanly."""
    assert main(["--data-dir", str(data_dir), "keys", "create", "--name", "crm", *SCOPES]) == 0
    token = capsys.readouterr().out.strip()
    port = _free_port()
    command = [sys.executable, "-m", "touchline.cli", "--data-dir", str(data_dir), "api"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        ) as client:

            def ready() -> httpx.Response | None:
                response = client.get("/readyz")
                return response if response.status_code == 200 else None

            _until(deadline, ready)
            codec = make_codec(load_settings({}))
            sent = event(EmailSent(message_id="m", subject="Hi"), DAY)
            accepted = client.post("/v1/events", content=codec.encode(sent))
            assert accepted.json()["results"][0]["status"] == "accepted"

            def projected() -> httpx.Response | None:
                response = client.get("/v1/customers", params={"email": "ann@example.com"})
                return response if response.status_code == 200 else None

            found = _until(deadline, projected).json()

            def on_the_timeline() -> httpx.Response | None:
                # The resolver knows the customer a moment before the
                # timeline, a process of its own, has projected the event.
                response = client.get(found["timeline"])
                return response if response.json()["entries"] else None

            timeline = _until(deadline, on_the_timeline).json()
            assert [entry["event_id"] for entry in timeline["entries"]] == [str(sent.id)]

            key_id = token.split("_")[1]
            assert main(["--data-dir", str(data_dir), "keys", "revoke", key_id]) == 0
            refused = client.get(found["timeline"])
            assert refused.status_code == 401
            assert "revoked" in refused.json()["detail"]
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr.decode()
