"""One customer's events in any order: the same final state, except where order is the point.

Order-insensitive (tested below): a targeting, clicks, at most one answer;
and a targeting with a complaint or a do-not-contact. A click or an answer
that arrives before the targeting puts the customer in the campaign, so
"engaged" and "responded" do not depend on which channel reported first.

Order-dependent, on purpose (the README says why):

- **Two endings.** An answer, a suppression and a conversion each end the
  offer, and an ended offer does not move again: the first to arrive wins,
  because actions were already cancelled and the change already published.
- **An opt-out before or after the first step.** Before, the refused channel
  is skipped and the customer waits for the next step ("targeted"); after,
  the pending action is cancelled and the offer stands ("offered").
- **An order without a campaign.** It converts the live offer made last when
  it arrives; an order that arrives before any offer converts nothing.
"""

from __future__ import annotations

import itertools
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY_SECRET
from tests.helpers import event
from touchline.bootstrap import build_backbone
from touchline.config import load_settings
from touchline.events import Envelope, Identities, Payload
from touchline.events.campaign import CampaignLaunched, CustomerTargeted, OfferResponded
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.events.consent import DoNotContactSet
from touchline.events.email import EmailClicked
from touchline.events.service import CaseOpened
from touchline.processing.clock import ManualClock

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TERMS = CampaignLaunched(
    name="Spring",
    offers=(OfferTerms(code="S"),),
    sequence=(Step(channel="email"), Step(channel="phone", after_days=3)),
)
TARGET = CustomerTargeted()
CLICK = EmailClicked(message_id="m-1", url="https://shop.example.com/s")
ACCEPT = OfferResponded(response="accepted", via="phone")
COMPLAINT = CaseOpened(case_id="C-1", subject="Late", is_complaint=True)
DNC = DoNotContactSet(reason="asked", set_by="A17")


def final_state(story: tuple[Payload, ...]) -> str:
    """Ann's state in the campaign after ``story``, each event an hour apart, in that order."""
    with tempfile.TemporaryDirectory() as directory:
        config = load_settings(
            {}, data_dir=str(Path(directory) / "d"), partitions=2, key_secret=TEST_KEY_SECRET
        )
        with build_backbone(config, clock=ManualClock(T0)) as backbone:
            launch = event(TERMS, T0, identities=Identities(), campaign_id="spring")
            events: list[Envelope] = [launch]
            for hour, payload in enumerate(story, start=1):
                events.append(event(payload, T0 + timedelta(hours=hour), campaign_id="spring"))
            for one in events:
                assert not backbone.publisher.publish([one]).rejected
                backbone.runtime.catch_up()
            customer = backbone.queries.find("ann@example.com").customer_id
            assert customer is not None
            [view] = backbone.queries.customer_campaigns(customer)
            return view.state


@pytest.mark.parametrize(
    ("story", "state"),
    [
        ((TARGET, CLICK), "engaged"),
        ((TARGET, CLICK, ACCEPT), "responded"),
        ((TARGET, CLICK, CLICK), "engaged"),
        ((TARGET, COMPLAINT), "suppressed"),
        ((TARGET, DNC), "suppressed"),
    ],
)
def test_any_order_of_these_gives_the_same_final_state(
    story: tuple[Payload, ...], state: str
) -> None:
    """Every order of the story ends in the same state."""
    assert {final_state(order) for order in itertools.permutations(story)} == {state}


def test_two_endings_depend_on_which_arrives_first() -> None:
    """Named order dependence: an answer and a complaint both end the offer; the first wins."""
    assert final_state((TARGET, ACCEPT, COMPLAINT)) == "responded"
    assert final_state((TARGET, COMPLAINT, ACCEPT)) == "suppressed"
