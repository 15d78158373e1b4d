"""The catalogue as a whole: every type registered, named, summarised and round-tripped.

``EXAMPLES`` holds one realistic payload per current event type, with its
optional fields filled in; a type registered without an example fails
``test_every_type_has_an_example``, so a new event cannot skip these checks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import pytest

from touchline.events import CATALOGUE, Envelope, EventCodec, Identities, Payload, new_event
from touchline.events.action import ActionRetryDue, ActionSettled, ConsentProof
from touchline.events.base import LegacyPayload
from touchline.events.call import (
    CallbackRequested,
    InboundCallEnded,
    InboundCallStarted,
    OutboundCallMade,
    VoicemailLeft,
)
from touchline.events.campaign import (
    CampaignClosed,
    CampaignConverted,
    CampaignLaunched,
    CampaignSuppressed,
    CustomersTargeted,
    CustomerTargeted,
    FollowUpDue,
    OfferExpired,
    OfferMade,
    OfferResponded,
)
from touchline.events.campaign_feed import (
    ActionCancelled,
    ActionRequested,
    CampaignStateChanged,
)
from touchline.events.campaign_terms import ContactPressure, OfferTerms, QuietHours, Step
from touchline.events.codec import WireFormat
from touchline.events.consent import (
    ConsentGranted,
    ConsentRevoked,
    DoNotContactCleared,
    DoNotContactSet,
)
from touchline.events.email import (
    EmailBounced,
    EmailClicked,
    EmailComplained,
    EmailDelivered,
    EmailOpened,
    EmailReplied,
    EmailSent,
    EmailUnsubscribed,
)
from touchline.events.fax import FaxFailed, FaxReceived, FaxSent
from touchline.events.identity import CustomerIdentified, CustomerMerged, CustomerUnmerged
from touchline.events.order import LineItem, OrderPlaced, OrderReturned
from touchline.events.partner import (
    ClaimSubmitted,
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
from touchline.events.web import (
    CartUpdated,
    ChatMessageSent,
    CheckoutCompleted,
    FormSubmitted,
    PageViewed,
    ProductViewed,
    Searched,
)

OCCURRED = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
SHOE = LineItem(sku="SKU-123", quantity=2, unit_price=64.5, description="Trail shoe X")
SOCKS = LineItem(sku="SKU-9", quantity=1, unit_price=9.9)
PARTNER = {"partner_account": "ACME-01", "partner_customer_ref": "C-4411"}
TYPE_NAME = re.compile(r"^[a-z]+(?:_[a-z]+)*\.[a-z]+(?:_[a-z]+)*$")

_examples: tuple[Payload, ...] = (
    # email
    EmailSent(message_id="m-1", subject="Spring sale", template="spring-24"),
    EmailDelivered(message_id="m-1", subject="Spring sale"),
    EmailOpened(message_id="m-1", subject="Spring sale", user_agent="Mozilla/5.0"),
    EmailClicked(message_id="m-1", subject="Spring sale", url="https://shop.example/sale"),
    EmailReplied(message_id="m-1", subject="Spring sale", excerpt="Do you ship to Norway?"),
    EmailBounced(message_id="m-1", bounce="hard", reason="mailbox unknown"),
    EmailUnsubscribed(message_id="m-1", list_id="newsletter"),
    EmailComplained(message_id="m-1", subject="Spring sale"),
    # web
    PageViewed(
        session_id="s-1",
        url="https://shop.example/trail",
        title="Trail running",
        referrer="https://search.example/?q=trail",
    ),
    ProductViewed(sku="SKU-123", name="Trail shoe X", price=129.0, currency="EUR"),
    Searched(query="running shoes", result_count=14),
    CartUpdated(items=(SHOE, SOCKS), cart_value=138.9, currency="EUR", cart_id="cart-7"),
    CheckoutCompleted(order_id="O-1001", total=129.0, currency="EUR"),
    FormSubmitted(
        form="contact-us",
        fields={"topic": "delivery", "message": "Where is my order?"},
        url="https://shop.example/contact",
    ),
    ChatMessageSent(
        conversation_id="chat-3", sender="agent", text="It ships today.", agent_name="Bea"
    ),
    # call
    InboundCallStarted(call_id="c-1", dialled_number="+18005550100", ivr_path=("1", "3")),
    InboundCallEnded(
        call_id="c-1",
        duration_seconds=312,
        queue="billing",
        agent_id="A17",
        agent_name="Bea Lund",
        disposition="refund promised",
    ),
    OutboundCallMade(call_id="c-2", duration_seconds=95, agent_name="Bea Lund", outcome="answered"),
    CallbackRequested(
        call_id="c-3", requested_for=datetime(2024, 5, 2, 9, tzinfo=UTC), reason="billing"
    ),
    VoicemailLeft(call_id="c-4", duration_seconds=40, transcript="Please call me back"),
    # fax
    FaxReceived(document_id="fx-1", subject="Order form B", form_name="order-form-b", pages=3),
    FaxSent(document_id="fx-2", subject="Quote Q-12", pages=2, sent_by="rep-4"),
    FaxFailed(document_id="fx-3", subject="Quote Q-13", reason="line busy", attempts=3),
    # partner
    PartnerOrderPlaced(
        **PARTNER,
        partner_name="Acme Resellers",
        order_id="P-77",
        items=(SHOE, SOCKS),
        total=138.9,
        currency="USD",
    ),
    PartnerOrderShipped(
        **PARTNER, order_id="P-77", items=(SHOE,), carrier="DHL", tracking_ref="JD0142"
    ),
    PartnerOrderCancelled(
        **PARTNER, order_id="P-78", reason="duplicate", amount_refunded=50.0, currency="USD"
    ),
    LeadRegistered(
        **PARTNER,
        lead_id="L-9",
        interest="solar panels",
        estimated_value=5000.0,
        currency="USD",
        protected_until=datetime(2024, 8, 1, tzinfo=UTC),
    ),
    ClaimSubmitted(
        **PARTNER,
        claim_id="CL-5",
        kind="warranty",
        amount=64.5,
        currency="USD",
        order_id="P-77",
        items=(SHOE,),
        reason="sole came off",
    ),
    # order
    OrderPlaced(
        order_id="O-1001",
        items=(SHOE,),
        total=129.0,
        currency="EUR",
        via="phone",
        taken_by="rep-4",
    ),
    OrderReturned(
        order_id="O-1001", amount_refunded=64.5, currency="EUR", reason="too small", items=(SHOE,)
    ),
    # service
    CaseOpened(
        case_id="CS-1",
        subject="Late delivery",
        category="delivery",
        priority="high",
        is_complaint=True,
        opened_via="call",
    ),
    CaseUpdated(case_id="CS-1", status="in_progress", note="Chased the carrier", updated_by="A17"),
    CaseResolved(case_id="CS-1", resolution="Parcel delivered, voucher sent", resolved_by="A17"),
    SurveyAnswered(
        survey_id="post-case", scale="0-10", score=9, comment="Quick help", case_id="CS-1"
    ),
    # consent
    ConsentGranted(
        contact_channel="email",
        purpose="marketing",
        captured_via="web_form",
        policy_version="2024-01",
    ),
    ConsentRevoked(contact_channel="all", purpose="profiling", reason="asked on the phone"),
    DoNotContactSet(reason="bereavement", set_by="A17", until=datetime(2024, 11, 1, tzinfo=UTC)),
    DoNotContactCleared(reason="customer asked again", cleared_by="A17"),
    # identity
    CustomerIdentified(method="login", link_reason="logged in on the web shop"),
    CustomerMerged(
        survivor_id="cus_1",
        merged_id="cus_2",
        merged_by="identity-resolver",
        reason="same email on both",
        caused_by=UUID("01900000-0000-7000-8000-000000000001"),
    ),
    CustomerUnmerged(
        survivor_id="cus_1",
        restored_id="cus_2",
        requested_by="A17",
        reason="different people sharing an email",
        undoes=UUID("01900000-0000-7000-8000-000000000002"),
    ),
    # campaign
    CampaignLaunched(
        name="Spring sale",
        offers=(
            OfferTerms(
                code="SPRING10",
                priority=5,
                value=20.0,
                currency="EUR",
                products=("SKU-1", "running"),
                page="/offers/spring",
                valid_days=14,
            ),
        ),
        sequence=(Step(channel="email"), Step(channel="phone", after_days=3)),
        channels=("in_person",),
        pressure=ContactPressure(touches=3, window_days=7),
        quiet_hours=QuietHours(start="20:00", end="08:00", timezone="Europe/Paris"),
        ends_at=datetime(2024, 6, 1, tzinfo=UTC),
        complaint_pauses=True,
        consent_purpose="marketing",
    ),
    CustomerTargeted(segment="lapsed-buyers", targeted_by="campaign-engine"),
    FollowUpDue(step=1, via="phone"),
    CampaignStateChanged(
        state="converted",
        previous="offered",
        sequence=3,
        caused_by=UUID("01900000-0000-7000-8000-000000000003"),
        via="partner",
        offer_code="SPRING10",
        reason="order",
        made_by="rep-7",
        order_id="P-77",
        partner_account="ACME",
        amount=129.0,
        currency="EUR",
        response="accepted",
    ),
    ActionRequested(
        via="email",
        offer_code="SPRING10",
        step=0,
        expires_at=datetime(2024, 6, 1, tzinfo=UTC),
        partner_account="ACME",
    ),
    ActionCancelled(
        action_id=UUID("01900000-0000-7000-8000-000000000004"), reason="accepted_elsewhere"
    ),
    ActionSettled(
        action_id=UUID("01900000-0000-7000-8000-000000000004"),
        via="email",
        outcome="suppressed",
        offer_code="SPRING10",
        attempts=0,
        reason="no consent for marketing via email",
        proof=ConsentProof(
            checked_at=datetime(2024, 5, 2, tzinfo=UTC),
            campaigns_version=3,
            campaign_state="offered",
            state_sequence=2,
            consent_event="01900000-0000-7000-8000-000000000005",
            consent_granted=False,
            refusal="no consent for marketing via email",
        ),
    ),
    ActionRetryDue(
        action_id=UUID("01900000-0000-7000-8000-000000000004"),
        via="email",
        attempts=2,
        reason="451 4.3.0 try again later",
    ),
    CustomersTargeted(segment="lapsed-buyers", count=1204),
    OfferMade(via="email", offer_code="SPRING10", expires_at=datetime(2024, 6, 1, tzinfo=UTC)),
    OfferResponded(response="accepted", via="phone", offer_code="SPRING10"),
    CampaignConverted(
        order_id="O-1001", via="web", amount=129.0, currency="EUR", offer_code="SPRING10"
    ),
    CampaignSuppressed(reason="recent_complaint", detail="case CS-1", via="email"),
    OfferExpired(offer_code="SPRING10"),
    CampaignClosed(reason="ended as planned", closed_by="campaign-engine"),
    # sales
    VisitLogged(
        rep_id="rep-7",
        rep_name="Rosa Diaz",
        kind="meeting",
        notes="Walked through the spring range; wants a quote for 40 pairs",
        duration_minutes=45,
        opportunity_id="OPP-9",
    ),
    QuoteSent(
        rep_id="rep-7",
        rep_name="Rosa Diaz",
        quote_id="Q-12",
        via="in_person",
        amount=4800.0,
        currency="EUR",
        valid_until=datetime(2024, 5, 1, tzinfo=UTC),
        opportunity_id="OPP-9",
        items=(SHOE,),
    ),
    OpportunityOpened(
        rep_id="rep-7",
        rep_name="Rosa Diaz",
        opportunity_id="OPP-9",
        title="Spring range for the Lyon store",
        stage="proposal",
        amount=4800.0,
        currency="EUR",
        expected_close_at=datetime(2024, 5, 15, tzinfo=UTC),
    ),
    OpportunityStageChanged(
        rep_id="rep-7",
        rep_name="Rosa Diaz",
        opportunity_id="OPP-9",
        stage="negotiation",
        amount=4500.0,
        currency="EUR",
    ),
    OpportunityWon(
        rep_id="rep-7",
        rep_name="Rosa Diaz",
        opportunity_id="OPP-9",
        amount=4500.0,
        currency="EUR",
        order_id="O-2002",
    ),
    OpportunityLost(
        rep_id="rep-7",
        rep_name="Rosa Diaz",
        opportunity_id="OPP-10",
        reason="budget moved to next year",
        competitor="Shoe Co",
    ),
)
EXAMPLES: dict[str, Payload] = {example.type: example for example in _examples}


def _bare(example: Payload) -> Payload:
    """The same event with only its required fields: every optional one left out."""
    required = {
        field.name: getattr(example, field.name)
        for field in msgspec.structs.fields(example)
        if field.required
    }
    return type(example)(**required)


def _envelope(payload: Payload) -> Envelope:
    return new_event(
        payload,
        occurred_at=OCCURRED,
        source="test-suite",
        event_id=UUID("01900000-0000-7000-8000-0000000000aa"),
        identities=Identities(email="ann@example.com", crm_id="CRM-1"),
        recorded_at=OCCURRED,
        campaign_id="spring-24",
    )


def _registered_classes() -> set[type[Payload]]:
    return set(CATALOGUE.versions())


def _defined_event_classes() -> set[type[Payload]]:
    """Every payload class in the package that names an event type."""
    found: set[type[Payload]] = set()
    pending: list[type[Payload]] = [Payload]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("touchline.events.") and "type" in vars(cls):
            found.add(cls)
    return found


def test_examples_are_keyed_by_their_own_type() -> None:
    """Each example appears once, under the type its class declares."""
    assert len(EXAMPLES) == len(_examples)


def test_every_type_has_an_example() -> None:
    """A type added to the catalogue without an example here fails this test."""
    current = {cls.type for cls in CATALOGUE.current_types()}
    assert sorted(current - EXAMPLES.keys()) == []
    assert sorted(EXAMPLES.keys() - current) == []


def test_every_event_class_is_registered() -> None:
    """A payload class left out of its module's exported tuple is caught."""
    assert _defined_event_classes() - _registered_classes() == set()


