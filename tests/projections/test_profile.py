"""The customer profile's pure logic: the fold into ProfileState and its rendering."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchline.events import Envelope, Identities, Payload, new_event
from touchline.events.call import InboundCallEnded
from touchline.events.campaign import (
    CampaignConverted,
    CampaignSuppressed,
    CustomersTargeted,
    OfferExpired,
    OfferMade,
    OfferResponded,
)
from touchline.events.consent import (
    ConsentGranted,
    ConsentRevoked,
    DoNotContactCleared,
    DoNotContactSet,
)
from touchline.events.email import (
    EmailClicked,
    EmailComplained,
    EmailOpened,
    EmailSent,
    EmailUnsubscribed,
)
from touchline.events.fax import FaxReceived
from touchline.events.identity import CustomerIdentified, CustomerMerged
from touchline.events.order import LineItem, OrderPlaced, OrderReturned
from touchline.events.partner import (
    LeadRegistered,
    PartnerOrderCancelled,
    PartnerOrderPlaced,
    PartnerOrderShipped,
)
from touchline.events.sales import (
    OpportunityLost,
    OpportunityOpened,
    OpportunityStageChanged,
    OpportunityWon,
    QuoteSent,
    VisitLogged,
)
from touchline.events.service import CaseOpened, CaseResolved, CaseUpdated, SurveyAnswered
from touchline.events.web import ChatMessageSent, PageViewed, Searched
from touchline.projections.profile import (
    Profile,
    ProfileRules,
    ProfileState,
    apply,
    decode_state,
    encode_state,
    render,
)
from touchline.projections.profile_state import ENGAGEMENT_DAYS_KEPT, SPAM_COMPLAINTS_KEPT

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ANN = Identities(email="ann@example.com", phone="+14155550134")
RULES = ProfileRules()


def ago(days: float, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


def event(payload: Payload, at: datetime, *, campaign_id: str | None = None) -> Envelope:
    return new_event(
        payload, occurred_at=at, source="test", identities=ANN, campaign_id=campaign_id
    )


def fold(events: Iterable[Envelope]) -> ProfileState:
    state = ProfileState()
    for each in events:
        apply(state, each)
    return state


def profile_of(*events: Envelope, rules: ProfileRules = RULES) -> Profile:
    return render("cus_ann", fold(events), rules, NOW, identifiers=("email:ann@example.com",))


def placed(order_id: str, total: float, at: datetime, currency: str = "EUR") -> Envelope:
    item = LineItem(sku="SKU-TRAIL-1", quantity=1, unit_price=total)
    payload = OrderPlaced(
        order_id=order_id, items=(item,), total=total, currency=currency, via="web"
    )
    return event(payload, at)


def partner_placed(
    order_id: str, total: float, at: datetime, account: str = "ACME", name: str | None = None
) -> Envelope:
    item = LineItem(sku="SKU-TRAIL-1", quantity=2, unit_price=total / 2)
    payload = PartnerOrderPlaced(
        partner_account=account,
        partner_customer_ref="acme-77",
        partner_name=name,
        order_id=order_id,
        items=(item,),
        total=total,
        currency="EUR",
    )
    return event(payload, at)


def complaint_case(case_id: str, at: datetime, subject: str = "Late delivery") -> Envelope:
    payload = CaseOpened(
        case_id=case_id, subject=subject, category="delivery", is_complaint=True, opened_via="call"
    )
    return event(payload, at)


def engagement(count: int, *, from_days: int, to_days: int) -> list[Envelope]:
    """``count`` page views spread evenly between ``from_days`` and ``to_days`` ago."""
    step = (from_days - to_days) / count
    return [
        event(PageViewed(url="https://shop.example.com/trail"), ago(from_days - step * i, 1))
        for i in range(count)
    ]


def codes(profile: Profile) -> list[str]:
    return [signal.code for signal in profile.churn_signals]


# --- order-insensitivity -----------------------------------------------------------

ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]
times = st.builds(
    lambda days, hours, zone: (NOW - timedelta(days=days, hours=hours * 7)).astimezone(zone),
    # Mostly recent, some around the engagement and spam complaint horizons
    # (ENGAGEMENT_DAYS_KEPT, SPAM_COMPLAINTS_KEPT): what is dropped must not
    # depend on the order either.
    st.sampled_from([0, 0, 0, 0, 150, 400]),
    st.integers(min_value=0, max_value=40),  # few distinct instants: ties happen
    st.sampled_from(ZONES),
)
amounts = st.floats(min_value=0.01, max_value=2_000, allow_nan=False, allow_infinity=False)
currencies = st.sampled_from(["EUR", "USD"])
orders = st.sampled_from(["O-1", "O-2", "O-3"])
partner_orders = st.sampled_from(["P-1", "P-2"])
accounts = st.sampled_from(["ACME", "BOLT"])
partner_names = st.sampled_from([None, "Acme Resellers", "Bolt Trade"])
cases = st.sampled_from(["C-1", "C-2"])
offer_codes = st.sampled_from(["WINTER20", "SPRING10"])
contact = st.sampled_from(["email", "phone", "all"])
purposes = st.sampled_from(["marketing", "service"])
reps = st.sampled_from(["rep-1", "rep-2"])
deals = st.sampled_from(["OPP-1", "OPP-2"])
stages = st.sampled_from(["proposal", "negotiation"])
item = LineItem(sku="SKU-1", quantity=1, unit_price=10.0)


def _partner(
    kind: type[Payload], **fields: st.SearchStrategy[object]
) -> st.SearchStrategy[Payload]:
    return st.builds(
        kind,
        partner_account=accounts,
        partner_customer_ref=st.just("ref-1"),
        partner_name=partner_names,
        **fields,
    )


payloads: st.SearchStrategy[Payload] = st.one_of(
    st.builds(
        OrderPlaced,
        order_id=orders,
        items=st.just((item,)),
        total=amounts,
        currency=currencies,
        via=st.sampled_from(["web", "store"]),
    ),
    st.builds(OrderReturned, order_id=orders, amount_refunded=amounts, currency=currencies),
    _partner(
        PartnerOrderPlaced,
        order_id=partner_orders,
        items=st.just((item,)),
        total=amounts,
        currency=currencies,
    ),
    _partner(PartnerOrderShipped, order_id=partner_orders, carrier=st.just("UPS")),
    _partner(PartnerOrderCancelled, order_id=partner_orders),
    _partner(LeadRegistered, lead_id=st.just("L-1")),
    st.builds(ConsentGranted, contact_channel=contact, purpose=purposes),
    st.builds(ConsentRevoked, contact_channel=contact, purpose=purposes),
    st.builds(
        DoNotContactSet,
        reason=st.just("asked on call"),
        set_by=st.just("agent-7"),
        until=st.none() | times,
    ),
    st.builds(DoNotContactCleared, reason=st.just("asked again"), cleared_by=st.just("agent-7")),
    st.builds(EmailUnsubscribed, message_id=st.just("m-1")),
    st.builds(EmailComplained, message_id=st.just("m-2"), subject=st.just("Winter sale")),
    st.builds(EmailOpened, message_id=st.just("m-1")),
    st.builds(
        CaseOpened,
        case_id=cases,
        subject=st.sampled_from(["Late delivery", "Refund"]),
        is_complaint=st.booleans(),
    ),
    st.builds(
        CaseUpdated,
        case_id=cases,
        status=st.sampled_from(["in_progress", "escalated", "reopened"]),
    ),
    st.builds(CaseResolved, case_id=cases, resolution=st.just("Refunded")),
    st.builds(
        SurveyAnswered,
        survey_id=st.just("csat"),
        scale=st.just("1-5"),
        score=st.integers(min_value=1, max_value=5),
    ),
    st.builds(
        ChatMessageSent,
        conversation_id=st.just("chat-1"),
        sender=st.sampled_from(["customer", "agent"]),
        text=st.just("Where is my parcel?"),
    ),
    st.builds(InboundCallEnded, call_id=st.just("call-1"), duration_seconds=st.just(60)),
    st.builds(FaxReceived, document_id=st.just("fax-1"), pages=st.just(2)),
    st.builds(
        OfferMade,
        via=st.sampled_from(["email", "phone"]),
        offer_code=offer_codes,
        expires_at=st.none() | times,
    ),
    st.builds(OfferResponded, response=st.just("accepted"), via=st.just("email")),
    st.builds(OfferExpired, offer_code=st.none() | offer_codes),
    st.builds(CampaignSuppressed, reason=st.just("recent_complaint"), via=st.none() | contact),
    st.builds(CampaignConverted, order_id=orders, via=st.just("web")),
    st.builds(VisitLogged, rep_id=reps, rep_name=st.none() | st.just("Rosa")),
    st.builds(QuoteSent, rep_id=reps, quote_id=st.just("Q-1"), via=st.just("in_person")),
    st.builds(
        OpportunityOpened,
        rep_id=reps,
        opportunity_id=deals,
        title=st.sampled_from(["Lyon store", "Spring range"]),
        amount=amounts,
        currency=currencies,
    ),
    st.builds(OpportunityStageChanged, rep_id=reps, opportunity_id=deals, stage=stages),
    st.builds(
        OpportunityStageChanged,
        rep_id=reps,
        opportunity_id=deals,
        stage=stages,
        amount=amounts,
        currency=currencies,
    ),
    st.builds(OpportunityWon, rep_id=reps, opportunity_id=deals),
    st.builds(OpportunityLost, rep_id=reps, opportunity_id=deals),
    st.builds(
        CustomerMerged,
        survivor_id=st.just("cus_a"),
        merged_id=st.just("cus_b"),
        merged_by=st.just("identity-resolver"),
        reason=st.just("same email"),
    ),
)
specs = st.tuples(payloads, times, st.sampled_from([None, "winter"]))


@given(st.lists(specs, min_size=1, max_size=40), st.randoms())
@settings(deadline=None)
def test_folding_in_any_order_gives_the_same_state(
    drawn: list[tuple[Payload, datetime, str | None]], rnd: random.Random
) -> None:
    """Arrival order, shuffled order and time order fold to equal states, bytes and profiles."""
    events = [
        new_event(
            payload,
            occurred_at=at,
            source="test",
            identities=ANN,
            campaign_id=campaign,
            event_id=UUID(int=index + 1),  # unique, as the caller guarantees
        )
        for index, (payload, at, campaign) in enumerate(drawn)
    ]
    shuffled = list(events)
    rnd.shuffle(shuffled)
    by_time = sorted(events, key=lambda e: (e.occurred_at, e.id))
    states = [fold(events), fold(shuffled), fold(by_time)]
    decoder = msgspec.msgpack.Decoder(ProfileState)
    first = states[0]
    for state in states[1:]:
        assert state == first
        assert encode_state(state) == encode_state(first)
        assert decoder.decode(msgspec.msgpack.encode(state)) == first
        assert render("cus_ann", state, RULES, NOW) == render("cus_ann", first, RULES, NOW)


# --- the state ---------------------------------------------------------------------


def _story() -> list[Envelope]:
    """One customer across every channel."""
    return [
        event(EmailSent(message_id="m-1", subject="Winter sale"), ago(20)),
        event(EmailOpened(message_id="m-1", subject="Winter sale"), ago(19)),
        event(EmailClicked(message_id="m-1", url="https://shop.example.com/w"), ago(19)),
        event(Searched(query="trail shoe", result_count=4), ago(18)),
        placed("O-1", 129.0, ago(18)),
        event(OrderReturned(order_id="O-1", amount_refunded=29.0, currency="EUR"), ago(10)),
        partner_placed("P-1", 750.0, ago(8), name="Acme Resellers"),
        event(
            PartnerOrderShipped(
                partner_account="ACME", partner_customer_ref="acme-77", order_id="P-1"
            ),
            ago(7),
        ),
        event(InboundCallEnded(call_id="c-1", duration_seconds=252, agent_name="Lee"), ago(6)),
        complaint_case("CASE-1", ago(6)),
        event(FaxReceived(document_id="f-1", pages=2, subject="Trade form"), ago(5)),
        event(SurveyAnswered(survey_id="csat", scale="1-5", score=4), ago(4)),
        event(ConsentGranted(contact_channel="email", purpose="marketing"), ago(30)),
        event(OfferMade(via="email", offer_code="WINTER20"), ago(3), campaign_id="winter"),
        event(CustomerIdentified(method="login"), ago(2)),
    ]


def test_state_round_trips_through_msgpack() -> None:
    """A folded state encodes and decodes to an equal state, plainly and deterministically."""
    state = fold(_story())
    assert msgspec.msgpack.Decoder(ProfileState).decode(msgspec.msgpack.encode(state)) == state
    assert decode_state(encode_state(state)) == state
    assert decode_state(encode_state(ProfileState())) == ProfileState()


def test_identity_events_change_nothing() -> None:
    """Identity events leave the empty state empty, last contact included."""
    merged = CustomerMerged(
        survivor_id="cus_a", merged_id="cus_b", merged_by="identity-resolver", reason="same email"
    )
    assert fold([event(merged, ago(1)), event(CustomerIdentified(method="crm_sync"), ago(1))]) == (
        ProfileState()
    )


def test_last_contact_is_the_latest_per_channel() -> None:
    """Each channel's last contact is its latest event by time, in whatever order they came."""
    state = fold(reversed(_story()))
    assert state.last_contact["email"] == ago(19)
    assert state.last_contact["partner"] == ago(7)
    assert state.last_contact["campaign"] == ago(3)
    assert "identity" not in state.last_contact
    assert list(profile_of(*_story()).last_contact) == sorted(state.last_contact)


