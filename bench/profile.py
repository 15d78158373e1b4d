"""Profile reads for customers with long histories.

Builds the timeline and the profile (its follower) for ``people`` customers
with ``history`` events each, spread over two years across every channel the
profile folds, fed in time order through :class:`TimelineProjection` in
batches of 2,000 as the runner does. Then, per run: ``reads`` calls of
``read_profile`` for random customers, each on its own pooled connection as
a request would be (check-out, the queries, decode, render, release), and a
few ``rebuild_customer`` calls (decode the whole history from the timeline's
index, fold, store; commit included).
"""

from __future__ import annotations

import logging
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Engine, select

from bench.identity import BATCH, crm_id, customer_id, email, phone, scratch, web_id
from touchline.events import CATALOGUE, Envelope, EventCodec, Identities, Payload, new_event
from touchline.events.call import InboundCallEnded
from touchline.events.campaign import OfferMade, OfferResponded
from touchline.events.consent import (
    ConsentChannel,
    ConsentGranted,
    ConsentPurpose,
    ConsentRevoked,
    DoNotContactCleared,
    DoNotContactSet,
)
from touchline.events.email import (
    EmailClicked,
    EmailComplained,
    EmailOpened,
    EmailSent,
    EmailUnsubscribed,
)
from touchline.events.fax import FaxReceived
from touchline.events.identity import CustomerIdentified
from touchline.events.order import DirectChannel, LineItem, OrderPlaced, OrderReturned
from touchline.events.partner import (
    PartnerOrderCancelled,
    PartnerOrderPlaced,
    PartnerOrderShipped,
)
from touchline.events.service import CaseOpened, CaseResolved, CaseUpdated, SurveyAnswered
from touchline.events.web import ChatMessageSent, PageViewed, ProductViewed, Searched
from touchline.logs import configure_logging
from touchline.processing.port import Received
from touchline.projections.profile import decode_state, render
from touchline.projections.profile_store import ProfileProjection, rebuild_customer
from touchline.projections.profile_view import ProfileRules
from touchline.projections.timeline import TimelineProjection
from touchline.queries import profile as read_profile
from touchline.store.engine import make_engine
from touchline.store.tables import customer_profiles, identifiers
from touchline.store.writes import bulk_insert_ignoring_duplicates

SPAN = timedelta(days=730)
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
REBUILDS = 10
"""rebuild_customer calls per run: each decodes a whole history, so few."""


# --- long histories ------------------------------------------------------------------


