"""Campaign synchronization across channels, on the embedded runtime and both stores.

Each scenario launches a campaign, targets Ann, publishes what happens in
the channels, and reads what the synchronizer wrote: the state-change feed,
the actions (and cancellations) for the adapters, the ledger and the views.
Time moves only by the injected clock; timers fire when it passes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from tests.handlers.conftest import CAMPAIGN_T0
from tests.helpers import ANN, event
from touchline.bootstrap import Backbone
from touchline.events import Envelope, Identities, Payload, new_event
from touchline.events.call import InboundCallStarted, OutboundCallMade
from touchline.events.campaign import CampaignLaunched, CustomerTargeted, OfferResponded
from touchline.events.campaign_feed import ActionCancelled, ActionRequested, CampaignStateChanged
from touchline.events.campaign_terms import ContactPressure, OfferTerms, Step
from touchline.events.consent import DoNotContactSet
from touchline.events.email import EmailClicked, EmailSent, EmailUnsubscribed
from touchline.events.order import LineItem
from touchline.events.partner import PartnerOrderPlaced
from touchline.events.sales import VisitLogged
from touchline.events.service import CaseOpened
from touchline.log.port import Record, TopicPartition
from touchline.processing.clock import ManualClock
from touchline.processing.dead_letter import describe

T0 = CAMPAIGN_T0
SPRING = "spring"
NOBODY = Identities()
RESELLER_ORDER = PartnerOrderPlaced(
    partner_account="ACME",
    partner_customer_ref="acme-77",
    order_id="P-1",
    items=(LineItem(sku="SKU-1", quantity=1, unit_price=750.0),),
    total=750.0,
    currency="EUR",
)
WITH_PARTNER = Identities(
    email="ann@example.com", partner_account="ACME", partner_customer_ref="acme-77"
)
"""Ann, as a reseller's order names her."""


def launch(backbone: Backbone, *steps: Step, **terms: object) -> None:
    offers = terms.pop("offers", (OfferTerms(code="SPRING10"),))
    definition = CampaignLaunched(name="Spring", offers=offers, sequence=steps, **terms)  # type: ignore[arg-type]
    publish(backbone, event(definition, T0, identities=NOBODY, campaign_id=SPRING))


def publish(backbone: Backbone, *events: Envelope) -> None:
    result = backbone.publisher.publish(list(events))
    assert not result.rejected, result.rejected
    backbone.runtime.catch_up()


def happen(backbone: Backbone, payload: Payload, at: datetime, **fields: object) -> None:
    publish(backbone, event(payload, at, **fields))  # type: ignore[arg-type]


def target(backbone: Backbone, at: datetime = T0 + timedelta(minutes=1)) -> None:
    happen(backbone, CustomerTargeted(segment="lapsed"), at, campaign_id=SPRING)


def later(backbone: Backbone, clock: ManualClock, days: float) -> None:
    """The clock moves on; whatever timers fell due fire and flow through."""
    clock.advance(timedelta(days=days))
    backbone.runtime.catch_up()


def written(backbone: Backbone, topic: str) -> list[Envelope]:
    events = []
    for partition in range(backbone.log.partitions(topic)):
        for record in backbone.log.read(TopicPartition(topic, partition), 0, 10_000):
            events.append(backbone.codec.decode(record.value))
    return sorted(events, key=lambda e: (e.occurred_at, str(e.id)))


def feed(backbone: Backbone) -> list[tuple[str, str | None]]:
    """Ann's transitions in order: (state, via or reason)."""
    changes = [
        e.payload
        for e in written(backbone, backbone.settings.topics.campaign_state)
        if isinstance(e.payload, CampaignStateChanged)
    ]
    return [
        (change.state, change.via or change.reason)
        for change in sorted(changes, key=lambda change: change.sequence)
    ]


def actions(backbone: Backbone) -> tuple[list[str], list[str]]:
    """Channels of the actions requested, and of those cancelled, in the order
    they happened (a step's place in the sequence breaks ties)."""
    written_actions = written(backbone, backbone.settings.topics.actions)
    requested: dict[str, tuple[datetime, ActionRequested]] = {
        str(a.id): (a.occurred_at, a.payload)
        for a in written_actions
        if isinstance(a.payload, ActionRequested)
    }
    asked = sorted((at, p.step, p.via) for at, p in requested.values())
    cancelled = []
    for action in written_actions:
        if isinstance(action.payload, ActionCancelled):
            _, original = requested[str(action.payload.action_id)]
            assert isinstance(original, ActionRequested)
            cancelled.append((action.occurred_at, original.step, original.via))
    return [via for *_, via in asked], [via for *_, via in sorted(cancelled)]


