"""The adapters: actions delivered per second by one dispatcher process.

Each run starts from an empty data directory, launches a one-step campaign
on the channel, targets ``actions`` customers, lets the synchronizer request
an action for each, then times one dispatcher draining them: per action the
ledger's take, the customer's lookup and the render, the consent re-check
from the store, the delivery and the settle with its proof. Email goes to an
aiosmtpd server, call tasks (signed Standard Webhooks) to a uvicorn
endpoint, each in a process of its own (:mod:`bench.sinks`) that counts what
arrives by its id: every action must arrive exactly once.
"""

from __future__ import annotations

import base64
import logging
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from bench.sinks import sink
from touchline.adapters.registry import close_adapters, dispatcher_runners
from touchline.bootstrap import build_backbone
from touchline.config import load_settings
from touchline.events import Identities, new_event
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.events.consent import ContactChannel
from touchline.logs import configure_logging

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"bench webhook secret 32 bytes!!!").decode()


def one_run(channel: ContactChannel, actions: int) -> float:
    """Actions per second for one dispatcher draining ``actions`` of ``channel``."""
    kind = "smtp" if channel == "email" else "http"
    with sink(kind) as receiver, tempfile.TemporaryDirectory(prefix="touchline-bench-") as d:
        where = (
            {"smtp_host": "127.0.0.1", "smtp_port": receiver.port}
            if kind == "smtp"
            else {
                "contact_centre_url": f"http://127.0.0.1:{receiver.port}/tasks",
                "contact_centre_secret": SECRET,
            }
        )
        settings = load_settings({}, data_dir=d, adapter_rate=1e9, **where)
        with build_backbone(settings) as backbone:
            terms = CampaignLaunched(
                name="Bench", offers=(OfferTerms(code="B"),), sequence=(Step(channel=channel),)
            )
            launch = new_event(terms, occurred_at=T0, source="bench", campaign_id="bench")
            backbone.publisher.publish([launch])
            targets = [
                new_event(
                    CustomerTargeted(),
                    occurred_at=T0 + timedelta(seconds=1),
                    source="bench",
                    identities=Identities(email=f"c{i}@example.com", phone=f"+1415{i:07d}"),
                    campaign_id="bench",
                )
                for i in range(actions)
            ]
            for start in range(0, actions, 1000):
                backbone.publisher.publish(targets[start : start + 1000])
            backbone.runtime.catch_up()
            runners = dispatcher_runners(backbone, only=[channel])
            try:
                started = time.perf_counter()
                while sum(runner.step() for runner in runners):
                    pass
                elapsed = time.perf_counter() - started
            finally:
                close_adapters(runners)
        distinct, total = receiver.received()
    if distinct != actions or total != actions:
        raise RuntimeError(f"{actions} sent, {distinct} distinct arrived ({total} in all)")
    return actions / elapsed


def main(runs: int, emails: int, webhooks: int) -> list[str]:
    configure_logging(level=logging.WARNING)
    lines = []
    runs_of: tuple[tuple[ContactChannel, int, str, int], ...] = (
        ("email", emails, "emails, SMTP (aiosmtpd)", 1_000),
        ("phone", webhooks, "call-task webhooks, HTTP (uvicorn)", 2_000),
    )
    for channel, count, what, goal in runs_of:
        rates = [one_run(channel, count) for _ in range(runs)]
        lines += [
            f"adapters: {count:,} {what} per run, {runs} runs, one dispatcher, "
            "the receiver in its own process on loopback",
            f"  delivered with the consent re-check {statistics.median(rates):>7,.0f}/s (median)"
            f"   goal {goal:,}/s",
            "  runs: " + ", ".join(f"{rate:,.0f}" for rate in rates),
        ]
    return lines