def test_consent_changes_and_campaign_bookkeeping_are_not_contacts() -> None:
    """A revocation, a do-not-contact or being targeted is no interaction: the
    customer was not in touch by "consent" or "campaign" (issue 8)."""
    state = fold(
        [
            event(ConsentGranted(contact_channel="email", purpose="marketing"), ago(9)),
            event(ConsentRevoked(contact_channel="email", purpose="marketing"), ago(2)),
            event(DoNotContactSet(reason="asked on the phone", set_by="agent Lee"), ago(1)),
            event(CustomersTargeted(segment="lapsed", count=1), ago(4), campaign_id="winter"),
            event(InboundCallEnded(call_id="c-1", duration_seconds=60), ago(5)),
        ]
    )
    assert state.last_contact == {"call": ago(5)}
    assert state.consent_for("email", "marketing") is not None


def test_duplicate_natural_ids_count_once() -> None:
    """A second order.placed or case_opened for the same id keeps the first and counts once."""
    profile = profile_of(
        placed("O-1", 100.0, ago(10)),
        placed("O-1", 100.0, ago(9)),
        complaint_case("CASE-1", ago(8)),
        complaint_case("CASE-1", ago(7), subject="Still late"),
    )
    assert profile.orders.count == 1
    assert profile.orders.lifetime_value == {"EUR": 100.0}
    assert [case.subject for case in profile.open_cases] == ["Late delivery"]
    assert len(profile.recent_complaints) == 1


