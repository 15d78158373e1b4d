"""One person across all five channels ends as one customer, one timeline, one profile."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import DAY
from tests.helpers import event
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.events import Envelope, Identities
from touchline.events.call import InboundCallEnded
from touchline.events.email import EmailOpened, EmailSent
from touchline.events.fax import FaxReceived
from touchline.events.order import LineItem
from touchline.events.partner import PartnerOrderPlaced
from touchline.events.service import CaseOpened
from touchline.events.web import FormSubmitted, PageViewed, ProductViewed
from touchline.handlers.identity_graph import find_customer
from touchline.projections.profile_view import ProfileRules
from touchline.projections.timeline import read_timeline
from touchline.queries import profile as read_profile

Runtime = EmbeddedRuntime | KafkaRuntime
WEB = Identities(web_id="anon-77")
EMAIL = "zoe@example.com"
PHONE = "+14155550177"
FAX = "+14155550178"


def _on_her_own() -> list[Envelope]:
    """What each channel sees before anything ties it to the others."""
    return [
        event(PageViewed(url="https://shop.test/"), DAY, identities=WEB),
        event(
            ProductViewed(sku="desk-1", name="Standing desk"),
            DAY + timedelta(minutes=2),
            identities=WEB,
        ),
        event(
            InboundCallEnded(call_id="c-77", duration_seconds=420, agent_name="Sam"),
            DAY + timedelta(hours=2),
            identities=Identities(phone=PHONE),
        ),
        event(
            FaxReceived(document_id="fx-1", pages=2, form_name="warranty"),
            DAY + timedelta(hours=3),
            identities=Identities(fax=FAX),
        ),
    ]


def _ties() -> list[Envelope]:
    """Registration, a verified call, a signed fax form and a reseller's order:
    each carries an identifier already seen and a new one."""
    return [
        event(
            FormSubmitted(form="register", fields={"plan": "home"}),
            DAY + timedelta(minutes=5),
            identities=Identities(web_id="anon-77", email=EMAIL),
        ),
        event(
            EmailSent(message_id="welcome-1", subject="Welcome, Zoe"),
            DAY + timedelta(minutes=6),
            identities=Identities(email=EMAIL),
        ),
        event(
            EmailOpened(message_id="welcome-1"),
            DAY + timedelta(minutes=30),
            identities=Identities(email=EMAIL),
        ),
        event(
            CaseOpened(case_id="case-77", subject="Desk wobbles", opened_via="call"),
            DAY + timedelta(hours=2, minutes=5),
            identities=Identities(phone=PHONE, email=EMAIL),
        ),
        event(
            FaxReceived(document_id="fx-2", pages=1, form_name="delivery address"),
            DAY + timedelta(hours=4),
            identities=Identities(fax=FAX, email=EMAIL),
        ),
        event(
            PartnerOrderPlaced(
                partner_account="reseller-9",
                partner_customer_ref="R-0077",
                partner_name="Desks & Co",
                order_id="po-77",
                items=(LineItem(sku="desk-1", quantity=1, unit_price=650.0),),
                total=650.0,
                currency="EUR",
            ),
            DAY + timedelta(days=1),
            identities=Identities(
                partner_account="reseller-9", partner_customer_ref="R-0077", email=EMAIL
            ),
        ),
    ]


def test_a_customer_across_five_channels_is_one_customer(runtime: Runtime) -> None:
    """Anonymous browsing, registration, a call, a fax and a reseller order: one story."""
    backbone = runtime.backbone
    backbone.publisher.publish(_on_her_own())
    runtime.drain()
    backbone.publisher.publish(_ties())
    runtime.drain()
    with backbone.engine.connect() as connection:
        owners = {
            find_customer(connection, kind, value)
            for kind, value in [
                ("web_id", "anon-77"),
                ("email", EMAIL),
                ("phone", PHONE),
                ("fax", FAX),
                ("partner", "reseller-9/R-0077"),
            ]
        }
        assert len(owners) == 1
        [zoe] = owners
        assert zoe is not None
        entries = read_timeline(connection, zoe, limit=100).entries
        profile = read_profile(connection, zoe, ProfileRules(), DAY + timedelta(days=2))

    stories = [e for e in entries if e.type != "customer.merged"]
    assert len(stories) == 10
    assert [e.occurred_at for e in stories] == sorted(
        (e.occurred_at for e in stories), reverse=True
    )
    assert {e.channel for e in stories} == {"web", "email", "call", "fax", "partner", "service"}

    assert profile is not None
    assert profile.customer_id == zoe
    assert set(profile.identifiers) == {
        "web_id:anon-77",
        f"email:{EMAIL}",
        f"phone:{PHONE}",
        f"fax:{FAX}",
        "partner:reseller-9/R-0077",
    }
    assert set(profile.last_contact) >= {"web", "email", "call", "fax", "partner"}
    assert profile.orders.count == 1
    assert profile.orders.partner == 1
    assert profile.orders.lifetime_value == {"EUR": 650.0}
    assert profile.value_tier == "silver"
    assert profile.owning_partner is not None
    assert profile.owning_partner.account == "reseller-9"
    assert [case.case_id for case in profile.open_cases] == ["case-77"]
    assert any("case-77" in point or "Desk wobbles" in point for point in profile.talking_points)
