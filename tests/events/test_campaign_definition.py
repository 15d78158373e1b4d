"""A campaign's definition: version 2's parts, and version 1 upcast to it."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from touchline.events import CATALOGUE, EventCodec, InvalidEvent
from touchline.events.campaign import DEFAULT_OFFER, CampaignLaunched, CampaignLaunchedV1
from touchline.events.campaign_terms import OfferTerms, QuietHours, Step

LAUNCHED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_version_one_upcasts_to_a_sequence_with_follow_ups() -> None:
    """A v1 launch becomes v2: its channels the sequence, each next one after the follow-up."""
    old = CampaignLaunchedV1(
        name="Winter",
        channels=("email", "phone", "partner"),
        offer_code="W20",
        follow_up_after_days=3,
    )
    new = old.upcast()
    assert new.offers == (OfferTerms(code="W20"),)
    assert new.sequence == (
        Step(channel="email"),
        Step(channel="phone", after_days=3),
        Step(channel="partner", after_days=3),
    )
    assert new.eligible() == ("email", "phone", "partner")


def test_version_one_without_follow_up_offers_once_but_answers_anywhere() -> None:
    """Without a follow-up only the first channel is a step; every listed channel stays eligible."""
    new = CampaignLaunchedV1(name="Winter", channels=("email", "phone")).upcast()
    assert new.sequence == (Step(channel="email"),)
    assert new.offers == (OfferTerms(code=DEFAULT_OFFER),)
    assert new.eligible() == ("email", "phone")


def test_a_stored_version_one_event_decodes_as_version_two() -> None:
    """A v1 record in the log decodes as the current version."""
    codec = EventCodec(CATALOGUE)
    raw = msgspec.json.encode(
        {
            "id": "01900000-0000-7000-8000-000000000001",
            "type": "campaign.launched",
            "version": 1,
            "occurred_at": LAUNCHED.isoformat(),
            "source": "campaign-engine",
            "campaign_id": "winter",
            "payload": {"name": "Winter", "channels": ["email"], "offer_code": "W20"},
        }
    )
    event = codec.decode(raw)
    assert (event.version, type(event.payload)) == (2, CampaignLaunched)


def test_offer_codes_are_unique_and_quiet_hours_name_a_real_zone() -> None:
    """Two offers with one code, or quiet hours in an unknown zone, are refused with a reason."""
    codec = EventCodec(CATALOGUE)
    doubled = {"code": "A"}
    raw = msgspec.json.encode(
        {
            "id": "01900000-0000-7000-8000-000000000002",
            "type": "campaign.launched",
            "version": 2,
            "occurred_at": LAUNCHED.isoformat(),
            "source": "campaign-engine",
            "payload": {
                "name": "Twice",
                "offers": [doubled, doubled],
                "sequence": [{"channel": "email"}],
            },
        }
    )
    with pytest.raises(InvalidEvent, match="offer codes must be unique"):
        codec.decode(raw)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        QuietHours(start="20:00", end="08:00", timezone="Mars/Olympus")
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"start": "25:00", "end": "08:00"}, QuietHours)
