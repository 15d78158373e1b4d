"""Profiles rebuilt from the timeline's index: one customer, or all of them into
a new generation while the live one keeps running."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from tests.conftest import DAY
from tests.helpers import event
from touchline.bootstrap import Backbone
from touchline.events import Envelope, Identities
from touchline.events.order import LineItem, OrderPlaced
from touchline.events.service import CaseOpened
from touchline.events.web import PageViewed
from touchline.projections.profile_store import generations, rebuild_all, rebuild_customer
from touchline.store.tables import customer_profiles


def _orders(people: range, day: int) -> list[Envelope]:
    return [
        event(
            OrderPlaced(
                order_id=f"o-{n}-{day}",
                items=(LineItem(sku="sku", quantity=1, unit_price=100.0 + n),),
                total=100.0 + n,
                currency="EUR",
                via="web",
            ),
            DAY + timedelta(days=day, minutes=n),
            identities=Identities(email=f"p{n}@example.com"),
        )
        for n in people
    ]


def _states(backbone: Backbone, generation: int) -> dict[str, bytes]:
    p = customer_profiles.c
    with backbone.engine.connect() as connection:
        rows = connection.execute(select(p.customer_id, p.state).where(p.generation == generation))
        return dict(rows.all())


def _feed(backbone: Backbone, events: list[Envelope]) -> None:
    backbone.publisher.publish(events)
    backbone.runtime.catch_up()


def test_a_full_rebuild_switches_to_an_identical_generation(backbone: Backbone) -> None:
    """Rebuilt from the index, every profile equals the live one; the old generation goes."""
    _feed(backbone, _orders(range(12), 0) + _orders(range(6), 1))
    live = _states(backbone, 0)
    assert len(live) == 12
    assert rebuild_all(backbone.engine, backbone.codec, chunk=5) == 12
    with backbone.engine.connect() as connection:
        assert generations(connection).live == 1
        assert generations(connection).building is None
    assert _states(backbone, 1) == live
    assert _states(backbone, 0) == {}


def test_events_arriving_during_a_rebuild_reach_the_new_generation(backbone: Backbone) -> None:
    """Customers already rebuilt and those still to come both end up current."""
    _feed(backbone, _orders(range(10), 0))
    fed: list[int] = []

    def meanwhile(done: int) -> None:
        # Between two chunks the live projection moves on, for customers on
        # both sides of the rebuild's cursor.
        if not fed:
            fed.append(done)
            _feed(
                backbone,
                _orders(range(10), 1)
                + [
                    event(
                        CaseOpened(case_id=f"case-{n}", subject="Late delivery"),
                        DAY + timedelta(days=2),
                        identities=Identities(email=f"p{n}@example.com"),
                    )
                    for n in range(0, 10, 3)
                ],
            )

    rebuild_all(backbone.engine, backbone.codec, chunk=3, progress=meanwhile)
    assert fed == [3]
    rebuilt = _states(backbone, 1)
    with backbone.engine.begin() as connection:
        for customer_id in rebuilt:
            rebuild_customer(connection, backbone.codec, customer_id)
    assert _states(backbone, 1) == rebuilt
    assert len(rebuilt) == 10


def test_one_customer_rebuilt_from_the_index(backbone: Backbone) -> None:
    """A lost profile row comes back exactly as it was; a customer without events has none."""
    _feed(
        backbone,
        [
            *_orders(range(3), 0),
            event(PageViewed(url="https://shop.test/"), DAY, identities=Identities(web_id="w")),
        ],
    )
    before = _states(backbone, 0)
    with backbone.engine.begin() as connection:
        connection.execute(delete(customer_profiles))
        for customer_id in before:
            assert rebuild_customer(connection, backbone.codec, customer_id)
        assert not rebuild_customer(connection, backbone.codec, "cus_nobody")
    assert _states(backbone, 0) == before