def ann_id(backbone: Backbone) -> str:
    found = backbone.queries.find("ann@example.com").customer_id
    assert found is not None
    return found


def test_an_acceptance_on_a_call_ends_the_offer_everywhere(
    backbone: Backbone, clock: ManualClock
) -> None:
    """Offered by email, the agent sees the offer; accepted on a call: the pending call task
    and partner lead are cancelled, the email follow-up never comes, the change is published."""
    launch(
        backbone,
        Step(channel="email"),
        Step(channel="phone"),
        Step(channel="partner"),
        Step(channel="email", after_days=3),
    )
    target(backbone)
    assert actions(backbone) == (["email", "phone", "partner"], [])
    profile = backbone.queries.profile(ann_id(backbone), now=T0 + timedelta(hours=1))
    assert profile is not None
    assert [(o.campaign_id, o.offer_code, o.via) for o in profile.active_offers] == [
        (SPRING, "SPRING10", "email")
    ]
    accepted = OfferResponded(response="accepted", via="phone", offer_code="SPRING10")
    happen(backbone, accepted, T0 + timedelta(hours=2), campaign_id=SPRING)
    later(backbone, clock, days=5)
    assert actions(backbone) == (["email", "phone", "partner"], ["email", "phone", "partner"])
    assert feed(backbone) == [
        ("targeted", None),
        ("offered", "email"),
        ("responded", "phone"),
    ]
    [view] = backbone.queries.customer_campaigns(ann_id(backbone))
    assert (view.state, view.pending_actions) == ("responded", ())
    profile = backbone.queries.profile(ann_id(backbone), now=T0 + timedelta(days=5))
    assert profile is not None
    assert profile.active_offers == ()


def test_a_resellers_order_converts_and_is_attributed_to_the_partner(
    backbone: Backbone,
) -> None:
    """A partner's order, with no campaign on it, converts the live offer: the campaign's
    funnel counts it, with the revenue under the partner."""
    launch(backbone, Step(channel="email"))
    target(backbone)
    happen(backbone, RESELLER_ORDER, T0 + timedelta(days=1), identities=WITH_PARTNER)
    assert feed(backbone)[-1] == ("converted", "partner")
    funnel = backbone.queries.funnel(SPRING)
    assert (funnel.customers, funnel.conversions, funnel.by_state) == (1, 1, {"converted": 1})
    assert funnel.revenue_by_partner == {"ACME": {"EUR": 750.0}}
    assert funnel.by_channel == {"email": {"converted": 1}}


def test_an_email_opt_out_stops_email_but_not_a_call(
    backbone: Backbone, clock: ManualClock
) -> None:
    """Unsubscribing cancels the pending email; the call two days later still goes out."""
    launch(backbone, Step(channel="email"), Step(channel="phone", after_days=2))
    target(backbone)
    happen(backbone, EmailUnsubscribed(message_id="m-1"), T0 + timedelta(hours=1))
    later(backbone, clock, days=3)
    assert actions(backbone) == (["email", "phone"], ["email"])
    assert [state for state, _ in feed(backbone)] == ["targeted", "offered"]


def test_do_not_contact_stops_every_channel(backbone: Backbone, clock: ManualClock) -> None:
    """Do-not-contact suppresses the campaign at once: pending actions cancelled, no follow-up."""
    launch(backbone, Step(channel="email"), Step(channel="phone", after_days=2))
    target(backbone)
    dnc = DoNotContactSet(reason="asked on the phone", set_by="agent-7")
    happen(backbone, dnc, T0 + timedelta(hours=1))
    later(backbone, clock, days=3)
    assert actions(backbone) == (["email"], ["email"])
    assert feed(backbone)[-1] == ("suppressed", "do_not_contact")


