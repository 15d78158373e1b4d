"""The campaign scenarios on both runtimes and both stores.

The same rules as ``test_campaigns.py`` (embedded only, every step by the
injected clock), here on the embedded log and on Kafka with a real worker.
Each story happens within the last hour, so no timer falls due by the wall
clock while the test runs; the follow-up and the expiry fall due by an
injected clock the test moves days on, and the test's own runners fire them
(on Kafka into the broker, for the worker to apply, as the worker's own
timer loop does). What the synchronizer decided is read back from the feed,
the actions and the funnel.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.handlers.test_campaigns import (
    NOBODY,
    RESELLER_ORDER,
    SPRING,
    WITH_PARTNER,
    actions,
    feed,
)
from tests.helpers import event
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.events import Identities, Payload
from touchline.events.call import OutboundCallMade
from touchline.events.campaign import CampaignLaunched, CustomerTargeted, OfferResponded
from touchline.events.campaign_feed import CampaignStateChanged
from touchline.events.campaign_terms import ContactPressure, OfferTerms, Step
from touchline.events.consent import DoNotContactSet
from touchline.events.email import EmailUnsubscribed
from touchline.events.sales import VisitLogged
from touchline.events.service import CaseOpened
from touchline.processing.clock import ManualClock
from touchline.subscribe import Subscriber

Runtime = EmbeddedRuntime | KafkaRuntime
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _story(runtime: Runtime, *steps: Step, pressure: ContactPressure | None = None) -> None:
    terms = CampaignLaunched(
        name="Spring", offers=(OfferTerms(code="SPRING10"),), sequence=steps, pressure=pressure
    )
    _happen(runtime, terms, START, identities=NOBODY)


def _happen(runtime: Runtime, payload: Payload, at: datetime, **fields: object) -> None:
    fields.setdefault("campaign_id", SPRING)
    result = runtime.backbone.publisher.publish([event(payload, at, **fields)])  # type: ignore[arg-type]
    assert not result.rejected, result.rejected
    runtime.drain()


def _target(runtime: Runtime) -> None:
    _happen(runtime, CustomerTargeted(), START + timedelta(minutes=1))


def test_a_yes_on_the_phone_cancels_every_pending_action(runtime: Runtime) -> None:
    """Offered by email, the agent's profile shows the offer; accepted on a call, the pending
    email, call task and partner lead are cancelled, the profile shows it no more, and a
    subscriber reads the three changes from either log, then nothing more."""
    _story(runtime, Step(channel="email"), Step(channel="phone"), Step(channel="partner"))
    _target(runtime)
    queries = runtime.backbone.queries
    ann = queries.find("ann@example.com").customer_id
    assert ann is not None
    offered = queries.profile(ann, now=START + timedelta(minutes=2))
    assert offered is not None
    assert [(o.offer_code, o.via) for o in offered.active_offers] == [("SPRING10", "email")]
    accepted = OfferResponded(response="accepted", via="phone", offer_code="SPRING10")
    _happen(runtime, accepted, START + timedelta(minutes=5))
    answered = queries.profile(ann, now=START + timedelta(minutes=6))
    assert answered is not None
    assert answered.active_offers == ()
    assert feed(runtime.backbone) == [
        ("targeted", None),
        ("offered", "email"),
        ("responded", "phone"),
    ]
    assert actions(runtime.backbone) == (
        ["email", "phone", "partner"],
        ["email", "phone", "partner"],
    )
    backbone = runtime.backbone
    topic = backbone.settings.topics.campaign_state
    subscriber = Subscriber("engine", backbone.log, backbone.codec, backbone.engine, topic)
    changes = [e.payload for e in subscriber.poll()]
    assert [c.state for c in changes if isinstance(c, CampaignStateChanged)] == [
        "targeted",
        "offered",
        "responded",
    ]
    subscriber.commit()
    assert subscriber.poll() == []


def test_a_resellers_order_is_attributed_to_the_partner(runtime: Runtime) -> None:
    """A partner's order without a campaign converts the live offer, revenue under the partner."""
    _story(runtime, Step(channel="email"))
    _target(runtime)
    _happen(
        runtime,
        RESELLER_ORDER,
        START + timedelta(minutes=5),
        identities=WITH_PARTNER,
        campaign_id=None,
    )
    assert feed(runtime.backbone)[-1] == ("converted", "partner")
    assert runtime.backbone.queries.funnel(SPRING).revenue_by_partner == {"ACME": {"EUR": 750.0}}


