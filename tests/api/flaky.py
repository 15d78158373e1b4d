"""A real HTTP server on loopback in front of the API, misbehaving on cue.

Each request takes the next step of the script (then ``forward`` for good):

- ``forward``: pass the request to the API and its answer back, streamed;
- ``503`` or ``429``, optionally with a Retry-After (``"429 7"``): answer
  that, as the API would when overloaded or away;
- ``drop``: close the connection without an answer (a server restarting);
- ``forward-then-drop``: pass the request on, then close without an answer
  (a server that appended the events and died before it could say so);
- ``cut-after N``: stream the answer, and break the connection off in the
  middle of its chunked body after N ``campaign-state`` events.

Every request is recorded, so a test sees what the client sent each time.
"""

from __future__ import annotations

import socket
import threading
from contextlib import closing
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import httpx

_HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class FlakyProxy:
    def __init__(self, upstream: str, script: list[str]) -> None:
        self.script = list(script)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._upstream = httpx.Client(base_url=upstream, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # Closing the server waits for its handlers: a stream's handler
        # ends at its next write once the client has gone.
        self._server.daemon_threads = False
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._upstream.close()

    def _next(self, seen: Seen) -> str:
        with self._lock:
            self.seen.append(seen)
            return self.script.pop(0) if self.script else "forward"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test reads ``seen``, not a log."""

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                step = proxy._next(Seen(self.command, self.path, headers, body))
                action, _, argument = step.partition(" ")
                try:
                    if action == "drop":
                        self._drop()
                    elif action in {"503", "429"}:
                        self._refuse(int(action), argument)
                    else:
                        self._forward(body, headers, action, argument)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went: so does its stream

            def _refuse(self, status: int, retry_after: str) -> None:
                problem = b'{"title":"Service unavailable","status":%d}' % status
                self.send_response(status)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Content-Length", str(len(problem)))
                if retry_after:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(problem)

            def _forward(
                self, body: bytes, headers: dict[str, str], action: str, argument: str
            ) -> None:
                passed = {k: v for k, v in headers.items() if k not in _HOP_BY_HOP}
                request = proxy._upstream.build_request(
                    self.command, self.path, content=body, headers=passed
                )
                with closing(proxy._upstream.send(request, stream=True)) as answer:
                    if action == "forward-then-drop":
                        answer.read()
                        self._drop()
                        return
                    self.send_response(answer.status_code)
                    for name, value in answer.headers.items():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    cut_after = int(argument) if action == "cut-after" else None
                    changes = 0
                    for line in answer.iter_lines():
                        self._chunk(line.encode() + b"\n")
                        changes += line == "event: campaign-state"
                        if line == "" and changes == cut_after:
                            self._drop()  # mid-body: no closing chunk
                            return
                    self._chunk(b"")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _drop(self) -> None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        return Handler