# --- orders and value --------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "tier"),
    [
        (499.99, "bronze"),
        (500.0, "silver"),
        (1999.99, "silver"),
        (2000.0, "gold"),
        (1e4, "platinum"),
    ],
)
def test_value_tier_follows_lifetime_value(total: float, tier: str) -> None:
    """Tiers start at 500 (silver), 2,000 (gold) and 10,000 (platinum) EUR of lifetime value."""
    assert profile_of(placed("O-1", total, ago(5))).value_tier == tier


def test_value_tier_reads_only_the_rules_currency() -> None:
    """Orders in another currency do not move the tier; rules may name the currency."""
    order = placed("O-1", 5_000.0, ago(5), currency="USD")
    assert profile_of(order).value_tier == "bronze"
    assert profile_of(order, rules=ProfileRules(currency="USD")).value_tier == "gold"


def test_lifetime_value_counts_partner_orders_less_returns_and_cancellations() -> None:
    """LTV per currency: direct and partner orders, less returns; cancelled orders count nothing."""
    cancelled = PartnerOrderCancelled(
        partner_account="ACME",
        partner_customer_ref="acme-77",
        order_id="P-2",
        amount_refunded=80.0,
        currency="EUR",
    )
    profile = profile_of(
        placed("O-1", 100.0, ago(40)),
        placed("O-2", 50.0, ago(30)),
        event(OrderReturned(order_id="O-2", amount_refunded=20.0, currency="EUR"), ago(25)),
        partner_placed("P-1", 300.0, ago(20)),
        partner_placed("P-2", 80.0, ago(15)),
        event(cancelled, ago(14)),
        placed("O-3", 40.0, ago(10), currency="USD"),
    )
    orders = profile.orders
    assert (orders.count, orders.direct, orders.partner) == (4, 3, 1)
    assert (orders.cancelled, orders.returned) == (1, 1)
    assert orders.lifetime_value == {"EUR": 430.0, "USD": 40.0}
    assert orders.average_order_value == {"EUR": 143.33, "USD": 40.0}
    assert orders.last_order is not None
    assert (orders.last_order.order_id, orders.last_order.amount) == ("O-3", 40.0)