@pytest.mark.parametrize("wire", ["json", "msgpack"])
@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_example_round_trips(type_name: str, wire: WireFormat) -> None:
    """Encoding then decoding an event gives back an equal event of the same class."""
    codec = EventCodec(CATALOGUE, wire)
    event = _envelope(EXAMPLES[type_name])
    decoded = codec.decode(codec.encode(event))
    assert decoded == event
    assert type(decoded.payload) is type(event.payload)


@pytest.mark.parametrize("wire", ["json", "msgpack"])
@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_bare_example_round_trips(type_name: str, wire: WireFormat) -> None:
    """An event with only its required fields is valid and round-trips too."""
    codec = EventCodec(CATALOGUE, wire)
    event = _envelope(_bare(EXAMPLES[type_name]))
    assert codec.decode(codec.encode(event)) == event


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_summary_is_one_nonempty_line(type_name: str) -> None:
    """Summaries, with every optional field and with none, are one non-empty line."""
    for payload in (EXAMPLES[type_name], _bare(EXAMPLES[type_name])):
        summary = payload.summary()
        assert summary.strip() == summary
        assert summary
        assert len(summary.splitlines()) == 1


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            ProductViewed(sku="SKU-123", name="Trail shoe X"),
            "Viewed product 'Trail shoe X' (SKU-123)",
        ),
        (Searched(query="running shoes", result_count=14), "Searched 'running shoes' (14 results)"),
        (Searched(query="snowshoes", result_count=0), "Searched 'snowshoes' (no results)"),
        (
            CheckoutCompleted(order_id="O-1001", total=129.0, currency="EUR"),
            "Checkout completed: order O-1001, 129.00 EUR",
        ),
        (
            PartnerOrderPlaced(
                **PARTNER,
                partner_name="Acme Resellers",
                order_id="P-77",
                items=(
                    LineItem(sku="SKU-1", quantity=2, unit_price=400.0),
                    LineItem(sku="SKU-2", quantity=1, unit_price=440.0),
                ),
                total=1240.0,
                currency="USD",
            ),
            "Partner order P-77 via Acme Resellers: 3 items, 1,240.00 USD",
        ),
        (
            CaseOpened(case_id="CS-1", subject="Late delivery", is_complaint=True),
            "Complaint CS-1 opened: 'Late delivery' (normal priority)",
        ),
        (
            ConsentRevoked(contact_channel="all", purpose="marketing"),
            "Consent revoked for marketing on all channels",
        ),
        (
            OfferResponded(response="declined", via="web", offer_code="SPRING10"),
            "Offer SPRING10 declined via web",
        ),
        (
            SurveyAnswered(survey_id="csat", scale="1-5", score=4),
            "Survey csat answered 4/5",
        ),
    ],
)
def test_summary_reads_as_expected(payload: Payload, expected: str) -> None:
    """Summaries read as a person would write them."""
    assert payload.summary() == expected


