"""Small builders the tests share."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from touchline.bootstrap import Backbone, packing_policies
from touchline.events import Envelope, Identities, Payload, new_event
from touchline.events.call import InboundCallEnded
from touchline.events.email import EmailOpened, EmailSent
from touchline.processing.clock import Clock
from touchline.processing.port import Processor
from touchline.processing.runner import ProcessorRunner
from touchline.projections.timeline import TimelineEntry

ANN = Identities(email="ann@example.com", phone="+14155550134")


def event(
    payload: Payload,
    at: datetime,
    *,
    identities: Identities = ANN,
    source: str = "test",
    campaign_id: str | None = None,
    customer_id: str | None = None,
) -> Envelope:
    return new_event(
        payload,
        occurred_at=at,
        source=source,
        identities=identities,
        campaign_id=campaign_id,
        customer_id=customer_id,
    )


def ann_story(start: datetime) -> list[Envelope]:
    """Three touchpoints of one person in two channels, an hour apart."""
    return [
        event(EmailSent(message_id="m1", subject="Spring offer"), start, campaign_id="spring"),
        event(
            EmailOpened(message_id="m1", subject="Spring offer"),
            start + timedelta(hours=1),
            identities=Identities(email="Ann@Example.com"),
            campaign_id="spring",
        ),
        event(
            InboundCallEnded(
                call_id="c1", duration_seconds=252, agent_name="Lee", disposition="billing question"
            ),
            start + timedelta(hours=2),
            identities=Identities(phone="(415) 555-0134"),
            source="ivr",
        ),
    ]


def summaries(entries: list[TimelineEntry]) -> list[str]:
    return [entry.summary for entry in entries]


def runner_for(
    backbone: Backbone,
    processor: Processor[Any],
    *,
    clock: Clock | None = None,
    batch_size: int = 2000,
) -> ProcessorRunner:
    """A runner for a test's own processor, on the backbone's log and system
    database, packing emits as production does."""
    return ProcessorRunner(
        processor,
        backbone.log,
        backbone.engine,
        backbone.codec,
        dead_letter_topic=backbone.settings.topics.dead_letter,
        batch_size=batch_size,
        clock=clock,
        packing=packing_policies(backbone.settings),
    )