class _Customer:
    """One customer's natural ids so far, for events that refer back to them."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.orders: list[str] = []
        self.partner_orders: list[str] = []
        self.cases: list[str] = []
        self.offers: list[str] = []


def _order(c: _Customer, i: int, rnd: random.Random) -> Payload:
    order_id = f"O-{c.n}-{i}"
    c.orders.append(order_id)
    price = round(rnd.uniform(10, 300), 2)
    item = LineItem(sku=f"SKU-{rnd.randrange(500)}", quantity=1, unit_price=price)
    via: DirectChannel = rnd.choice(["web", "store", "phone"])
    return OrderPlaced(order_id=order_id, items=(item,), total=price, currency="EUR", via=via)


def _return(c: _Customer, _i: int, rnd: random.Random) -> Payload:
    if not c.orders:
        return PageViewed(url="https://shop.example.com/returns")
    amount = round(rnd.uniform(5, 50), 2)
    return OrderReturned(order_id=rnd.choice(c.orders), amount_refunded=amount, currency="EUR")


def _partner_order(c: _Customer, i: int, rnd: random.Random) -> Payload:
    order_id = f"P-{c.n}-{i}"
    c.partner_orders.append(order_id)
    total = round(rnd.uniform(100, 2000), 2)
    item = LineItem(sku="SKU-TRADE", quantity=2, unit_price=round(total / 2, 2))
    return PartnerOrderPlaced(
        partner_account="ACME",
        partner_customer_ref=f"acme-{c.n}",
        partner_name="Acme Resellers",
        order_id=order_id,
        items=(item,),
        total=total,
        currency="EUR",
    )


def _partner_follow_up(c: _Customer, _i: int, rnd: random.Random) -> Payload:
    if not c.partner_orders:
        return Searched(query="trade account", result_count=3)
    order_id = rnd.choice(c.partner_orders)
    ref = f"acme-{c.n}"
    if rnd.random() < 0.8:
        return PartnerOrderShipped(
            partner_account="ACME", partner_customer_ref=ref, order_id=order_id, carrier="UPS"
        )
    return PartnerOrderCancelled(
        partner_account="ACME", partner_customer_ref=ref, order_id=order_id
    )


def _case(c: _Customer, i: int, rnd: random.Random) -> Payload:
    if c.cases and rnd.random() < 0.6:
        case_id = rnd.choice(c.cases)
        if rnd.random() < 0.5:
            return CaseResolved(case_id=case_id, resolution="Refunded")
        return CaseUpdated(case_id=case_id, status=rnd.choice(["in_progress", "escalated"]))
    case_id = f"CASE-{c.n}-{i}"
    c.cases.append(case_id)
    return CaseOpened(
        case_id=case_id,
        subject=rnd.choice(["Late delivery", "Refund missing", "Wrong size"]),
        category="delivery",
        is_complaint=rnd.random() < 0.3,
        opened_via=rnd.choice(["call", "email", "chat"]),
    )


def _survey(c: _Customer, _i: int, rnd: random.Random) -> Payload:
    case_id = rnd.choice(c.cases) if c.cases else None
    return SurveyAnswered(survey_id="csat", scale="1-5", score=rnd.randint(1, 5), case_id=case_id)


def _consent(_c: _Customer, _i: int, rnd: random.Random) -> Payload:
    channel: ConsentChannel = rnd.choice(["email", "phone", "sms", "all"])
    purpose: ConsentPurpose = rnd.choice(["marketing", "service", "profiling"])
    draw = rnd.random()
    if draw < 0.55:
        return ConsentGranted(contact_channel=channel, purpose=purpose)
    if draw < 0.85:
        return ConsentRevoked(contact_channel=channel, purpose=purpose)
    if draw < 0.93:
        return DoNotContactSet(reason="asked on a call", set_by="agent-7")
    return DoNotContactCleared(reason="asked again", cleared_by="agent-7")


def _offer(c: _Customer, i: int, rnd: random.Random) -> Payload:
    if c.offers and rnd.random() < 0.4:
        return OfferResponded(
            response=rnd.choice(["accepted", "declined"]),
            via="email",
            offer_code=rnd.choice(c.offers),
        )
    code = f"OFFER-{i % 40}"
    c.offers.append(code)
    return OfferMade(via=rnd.choice(["email", "phone"]), offer_code=code)


def _email(_c: _Customer, i: int, rnd: random.Random) -> Payload:
    message = f"m-{i // 3}"
    draw = rnd.random()
    if draw < 0.45:
        return EmailSent(message_id=message, subject="Winter sale")
    if draw < 0.80:
        return EmailOpened(message_id=message, subject="Winter sale")
    if draw < 0.99:
        return EmailClicked(message_id=message, url="https://shop.example.com/w")
    if draw < 0.996:
        return EmailUnsubscribed(message_id=message)
    return EmailComplained(message_id=message, subject="Winter sale")


def _web(c: _Customer, i: int, rnd: random.Random) -> Payload:
    draw = rnd.random()
    if draw < 0.55:
        return PageViewed(url=f"https://shop.example.com/p/{i % 97}")
    if draw < 0.85:
        return ProductViewed(sku=f"SKU-{i % 500}", price=129.0, currency="EUR")
    if draw < 0.95:
        return Searched(query="trail shoe", result_count=4)
    sender: Literal["customer", "agent"] = rnd.choice(["customer", "agent"])
    return ChatMessageSent(conversation_id=f"chat-{c.n}-{i // 5}", sender=sender, text="Hi")


def _call(_c: _Customer, i: int, rnd: random.Random) -> Payload:
    return InboundCallEnded(
        call_id=f"call-{i}", duration_seconds=rnd.randrange(30, 900), agent_name="Lee"
    )


def _fax(_c: _Customer, i: int, _rnd: random.Random) -> Payload:
    return FaxReceived(document_id=f"fax-{i}", pages=2, subject="Trade form")


def _identified(_c: _Customer, _i: int, _rnd: random.Random) -> Payload:
    return CustomerIdentified(method="login")


_MIX = (
    (_email, 38),
    (_web, 30),
    (_order, 6),
    (_return, 1),
    (_partner_order, 3),
    (_partner_follow_up, 3),
    (_case, 5),
    (_survey, 2),
    (_consent, 2),
    (_offer, 4),
    (_call, 4),
    (_fax, 1),
    (_identified, 1),
)
"""Builders and weights: engagement-heavy, as real histories are."""


def history(n: int, count: int, rnd: random.Random) -> list[Envelope]:
    """``count`` events for customer ``n`` over the two years before :data:`NOW`."""
    builders = [builder for builder, _ in _MIX]
    weights = [weight for _, weight in _MIX]
    person = _Customer(n)
    ids = Identities(email=email(n), phone=phone(n), web_id=web_id(n), crm_id=crm_id(n))
    start = NOW - SPAN
    moments = sorted(start + SPAN * rnd.random() for _ in range(count))
    events = []
    for i, at in enumerate(moments):
        payload = rnd.choices(builders, weights)[0](person, i, rnd)
        events.append(
            new_event(
                payload,
                occurred_at=at,
                source="bench",
                identities=ids,
                customer_id=customer_id(n),
                campaign_id="winter" if payload.channel == "campaign" else None,
            )
        )
    return events


# --- the store -----------------------------------------------------------------------


def build(engine: Engine, codec: EventCodec, people: int, count: int) -> tuple[int, float]:
    """Project every history through the timeline and the profile; events and seconds."""
    rnd = random.Random(7)
    events = sorted(
        (e for n in range(people) for e in history(n, count, rnd)),
        key=lambda e: (e.occurred_at, e.id),
    )
    projection = TimelineProjection(
        "touchline.interactions", codec, followers=[ProfileProjection(codec)]
    )
    # Each event with its bytes, as the runner hands them over from the log.
    received = [Received(event, codec.encode(event)) for event in events]
    started = time.perf_counter()
    for start in range(0, len(received), BATCH):
        with engine.begin() as connection:
            outcome = projection.process(connection, received[start : start + BATCH])
        if outcome.rejected:
            raise RuntimeError(f"the timeline refused {outcome.rejected[0]}")
    seconds = time.perf_counter() - started
    with engine.begin() as connection:
        # read_profile lists the customer's identifiers from the identity graph.
        bulk_insert_ignoring_duplicates(
            connection,
            identifiers,
            [
                {
                    "kind": kind,
                    "value": value(n),
                    "customer_id": customer_id(n),
                    "node_id": customer_id(n),
                    "linked_by_event": str(events[0].id),
                }
                for n in range(people)
                for kind, value in (
                    ("crm_id", crm_id),
                    ("email", email),
                    ("phone", phone),
                    ("web_id", web_id),
                )
            ],
        )
    return len(events), seconds


@dataclass(frozen=True)
class Run:
    reads_ms: list[float]
    render_ms: list[float]
    rebuild_ms: list[float]


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_run(engine: Engine, codec: EventCodec, people: int, reads: int, seed: int) -> Run:
    rnd = random.Random(seed)
    rules = ProfileRules()
    reads_ms = []
    for _ in range(reads):
        cid = customer_id(rnd.randrange(people))
        started = time.perf_counter()
        with engine.connect() as connection:
            profile = read_profile(connection, cid, rules, NOW)
        reads_ms.append((time.perf_counter() - started) * 1000)
        if profile is None:
            raise RuntimeError(f"no profile for {cid}")
    # The pure part of a read: decode the stored state and render it.
    with engine.connect() as connection:
        blobs = dict(
            connection.execute(select(customer_profiles.c.customer_id, customer_profiles.c.state))
            .tuples()
            .all()
        )
    render_ms = []
    for _ in range(min(reads, 500)):
        cid = customer_id(rnd.randrange(people))
        started = time.perf_counter()
        render(cid, decode_state(blobs[cid]), rules, NOW)
        render_ms.append((time.perf_counter() - started) * 1000)
    rebuild_ms = []
    for _ in range(REBUILDS):
        cid = customer_id(rnd.randrange(people))
        started = time.perf_counter()
        with engine.begin() as connection:
            rebuild_customer(connection, codec, cid)
        rebuild_ms.append((time.perf_counter() - started) * 1000)
    return Run(reads_ms, render_ms, rebuild_ms)


def state_sizes(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return [
            len(blob)
            for blob in connection.execute(select(customer_profiles.c.state)).scalars().all()
        ]


def main(
    runs: int, people: int, count: int, reads: int, database_url: str | None = None
) -> list[str]:
    configure_logging(level=logging.WARNING)
    codec = EventCodec(CATALOGUE)
    with scratch(database_url, "profile") as databases:
        engine = make_engine(databases.create("profiles"))
        try:
            events, build_seconds = build(engine, codec, people, count)
            sizes = state_sizes(engine)
            results = [one_run(engine, codec, people, reads, seed=run) for run in range(runs)]
        finally:
            engine.dispose()
    median = statistics.median

    def ms(values: Sequence[float], q: float) -> str:
        return f"{_quantile(values, q):.2f}"

    p50 = median(_quantile(r.reads_ms, 0.50) for r in results)
    p99 = median(_quantile(r.reads_ms, 0.99) for r in results)
    worst = max(max(r.reads_ms) for r in results)
    rendered = median(_quantile(r.render_ms, 0.50) for r in results)
    rebuilds = [ms for r in results for ms in r.rebuild_ms]
    return [
        f"profile ({databases.kind}): {people:,} customers x {count:,} events over two years, "
        f"{runs} runs of {reads:,} reads and {REBUILDS} rebuilds",
        f"  timeline + profile build   {events / build_seconds:>9,.0f} events/s "
        f"({events:,} events, batches of {BATCH:,})",
        f"  stored state               {median(sizes) / 1024:>9,.1f} KiB median, "
        f"{max(sizes) / 1024:,.1f} KiB max",
        f"  read_profile  p50 {p50:>7.2f} ms   p99 {p99:>7.2f} ms   max {worst:>7.2f} ms "
        "(medians of runs; max of all)",
        f"    of which decode + render p50 {rendered:.2f} ms",
        f"  rebuild_customer p50 {median(rebuilds):>7.1f} ms   max {max(rebuilds):.1f} ms "
        f"({count:,} events decoded and folded, commit included)",
        "  runs (p50/p99 ms): "
        + ", ".join(f"{ms(r.reads_ms, 0.5)}/{ms(r.reads_ms, 0.99)}" for r in results),
    ]