def test_free_text_is_clipped_to_one_line() -> None:
    """Multi-line or long free text cannot break the one-line summary."""
    chat = ChatMessageSent(
        conversation_id="chat-3", sender="customer", text="Hello,\n\nwhere is " + "x" * 200
    )
    summary = chat.summary()
    assert summary.startswith("Customer in chat: Hello, where is x")
    assert summary.endswith("…")
    assert "\n" not in summary
    assert len(summary) < 100


def test_type_names_are_unique_and_well_formed() -> None:
    """Type names are dotted lower snake case and no two classes share one."""
    current = CATALOGUE.current_types()
    names = [cls.type for cls in current]
    assert len(names) == len(set(names))
    assert [name for name in names if not TYPE_NAME.match(name)] == []


def test_identity_events_keep_the_design_names() -> None:
    """Merges are ``customer.merged`` / ``customer.unmerged``, as DESIGN names them."""
    assert {"customer.identified", "customer.merged", "customer.unmerged"} <= set(EXAMPLES)


@pytest.mark.parametrize(
    "cls", list(CATALOGUE.versions()), ids=lambda cls: f"{cls.type}@{cls.version}"
)
def test_every_type_has_a_channel(cls: type[Payload]) -> None:
    """Every registered version names the timeline channel it belongs to."""
    assert isinstance(cls.channel, str)
    assert re.fullmatch(r"[a-z]+", cls.channel)