# --- service, complaints, satisfaction ---------------------------------------------


def test_open_cases_follow_the_latest_status_by_time() -> None:
    """Resolved cases drop out, a later reopening brings one back, arrival order aside."""
    opened = CaseOpened(case_id="C-2", subject="Refund missing", priority="high")
    profile = profile_of(
        event(CaseResolved(case_id="C-1", resolution="Refunded"), ago(3)),
        event(CaseOpened(case_id="C-1", subject="Wrong size"), ago(5)),
        event(CaseUpdated(case_id="C-2", status="reopened"), ago(1)),
        event(CaseResolved(case_id="C-2", resolution="Refunded"), ago(2)),
        event(opened, ago(4)),
        event(CaseUpdated(case_id="C-3", status="escalated"), ago(1, 2)),
        event(CaseOpened(case_id="C-3", subject="Broken lace"), ago(2)),
    )
    assert [(case.case_id, case.status) for case in profile.open_cases] == [
        ("C-2", "reopened"),
        ("C-3", "escalated"),
    ]
    assert profile.open_cases[0].priority == "high"


def test_complaints_within_ninety_days_are_recent() -> None:
    """Complaint cases and spam reports of the last 90 days show; older ones do not."""
    profile = profile_of(
        complaint_case("CASE-OLD", ago(100)),
        complaint_case("CASE-NEW", ago(10)),
        event(CaseOpened(case_id="CASE-Q", subject="Question"), ago(9)),
        event(EmailComplained(message_id="m-9", subject="Winter sale"), ago(5)),
    )
    assert [(c.source, c.reference) for c in profile.recent_complaints] == [
        ("email", "m-9"),
        ("case", "CASE-NEW"),
    ]


