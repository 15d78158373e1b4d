"""The dispatcher's pacing: a token bucket per channel, backoff with jitter."""

from __future__ import annotations

import random

import pytest

from tests.adapters.scenario import FakeTime
from touchline.adapters.pacing import Backoff, TokenBucket


def test_the_bucket_lets_a_burst_through_then_holds_to_the_rate() -> None:
    """Ten sends at once pass; each one after waits a tenth of a second at 10/s."""
    time = FakeTime()
    bucket = TokenBucket(10, 10, monotonic=time.monotonic, sleep=time.sleep)
    waits = [bucket.take() for _ in range(15)]
    assert waits[:10] == [0.0] * 10
    assert waits[10:] == pytest.approx([0.1] * 5)
    assert time.now == pytest.approx(0.5)


def test_the_bucket_refills_while_idle_up_to_its_burst() -> None:
    """A long pause earns at most ``burst`` sends without waiting."""
    time = FakeTime()
    bucket = TokenBucket(5, 3, monotonic=time.monotonic, sleep=time.sleep)
    for _ in range(3):
        bucket.take()
    time.now += 60
    assert [bucket.take() for _ in range(3)] == [0.0] * 3
    assert bucket.take() == pytest.approx(0.2)


def test_backoff_grows_and_stays_under_its_cap() -> None:
    """Full jitter: attempt n waits at most base * 2**(n-1), never past the cap."""
    backoff = Backoff(attempts=10, base=0.5, cap=3.0, rng=random.Random(1))
    for attempt in range(1, 10):
        delays = [backoff.delay(attempt) for _ in range(50)]
        assert max(delays) <= min(3.0, 0.5 * 2 ** (attempt - 1))
        assert min(delays) >= 0
    assert max(backoff.delay(9) for _ in range(50)) > 1.5  # it does grow


def test_a_backoff_needs_an_attempt() -> None:
    """A policy of no attempts at all is refused where it is made."""
    with pytest.raises(ValueError, match="at least one attempt"):
        Backoff(attempts=0)
