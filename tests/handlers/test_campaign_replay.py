"""Replaying the interactions log from scratch gives the same campaigns, byte for byte.

A story of two customers in two campaigns (consent, clicks, answers, orders,
complaints, visits, some events sent twice) runs live with the clock moving
on, so follow-ups and expiries fire into the log. A second synchronizer, on
a store of its own and with other batch sizes, then reads that log from the
start. Its records must equal the live ones byte for byte, and every action
and state change it writes must carry an id the live run wrote.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.campaign_log import assert_a_replay_agrees
from tests.conftest import TEST_KEY_SECRET
from tests.helpers import event
from touchline.bootstrap import build_backbone
from touchline.config import load_settings
from touchline.events import Envelope, Identities, Payload
from touchline.events.call import OutboundCallMade
from touchline.events.campaign import (
    CampaignLaunched,
    CustomerTargeted,
    OfferMade,
    OfferResponded,
)
from touchline.events.campaign_terms import ContactPressure, OfferTerms, Step
from touchline.events.consent import ConsentGranted, ConsentRevoked, DoNotContactSet
from touchline.events.email import EmailClicked, EmailUnsubscribed
from touchline.events.order import LineItem, OrderPlaced
from touchline.events.sales import VisitLogged
from touchline.events.service import CaseOpened
from touchline.processing.clock import ManualClock

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PEOPLE = (Identities(email="ann@example.com"), Identities(email="bob@example.com"))
CAMPAIGNS = {
    "spring": CampaignLaunched(
        name="Spring",
        offers=(OfferTerms(code="S10", valid_days=6),),
        sequence=(Step(channel="email"), Step(channel="phone", after_days=2)),
        pressure=ContactPressure(touches=2, window_days=3),
    ),
    "autumn": CampaignLaunched(
        name="Autumn",
        offers=(OfferTerms(code="A5"),),
        sequence=(Step(channel="partner"), Step(channel="email", after_days=1)),
        complaint_pauses=False,
    ),
}

moments: st.SearchStrategy[Payload] = st.sampled_from(
    [
        CustomerTargeted(),
        EmailClicked(message_id="m-1", url="https://shop.example.com/x"),
        OfferResponded(response="accepted", via="phone"),
        OfferResponded(response="declined", via="web"),
        OfferMade(via="in_person", offer_code="S10", made_by="rep-7"),
        EmailUnsubscribed(message_id="m-1"),
        ConsentRevoked(contact_channel="phone", purpose="marketing"),
        ConsentGranted(contact_channel="email", purpose="marketing"),
        DoNotContactSet(reason="asked", set_by="agent-7"),
        CaseOpened(case_id="C-1", subject="Late", is_complaint=True),
        OutboundCallMade(call_id="c-1", duration_seconds=30),
        VisitLogged(rep_id="rep-7"),
        OrderPlaced(
            order_id="O-1",
            items=(LineItem(sku="S", quantity=1, unit_price=20.0),),
            total=20.0,
            currency="EUR",
            via="web",
        ),
    ]
)
stories = st.lists(
    st.tuples(
        moments,
        st.integers(0, 1),  # who
        st.sampled_from([*CAMPAIGNS, None]),
        st.integers(0, 5 * 24),  # hours after T0
        st.booleans(),  # sent twice
    ),
    min_size=3,
    max_size=25,
)


def _story(drawn: list[tuple[Payload, int, str | None, int, bool]]) -> list[Envelope]:
    launches = [
        event(terms, T0, identities=Identities(), campaign_id=campaign_id)
        for campaign_id, terms in CAMPAIGNS.items()
    ]
    happened = []
    for payload, who, drawn_campaign, hours, twice in drawn:
        targeted = isinstance(payload, CustomerTargeted)
        campaign_id = "spring" if targeted and drawn_campaign is None else drawn_campaign
        one = event(
            payload,
            T0 + timedelta(hours=hours, minutes=1),
            identities=PEOPLE[who],
            campaign_id=campaign_id,
        )
        happened += [one, one] if twice else [one]
    return launches + sorted(happened, key=lambda e: e.occurred_at)


@given(stories, st.sampled_from([1, 3, 50]), st.sampled_from([2, 7, 500]))
@settings(deadline=None, max_examples=20)
def test_a_replay_writes_the_same_campaigns_and_the_same_ids(
    drawn: list[tuple[Payload, int, str | None, int, bool]], live_batch: int, replay_batch: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory)
        config = load_settings(
            {},
            data_dir=str(data / "data"),
            partitions=3,
            batch_size=live_batch,
            key_secret=TEST_KEY_SECRET,
        )
        clock = ManualClock(T0)
        with build_backbone(config, clock=clock) as backbone:
            for one in _story(drawn):
                if one.occurred_at > clock.now():
                    clock.advance(one.occurred_at - clock.now())
                assert not backbone.publisher.publish([one]).rejected
                backbone.runtime.catch_up()
            for _ in range(12):  # let every follow-up and expiry fire
                clock.advance(timedelta(days=1))
                backbone.runtime.catch_up()
            assert_a_replay_agrees(backbone, data, replay_batch)
