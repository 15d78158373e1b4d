"""Identity resolution on the embedded runtime: one person, one customer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from tests.conftest import DAY
from tests.helpers import event
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.bootstrap import Backbone
from touchline.events import Envelope, Identities
from touchline.events.email import EmailOpened
from touchline.events.identity import CustomerIdentified
from touchline.events.web import PageViewed
from touchline.handlers.identity_graph import find_customer
from touchline.projections.timeline import read_timeline
from touchline.store.tables import customers, projector_positions

Runtime = EmbeddedRuntime | KafkaRuntime


def _customer(backbone: Backbone, kind: str, value: str) -> str:
    with backbone.engine.connect() as connection:
        customer_id = find_customer(connection, kind, value)
    assert customer_id is not None
    return customer_id


def _story(backbone: Backbone, customer_id: str) -> list[str]:
    with backbone.engine.connect() as connection:
        return [e.type for e in read_timeline(connection, customer_id, limit=100).entries]


def _split_then_linked() -> list[Envelope]:
    """Web and email seen apart (two customers), then a login ties them."""
    return [
        event(PageViewed(url="https://shop.test/"), DAY, identities=Identities(web_id="w-1")),
        event(
            EmailOpened(message_id="m1"),
            DAY + timedelta(minutes=5),
            identities=Identities(email="ann@example.com"),
        ),
        event(
            CustomerIdentified(method="login"),
            DAY + timedelta(minutes=10),
            identities=Identities(web_id="w-1", email="ann@example.com"),
        ),
        event(
            PageViewed(url="https://shop.test/account"),
            DAY + timedelta(minutes=11),
            identities=Identities(web_id="w-1"),
        ),
    ]


def _publish_in_two_steps(runtime: Runtime, story: list[Envelope]) -> None:
    """Web and email resolved (two customers exist) before the linking event:
    partitions are consumed in no particular order, so this forces the merge."""
    runtime.backbone.publisher.publish(story[:2])
    runtime.drain()
    runtime.backbone.publisher.publish(story[2:])
    runtime.drain()


def test_an_event_tying_two_customers_merges_them_into_the_oldest(runtime: Runtime) -> None:
    """After the login, both identifiers and both histories belong to the first customer."""
    backbone = runtime.backbone
    story = _split_then_linked()
    _publish_in_two_steps(runtime, story)

    survivor = _customer(backbone, "web_id", "w-1")
    assert _customer(backbone, "email", "ann@example.com") == survivor
    assert survivor == f"cus_{story[0].id.hex}"
    newest_first = _story(backbone, survivor)
    # The merge notice shares its cause's instant, so those two may come in either order.
    assert newest_first[0] == "web.page_viewed"
    assert sorted(newest_first[1:3]) == ["customer.identified", "customer.merged"]
    assert newest_first[3:] == ["email.opened", "web.page_viewed"]
    with backbone.engine.connect() as connection:
        merged_into = dict(
            connection.execute(select(customers.c.customer_id, customers.c.merged_into)).all()
        )
    assert merged_into == {survivor: None, f"cus_{story[1].id.hex}": survivor}


def test_the_merge_is_an_audit_entry_naming_its_cause(runtime: Runtime) -> None:
    """The timeline says which customer was folded in and which event caused it."""
    backbone = runtime.backbone
    story = _split_then_linked()
    _publish_in_two_steps(runtime, story)
    survivor = _customer(backbone, "web_id", "w-1")
    with backbone.engine.connect() as connection:
        entries = read_timeline(connection, survivor, limit=100).entries
    [audit] = [e for e in entries if e.type == "customer.merged"]
    assert f"cus_{story[1].id.hex}" in audit.summary
    assert "customer.identified" in audit.summary


def test_events_of_the_merged_customer_still_in_flight_land_on_the_survivor(
    backbone: Backbone,
) -> None:
    """An interaction resolved before the merge but projected after it follows the merge."""
    story = _split_then_linked()
    backbone.publisher.publish(story[:2])
    resolver, timeline, _synchronizer = backbone.runtime.runners
    resolver.step()  # two customers exist; their interactions wait unprojected
    late = event(
        EmailOpened(message_id="m2"),
        DAY + timedelta(minutes=6),
        identities=Identities(email="ann@example.com"),
    )
    backbone.publisher.publish([late])
    resolver.step()
    backbone.publisher.publish(story[2:])
    resolver.step()  # the merge is decided; the timeline has seen nothing yet
    while timeline.step():
        pass
    survivor = _customer(backbone, "web_id", "w-1")
    assert len(_story(backbone, survivor)) == 6
    with backbone.engine.connect() as connection:
        merged = f"cus_{story[1].id.hex}"
        assert read_timeline(connection, merged).entries == []


def test_replaying_merges_from_scratch_gives_the_same_timeline(backbone: Backbone) -> None:
    """Positions forgotten, the log replayed: same customers, same entries, no doubles."""
    backbone.publisher.publish(_split_then_linked())
    backbone.runtime.catch_up()
    survivor = _customer(backbone, "web_id", "w-1")
    before = _story(backbone, survivor)
    with backbone.engine.begin() as connection:
        connection.execute(delete(projector_positions))
    for runner in backbone.runtime.runners:
        runner.forget()
    backbone.runtime.catch_up()
    assert _customer(backbone, "email", "ann@example.com") == survivor
    assert _story(backbone, survivor) == before
