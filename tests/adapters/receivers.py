"""Real receiving ends for the adapter contract: what each channel's transport talks to.

Each counts what arrived by the action's key, and can be told to refuse the
next n messages (or all of them) the way a real server refuses.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from email import message_from_bytes
from typing import Any, Protocol

from aiosmtpd.controller import Controller

from tests.kafka_broker import free_port
from touchline.events.consent import ContactChannel


class Receiver(Protocol):
    @property
    def channel(self) -> ContactChannel: ...

    def received(self) -> Counter[str]:
        """Messages arrived, by the key they carry (an email's Message-ID)."""

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

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
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
        return "250 2.0.0 Accepted"


class SmtpReceiver:
    """aiosmtpd on a free loopback port."""

    channel: ContactChannel = "email"

    def __init__(self) -> None:
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
        }
