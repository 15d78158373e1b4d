"""Real receiving ends for the adapter contract: what each channel's transport talks to.

Each counts what arrived by the action's key, and can be told to refuse the
next n messages (or all of them) the way a real server refuses.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.kafka_broker import free_port
from touchline.adapters.partners import parse_partner_webhooks
from touchline.events.consent import ContactChannel


class Receiver(Protocol):
    @property
    def channel(self) -> ContactChannel: ...

    def received(self) -> Counter[str]:
        """Messages arrived, by the key they carry (an email's Message-ID)."""

    @property
    def transient(self) -> str:
        """A refusal the transport is to retry, as this server says it (e.g. ``451 ...``)."""

    @property
    def permanent(self) -> str:
        """A refusal for good (e.g. ``550 ...``)."""

    def refuse(self, times: int | None, reply: str) -> None:
        """Refuse the next ``times`` messages (None: every one) with ``reply``."""

    def settings(self) -> dict[str, object]:
        """What touchline must be configured with to send here."""


class _CountingHandler:
    """An aiosmtpd handler that counts each accepted message by its Message-ID."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_id: Counter[str] = Counter()
        self.messages: list[bytes] = []
        self.refusals: int | None = 0
        self.reply = "451 4.3.0 Try again later"
        self.gate: threading.Event | None = None
        """When set, each message waits at DATA until the gate opens (a slow relay)."""
        self.waiting = threading.Event()
        """Set once a message waits at the gate."""
        self.arrivals = 0
        """Messages that reached DATA, taken or not."""
        self.hang_ups = 0
        """Messages to take and then hang up on, before the reply that says so."""

    async def handle_DATA(self, server: Any, _session: Any, envelope: Any) -> str:
        gate = self.gate
        with self.lock:
            self.arrivals += 1
        if gate is not None:
            self.waiting.set()
            await asyncio.get_running_loop().run_in_executor(None, gate.wait)
        with self.lock:
            if self.refusals is None or self.refusals > 0:
                if self.refusals is not None:
                    self.refusals -= 1
                return self.reply
            content: bytes = envelope.original_content or envelope.content
            self.messages.append(content)
            self.by_id[str(message_from_bytes(content)["Message-ID"])] += 1
            if self.hang_ups > 0:
                self.hang_ups -= 1
                server.transport.close()  # taken, but the sender never hears so
        return "250 2.0.0 Accepted"


class SmtpReceiver:
    """aiosmtpd on a free loopback port."""

    transient = "451 4.3.0 Try again later"
    permanent = "550 5.1.1 No such user"

    def __init__(self, channel: ContactChannel = "email") -> None:
        self.channel = channel
        self.handler = _CountingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def received(self) -> Counter[str]:
        with self.handler.lock:
            return Counter(self.handler.by_id)

    def refuse(self, times: int | None, reply: str) -> None:
        with self.handler.lock:
            self.handler.refusals, self.handler.reply = times, reply

    def settings(self) -> dict[str, object]:
        return {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "email_domain": "shop.example",
            "unsubscribe_url": "https://touchline.example",
            "fax_gateway_domain": "fax.example" if self.channel == "fax" else "",
        }


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""The receiving end's Standard Webhooks secret (base64 after the prefix)."""


class WebhookReceiver:
    """A threaded HTTP server on loopback that checks each POST's Standard
    Webhooks signature and counts the accepted ones by ``webhook-id``."""

    transient = "503 Service Unavailable"
    permanent = "422 Unprocessable Entity"

    def __init__(self, channel: ContactChannel, secret: str = SECRET) -> None:
        self.channel = channel
        self.secret = secret
        """The only secret this receiver takes a signature by."""
        self.lock = threading.Lock()
        self.by_id: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.refusals: int | None = 0
        self.reply = self.transient
        self.unsigned = 0
        """Requests refused for a missing or bad signature."""
        self.gate: threading.Event | None = None
        """When set, the first signed request waits until the gate opens (a slow receiver)."""
        self.waiting = threading.Event()
        """Set once that request waits at the gate."""
        receiver = self
        verifier = Webhook(secret)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    payload = verifier.verify(body, dict(self.headers.items()))
                except WebhookVerificationError:
                    with receiver.lock:
                        receiver.unsigned += 1
                    self._answer(401)
                    return
                gate = receiver.gate
                if gate is not None and not receiver.waiting.is_set():
                    receiver.waiting.set()
                    gate.wait()
                with receiver.lock:
                    if receiver.refusals is None or receiver.refusals > 0:
                        if receiver.refusals is not None:
                            receiver.refusals -= 1
                        self._answer(int(receiver.reply.split()[0]))
                        return
                    receiver.by_id[self.headers["webhook-id"]] += 1
                    receiver.bodies.append(payload)
                self._answer(204)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                del format, args  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{self.channel}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def received(self) -> Counter[str]:
        with self.lock:
            return Counter(self.by_id)

    def refuse(self, times: int | None, reply: str) -> None:
        with self.lock:
            self.refusals, self.reply = times, reply

    def settings(self) -> dict[str, object]:
        if self.channel == "phone":
            return {"contact_centre_url": self.url, "contact_centre_secret": self.secret}
        if self.channel == "web":
            return {"web_push_url": self.url, "web_push_secret": self.secret}
        webhooks = f"P-NORTH={self.url},P-DEFAULT={self.url}"
        assert parse_partner_webhooks(webhooks)
        return {
            "partner_webhooks": webhooks,
            "partner_default": "P-DEFAULT",
            "partner_webhook_secret": self.secret,
        }


Started = TypeVar("Started", SmtpReceiver, WebhookReceiver)


def running(receiver: Started) -> Iterator[Started]:
    """``receiver`` started, for a fixture to yield from; stopped after."""
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
