"""The email adapter: actions sent per second by one dispatcher process.

Each run starts from an empty data directory, launches a one-step email
campaign, targets ``emails`` customers, lets the synchronizer request an
action for each, then times one dispatcher draining them against an
aiosmtpd server on loopback: per action the ledger's take, the customer's
lookup and the Jinja2 render, the consent re-check from the store, the SMTP
transaction (one connection kept open) and the settle with its proof. The
server runs in a thread of the same process, so it shares the interpreter's
lock with the dispatcher: the figure is a floor for a remote relay.
"""

from __future__ import annotations

import logging
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiosmtpd.controller import Controller

from touchline.adapters.registry import close_adapters, dispatcher_runners
from touchline.bootstrap import build_backbone
from touchline.config import load_settings
from touchline.events import Identities, new_event
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.logs import configure_logging

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class _Counting:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:
        with self.lock:
            self.count += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _smtp() -> Iterator[tuple[int, _Counting]]:
    handler = _Counting()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def one_run(emails: int) -> float:
    """Emails per second for one dispatcher draining ``emails`` actions."""
    with _smtp() as (port, server), tempfile.TemporaryDirectory(prefix="touchline-bench-") as d:
        settings = load_settings(
            {}, data_dir=d, smtp_host="127.0.0.1", smtp_port=port, adapter_rate=1e9
        )
        with build_backbone(settings) as backbone:
            terms = CampaignLaunched(
                name="Bench", offers=(OfferTerms(code="B"),), sequence=(Step(channel="email"),)
            )
            launch = new_event(terms, occurred_at=T0, source="bench", campaign_id="bench")
            backbone.publisher.publish([launch])
            targets = [
                new_event(
                    CustomerTargeted(),
                    occurred_at=T0 + timedelta(seconds=1),
                    source="bench",
                    identities=Identities(email=f"c{i}@example.com"),
                    campaign_id="bench",
                )
                for i in range(emails)
            ]
            for start in range(0, emails, 1000):
                backbone.publisher.publish(targets[start : start + 1000])
            backbone.runtime.catch_up()
            runners = dispatcher_runners(backbone)
            try:
                started = time.perf_counter()
                while sum(runner.step() for runner in runners):
                    pass
                elapsed = time.perf_counter() - started
            finally:
                close_adapters(runners)
        if server.count != emails:
            raise RuntimeError(f"{server.count} of {emails} emails arrived")
    return emails / elapsed


def main(runs: int, emails: int) -> list[str]:
    configure_logging(level=logging.WARNING)
    rates = [one_run(emails) for _ in range(runs)]
    return [
        f"adapters: {emails:,} emails per run, {runs} runs, one dispatcher, aiosmtpd on loopback",
        f"  sent with the consent re-check {statistics.median(rates):>9,.0f} emails/s (median)",
        "  runs: " + ", ".join(f"{rate:,.0f}" for rate in rates),
    ]