def test_satisfaction_shows_the_latest_and_the_average() -> None:
    """Surveys on either scale: the latest by time, the average of all, on 0..1."""
    profile = profile_of(
        event(SurveyAnswered(survey_id="csat", scale="1-5", score=2), ago(2)),
        event(SurveyAnswered(survey_id="nps", scale="0-10", score=10), ago(40)),
    )
    satisfaction = profile.satisfaction
    assert (satisfaction.count, satisfaction.latest, satisfaction.latest_score) == (2, 0.25, "2/5")
    assert satisfaction.average == 0.625
    assert "low_satisfaction" in codes(profile)


# --- consent -----------------------------------------------------------------------


def test_consent_latest_wins_regardless_of_order() -> None:
    """The later of a grant and a revocation decides, whichever arrives first."""
    grant = event(ConsentGranted(contact_channel="phone", purpose="marketing"), ago(10))
    revoke = event(ConsentRevoked(contact_channel="phone", purpose="marketing"), ago(5))
    for events in ([grant, revoke], [revoke, grant]):
        (consent,) = profile_of(*events).consent
        assert (consent.channel, consent.granted, consent.at) == ("phone", False, ago(5))


def test_marketing_channels_weigh_all_channels_and_unsubscribes() -> None:
    """An ``all`` decision overrides older channel ones; an unsubscribe revokes email marketing."""
    profile = profile_of(
        event(ConsentGranted(contact_channel="all", purpose="marketing"), ago(10)),
        event(ConsentRevoked(contact_channel="sms", purpose="marketing"), ago(5)),
        event(ConsentRevoked(contact_channel="post", purpose="marketing"), ago(20)),
        event(EmailUnsubscribed(message_id="m-1", list_id="news"), ago(2)),
    )
    assert profile.marketing_channels == ("phone", "post", "fax", "web", "partner", "in_person")
    email = next(c for c in profile.consent if c.channel == "email")
    assert (email.granted, email.cause) == (False, "email.unsubscribed")


def test_do_not_contact_is_a_signal_and_stops_marketing() -> None:
    """Do-not-contact in force empties marketing channels; a later clear or a past
    ``until`` lifts it."""
    grant = event(ConsentGranted(contact_channel="email", purpose="marketing"), ago(30))
    dnc = DoNotContactSet(reason="asked on call", set_by="agent-7")
    profile = profile_of(grant, event(dnc, ago(3)))
    assert (profile.do_not_contact, profile.marketing_channels) == (True, ())
    assert codes(profile) == ["do_not_contact"]
    cleared = DoNotContactCleared(reason="asked again", cleared_by="agent-7")
    assert not profile_of(grant, event(cleared, ago(1)), event(dnc, ago(3))).do_not_contact
    lapsed = DoNotContactSet(reason="for a month", set_by="agent-7", until=ago(1))
    assert profile_of(grant, event(lapsed, ago(31))).marketing_channels == ("email",)


# --- churn signals -----------------------------------------------------------------


def test_no_purchase_since_complaint_is_a_churn_signal() -> None:
    """A complaint 60+ days old with no order since signals churn; an order since clears it."""
    complaint = complaint_case("CASE-1", ago(70))
    assert codes(profile_of(placed("O-1", 50.0, ago(80)), complaint)) == [
        "no_purchase_since_complaint"
    ]
    assert codes(profile_of(complaint, placed("O-2", 50.0, ago(20)))) == []
    assert codes(profile_of(complaint_case("CASE-2", ago(30)))) == []
    assert codes(profile_of(complaint_case("CASE-3", ago(400)))) == []


