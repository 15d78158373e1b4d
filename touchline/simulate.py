"""A day of traffic from every channel system, for the demo and the benchmarks.

Deterministic for a seed: the same seed gives the same customers, the same
events and the same event ids (UUIDv7 built from the simulated time and the
seeded generator), so publishing a day twice doubles nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from touchline.events import Envelope, Identities, Payload
from touchline.events.call import CallbackRequested, InboundCallEnded, InboundCallStarted
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import ContactPressure, OfferTerms, Step
from touchline.events.email import (
    EmailClicked,
    EmailDelivered,
    EmailOpened,
    EmailSent,
    EmailUnsubscribed,
)
from touchline.events.fax import FaxReceived
from touchline.events.identity import CustomerIdentified
from touchline.events.order import LineItem, OrderPlaced
from touchline.events.partner import PartnerOrderPlaced, PartnerOrderShipped
from touchline.events.service import CaseOpened, CaseResolved, SurveyAnswered
from touchline.events.web import CartUpdated, CheckoutCompleted, PageViewed, ProductViewed

FIRST = ["Ann", "Ben", "Chloe", "Dev", "Eva", "Femi", "Gus", "Hana", "Ivo", "Jade", "Kai", "Lea"]
LAST = ["Example", "Okafor", "Novak", "Silva", "Tanaka", "Meyer", "Haddad", "Kowalski", "Reyes"]
PRODUCTS = [
    ("SKU-TRAIL-1", "Trail shoe X", 129.0),
    ("SKU-RAIN-2", "Rain shell", 89.0),
    ("SKU-SOCK-3", "Merino socks", 19.0),
    ("SKU-PACK-4", "Day pack 20L", 75.0),
    ("SKU-LAMP-5", "Head lamp", 39.0),
]
PARTNERS = [("acme-resellers", "Acme Resellers"), ("northwind", "Northwind Trading")]
AGENTS = [("A17", "Lee"), ("A23", "Priya"), ("A31", "Marco"), ("A42", "Sam")]
CAMPAIGN = "winter-sale"
SUBJECT = "Winter sale: 20% off trail gear"
WINTER = CampaignLaunched(
    name="Winter sale",
    offers=(
        OfferTerms(
            code="WINTER20",
            priority=10,
            products=("SKU-TRAIL-1", "SKU-RAIN-2"),
            page="https://shop.example.com/winter",
            valid_days=14,
        ),
    ),
    sequence=(
        Step(channel="email"),
        Step(channel="phone", after_days=3),
        Step(channel="partner", after_days=3),
    ),
    channels=("web", "in_person"),
    pressure=ContactPressure(touches=3, window_days=7),
)
"""The day's campaign: launched before the day starts, every customer targeted."""


@dataclass(frozen=True, slots=True)
class Person:
    number: int
    name: str
    email: str
    phone: str
    """As the phone system prints it: national or international, not yet E.164."""
    crm_id: str
    web_id: str
    partner: tuple[str, str] | None
    fax: str | None


