"""Merge, then unmerge: every projection goes back to what it was, on both runtimes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.conftest import DAY
from tests.helpers import event
from tests.runtimes import EmbeddedRuntime, KafkaRuntime
from touchline.bootstrap import Backbone
from touchline.events import Envelope, Identities, new_event
from touchline.events.call import InboundCallEnded
from touchline.events.email import EmailOpened
from touchline.events.identity import CustomerIdentified, CustomerUnmerged
from touchline.events.order import LineItem, OrderPlaced
from touchline.events.service import CaseOpened
from touchline.handlers.identity_graph import find_customer
from touchline.projections.timeline import read_timeline
from touchline.store.tables import customer_profiles, identifiers

Runtime = EmbeddedRuntime | KafkaRuntime
ANN = Identities(email="ann@example.com")
BOB = Identities(phone="+14155550199")
AUDIT = {"customer.merged", "customer.unmerged"}


def _histories() -> list[Envelope]:
    return [
        event(EmailOpened(message_id="m1"), DAY, identities=ANN),
        event(
            OrderPlaced(
                order_id="o-1",
                items=(LineItem(sku="sku-1", quantity=2, unit_price=40.0),),
                total=80.0,
                currency="EUR",
                via="web",
            ),
            DAY + timedelta(hours=1),
            identities=ANN,
        ),
        event(
            InboundCallEnded(call_id="c-1", duration_seconds=300),
            DAY + timedelta(hours=2),
            identities=BOB,
        ),
        event(
            CaseOpened(case_id="case-9", subject="Broken hinge", is_complaint=True),
            DAY + timedelta(hours=3),
            identities=BOB,
        ),
    ]


def _snapshot(backbone: Backbone) -> dict[str, object]:
    """Who owns what, each customer's non-audit timeline and stored profile state."""
    with backbone.engine.connect() as connection:
        owners = dict(
            connection.execute(
                select(identifiers.c.value, identifiers.c.customer_id).order_by(identifiers.c.value)
            ).all()
        )
        snapshot: dict[str, object] = {"owners": owners}
        for customer_id in sorted(set(owners.values())):
            entries = read_timeline(connection, customer_id, limit=1000).entries
            snapshot[f"timeline {customer_id}"] = [
                (e.event_id, e.type, e.summary) for e in entries if e.type not in AUDIT
            ]
            snapshot[f"profile {customer_id}"] = connection.execute(
                select(customer_profiles.c.state).where(
                    customer_profiles.c.customer_id == customer_id
                )
            ).scalar_one()
    return snapshot


def _tie_then_split(runtime: Runtime) -> tuple[dict[str, object], dict[str, object], str, str]:
    backbone = runtime.backbone
    backbone.publisher.publish(_histories())
    runtime.drain()
    before = _snapshot(backbone)
    with backbone.engine.connect() as connection:
        ann = find_customer(connection, "email", "ann@example.com")
        bob = find_customer(connection, "phone", "+14155550199")
    assert ann is not None
    assert bob is not None
    assert ann != bob
    tie = event(
        CustomerIdentified(method="agent", link_reason="same person, says the agent"),
        DAY + timedelta(hours=4),
        identities=Identities(email="ann@example.com", phone="+14155550199"),
    )
    backbone.publisher.publish([tie])
    runtime.drain()
    with backbone.engine.connect() as connection:
        assert find_customer(connection, "phone", "+14155550199") == ann
        merged = [e.type for e in read_timeline(connection, ann, limit=1000).entries]
    assert {"order.placed", "service.case_opened", "customer.merged"} <= set(merged)
    request = new_event(
        CustomerUnmerged(
            survivor_id=ann, restored_id=bob, requested_by="agent-7", reason="two people"
        ),
        occurred_at=DAY + timedelta(hours=5),
        source="test",
        customer_id=ann,
    )
    backbone.publisher.publish([request])
    runtime.drain()
    after = _snapshot(backbone)
    # The tying event itself stays with the survivor (it names both).
    timeline = after[f"timeline {ann}"]
    assert isinstance(timeline, list)
    after[f"timeline {ann}"] = [entry for entry in timeline if entry[0] != str(tie.id)]
    return before, after, ann, bob


def test_merge_then_unmerge_restores_every_projection(runtime: Runtime) -> None:
    """Identity graph, timelines and profiles are as they were before the merge."""
    before, after, _, _ = _tie_then_split(runtime)
    assert after == before


def test_the_unmerge_is_an_audit_entry_on_both_customers(runtime: Runtime) -> None:
    """Who asked and why shows on the survivor's and the restored customer's timeline."""
    _, _, ann, bob = _tie_then_split(runtime)
    with runtime.backbone.engine.connect() as connection:
        for customer_id in (ann, bob):
            entries = read_timeline(connection, customer_id, limit=1000).entries
            [audit] = [e for e in entries if e.type == "customer.unmerged"]
            assert "agent-7" in audit.summary
            assert "two people" in audit.summary


def test_an_unmerged_pair_is_not_merged_again(runtime: Runtime) -> None:
    """Later events carrying both identifiers do not undo the unmerge; each
    side's own events land on it."""
    _, _, ann, bob = _tie_then_split(runtime)
    backbone = runtime.backbone
    backbone.publisher.publish(
        [
            event(
                CustomerIdentified(method="crm_sync"),
                DAY + timedelta(hours=6),
                identities=Identities(email="ann@example.com", phone="+14155550199"),
            ),
            event(EmailOpened(message_id="m2"), DAY + timedelta(hours=7), identities=BOB),
        ]
    )
    runtime.drain()
    with backbone.engine.connect() as connection:
        assert find_customer(connection, "phone", "+14155550199") == bob
        assert find_customer(connection, "email", "ann@example.com") == ann
        bobs = [e.type for e in read_timeline(connection, bob, limit=1000).entries]
    assert bobs[0] == "email.opened"
