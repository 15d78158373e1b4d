"""The campaign-state feed across a kill -9 of the worker, on a real Kafka-protocol broker.

The synchronizer writes its changes to an outbox in the transaction that
makes them, and a relay appends them after the commit, skipping whatever a
relay killed between its append and its delete already put on the log. So
across the kill every customer's changes reach the feed once each, in
order, and a consumer group reads each transition exactly once. (A kill
rarely lands inside the relay's own window, between its append and its
delete: ``tests/processing/test_relay.py`` stops it there on purpose, on
this broker too.)
"""

from __future__ import annotations

import signal
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import DAY
from tests.helpers import event
from tests.runtimes import KafkaRuntime
from touchline.events import Identities
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_feed import CampaignStateChanged
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.log.port import StoredRecord, TopicPartition
from touchline.processing.embedded import wait_until
from touchline.store.tables import campaign_states

PEOPLE = 3_000


def _synchronized(kafka: KafkaRuntime) -> int:
    with kafka.backbone.stores["campaigns"].connect() as connection:
        return connection.execute(select(func.count()).select_from(campaign_states)).scalar_one()


def _read(kafka: KafkaRuntime, tp: TopicPartition, end: int) -> list[StoredRecord]:
    """Every record of ``tp`` up to ``end`` (a Kafka read returns what one fetch holds)."""
    records: list[StoredRecord] = []
    while len(records) < end:
        chunk = kafka.backbone.log.read(tp, len(records), end - len(records))
        assert chunk, f"{tp} ends at {len(records)}, not {end}"
        records.extend(chunk)
    return records


@pytest.mark.slow
def test_every_change_reaches_the_feed_in_order_across_a_kill(kafka: KafkaRuntime) -> None:
    """SIGKILL the worker while it synchronizes; after a restart every customer's changes are
    on the feed, in order, each exactly once."""
    backbone = kafka.backbone
    launch = CampaignLaunched(
        name="Spring", offers=(OfferTerms(code="S"),), sequence=(Step(channel="email"),)
    )
    assert not backbone.publisher.publish(
        [event(launch, DAY, identities=Identities(), campaign_id="spring")]
    ).rejected
    targeted = [
        event(
            CustomerTargeted(),
            DAY + timedelta(seconds=n),
            identities=Identities(email=f"p{n}@example.com"),
            campaign_id="spring",
        )
        for n in range(PEOPLE)
    ]
    for start in range(0, PEOPLE, 500):
        assert not backbone.publisher.publish(targeted[start : start + 500]).rejected

    kafka.start_worker()
    progressed = wait_until(lambda: _synchronized(kafka) >= 300, timeout=180)
    assert progressed, kafka.worker_log()[-4000:]
    kafka.stop_worker(signal.SIGKILL)
    assert _synchronized(kafka) < PEOPLE, "the worker finished before it was killed"

    kafka.start_worker()
    kafka.drain(timeout=240)
    topic = backbone.settings.topics.campaign_state
    ids: list[str] = []
    sequences: defaultdict[str | None, list[int]] = defaultdict(list)
    for partition, end in backbone.log.end_offsets(topic).items():
        for record in _read(kafka, TopicPartition(topic, partition), end):
            change = backbone.codec.decode(record.value)
            assert isinstance(change.payload, CampaignStateChanged)
            ids.append(str(change.id))
            sequences[change.customer_id].append(change.payload.sequence)
    assert len(ids) == len(set(ids)), "a change on the feed twice"
    assert len(sequences) == PEOPLE
    assert all(found == [1, 2] for found in sequences.values())  # targeted, then offered