def uuid7_at(moment: datetime, rng: random.Random) -> UUID:
    """A UUIDv7 for ``moment`` whose random bits come from ``rng``."""
    millis = int(moment.timestamp() * 1000)
    rand_a, rand_b = rng.getrandbits(12), rng.getrandbits(62)
    return UUID(int=(millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


def make_people(count: int, rng: random.Random) -> list[Person]:
    people = []
    for number in range(count):
        first, last = FIRST[number % len(FIRST)], LAST[(number // len(FIRST)) % len(LAST)]
        if number == 0:
            first, last = "Ann", "Example"
        area = 200 + number % 700
        line = 1000 + number % 9000
        people.append(
            Person(
                number=number,
                name=f"{first} {last}",
                email=f"{first}.{last}.{number}@example.com",
                phone=f"({area}) 555-{line:04d}" if number % 2 else f"+1 {area} 555 {line:04d}",
                crm_id=f"CRM-{100000 + number}",
                web_id=f"w-{rng.getrandbits(48):012x}",
                partner=(PARTNERS[number % 2][0], f"PC-{number:06d}")
                if number == 0 or rng.random() < 0.15
                else None,
                fax=f"+1 {area} 555 {(line + 1) % 10000:04d}"
                if number == 0 or rng.random() < 0.05
                else None,
            )
        )
    return people


class Day:
    """Builds the envelopes of one simulated day; ``events()`` yields them in time order."""

    def __init__(self, day: date, customers: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.start = datetime.combine(day, time(7, 0), tzinfo=UTC)
        self.people = make_people(customers, self.rng)
        self._events: list[Envelope] = []

    def events(self) -> list[Envelope]:
        if not self._events:
            self._emit(
                self.start - timedelta(hours=1), "campaign-engine", Identities(), WINTER, True
            )
            for person in self.people:
                self._journey(person)
            self._events.sort(key=lambda e: (e.occurred_at, e.id))
        return self._events

    def _emit(
        self, at: datetime, source: str, ids: Identities, payload: Payload, campaign: bool = False
    ) -> None:
        self._events.append(
            Envelope(
                id=uuid7_at(at, self.rng),
                type=payload.type,
                version=payload.version,
                occurred_at=at,
                source=source,
                payload=payload,
                identities=ids,
                campaign_id=CAMPAIGN if campaign else None,
            )
        )

    def _journey(self, p: Person) -> None:
        rng = self.rng
        at = self.start + timedelta(seconds=p.number % 600)
        crm = Identities(
            crm_id=p.crm_id,
            email=p.email,
            phone=p.phone,
            web_id=p.web_id,
            partner_account=p.partner[0] if p.partner else None,
            partner_customer_ref=p.partner[1] if p.partner else None,
            fax=p.fax,
        )
        self._emit(at, "crm", crm, CustomerIdentified(method="crm_sync"))
        targeted = CustomerTargeted(segment="active-customers", targeted_by="campaign-engine")
        self._emit(at + timedelta(seconds=1), "campaign-engine", crm, targeted, True)
        clock = _Clock(at + timedelta(hours=1), rng)
        steps: list[Callable[[Person, _Clock], None]] = [self._email_campaign]
        if p.number == 0 or rng.random() < 0.6:
            steps.append(self._web_visit)
        if p.number == 0 or rng.random() < 0.25:
            steps.append(self._call)
        if p.fax and (p.number == 0 or rng.random() < 0.5):
            steps.append(self._fax)
        if p.partner and (p.number == 0 or rng.random() < 0.6):
            steps.append(self._partner_order)
        for step in steps:
            step(p, clock)

    def _email_campaign(self, p: Person, clock: _Clock) -> None:
        ids = Identities(email=p.email)
        message = f"msg-{p.number}"
        self._emit(
            clock.next(1),
            "esp",
            ids,
            EmailSent(message_id=message, subject=SUBJECT, template="winter-1"),
            True,
        )
        self._emit(
            clock.next(1), "esp", ids, EmailDelivered(message_id=message, subject=SUBJECT), True
        )
        if p.number == 0 or self.rng.random() < 0.45:
            self._emit(
                clock.next(90), "esp", ids, EmailOpened(message_id=message, subject=SUBJECT), True
            )
            if p.number == 0 or self.rng.random() < 0.4:
                url = "https://shop.example.com/winter"
                self._emit(
                    clock.next(2),
                    "esp",
                    ids,
                    EmailClicked(message_id=message, subject=SUBJECT, url=url),
                    True,
                )
        elif self.rng.random() < 0.03:
            self._emit(
                clock.next(120),
                "esp",
                ids,
                EmailUnsubscribed(message_id=message, subject=SUBJECT),
                True,
            )

    def _web_visit(self, p: Person, clock: _Clock) -> None:
        ids = Identities(web_id=p.web_id)
        session = f"s-{p.number}"
        self._emit(
            clock.next(30),
            "web",
            ids,
            PageViewed(
                session_id=session, url="https://shop.example.com/winter", title="Winter sale"
            ),
        )
        sku, name, price = PRODUCTS[self.rng.randrange(len(PRODUCTS))] if p.number else PRODUCTS[0]
        for _ in range(1 + self.rng.randrange(3)):
            self._emit(
                clock.next(2),
                "web",
                ids,
                ProductViewed(session_id=session, sku=sku, name=name, price=price, currency="USD"),
            )
        if p.number == 0 or self.rng.random() < 0.3:
            item = LineItem(sku=sku, quantity=1, unit_price=price, description=name)
            self._emit(
                clock.next(3),
                "web",
                ids,
                CartUpdated(session_id=session, items=(item,), cart_value=price, currency="USD"),
            )
            order = f"O-{p.number:06d}"
            self._emit(
                clock.next(4),
                "web",
                ids,
                CheckoutCompleted(session_id=session, order_id=order, total=price, currency="USD"),
            )
            self._emit(
                clock.next(0),
                "shop",
                Identities(email=p.email),
                OrderPlaced(order_id=order, items=(item,), total=price, currency="USD", via="web"),
            )

    def _call(self, p: Person, clock: _Clock) -> None:
        ids = Identities(phone=p.phone)
        call = f"call-{p.number}"
        path = ("main", "billing") if p.number % 3 else ("main", "orders", "returns")
        agent_id, agent = AGENTS[p.number % len(AGENTS)] if p.number else AGENTS[0]
        self._emit(clock.next(60), "ivr", ids, InboundCallStarted(call_id=call, ivr_path=path))
        seconds = 60 + self.rng.randrange(600) if p.number else 252
        reason = "billing question" if path[-1] == "billing" else "return of an order"
        self._emit(
            clock.after(seconds),
            "contact-centre",
            ids,
            InboundCallEnded(
                call_id=call,
                duration_seconds=seconds,
                ivr_path=path,
                queue=path[-1],
                agent_id=agent_id,
                agent_name=agent,
                disposition=reason,
            ),
        )
        if p.number == 0 or self.rng.random() < 0.3:
            case = f"CASE-{p.number:06d}"
            complaint = p.number == 0 or self.rng.random() < 0.3
            self._emit(
                clock.next(1),
                "crm",
                Identities(crm_id=p.crm_id),
                CaseOpened(
                    case_id=case,
                    subject=reason.capitalize(),
                    category=path[-1],
                    is_complaint=complaint,
                    opened_via="phone",
                ),
            )
            self._emit(
                clock.next(120),
                "crm",
                Identities(crm_id=p.crm_id),
                CaseResolved(
                    case_id=case, resolution="Refund of shipping fee agreed", resolved_by=agent
                ),
            )
            self._emit(
                clock.next(30),
                "survey-tool",
                Identities(email=p.email),
                SurveyAnswered(
                    survey_id="csat", scale="1-5", score=2 + self.rng.randrange(4), case_id=case
                ),
            )
        elif self.rng.random() < 0.2:
            self._emit(
                clock.next(5),
                "ivr",
                ids,
                CallbackRequested(call_id=call, reason="wants to talk to sales"),
            )

    def _fax(self, p: Person, clock: _Clock) -> None:
        assert p.fax is not None
        ids = Identities(fax=p.fax)
        self._emit(
            clock.next(45),
            "fax-gateway",
            ids,
            FaxReceived(
                document_id=f"FAX-{p.number:06d}", pages=2, form_name="signed trade account"
            ),
        )

    def _partner_order(self, p: Person, clock: _Clock) -> None:
        assert p.partner is not None
        account, ref = p.partner
        partner_name = dict(PARTNERS)[account]
        ids = Identities(partner_account=account, partner_customer_ref=ref)
        sku, name, price = PRODUCTS[(p.number + 3) % len(PRODUCTS)]
        quantity = 1 + self.rng.randrange(12)
        item = LineItem(sku=sku, quantity=quantity, unit_price=price, description=name)
        order = f"P-{p.number:06d}"
        self._emit(
            clock.next(60),
            "partner-portal",
            ids,
            PartnerOrderPlaced(
                partner_account=account,
                partner_customer_ref=ref,
                partner_name=partner_name,
                order_id=order,
                items=(item,),
                total=round(price * quantity, 2),
                currency="USD",
            ),
        )
        self._emit(
            clock.next(180),
            "partner-portal",
            ids,
            PartnerOrderShipped(
                partner_account=account,
                partner_customer_ref=ref,
                partner_name=partner_name,
                order_id=order,
                carrier="UPS",
            ),
        )


class _Clock:
    """Moves a person's day forward by random steps (minutes), never backwards."""

    def __init__(self, start: datetime, rng: random.Random) -> None:
        self.now = start
        self.rng = rng

    def next(self, typical_minutes: float) -> datetime:
        minutes = self.rng.expovariate(1 / typical_minutes) if typical_minutes else 0.0
        self.now += timedelta(minutes=minutes, seconds=1)
        return self.now

    def after(self, seconds: int) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def simulate_day(day: date, customers: int, seed: int) -> tuple[list[Person], list[Envelope]]:
    simulation = Day(day, customers, seed)
    return simulation.people, simulation.events()


def batches(events: list[Envelope], size: int) -> Iterator[list[Envelope]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]
