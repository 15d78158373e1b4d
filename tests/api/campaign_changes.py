"""Campaign state changes made over HTTP, for the stream and client tests."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Server
from tests.campaign_log import written
from tests.conftest import DAY
from tests.helpers import event
from touchline.events import Envelope, Identities
from touchline.events.campaign import CampaignLaunched, CustomerTargeted, OfferResponded
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.events.email import EmailSent

CAMPAIGN = "spring"


def published(api: Server, *events: Envelope) -> None:
    response = api.publish(list(events))
    assert response.json()["rejected"] == 0, response.text
    api.backbone.runtime.catch_up()


def people(first: int, count: int) -> list[Identities]:
    return [Identities(email=f"c{i}@example.com") for i in range(first, first + count)]


def launched(api: Server) -> None:
    launch = CampaignLaunched(
        name="Spring", offers=(OfferTerms(code="SPRING10"),), sequence=(Step(channel="email"),)
    )
    published(api, event(launch, DAY, identities=Identities(), campaign_id=CAMPAIGN))


def targeted_and_answering(api: Server, who: list[Identities]) -> None:
    """Each person is targeted (then offered by email) and accepts: three
    changes each on the campaign-state topic."""
    published(
        api,
        *[
            event(EmailSent(message_id=f"m-{one.email}", subject="Hi"), DAY, identities=one)
            for one in who
        ],
    )
    targeted = DAY + timedelta(minutes=1)
    published(
        api,
        *[
            event(CustomerTargeted(segment="all"), targeted, identities=one, campaign_id=CAMPAIGN)
            for one in who
        ],
    )
    accepted = OfferResponded(response="accepted", via="phone")
    published(
        api,
        *[
            event(accepted, DAY + timedelta(hours=1), identities=one, campaign_id=CAMPAIGN)
            for one in who
        ],
    )


def on_the_log(api: Server) -> list[Envelope]:
    """The campaign-state topic, partition by partition."""
    return written(api.backbone, api.backbone.settings.topics.campaign_state)
