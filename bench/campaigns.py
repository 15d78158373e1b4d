"""Campaign synchronization: the synchronizer's throughput and next-best-offer latency.

Per run, on a fresh store (SQLite, or a scratch PostgreSQL database): 100
active campaigns are launched; ``customers`` customers are each targeted by
one of them, and about a third of them then click, a tenth accept, a tenth
order. The events go straight onto the interactions topic of an embedded
log, packed per partition and keyed by customer as the resolver writes them,
and the synchronizer's runner applies them in batches of 2,000 until none is
left: events per second, each one a transaction's share of state, feed and
actions. Then ``decisions`` next-best-offer decisions for random customers
(phone, so every filter runs), in process: p50 and p99.
"""

from __future__ import annotations

import logging
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.identity import customer_id, scratch
from touchline import offers
from touchline.bootstrap import packing_policies, relayed_topics
from touchline.config import load_settings
from touchline.events import CATALOGUE, Envelope, EventCodec, Payload, new_event
from touchline.events.campaign import CampaignLaunched, CustomerTargeted, OfferResponded
from touchline.events.campaign_terms import ContactPressure, OfferTerms, Step
from touchline.events.email import EmailClicked
from touchline.events.order import LineItem, OrderPlaced
from touchline.handlers.synchronizer import CampaignSynchronizer
from touchline.log.port import Record
from touchline.log.sqlite import SqliteLog
from touchline.logs import configure_logging
from touchline.processing.packing import pack
from touchline.processing.runner import ProcessorRunner
from touchline.store.engine import make_engine

CAMPAIGNS = 100
PARTITIONS = 8
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _campaign(n: int) -> CampaignLaunched:
    return CampaignLaunched(
        name=f"Campaign {n}",
        offers=(OfferTerms(code=f"OFFER{n}", priority=n % 7, products=(f"SKU-{n}",)),),
        sequence=(Step(channel="email"), Step(channel="phone", after_days=3)),
        channels=("web",),
        pressure=ContactPressure(touches=4, window_days=7),
    )


def _events(customers: int, rng: random.Random) -> list[Envelope]:
    launches = [
        new_event(_campaign(n), occurred_at=START, source="bench", campaign_id=f"c{n:03d}")
        for n in range(CAMPAIGNS)
    ]
    happened: list[Envelope] = []
    for n in range(customers):
        who, campaign = customer_id(n), f"c{n % CAMPAIGNS:03d}"
        at = START + timedelta(seconds=n % 86_400)
        story: list[Payload] = [CustomerTargeted(segment="bench")]
        roll = rng.random()
        if roll < 0.33:
            story.append(EmailClicked(message_id=f"m{n}", url="https://shop.example.com/x"))
        if roll < 0.1:
            story.append(OfferResponded(response="accepted", via="phone"))
        elif roll < 0.2:
            item = LineItem(sku="SKU-1", quantity=1, unit_price=20.0)
            story.append(
                OrderPlaced(order_id=f"o{n}", items=(item,), total=20.0, currency="USD", via="web")
            )
        for step, payload in enumerate(story):
            happened.append(
                new_event(
                    payload,
                    occurred_at=at + timedelta(minutes=step),
                    source="bench",
                    customer_id=who,
                    campaign_id=campaign,
                )
            )
    happened.sort(key=lambda e: e.occurred_at)
    return launches + happened


def one_run(
    customers: int, decisions: int, server_url: str | None, seed: int
) -> tuple[int, float, list[float]]:
    codec = EventCodec(CATALOGUE)
    settings = load_settings({})
    topics = settings.topics
    events = _events(customers, random.Random(seed))
    with tempfile.TemporaryDirectory(prefix="touchline-bench-campaigns-") as directory:
        log = SqliteLog(Path(directory) / "log.db")
        for topic in topics.all():
            log.create_topic(topic, PARTITIONS)
        launches = [e for e in events if e.customer_id is None]
        for launch in launches:
            value = codec.encode(launch)
            log.append(
                topics.interactions,
                [Record(value=value, partition=p) for p in range(PARTITIONS)],
            )
        rest = [e for e in events if e.customer_id is not None]
        for start in range(0, len(rest), 2_000):
            chunk = rest[start : start + 2_000]
            items = [(e, (e.customer_id or "").encode()) for e in chunk]
            log.append(topics.interactions, [r for _, r in pack(codec, items, PARTITIONS)])
        with scratch(server_url, "campaigns") as databases:
            engine = make_engine(databases.create("campaigns"))
            runner = ProcessorRunner(
                CampaignSynchronizer(
                    topics.interactions,
                    codec,
                    campaign_state_topic=topics.campaign_state,
                    actions_topic=topics.actions,
                ),
                log,
                engine,
                codec,
                dead_letter_topic=topics.dead_letter,
                batch_size=2_000,
                packing=packing_policies(settings),
                relayed=relayed_topics(settings),
            )
            started = time.perf_counter()
            while runner.step():
                pass
            elapsed = time.perf_counter() - started
            if runner.stats.dead_lettered:
                raise RuntimeError(f"{runner.stats.dead_lettered} events dead-lettered")
            rng = random.Random(seed)
            latencies = []
            next_offer = offers.NextBestOffer(engine, engine, codec)
            for _ in range(decisions):
                who = customer_id(rng.randrange(customers))
                began = time.perf_counter()
                next_offer.decide(who, channel="phone", at=START)
                latencies.append((time.perf_counter() - began) * 1000)
            engine.dispose()
        log.close()
    return len(events), elapsed, latencies


def main(runs: int, customers: int, decisions: int, server_url: str | None) -> list[str]:
    configure_logging(level=logging.WARNING)
    results = [one_run(customers, decisions, server_url, seed) for seed in range(runs)]
    rates = [count / elapsed for count, elapsed, _ in results]
    p50 = statistics.median(statistics.median(lat) for *_, lat in results)
    p99 = statistics.median(statistics.quantiles(lat, n=100)[98] for *_, lat in results)
    store = "PostgreSQL" if server_url else "SQLite"
    return [
        f"campaigns ({store}): {CAMPAIGNS} campaigns, {customers:,} targeted customers, "
        f"{results[0][0]:,} events per run, {runs} runs",
        f"  synchronizer        {statistics.median(rates):>9,.0f} events/s (median)",
        f"  next-best-offer     p50 {p50:.2f} ms, p99 {p99:.2f} ms "
        f"({decisions:,} decisions per run)",
        "  runs: " + ", ".join(f"{rate:,.0f}" for rate in rates),
    ]
