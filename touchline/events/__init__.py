"""The event catalogue: the source of truth for what can happen to a customer."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from uuid6 import uuid7

from touchline.events.action import ACTION_EVENTS
from touchline.events.base import Envelope, EnvelopeHead, Identities, LegacyPayload, Payload
from touchline.events.call import CALL_EVENTS, CALL_LEGACY
from touchline.events.campaign import CAMPAIGN_EVENTS, CAMPAIGN_LEGACY
from touchline.events.campaign_feed import CAMPAIGN_FEED_EVENTS
from touchline.events.catalogue import Catalogue, UnknownEventType, upcast
from touchline.events.codec import EventCodec, InvalidEvent, WireFormat
from touchline.events.consent import CONSENT_EVENTS
from touchline.events.email import EMAIL_EVENTS
from touchline.events.fax import FAX_EVENTS
from touchline.events.identity import IDENTITY_EVENTS
from touchline.events.order import ORDER_EVENTS
from touchline.events.partner import PARTNER_EVENTS
from touchline.events.sales import SALES_EVENTS
from touchline.events.service import SERVICE_EVENTS
from touchline.events.web import WEB_EVENTS

CATALOGUE = Catalogue(
    current=(
        *EMAIL_EVENTS,
        *WEB_EVENTS,
        *CALL_EVENTS,
        *FAX_EVENTS,
        *PARTNER_EVENTS,
        *SALES_EVENTS,
        *ORDER_EVENTS,
        *SERVICE_EVENTS,
        *CONSENT_EVENTS,
        *IDENTITY_EVENTS,
        *CAMPAIGN_EVENTS,
        *CAMPAIGN_FEED_EVENTS,
        *ACTION_EVENTS,
    ),
    legacy=(*CALL_LEGACY, *CAMPAIGN_LEGACY),
)
"""Every event type touchline knows, current and legacy versions."""


def new_event(
    payload: Payload,
    *,
    occurred_at: datetime,
    source: str,
    identities: Identities | None = None,
    event_id: UUID | None = None,
    recorded_at: datetime | None = None,
    customer_id: str | None = None,
    correlation_id: UUID | None = None,
    causation_id: UUID | None = None,
    campaign_id: str | None = None,
) -> Envelope:
    """An envelope around ``payload``; a fresh time-ordered UUIDv7 unless given one."""
    return Envelope(
        id=event_id if event_id is not None else uuid7(),
        type=payload.type,
        version=payload.version,
        occurred_at=occurred_at,
        source=source,
        payload=payload,
        identities=identities if identities is not None else Identities(),
        recorded_at=recorded_at,
        customer_id=customer_id,
        correlation_id=correlation_id,
        causation_id=causation_id,
        campaign_id=campaign_id,
    )


__all__ = [
    "CATALOGUE",
    "Catalogue",
    "Envelope",
    "EnvelopeHead",
    "EventCodec",
    "Identities",
    "InvalidEvent",
    "LegacyPayload",
    "Payload",
    "UnknownEventType",
    "WireFormat",
    "new_event",
    "upcast",
]
