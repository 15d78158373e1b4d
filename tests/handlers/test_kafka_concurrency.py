"""Two workers share the partitions on Kafka: their resolvers race on one graph."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import DAY
from tests.handlers.conftest import kafka_env
from tests.helpers import event
from tests.runtimes import KafkaRuntime
from touchline.bootstrap import build_backbone
from touchline.config import Settings, load_settings
from touchline.events import Envelope, Identities
from touchline.events.email import EmailOpened
from touchline.events.identity import CustomerIdentified
from touchline.handlers.identity_graph import find_customer
from touchline.processing.embedded import wait_until
from touchline.store.tables import timeline_entries

PEOPLE = 40


def _person(n: int) -> dict[str, str]:
    return {
        "email": f"person{n}@example.com",
        "phone": f"+1415556{n:04d}",
        "web_id": f"web-{n}",
        "crm_id": f"crm-{n}",
    }


def _alone(n: int) -> list[Envelope]:
    """One event per identifier: four customers per person, on different partitions."""
    return [
        event(EmailOpened(message_id=f"m-{n}-{kind}"), DAY, identities=Identities(**{kind: value}))
        for kind, value in _person(n).items()
    ]


def _links(n: int) -> list[Envelope]:
    """Three events that together tie the person's four identifiers, each keyed
    (and so partitioned) by a different identifier."""
    p = _person(n)
    pairs = [("web_id", "email"), ("email", "phone"), ("phone", "crm_id")]
    return [
        event(
            CustomerIdentified(method="crm_sync"),
            DAY + timedelta(minutes=1 + i),
            identities=Identities(**{a: p[a], b: p[b]}),
        )
        for i, (a, b) in enumerate(pairs)
    ]


@pytest.fixture
def two_workers(
    settings: Settings, tmp_path: Path, kafka_bootstrap: str
) -> Iterator[tuple[KafkaRuntime, KafkaRuntime]]:
    env = kafka_env(kafka_bootstrap, settings, tmp_path)
    first = KafkaRuntime(build_backbone(load_settings(env)), env)
    second = KafkaRuntime(build_backbone(load_settings(env)), env)
    first.start_worker()
    second.start_worker()
    yield first, second
    second.close()
    first.close()


def _wait_until_both_hold_resolver_partitions(
    workers: tuple[KafkaRuntime, KafkaRuntime],
) -> None:
    """Until every partition of the resolver's topic is recorded as held, some
    by each worker: the group has settled with both in it."""
    first, _ = workers
    partitions = first.backbone.settings.partitions
    expected = {worker.worker_id for worker in workers}

    def settled() -> bool:
        held = first.holders()["identity-resolver"]
        return len(held) == partitions and set(held.values()) == expected

    if not wait_until(settled, timeout=60, interval=0.1):
        logs = "\n---\n".join(worker.worker_log()[-3000:] for worker in workers)
        raise AssertionError(f"{expected} never both held partitions: {first.holders()}\n{logs}")


def test_two_resolvers_linking_the_same_people_end_with_one_customer_each(
    two_workers: tuple[KafkaRuntime, KafkaRuntime],
) -> None:
    """Linking events spread over partitions owned by two workers: one customer per person."""
    _wait_until_both_hold_resolver_partitions(two_workers)
    first, _ = two_workers
    backbone = first.backbone
    backbone.publisher.publish([e for n in range(PEOPLE) for e in _alone(n)])
    first.drain()
    backbone.publisher.publish([e for n in range(PEOPLE) for e in _links(n)])
    first.drain()
    with backbone.engine.connect() as connection:
        owners = [
            {find_customer(connection, kind, value) for kind, value in _person(n).items()}
            for n in range(PEOPLE)
        ]
        assert all(len(owner) == 1 for owner in owners), owners
        customers = {owner.pop() for owner in owners}
        assert len(customers) == PEOPLE
        per_customer: dict[str, int] = dict(
            connection.execute(
                select(timeline_entries.c.customer_id, func.count())
                .where(timeline_entries.c.type != "customer.merged")
                .group_by(timeline_entries.c.customer_id)
            ).all()
        )
    # Every event of a person is on their one timeline: none stranded on a merged id.
    assert per_customer == dict.fromkeys(customers, 7)
