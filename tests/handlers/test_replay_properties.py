"""Replaying the log from scratch rebuilds the same customers, timelines and
profiles, whatever the stories and however often channels re-sent them."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import DAY
from tests.helpers import event
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import Settings
from touchline.events import Envelope, Identities, Payload
from touchline.events.consent import ConsentGranted, ConsentRevoked
from touchline.events.email import EmailOpened
from touchline.events.order import LineItem, OrderPlaced
from touchline.events.partner import PartnerOrderPlaced
from touchline.events.service import CaseOpened, CaseResolved
from touchline.events.web import PageViewed
from touchline.projections.timeline import read_timeline
from touchline.store.tables import customer_profiles, identifiers

AUDIT = {"customer.merged", "customer.unmerged"}


def _identities(person: int) -> list[Identities]:
    return [
        Identities(email=f"p{person}@example.com"),
        Identities(phone=f"+1415557{person:04d}"),
        Identities(web_id=f"w-{person}"),
        Identities(partner_account="reseller-1", partner_customer_ref=f"R-{person}"),
    ]


def _payload(kind: int, n: int) -> Payload:
    item = (LineItem(sku="sku", quantity=1, unit_price=10.0 + n),)
    payloads: list[Payload] = [
        EmailOpened(message_id=f"m{n}"),
        PageViewed(url=f"https://shop.test/{n}"),
        OrderPlaced(order_id=f"o{n}", items=item, total=10.0 + n, currency="EUR", via="web"),
        PartnerOrderPlaced(
            partner_account="reseller-1",
            partner_customer_ref=f"R-{n}",
            order_id=f"po{n}",
            items=item,
            total=10.0 + n,
            currency="EUR",
        ),
        CaseOpened(case_id=f"case{n % 3}", subject="Help", is_complaint=n % 2 == 0),
        CaseResolved(case_id=f"case{n % 3}", resolution="fixed"),
        ConsentGranted(contact_channel="email", purpose="marketing"),
        ConsentRevoked(contact_channel="email", purpose="marketing"),
    ]
    return payloads[kind]


@st.composite
def stories(draw: st.DrawFn) -> list[Envelope]:
    """Events of up to four people, each carrying one or two of the person's
    identifiers (so they link), at random times; some re-sent."""
    events = []
    for n in range(draw(st.integers(1, 25))):
        person = draw(st.integers(0, 3))
        ids = draw(st.lists(st.sampled_from(_identities(person)), min_size=1, max_size=2))
        merged = Identities(**{k: v for i in ids for k, v in _fields(i).items()})
        at = DAY + timedelta(minutes=draw(st.integers(0, 5000)))
        events.append(event(_payload(draw(st.integers(0, 7)), n), at, identities=merged))
    resent = draw(st.lists(st.sampled_from(events), max_size=5))
    return events + resent


def _fields(ids: Identities) -> dict[str, str]:
    return {name: getattr(ids, name) for name in ids.__struct_fields__ if getattr(ids, name)}


def _world(backbone: Backbone) -> dict[frozenset[str], tuple[object, ...]]:
    """Each customer, named by its identifiers (ids may differ between runs:
    which event is seen first decides them), with its story and profile."""
    world: dict[frozenset[str], tuple[object, ...]] = {}
    with backbone.engine.connect() as connection:
        rows = connection.execute(
            select(identifiers.c.customer_id, identifiers.c.kind, identifiers.c.value)
        )
        owned: dict[str, set[str]] = {}
        for customer_id, kind, value in rows:
            owned.setdefault(customer_id, set()).add(f"{kind}:{value}")
        for customer_id, keys in owned.items():
            entries = read_timeline(connection, customer_id, limit=1000).entries
            story = tuple((e.event_id, e.summary) for e in entries if e.type not in AUDIT)
            state = connection.execute(
                select(customer_profiles.c.state).where(
                    customer_profiles.c.customer_id == customer_id
                )
            ).scalar_one()
            world[frozenset(keys)] = (story, state)
    return world


def _run(
    data_dir: Path, log_dir: Path, events: list[Envelope] | None, batch_size: int
) -> dict[frozenset[str], tuple[object, ...]]:
    settings = Settings(
        data_dir=str(data_dir),
        log_url=f"sqlite:///{log_dir / 'log.db'}",
        partitions=4,
        batch_size=batch_size,
    )
    with build_backbone(settings) as backbone:
        if events is not None:
            backbone.publisher.publish(events)
        backbone.runtime.catch_up()
        return _world(backbone)


@settings(max_examples=40, deadline=None)
@given(events=stories())
def test_replaying_the_log_from_scratch_gives_the_same_world(events: list[Envelope]) -> None:
    """A second projection database fed from the same log, in other batches, agrees."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first = _run(root / "first", root, events, batch_size=7)
        # Other batch boundaries interleave the partitions differently, so
        # customers may be created and merged in another order: still the
        # same people with the same stories and profiles.
        again = _run(root / "again", root, None, batch_size=3)
    assert again == first