def test_contact_pressure_counts_an_agents_call_and_a_reps_visit(
    backbone: Backbone, clock: ManualClock
) -> None:
    """Two touches a week: an agent's outbound call and a rep's visit use them up, so the
    email waits until the first of them leaves the window."""
    launch(backbone, Step(channel="email"), pressure=ContactPressure(touches=2, window_days=7))
    happen(backbone, OutboundCallMade(call_id="c-1", duration_seconds=60, agent_id="A17"), T0)
    happen(backbone, VisitLogged(rep_id="rep-7"), T0 + timedelta(minutes=30))
    target(backbone, T0 + timedelta(hours=1))
    assert actions(backbone) == ([], [])
    later(backbone, clock, days=6)
    assert actions(backbone) == ([], [])
    later(backbone, clock, days=2)
    assert actions(backbone) == (["email"], [])
    assert feed(backbone)[-1] == ("offered", "email")


def test_a_complaint_pauses_the_campaign(backbone: Backbone) -> None:
    """A complaint suppresses the offer and cancels what is pending."""
    launch(backbone, Step(channel="email"))
    target(backbone)
    complaint = CaseOpened(case_id="CS-1", subject="Late delivery", is_complaint=True)
    happen(backbone, complaint, T0 + timedelta(hours=1))
    assert feed(backbone)[-1] == ("suppressed", "recent_complaint")
    assert actions(backbone) == (["email"], ["email"])


def test_a_follow_up_comes_without_engagement_and_the_offer_expires(
    backbone: Backbone, clock: ManualClock
) -> None:
    """Three days without engagement bring the call; ten days after the offer, it expires."""
    offers = (OfferTerms(code="SPRING10", valid_days=10),)
    launch(backbone, Step(channel="email"), Step(channel="phone", after_days=3), offers=offers)
    target(backbone)
    later(backbone, clock, days=2)
    assert actions(backbone) == (["email"], [])
    later(backbone, clock, days=2)
    assert actions(backbone) == (["email", "phone"], [])
    later(backbone, clock, days=7)
    assert feed(backbone)[-1] == ("expired", "offer_expired")
    assert actions(backbone) == (["email", "phone"], ["email", "phone"])


def test_engagement_stops_the_follow_up(backbone: Backbone, clock: ManualClock) -> None:
    """A click before the follow-up is due: engaged, and no call."""
    launch(backbone, Step(channel="email"), Step(channel="phone", after_days=3))
    target(backbone)
    click = EmailClicked(message_id="m-1", url="https://shop.example.com/spring")
    happen(backbone, click, T0 + timedelta(days=1), campaign_id=SPRING)
    later(backbone, clock, days=4)
    assert actions(backbone) == (["email"], [])
    assert feed(backbone)[-1] == ("engaged", "email")


def test_targeting_an_unknown_campaign_is_a_dead_letter(backbone: Backbone) -> None:
    """A customer targeted by a campaign never launched is refused with the reason."""
    happen(backbone, CustomerTargeted(), T0, campaign_id="nope")
    topic = backbone.settings.topics.dead_letter
    letters = [
        describe(record)
        for partition in range(backbone.log.partitions(topic))
        for record in backbone.log.read(TopicPartition(topic, partition), 0, 100)
    ]
    assert [(h["processor"], "'nope' was never launched" in h["reason"]) for h in letters] == [
        ("synchronizer", True)
    ]
    assert feed(backbone) == []


BY_PHONE = Identities(phone="+14155550134")
BY_EMAIL = Identities(email="ann@example.com")


def ann_twice(backbone: Backbone, *, targeted: Identities) -> None:
    """A campaign with a follow-up call; Ann known twice, by phone (a call made her the
    older customer) and by email, and targeted as ``targeted`` knows her."""
    launch(backbone, Step(channel="email"), Step(channel="phone", after_days=3))
    happen(backbone, OutboundCallMade(call_id="c-0", duration_seconds=5), T0, identities=BY_PHONE)
    target_at = T0 + timedelta(minutes=1)
    happen(backbone, CustomerTargeted(), target_at, identities=targeted, campaign_id=SPRING)


