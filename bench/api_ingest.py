"""Ingest over HTTP: events/s through ``POST /v1/events``, batches of 500.

The API runs in a process of its own (one uvicorn worker, no processors: this
measures ingest alone) on the embedded log in a fresh directory; every
accepted batch is committed to the log and recorded in the accepted-ids
ledger before the answer: measured with the log at ``synchronous=normal``
(a commit survives kill -9, not a power loss) and at ``synchronous=full``
(an fsync on every commit: a power loss loses nothing answered 202). The load comes from
this process: bodies encoded beforehand, sent on ``CONNECTIONS`` keep-alive
connections at once. Both share the machine's cores, as a real client on the
same host would.

Each uvicorn set-up that is installed is measured (its HTTP parser and event
loop), which is how the one ``touchline api`` uses was chosen.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from touchline.bootstrap import build_backbone, make_codec
from touchline.config import load_settings
from touchline.logs import configure_logging
from touchline.simulate import simulate_day
from touchline.store.api_keys import ApiKeys

BATCH = 500
CONNECTIONS = 4
SERVER = """
import sys, uvicorn
from touchline.api.app import create_app
from touchline.bootstrap import build_backbone
from touchline.config import load_settings
from touchline.logs import configure_logging
import logging
from touchline.collector import collect_less_often
configure_logging(level=logging.WARNING)
collect_less_often()  # as touchline api does (touchline/cli.py)
data_dir, port, http, loop, log_url = sys.argv[1:6]
settings = load_settings({}, data_dir=data_dir, wire_format="json", log_url=log_url)
with build_backbone(settings) as backbone:
    uvicorn.run(create_app(backbone), host="127.0.0.1", port=int(port), http=http, loop=loop,
                log_level="warning")
"""


def main(runs: int, batches: int) -> list[str]:
    configure_logging(level=logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    bodies = _bodies(batches)
    events = batches * BATCH
    lines = [
        f"ingest over HTTP: {events:,} events per run in batches of {BATCH}, "
        f"{CONNECTIONS} connections, {runs} runs (goal: 20,000 events/s)"
    ]
    setups = [(http, loop, "normal") for http, loop in _setups()]
    setups.append((*setups[-1][:2], "full"))
    for http, loop, synchronous in setups:
        rates = [_run(bodies, http, loop, synchronous) for _ in range(runs)]
        lines.append(
            f"  uvicorn http={http:<9} loop={loop:<7} log synchronous={synchronous:<6} "
            f"{statistics.median(rates):>9,.0f} events/s "
            f"(median; runs {', '.join(f'{rate:,.0f}' for rate in rates)})"
        )
    return lines


def _setups() -> list[tuple[str, str]]:
    setups = [("h11", "asyncio")]
    if importlib.util.find_spec("httptools"):
        setups.append(("httptools", "asyncio"))
        if importlib.util.find_spec("uvloop"):
            setups.append(("httptools", "uvloop"))
    return setups


def _bodies(batches: int) -> list[bytes]:
    """``batches`` JSON arrays of 500 events of a simulated day."""
    with TemporaryDirectory() as scratch:
        settings = load_settings({}, data_dir=scratch, wire_format="json")
        codec = make_codec(settings)
    events: list[object] = []
    day = date(2026, 11, 20)
    while len(events) < batches * BATCH:
        _, more = simulate_day(day, 20_000, seed=len(events))
        events += more
    return [
        codec.encode_batch(events[i * BATCH : (i + 1) * BATCH])  # type: ignore[arg-type]
        for i in range(batches)
    ]


def _run(bodies: list[bytes], http: str, loop: str, synchronous: str) -> float:
    with TemporaryDirectory() as data_dir:
        log_url = f"sqlite:///{Path(data_dir) / 'log.db'}?synchronous={synchronous}"
        settings = load_settings({}, data_dir=data_dir, wire_format="json", log_url=log_url)
        with build_backbone(settings) as backbone:
            # Migrated before the server starts, outside the measurement.
            token = ApiKeys(backbone.engine).create("bench", ["publish"]).token
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, data_dir, str(port), http, loop, log_url],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(base, server)
            auth = {"Authorization": f"Bearer {token}"}
            clients = [
                httpx.Client(base_url=base, timeout=60, headers=auth) for _ in range(CONNECTIONS)
            ]
            started = time.perf_counter()
            with ThreadPoolExecutor(CONNECTIONS) as pool:
                answers = list(
                    pool.map(
                        lambda job: _post(clients[job[0] % CONNECTIONS], job[1]),
                        enumerate(bodies),
                    )
                )
            elapsed = time.perf_counter() - started
            for client in clients:
                client.close()
            accepted = sum(answers)
            assert accepted == len(bodies) * BATCH, f"{accepted} accepted"
            return accepted / elapsed
        finally:
            server.terminate()
            server.wait(timeout=30)


def _post(client: httpx.Client, body: bytes) -> int:
    answer = client.post("/v1/events", content=body)
    assert answer.status_code == 202, answer.text
    accepted: int = answer.json()["accepted"]
    return accepted


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the API exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # a bench may poll: nothing here is a test
    raise RuntimeError("the API did not become ready in 60 s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