def test_channels_are_one_per_module() -> None:
    """All events of one touchpoint module share its channel."""
    channels: dict[str, set[str]] = {}
    for cls in _registered_classes():
        channels.setdefault(cls.__module__, set()).add(cls.channel)
    assert {module: names for module, names in channels.items() if len(names) != 1} == {}


def test_payloads_are_frozen() -> None:
    """Payloads cannot be changed after they are built: events are facts."""
    example = EXAMPLES["web.cart_updated"]
    with pytest.raises(AttributeError):
        example.cart_id = "other"  # type: ignore[attr-defined]  # the point of the test
    for cls in _registered_classes():
        assert cls.__struct_config__.frozen, cls.__name__


def test_legacy_versions_are_older_and_marked() -> None:
    """Each registered legacy version is a LegacyPayload below its current version."""
    for cls in CATALOGUE.versions():
        current = CATALOGUE.current(cls.type)
        if cls is not current:
            assert issubclass(cls, LegacyPayload)
            assert cls.version < current.version


def _cross_field_cases() -> list[tuple[type[Payload], dict[str, Any]]]:
    return [
        (ProductViewed, {"sku": "SKU-1", "price": 10.0}),
        (CampaignConverted, {"order_id": "O-1", "via": "web", "amount": 10.0}),
        (LeadRegistered, {**PARTNER, "lead_id": "L-1", "currency": "EUR"}),
        (SurveyAnswered, {"survey_id": "csat", "scale": "1-5", "score": 0}),
        (CustomerMerged, {"survivor_id": "c", "merged_id": "c", "merged_by": "x", "reason": "y"}),
    ]


@pytest.mark.parametrize(("cls", "fields"), _cross_field_cases())
def test_inconsistent_fields_are_refused(cls: type[Payload], fields: dict[str, Any]) -> None:
    """Fields that only make sense together are checked together."""
    with pytest.raises(ValueError, match="`"):
        cls(**fields)