def test_a_merge_brings_the_campaign_and_its_follow_up_to_the_survivor(
    backbone: Backbone, clock: ManualClock
) -> None:
    """Targeted by email, then tied to an older customer known by phone: the survivor holds
    the campaign, and the follow-up call still comes, for the survivor."""
    ann_twice(backbone, targeted=BY_EMAIL)
    merged = ann_id(backbone)
    happen(backbone, EmailClicked(message_id="m-0", url="x"), T0 + timedelta(hours=1))  # ANN: both
    survivor = ann_id(backbone)
    assert survivor != merged
    later(backbone, clock, days=4)
    assert actions(backbone) == (["email", "phone"], [])
    [view] = backbone.queries.customer_campaigns(merged)
    assert (view.customer_id, view.state, view.offered_via) == (survivor, "offered", "email")
    follow_up = [
        a
        for a in written(backbone, backbone.settings.topics.actions)
        if isinstance(a.payload, ActionRequested) and a.payload.via == "phone"
    ]
    assert [a.customer_id for a in follow_up] == [survivor]


def test_an_event_still_carrying_the_merged_id_reaches_the_survivors_campaign(
    backbone: Backbone, clock: ManualClock
) -> None:
    """A click resolved before the merge (it carries the merged customer's id) arrives
    after it: the survivor's offer is engaged, and no record is made for the merged id."""
    ann_twice(backbone, targeted=BY_EMAIL)
    merged = ann_id(backbone)
    both = Identities(phone="+14155550134", email="ann@example.com")
    happen(backbone, InboundCallStarted(call_id="c-1"), T0 + timedelta(hours=1), identities=both)
    survivor = ann_id(backbone)
    assert survivor != merged
    click = EmailClicked(message_id="m-0", url="https://shop.example.com/")
    in_flight = event(click, T0 + timedelta(minutes=30), campaign_id=SPRING, customer_id=merged)
    topic = backbone.settings.topics.interactions
    backbone.log.append(
        topic, [Record(value=backbone.codec.encode(in_flight), key=merged.encode())]
    )
    backbone.runtime.catch_up()
    later(backbone, clock, days=4)
    assert feed(backbone)[-1] == ("engaged", "email")
    assert actions(backbone) == (["email"], [])  # engaged: no follow-up call
    [view] = backbone.queries.customer_campaigns(survivor)
    assert (view.customer_id, view.state) == (survivor, "engaged")


def test_a_do_not_contact_on_the_merged_side_holds_for_the_survivor(
    backbone: Backbone, clock: ManualClock
) -> None:
    """The survivor (known by phone) is offered by email; the customer known by email asked
    not to be contacted. Once a call ties them, the offer is suppressed, its follow-up
    never comes, and do-not-contact stands for the one person."""
    ann_twice(backbone, targeted=BY_PHONE)
    dnc = DoNotContactSet(reason="asked", set_by="A17")
    happen(backbone, dnc, T0 + timedelta(minutes=2), identities=BY_EMAIL)
    both = Identities(phone="+14155550134", email="ann@example.com")
    call = InboundCallStarted(call_id="c-1")
    happen(backbone, call, T0 + timedelta(hours=1), identities=both)
    assert feed(backbone)[-1] == ("suppressed", "do_not_contact")  # at the merge, not later
    assert actions(backbone) == (["email"], ["email"])
    later(backbone, clock, days=4)
    assert actions(backbone) == (["email"], ["email"])


@pytest.mark.parametrize("caused_by_our_action", [True, False])
def test_an_adapters_report_of_our_action_is_not_a_second_touch(
    backbone: Backbone, clock: ManualClock, caused_by_our_action: bool
) -> None:
    """The email an action asked for, reported sent (caused by the action), is the touch
    reserved for it; two emails another job sent (one cause) are two touches of their own."""
    launch(
        backbone,
        Step(channel="email"),
        Step(channel="phone", after_days=1),
        pressure=ContactPressure(touches=3, window_days=7),
    )
    target(backbone)
    [requested] = [
        a
        for a in written(backbone, backbone.settings.topics.actions)
        if isinstance(a.payload, ActionRequested)
    ]
    cause = requested.id if caused_by_our_action else uuid4()
    for n in range(1 if caused_by_our_action else 2):
        sent = new_event(
            EmailSent(message_id=f"m-{n}", subject="Spring"),
            occurred_at=T0 + timedelta(minutes=5 + n),
            source="esp",
            identities=ANN,
            campaign_id=SPRING,
            causation_id=cause,
        )
        publish(backbone, sent)
    later(backbone, clock, days=2)
    asked, _ = actions(backbone)
    assert asked == (["email", "phone"] if caused_by_our_action else ["email"])
