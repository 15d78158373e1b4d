"""No overrun: the synchronizer never issues a touch past the contact-pressure limit,
and never issues an action twice, whatever the channels do at the same time.

Two customers, three campaigns with a limit of two touches in three days,
and touches made by people in every channel (an agent's outbound call, a
rep's visit, an offer an agent made, an email another system sent) landing
among the campaigns' own steps, some at once; batches of any size. Read back
from the log: at the moment each action was requested, the touches of its
customer in the campaign's window, the actions requested before it
included, were fewer than the limit.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.campaign_log import written
from tests.conftest import TEST_KEY_SECRET
from tests.helpers import event
from touchline.bootstrap import build_backbone
from touchline.config import load_settings
from touchline.events import Envelope, Identities, Payload
from touchline.events.call import OutboundCallMade
from touchline.events.campaign import CampaignLaunched, CustomerTargeted, OfferMade
from touchline.events.campaign_feed import ActionRequested
from touchline.events.campaign_terms import ContactPressure, OfferTerms, Step
from touchline.events.email import EmailSent
from touchline.events.sales import VisitLogged
from touchline.processing.clock import ManualClock

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LIMIT, WINDOW = 2, timedelta(days=3)
PEOPLE = (Identities(email="ann@example.com"), Identities(email="bob@example.com"))
CAMPAIGNS = ("c1", "c2", "c3")
TERMS = CampaignLaunched(
    name="pressed",
    offers=(OfferTerms(code="X"),),
    sequence=(Step(channel="email"), Step(channel="phone", after_days=1)),
    pressure=ContactPressure(touches=LIMIT, window_days=WINDOW.days),
)
TOUCHES: list[Payload] = [
    OutboundCallMade(call_id="c", duration_seconds=40, agent_id="A17"),
    VisitLogged(rep_id="rep-7"),
    EmailSent(message_id="m", subject="News"),
]

stories = st.lists(
    st.tuples(
        st.sampled_from([*TOUCHES, "target", "offer"]),
        st.integers(0, 1),
        st.sampled_from(CAMPAIGNS),
        st.integers(0, 6 * 24 * 60),  # minutes after T0; touches land at :17 seconds
    ),
    min_size=2,
    max_size=30,
)


def _story(drawn: list[tuple[Payload | str, int, str, int]]) -> list[Envelope]:
    happened = []
    for what, who, drawn_campaign, minutes in drawn:
        at, campaign_id = T0 + timedelta(minutes=minutes), drawn_campaign
        if what == "target":
            payload: Payload = CustomerTargeted()
        elif what == "offer":
            payload = OfferMade(via="phone", offer_code="X", made_by="A17")
            at += timedelta(seconds=17)
        else:
            assert isinstance(what, Payload)
            payload, at, campaign_id = what, at + timedelta(seconds=17), ""
        happened.append(event(payload, at, identities=PEOPLE[who], campaign_id=campaign_id or None))
    return sorted(happened, key=lambda e: e.occurred_at)


@given(stories, st.sampled_from([1, 4, 100]))
@settings(deadline=None, max_examples=25)
def test_pressure_is_never_exceeded_and_no_action_is_issued_twice(
    drawn: list[tuple[Payload | str, int, str, int]], batch: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        config = load_settings(
            {},
            data_dir=str(Path(directory) / "data"),
            partitions=2,
            batch_size=batch,
            key_secret=TEST_KEY_SECRET,
        )
        clock = ManualClock(T0)
        with build_backbone(config, clock=clock) as backbone:
            launches = [event(TERMS, T0, identities=Identities(), campaign_id=c) for c in CAMPAIGNS]
            assert not backbone.publisher.publish(launches).rejected
            story = _story(drawn)
            for one in story:
                if one.occurred_at > clock.now():
                    clock.advance(one.occurred_at - clock.now())
                assert not backbone.publisher.publish([one]).rejected
                backbone.runtime.catch_up()
            for _ in range(8):
                clock.advance(timedelta(days=1))
                backbone.runtime.catch_up()
            actions = [
                a
                for a in written(backbone, backbone.settings.topics.actions)
                if isinstance(a.payload, ActionRequested)
            ]
            people = {str(p): backbone.queries.find(str(p.email)).customer_id for p in PEOPLE}
        ids = [str(a.id) for a in actions]
        assert len(ids) == len(set(ids)), "an action was issued twice"
        steps = [(a.campaign_id, a.customer_id, a.payload.step) for a in actions]  # type: ignore[attr-defined]
        assert len(steps) == len(set(steps)), "a step was requested twice"
        touches: dict[str | None, list[datetime]] = {}
        for one in story:
            if one.type in ("call.outbound_made", "sales.visit_logged", "email.sent") or (
                isinstance(one.payload, OfferMade)
            ):
                who = people[str(one.identities)]
                touches.setdefault(who, []).append(one.occurred_at)
        issued: dict[str | None, list[datetime]] = {}
        for action in actions:  # one partition per customer: offset order is issue order
            at = action.occurred_at
            mine = touches.get(action.customer_id, []) + issued.get(action.customer_id, [])
            in_window = [t for t in mine if at - WINDOW < t <= at]
            assert len(in_window) < LIMIT, f"{action.payload} at {at} with {sorted(in_window)}"
            issued.setdefault(action.customer_id, []).append(at)
