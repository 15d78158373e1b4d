"""Receiving ends for the adapters benchmark, each in a process of its own.

A real relay or webhook receiver is another machine, or at least another
process: in a thread of the benchmark's own interpreter it would share the
interpreter lock with the dispatcher and the figure would be the two of them
together. ``python -m bench.sinks smtp|http`` listens on a free loopback
port, prints ``ready <port>`` once it accepts connections, counts distinct
messages (by Message-ID, by ``webhook-id``) and, on SIGTERM, prints
``received <distinct> <total>`` and exits.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller


class _Tally:
    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.total = 0

    def add(self, key: str) -> None:
        self.ids.add(key)
        self.total += 1

    def report(self) -> None:
        print(f"received {len(self.ids)} {self.total}", flush=True)


class _SmtpHandler:
    def __init__(self, tally: _Tally) -> None:
        self.tally = tally

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        for line in bytes(envelope.content).split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                self.tally.add(line.split(b":", 1)[1].strip().decode())
                break
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _smtp(tally: _Tally) -> None:
    # Blocked before the server's thread starts, so only sigwait takes it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    port = _free_port()
    controller = Controller(_SmtpHandler(tally), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"ready {port}", flush=True)
    signal.sigwait({signal.SIGTERM})
    controller.stop()


def _http(tally: _Tally) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            # uvicorn raises SIGTERM again once it has stopped, so the counts
            # are told at its shutdown, while the process still stands.
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            tally.report()
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        headers = dict(scope["headers"])
        tally.add(headers.get(b"webhook-id", b"").decode())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(f"ready {port}", flush=True)
        await task

    asyncio.run(serve())


@dataclass
class Sink:
    """A sink process; :meth:`received` stops it and reads its counts."""

    process: subprocess.Popen[str]
    port: int

    def received(self) -> tuple[int, int]:
        self.process.send_signal(signal.SIGTERM)
        out, _err = self.process.communicate(timeout=30)
        for line in out.splitlines():
            if line.startswith("received "):
                distinct, total = line.split()[1:]
                return int(distinct), int(total)
        raise RuntimeError(f"the sink said nothing of what it received: {out!r}")


@contextmanager
def sink(kind: str) -> Iterator[Sink]:
    """Start ``python -m bench.sinks kind`` and wait for its port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sinks", kind], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"the {kind} sink did not start: {line!r}")
        yield Sink(process, int(line.split()[1]))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def main(kind: str) -> None:
    tally = _Tally()
    if kind == "smtp":
        _smtp(tally)
        tally.report()
    elif kind == "http":
        _http(tally)
    else:
        raise SystemExit(f"unknown sink {kind!r}: smtp or http")


if __name__ == "__main__":
    main(sys.argv[1])