def test_an_email_opt_out_stops_email_but_not_the_call(runtime: Runtime) -> None:
    """Unsubscribing cancels the pending email; the call task stands, and so does the offer."""
    _story(runtime, Step(channel="email"), Step(channel="phone"))
    _target(runtime)
    _happen(runtime, EmailUnsubscribed(message_id="m-1"), START + timedelta(minutes=5))
    assert actions(runtime.backbone) == (["email", "phone"], ["email"])
    assert feed(runtime.backbone)[-1] == ("offered", "email")


def test_do_not_contact_and_a_complaint_each_suppress(runtime: Runtime) -> None:
    """Do-not-contact (Ann) and a complaint (Bob) each suppress and cancel the pending email."""
    _story(runtime, Step(channel="email"))
    _target(runtime)
    bob = Identities(email="bob@example.com")
    _happen(runtime, CustomerTargeted(), START + timedelta(minutes=2), identities=bob)
    dnc = DoNotContactSet(reason="asked", set_by="A17")
    _happen(runtime, dnc, START + timedelta(minutes=5), campaign_id=None)
    complaint = CaseOpened(case_id="CS-1", subject="Late delivery", is_complaint=True)
    _happen(runtime, complaint, START + timedelta(minutes=6), identities=bob, campaign_id=None)
    funnel = runtime.backbone.queries.funnel(SPRING)
    assert funnel.by_state == {"suppressed": 2}
    assert actions(runtime.backbone) == (["email", "email"], ["email", "email"])


def test_pressure_counts_an_agents_call_and_a_reps_visit(runtime: Runtime) -> None:
    """An agent's call and a rep's visit fill a limit of two: the email is not sent."""
    _story(runtime, Step(channel="email"), pressure=ContactPressure(touches=2, window_days=7))
    call = OutboundCallMade(call_id="c-1", duration_seconds=60, agent_id="A17")
    _happen(runtime, call, START, campaign_id=None)
    _happen(runtime, VisitLogged(rep_id="rep-7"), START + timedelta(seconds=30), campaign_id=None)
    _target(runtime)
    assert actions(runtime.backbone) == ([], [])  # the email waits a week for a free slot
    assert feed(runtime.backbone) == [("targeted", None)]


def test_a_follow_up_and_an_expiry_fire_by_the_injected_clock(runtime: Runtime) -> None:
    """Four days on, the call follows the unanswered email; eleven days on, the offer expires."""
    terms = CampaignLaunched(
        name="Spring",
        offers=(OfferTerms(code="SPRING10", valid_days=10),),
        sequence=(Step(channel="email"), Step(channel="phone", after_days=3)),
    )
    _happen(runtime, terms, START, identities=NOBODY)
    _target(runtime)
    clock = ManualClock(START + timedelta(minutes=2))
    for runner in runtime.backbone.runners:
        runner.clock = clock

    def later(days: float) -> None:
        clock.advance(timedelta(days=days))
        for runner in runtime.backbone.runners:
            runner.fire_due()
        runtime.drain()

    later(2)
    assert actions(runtime.backbone) == (["email"], [])
    later(2)
    assert actions(runtime.backbone) == (["email", "phone"], [])
    later(7)
    assert feed(runtime.backbone)[-1] == ("expired", "offer_expired")
    assert actions(runtime.backbone) == (["email", "phone"], ["email", "phone"])
