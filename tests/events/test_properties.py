"""Properties of the codec over generated events (hypothesis).

The generated payloads cover the shapes that are easiest to get wrong on a
wire: nested structs in tuples, free-form dicts, money and currency, UUIDs,
literals, optional aware datetimes and cross-field rules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import get_args
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from touchline.events import CATALOGUE, EventCodec, Identities, Payload, new_event
from touchline.events.campaign import CampaignConverted, OfferMade
from touchline.events.consent import ConsentChannel, ConsentGranted, ConsentPurpose, ContactChannel
from touchline.events.identity import CustomerMerged
from touchline.events.order import LineItem, SalesChannel
from touchline.events.partner import PartnerOrderPlaced
from touchline.events.service import SurveyAnswered
from touchline.events.web import CartUpdated, FormSubmitted

CODECS = {wire: EventCodec(CATALOGUE, wire) for wire in ("json", "msgpack")}

texts = st.text(min_size=1, max_size=40)
optional_texts = st.none() | texts
amounts = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
currencies = st.from_regex(r"\A[A-Z]{3}\Z")
# Realistic years: far dates overflow the msgpack timestamp once shifted to UTC.
zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_datetimes = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001  hypothesis takes naive bounds, zones apart
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001  (as above)
    timezones=zones,
)
line_items = st.builds(
    LineItem,
    sku=texts,
    quantity=st.integers(min_value=1, max_value=100_000),
    unit_price=amounts,
    description=optional_texts,
)


@st.composite
def merges(draw: st.DrawFn) -> CustomerMerged:
    survivor, merged = draw(
        st.lists(st.uuids().map(lambda u: f"cus_{u.hex}"), min_size=2, max_size=2, unique=True)
    )
    return CustomerMerged(
        survivor_id=survivor,
        merged_id=merged,
        merged_by=draw(texts),
        reason=draw(texts),
        caused_by=draw(st.none() | st.uuids()),
    )


@st.composite
def conversions(draw: st.DrawFn) -> CampaignConverted:
    priced = draw(st.booleans())
    return CampaignConverted(
        order_id=draw(texts),
        via=draw(st.sampled_from(get_args(SalesChannel))),
        amount=draw(amounts) if priced else None,
        currency=draw(currencies) if priced else None,
        offer_code=draw(optional_texts),
    )


payloads: st.SearchStrategy[Payload] = st.one_of(
    st.builds(
        CartUpdated,
        items=st.lists(line_items, max_size=5).map(tuple),
        cart_value=amounts,
        currency=currencies,
        cart_id=optional_texts,
        session_id=optional_texts,
    ),
    st.builds(
        FormSubmitted,
        form=texts,
        fields=st.dictionaries(texts, st.text(max_size=40), max_size=5),
        url=optional_texts,
    ),
    st.builds(
        PartnerOrderPlaced,
        partner_account=texts,
        partner_customer_ref=texts,
        partner_name=optional_texts,
        order_id=texts,
        items=st.lists(line_items, min_size=1, max_size=5).map(tuple),
        total=amounts,
        currency=currencies,
    ),
    st.builds(
        ConsentGranted,
        contact_channel=st.sampled_from(get_args(ConsentChannel)),
        purpose=st.sampled_from(get_args(ConsentPurpose)),
        captured_via=optional_texts,
        policy_version=optional_texts,
    ),
    st.one_of(
        st.builds(
            SurveyAnswered,
            survey_id=texts,
            scale=st.just("0-10"),
            score=st.integers(0, 10),
            comment=optional_texts,
        ),
        st.builds(
            SurveyAnswered,
            survey_id=texts,
            scale=st.just("1-5"),
            score=st.integers(1, 5),
            comment=optional_texts,
        ),
    ),
    st.builds(
        OfferMade,
        via=st.sampled_from(get_args(ContactChannel)),
        offer_code=texts,
        made_by=optional_texts,
        expires_at=st.none() | aware_datetimes,
    ),
    merges(),
    conversions(),
)


@given(payload=payloads, occurred_at=aware_datetimes, event_id=st.uuids())
def test_encode_then_decode_is_identity(
    payload: Payload, occurred_at: datetime, event_id: UUID
) -> None:
    """Any valid event comes back equal from JSON and from msgpack."""
    event = new_event(
        payload,
        event_id=event_id,
        occurred_at=occurred_at,
        source="generated",
        identities=Identities(email="ann@example.com"),
        recorded_at=datetime(2024, 5, 1, tzinfo=UTC),
    )
    for codec in CODECS.values():
        decoded = codec.decode(codec.encode(event))
        assert decoded == event
        assert type(decoded.payload) is type(payload)
        assert decoded.summary() == payload.summary()
