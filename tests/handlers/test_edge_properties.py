"""If the edge accepts an event, every processor applies it: on both runtimes.

Generated batches go through ``publish_raw`` as a channel system's JSON; the
backbone then drains. Every accepted event must be on a timeline (a
campaign's launch excepted: it concerns no one customer), and the
dead-letter topic must stay empty: a dead letter here means the edge let
through something a processor could not take, the class of bug where
"accepted" silently turned into "lost".

CI runs a bounded number of examples; ``TOUCHLINE_EDGE_EXAMPLES=2000 ./dev
test -k edge_properties`` runs a longer hunt.
"""

from __future__ import annotations

import os
from typing import Any
from uuid import uuid4, uuid5

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.edge_strategies import raw_events
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.dead_letters.peek import peek_event
from touchline.events.campaign import CAMPAIGN_WIDE
from touchline.log.port import TopicPartition
from touchline.store.tables import timeline_entries

Runtime = EmbeddedRuntime | KafkaRuntime
LONGER = os.environ.get("TOUCHLINE_EDGE_EXAMPLES")
# A Kafka example waits for a real worker to drain (about a second): fewer there.
EXAMPLES = {"embedded": 40, "kafka": 12}


def _dead_letters(runtime: Runtime, since: dict[int, int]) -> list[str]:
    """Each dead letter written after ``since``: its reason and its event."""
    backbone = runtime.backbone
    topic = backbone.settings.topics.dead_letter
    found = []
    for partition, end in backbone.log.end_offsets(topic).items():
        start = since.get(partition, 0)
        if start == end:
            continue
        for record in backbone.log.read(TopicPartition(topic, partition), start, end - start):
            reason = dict(record.headers)["reason"].decode()
            shown = peek_event(backbone.codec, record.value).shown[:1500]
            found.append(f"{reason}\n{shown}")
    return found


def test_what_the_edge_accepts_every_processor_applies(runtime: Runtime) -> None:
    examples = int(LONGER) if LONGER else EXAMPLES[runtime.name]

    @settings(
        max_examples=examples,
        deadline=None,
        # The backbone is shared by the examples on purpose: what earlier ones
        # published is harmless to later ones, and a fresh one each costs seconds.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(batch=st.lists(raw_events(), min_size=1, max_size=6))
    def accepted_means_applied(batch: list[dict[str, Any]]) -> None:
        _publish_and_check(runtime, batch)

    accepted_means_applied()


def _publish_and_check(runtime: Runtime, batch: list[dict[str, Any]]) -> None:
    backbone = runtime.backbone
    # Ids fresh to each example (the backbone outlives it), the same id
    # drawn twice in a batch still the same id.
    salt = uuid4()
    for event in batch:
        event["id"] = str(uuid5(salt, event["id"]))
    before = backbone.log.end_offsets(backbone.settings.topics.dead_letter)
    result = backbone.publisher.publish_raw(msgspec.json.encode(batch))
    runtime.drain()
    letters = _dead_letters(runtime, before)
    assert not letters, "accepted at the edge, then dead-lettered:\n" + "\n".join(letters)
    # A campaign's launch is on no one's timeline: the synchronizer keeps it.
    accepted = {str(event.id) for event, _ in result.accepted if event.type not in CAMPAIGN_WIDE}
    with backbone.engine.connect() as connection:
        t = timeline_entries.c
        held = set(connection.execute(select(t.event_id).where(t.event_id.in_(accepted))).scalars())
    assert held == accepted
