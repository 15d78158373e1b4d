"""The API's accepted-ids ledger forgets ids past its retention, by itself."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from tests.conftest import DAY
from touchline.bootstrap import Backbone
from touchline.store.accepted import AcceptedEvents


def test_ids_past_the_retention_are_forgotten_as_new_ones_come(backbone: Backbone) -> None:
    """An id accepted more than the retention ago is forgotten when a later
    one is recorded; one inside the retention is kept."""
    ledger = AcceptedEvents(backbone.engine, retention=timedelta(days=7))
    old, recent, new = uuid4(), uuid4(), uuid4()
    ledger.record([(old, "a" * 32)], DAY)
    ledger.record([(recent, "b" * 32)], DAY + timedelta(days=3))
    assert set(ledger.digests([old, recent])) == {old, recent}

    ledger.record([(new, "c" * 32)], DAY + timedelta(days=8))
    assert set(ledger.digests([old, recent, new])) == {recent, new}
    assert ledger.accepted_at_us(old) is None
