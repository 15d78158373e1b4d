"""A batch holds about ``batch_size`` events however the records it reads are packed.

The runner sizes its reads by the records of the batch before. After a run
of one-event records (campaign launches, single publishes) it reads many
records per partition; when packed records follow, that read once held a
hundred times ``batch_size`` (half a million events in one transaction in
the campaign benchmark, whose timer cancels then passed PostgreSQL's
parameter limit and were retried as an outage). Real log, both stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection

from tests.conftest import DAY
from tests.helpers import event, runner_for
from touchline.bootstrap import Backbone
from touchline.events import Envelope, Identities
from touchline.events.email import EmailSent
from touchline.processing.port import EVENTS, Outcome, Processor


class _Sizes(Processor[Envelope]):
    """Applies nothing; remembers how many events each batch held."""

    name = "sizes"
    reads = EVENTS

    def __init__(self, topic: str) -> None:
        self.source_topic = topic
        self.sizes: list[int] = []

    def process(self, _connection: Connection, events: Sequence[Envelope]) -> Outcome:
        self.sizes.append(len(events))
        return Outcome.nothing()


def _sent(n: int) -> Envelope:
    who = Identities(email=f"p{n % 97}@example.com")
    return event(EmailSent(message_id=f"m{n}"), DAY + timedelta(seconds=n), identities=who)


def test_packed_records_after_single_ones_make_no_giant_batch(backbone: Backbone) -> None:
    batch_size = backbone.settings.batch_size  # 100 in the tests
    publisher = backbone.publisher
    for n in range(400):  # one event per record
        assert not publisher.publish([_sent(n)]).rejected
    for start in range(400, 8_400, 400):  # then records packing ~100 events each
        assert not publisher.publish([_sent(n) for n in range(start, start + 400)]).rejected
    sizes = _Sizes(backbone.settings.topics.touchpoints)
    runner = runner_for(backbone, sizes, batch_size=batch_size)
    while runner.step():
        pass
    assert sum(sizes.sizes) == 8_400
    # One record per partition is the least a step takes: 4 partitions of ~100 events.
    assert max(sizes.sizes) <= 5 * batch_size, sorted(sizes.sizes)[-5:]