def test_declining_engagement_is_a_churn_signal() -> None:
    """Under half the previous 90 days' monthly average in the last 30 days is a decline."""
    before = engagement(12, from_days=119, to_days=31)  # 4 a month
    assert "declining_engagement" in codes(
        profile_of(*before, *engagement(1, from_days=20, to_days=0))
    )
    steady = profile_of(*before, *engagement(3, from_days=20, to_days=0))
    assert "declining_engagement" not in codes(steady)
    assert (steady.engagement.recent, steady.engagement.baseline_monthly) == (3, 4.0)
    too_little = engagement(3, from_days=119, to_days=31)  # 1 a month: nothing to judge
    assert codes(profile_of(*too_little)) == []


def test_outbound_and_agent_messages_are_not_engagement() -> None:
    """Sent emails and agents' chat lines do not count; the customer's chat lines do."""
    state = fold(
        [
            event(EmailSent(message_id="m-1"), ago(1)),
            event(ChatMessageSent(conversation_id="x", sender="agent", text="Hi"), ago(1)),
            event(ChatMessageSent(conversation_id="x", sender="customer", text="Hi"), ago(1)),
        ]
    )
    assert state.engagement == {ago(1).date().isoformat(): 1}


def test_engagement_keeps_only_the_days_render_can_read() -> None:
    """Days more than ENGAGEMENT_DAYS_KEPT before the latest engagement day are dropped,
    and a late event that old is not counted, in whatever order the events come."""

    def viewed(days: float, hours: float = 0) -> Envelope:
        return event(PageViewed(url="https://shop.example.com/trail"), ago(days, hours))

    def day(days: int) -> str:
        return ago(days).date().isoformat()

    latest, recent, old = viewed(0), viewed(2), viewed(300)
    edge = [viewed(ENGAGEMENT_DAYS_KEPT), viewed(ENGAGEMENT_DAYS_KEPT, 2)]  # the oldest kept
    late = viewed(ENGAGEMENT_DAYS_KEPT + 1)  # a day too old
    expected = {day(ENGAGEMENT_DAYS_KEPT): 2, day(2): 1, day(0): 1}
    arrangements = [
        [old, late, *edge, recent, latest],  # counted, then dropped when the latest day comes
        [latest, recent, *edge, late, old],  # refused on arrival
        [recent, late, latest, old, *edge],
    ]
    for events in arrangements:
        state = fold(events)
        assert (state.engagement, state.engagement_latest) == (expected, NOW.date())
        assert encode_state(state) == encode_state(fold(arrangements[0]))
    assert render("cus_ann", fold(arrangements[0]), RULES, NOW).engagement.recent == 2


def test_a_stored_unbounded_engagement_is_pruned_on_its_next_engagement() -> None:
    """A state stored before the bound still decodes, and drops its stale days at the
    next engagement, like a state folded with the bound."""
    stored = msgspec.msgpack.encode(
        {"engagement": {"2020-01-01": 5, "2026-11-18": 1}}  # no engagement_latest yet
    )
    for days, expected in ((1, {"2026-11-18": 1, "2026-11-19": 1}), (2, {"2026-11-18": 2})):
        state = decode_state(stored)
        apply(state, event(PageViewed(url="https://shop.example.com/trail"), ago(days)))
        assert state.engagement == expected
        assert state.engagement_latest == ago(days).date()


def test_rules_asking_for_more_engagement_than_is_kept_are_cut_to_it() -> None:
    """Windows beyond the kept days count only the kept ones, averaging over those days."""
    state = fold(engagement(10, from_days=ENGAGEMENT_DAYS_KEPT, to_days=30))
    wide = ProfileRules(engagement_recent_days=30, engagement_baseline_days=400)
    view = render("cus_ann", state, wide, NOW).engagement
    kept = ENGAGEMENT_DAYS_KEPT + 1 - 30
    assert (view.recent, view.baseline_monthly) == (0, round(10 * 30 / kept, 4))
    everything = ProfileRules(engagement_recent_days=500, engagement_baseline_days=90)
    view = render("cus_ann", state, everything, NOW).engagement
    assert (view.recent, view.baseline_monthly) == (10, 0.0)


def test_what_is_kept_covers_the_default_rules() -> None:
    """The bounds leave render's default windows untouched (with margin)."""
    windows = RULES.engagement_recent_days + RULES.engagement_baseline_days
    assert windows < ENGAGEMENT_DAYS_KEPT
    assert RULES.complaint_window <= RULES.churn_complaint_lookback
    assert RULES.churn_complaint_lookback < timedelta(days=SPAM_COMPLAINTS_KEPT)


