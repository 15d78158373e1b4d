"""Next-best-offer: filters, arbitration by priority and behaviour, the explanation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import event
from touchline import offers
from touchline.bootstrap import Backbone, build_backbone
from touchline.config import Settings
from touchline.events import Identities, Payload
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.events.consent import ConsentRevoked, DoNotContactSet
from touchline.events.web import ProductViewed
from touchline.processing.clock import ManualClock

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)
CAMPAIGNS = {
    "spring": OfferTerms(
        code="SPRING10", priority=5, value=10.0, currency="USD", products=("SKU-TRAIL",)
    ),
    "autumn": OfferTerms(code="AUTUMN15", priority=6, value=15.0, currency="USD"),
}


@pytest.fixture
def backbone(settings: Settings) -> Iterator[Backbone]:
    with build_backbone(settings, clock=ManualClock(NOW)) as backbone:
        for campaign_id, offer in CAMPAIGNS.items():
            terms = CampaignLaunched(
                name=campaign_id,
                offers=(offer,),
                sequence=(Step(channel="email", after_days=30),),
                channels=("web", "phone"),
            )
            happen(backbone, terms, T0, identities=Identities(), campaign_id=campaign_id)
        yield backbone


def happen(backbone: Backbone, payload: Payload, at: datetime, **fields: object) -> None:
    result = backbone.publisher.publish([event(payload, at, **fields)])  # type: ignore[arg-type]
    assert not result.rejected, result.rejected
    backbone.runtime.catch_up()


def decide(backbone: Backbone, customer_id: str | None, **options: object) -> offers.Decision:
    engine = offers.NextBestOffer(backbone.stores["campaigns"], backbone.engine, backbone.codec)
    return engine.decide(customer_id, at=NOW, **options)  # type: ignore[arg-type]


def ann(backbone: Backbone) -> str:
    found = backbone.queries.find("ann@example.com").customer_id
    assert found is not None
    return found


def target_ann(backbone: Backbone) -> None:
    for campaign_id in CAMPAIGNS:
        happen(backbone, CustomerTargeted(), T0 + timedelta(minutes=1), campaign_id=campaign_id)


def test_priority_decides_and_what_she_just_viewed_raises_an_offer(backbone: Backbone) -> None:
    """Autumn outranks spring by priority, until Ann views a product spring is about; every
    other offer is explained."""
    target_ann(backbone)
    decision = decide(backbone, ann(backbone), channel="phone")
    assert [o.offer_code for o in decision.offers] == ["AUTUMN15"]
    viewed = ProductViewed(sku="SKU-TRAIL", name="Trail shoe")
    happen(backbone, viewed, T0 + timedelta(hours=1))
    decision = decide(backbone, ann(backbone), channel="phone")
    assert [(o.offer_code, o.affinity) for o in decision.offers] == [("SPRING10", ("SKU-TRAIL",))]
    [lost] = [c for c in decision.considered if c.offer_code == "AUTUMN15"]
    assert lost.outcome.startswith("ranked lower than spring/SPRING10")
    assert decision.rules_version == offers.RULES_VERSION
    assert decision.inputs["interest"] == ["SKU-TRAIL"]


def test_filters_say_why_an_offer_may_not_be_made(backbone: Backbone) -> None:
    """No consent for the channel, do-not-contact, or not targeted for an outbound call: each
    offer is filtered with the reason; a web visitor who was never targeted still gets one."""
    assert [o.offer_code for o in decide(backbone, None, channel="web").offers] == ["AUTUMN15"]
    refused = decide(backbone, None, channel="phone")
    assert refused.offers == ()
    assert {c.outcome for c in refused.considered} == {"filtered: the customer is not targeted"}
    target_ann(backbone)
    happen(backbone, ConsentRevoked(contact_channel="phone", purpose="marketing"), T0)
    no_phone = decide(backbone, ann(backbone), channel="phone")
    assert {c.outcome for c in no_phone.considered} == {
        "filtered: no consent for marketing via phone"
    }
    happen(backbone, DoNotContactSet(reason="asked", set_by="A17"), T0 + timedelta(hours=1))
    web = decide(backbone, ann(backbone), channel="web")
    assert {c.outcome for c in web.considered} == {"filtered: the customer's offer is suppressed"}
    bob = Identities(email="bob@example.com")
    happen(backbone, DoNotContactSet(reason="asked", set_by="A17"), T0, identities=bob)
    bob_id = backbone.queries.find("bob@example.com").customer_id
    untargeted = decide(backbone, bob_id, channel="web")
    assert {c.outcome for c in untargeted.considered} == {"filtered: do-not-contact"}


def test_an_offer_shown_is_recorded_and_the_agent_sees_it(backbone: Backbone) -> None:
    """Showing the decision records campaign.offer_made: the customer's campaign is offered
    via the web, and the profile lists the offer."""
    target_ann(backbone)
    decision = decide(backbone, ann(backbone), channel="web")
    assert not offers.shown(backbone.publisher, decision).rejected
    backbone.runtime.catch_up()
    states = {c.campaign_id: c for c in backbone.queries.customer_campaigns(ann(backbone))}
    assert (states["autumn"].state, states["autumn"].offered_via) == ("offered", "web")
    assert states["spring"].state == "targeted"
    profile = backbone.queries.profile(ann(backbone), now=NOW)
    assert profile is not None
    assert [o.offer_code for o in profile.active_offers] == ["AUTUMN15"]
