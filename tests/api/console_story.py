"""One customer's day across the channels, and a live campaign for her: what
the console tests (over HTTP and in the browser) open."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import Server
from tests.conftest import DAY
from tests.helpers import event
from touchline.events import Envelope, Identities, Payload
from touchline.events.call import InboundCallEnded
from touchline.events.campaign import CampaignLaunched, CustomerTargeted
from touchline.events.campaign_terms import OfferTerms, Step
from touchline.events.consent import ConsentGranted
from touchline.events.email import EmailOpened, EmailSent
from touchline.events.order import LineItem
from touchline.events.partner import PartnerOrderPlaced
from touchline.events.sales import VisitLogged
from touchline.events.service import CaseOpened
from touchline.events.web import PageViewed

PHONE = "+1 415 555 0134"
"""Ann's phone as a caller gives it (stored as +14155550134)."""
ANN = Identities(email="ann@example.com", phone="+14155550134")
CAMPAIGN = "spring"
OFFER = "SPRING10"


def published(api: Server, *events: Envelope) -> None:
    """Publish over HTTP, then let the processors apply everything."""
    response = api.publish(list(events))
    assert response.json()["rejected"] == 0, response.text
    api.backbone.runtime.catch_up()


def anns_day(api: Server) -> str:
    """Ann's morning in seven channels; her customer id."""
    partner = Identities(partner_account="acme", partner_customer_ref="PC-7", phone=ANN.phone)
    story: list[tuple[Payload, Identities]] = [
        (EmailSent(message_id="m1", subject="Winter sale"), ANN),
        (EmailOpened(message_id="m1", subject="Winter sale"), ANN),
        (PageViewed(url="https://shop.example/winter", title="Winter sale"), ANN),
        (
            ConsentGranted(contact_channel="phone", purpose="marketing", captured_via="web"),
            ANN,
        ),
        (
            CaseOpened(case_id="CASE-1", subject="Parcel arrived damaged", is_complaint=True),
            ANN,
        ),
        (
            InboundCallEnded(call_id="c1", duration_seconds=252, agent_name="Lee"),
            ANN,
        ),
        (
            PartnerOrderPlaced(
                partner_account="acme",
                partner_customer_ref="PC-7",
                partner_name="Acme Resellers",
                order_id="P-1",
                items=(LineItem(sku="TRAIL-1", quantity=2, unit_price=375.0),),
                total=750.0,
                currency="USD",
            ),
            partner,
        ),
        (VisitLogged(rep_id="rep-9", rep_name="Sam Rep", notes="Demo of the trail range"), ANN),
    ]
    published(
        api,
        *[
            event(payload, DAY + timedelta(minutes=10 * i), identities=who)
            for i, (payload, who) in enumerate(story)
        ],
    )
    found = api.client.get("/v1/customers", params={"phone": PHONE})
    assert found.status_code == 200, found.text
    customer_id: str = found.json()["customer_id"]
    return customer_id


def spring_for_ann(api: Server) -> None:
    """A live campaign that may be offered on a call, and Ann targeted by it.
    It does not pause on complaints: Ann has one, and the agent may still offer."""
    launch = CampaignLaunched(
        name="Spring",
        offers=(OfferTerms(code=OFFER, priority=5, value=20.0, currency="USD"),),
        sequence=(Step(channel="email", after_days=30),),
        channels=("phone", "partner", "in_person"),
        complaint_pauses=False,
    )
    published(api, event(launch, DAY, identities=Identities(), campaign_id=CAMPAIGN))
    published(
        api,
        event(CustomerTargeted(segment="all"), DAY + timedelta(hours=2), campaign_id=CAMPAIGN),
    )