def test_spam_complaints_older_than_the_latest_by_the_bound_are_dropped() -> None:
    """Spam complaints more than SPAM_COMPLAINTS_KEPT days before the latest are dropped or
    not kept, in any order; they still revoke email marketing."""
    complaints = [
        event(EmailComplained(message_id=f"m-{days}", subject="Sale"), ago(days))
        for days in (SPAM_COMPLAINTS_KEPT + 30, SPAM_COMPLAINTS_KEPT, 200, 10)
    ]
    for arranged in (complaints, complaints[::-1], [complaints[i] for i in (1, 3, 0, 2)]):
        state = fold(arranged)
        kept = sorted(c.message_id for c in state.spam_complaints.values())
        assert kept == ["m-10", "m-200", f"m-{SPAM_COMPLAINTS_KEPT}"]
        assert encode_state(state) == encode_state(fold(complaints))
        consent = state.consent_for("email", "marketing")
        assert consent is not None
        assert (consent.granted, consent.at) == (False, ago(10))


# --- partner, offers, talking points -----------------------------------------------


def test_owning_partner_is_the_latest_partner_event() -> None:
    """The owning partner is the one of the latest partner event, not the one with most
    orders; every partner is listed, latest first, with its live orders."""
    lead = LeadRegistered(
        partner_account="BOLT", partner_customer_ref="b-1", partner_name="Bolt Trade", lead_id="L-1"
    )
    profile = profile_of(
        partner_placed("P-1", 100.0, ago(50), name="Acme Resellers"),
        partner_placed("P-2", 100.0, ago(40)),
        event(lead, ago(5)),
    )
    assert profile.owning_partner is not None
    assert (profile.owning_partner.account, profile.owning_partner.name) == ("BOLT", "Bolt Trade")
    assert profile.owning_partner.orders == 0
    assert [(p.account, p.orders) for p in profile.partners] == [("BOLT", 0), ("ACME", 2)]
    assert profile.partners[0] == profile.owning_partner


def test_owning_rep_and_open_opportunities_follow_the_latest_sales_events() -> None:
    """The owning rep is the latest sales event's; a deal is open until won or lost, at
    its latest stage and amount, and the agent hears about it."""
    profile = profile_of(
        event(
            OpportunityOpened(
                rep_id="rep-7",
                rep_name="Rosa",
                opportunity_id="OPP-1",
                title="Lyon store",
                amount=4800.0,
                currency="EUR",
            ),
            ago(20),
        ),
        event(
            OpportunityOpened(
                rep_id="rep-7", rep_name="Rosa", opportunity_id="OPP-2", title="Repairs"
            ),
            ago(15),
        ),
        event(
            OpportunityStageChanged(
                rep_id="rep-9",
                opportunity_id="OPP-1",
                stage="negotiation",
                amount=4500.0,
                currency="EUR",
            ),
            ago(3),
        ),
        event(
            OpportunityLost(
                rep_id="rep-7", rep_name="Rosa", opportunity_id="OPP-2", reason="no budget"
            ),
            ago(2),
        ),
        event(VisitLogged(rep_id="rep-9", notes="Coffee"), ago(1)),
    )
    assert profile.owning_rep is not None
    assert (profile.owning_rep.rep_id, profile.owning_rep.last_seen_at) == ("rep-9", ago(1))
    [deal] = profile.open_opportunities
    assert (deal.opportunity_id, deal.title, deal.stage) == ("OPP-1", "Lyon store", "negotiation")
    assert (deal.amount, deal.currency, deal.rep_id) == (4500.0, "EUR", "rep-9")
    assert (
        "Opportunity 'Lyon store' is open at negotiation, 4,500.00 EUR (rep rep-9)."
        in profile.talking_points
    )
    won = event(
        OpportunityWon(rep_id="rep-7", rep_name="Rosa", opportunity_id="OPP-1"), ago(1, hours=1)
    )
    assert profile_of(won, *_deal_history()).open_opportunities == ()
    reopened = event(
        OpportunityStageChanged(
            rep_id="rep-7", rep_name="Rosa", opportunity_id="OPP-1", stage="proposal"
        ),
        ago(0.5),
    )
    assert [d.stage for d in profile_of(won, reopened, *_deal_history()).open_opportunities] == [
        "proposal"
    ]


def _deal_history() -> list[Envelope]:
    return [
        event(
            OpportunityOpened(rep_id="rep-7", opportunity_id="OPP-1", title="Lyon store"), ago(20)
        )
    ]


def test_a_visit_is_a_sales_contact() -> None:
    """A rep's visit is the last contact in the sales channel, and not the customer's engagement."""
    profile = profile_of(event(VisitLogged(rep_id="rep-7"), ago(2)))
    assert profile.last_contact == {"sales": ago(2)}
    assert profile.engagement.recent == 0


def test_offers_stay_active_until_answered_expired_or_suppressed() -> None:
    """An offer ends with a response, an expiry, a suppression in its channel or its date."""
    winter = event(OfferMade(via="email", offer_code="WINTER20"), ago(10), campaign_id="winter")
    spring = event(
        OfferMade(via="phone", offer_code="SPRING10", expires_at=NOW + timedelta(days=5)),
        ago(9),
        campaign_id="spring",
    )
    past = event(OfferMade(via="email", offer_code="OLD", expires_at=ago(1)), ago(20))
    active = profile_of(winter, spring, past).active_offers
    assert [offer.offer_code for offer in active] == ["SPRING10", "WINTER20"]
    accepted = OfferResponded(response="accepted", via="phone")
    ends = [
        event(accepted, ago(2), campaign_id="winter"),
        event(OfferExpired(offer_code="WINTER20"), ago(2), campaign_id="winter"),
        event(CampaignSuppressed(reason="opted_out", via="email"), ago(2), campaign_id="winter"),
    ]
    for end in ends:
        assert [o.offer_code for o in profile_of(winter, spring, end).active_offers] == ["SPRING10"]
    elsewhere = event(CampaignSuppressed(reason="manual", via="sms"), ago(2), campaign_id="winter")
    assert len(profile_of(winter, elsewhere).active_offers) == 1
    before = event(OfferExpired(), ago(11), campaign_id="winter")
    assert len(profile_of(winter, before).active_offers) == 1


def test_talking_points_tell_the_agent_what_matters() -> None:
    """Open cases, recent complaints, the latest survey and a recent order become sentences;
    a recent complaint holds offers back."""
    profile = profile_of(*_story())
    assert profile.talking_points == (
        "Complaint CASE-1 is open: 'Late delivery'.",
        "Ordered P-1 on 2026-11-12 via Acme Resellers, 750.00 EUR.",
        "Latest survey scored 4/5 on 2026-11-16.",
        "Hold back pending offers: a complaint is recent.",
    )
    calm = profile_of(
        placed("O-1", 129.0, ago(3)),
        event(OrderReturned(order_id="O-1", amount_refunded=29.0, currency="EUR"), ago(1)),
        event(OfferMade(via="email", offer_code="WINTER20"), ago(2), campaign_id="winter"),
    )
    assert calm.talking_points == (
        "Ordered O-1 on 2026-11-17 via web, 129.00 EUR, 29.00 EUR refunded.",
        "Offer WINTER20 (campaign winter) is pending, made via email on 2026-11-18.",
    )


def test_profile_of_a_whole_story() -> None:
    """The story across every channel renders to one consistent profile."""
    profile = profile_of(*_story())
    assert profile.identifiers == ("email:ann@example.com",)
    assert profile.orders.lifetime_value == {"EUR": 850.0}
    assert profile.value_tier == "silver"
    assert profile.marketing_channels == ("email",)
    assert [offer.offer_code for offer in profile.active_offers] == ["WINTER20"]
    assert profile.owning_partner is not None
    assert profile.owning_partner.orders == 1
    assert codes(profile) == []
    assert msgspec.json.decode(msgspec.json.encode(profile), type=Profile) == profile


def test_empty_state_renders_an_empty_profile() -> None:
    """With no events: bronze, nothing open, nothing to say."""
    profile = render("cus_new", ProfileState(), RULES, NOW)
    assert (profile.value_tier, profile.orders.count, profile.talking_points) == ("bronze", 0, ())
    assert (profile.churn_signals, profile.owning_partner, profile.satisfaction.latest) == (
        (),
        None,
        None,
    )


def test_render_refuses_a_naive_now() -> None:
    """``now`` must say its zone, like every time in touchline."""
    naive = datetime(2026, 11, 20)  # noqa: DTZ001  the naive time is what is under test
    with pytest.raises(ValueError, match="aware"):
        render("cus_ann", ProfileState(), RULES, naive)


def test_rules_refuse_unordered_tiers() -> None:
    """Tier thresholds must ascend."""
    with pytest.raises(ValueError, match="ascend"):
        ProfileRules(tiers=(("gold", 2000.0), ("silver", 500.0)))
