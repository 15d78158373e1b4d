"""Inbound webhooks: ``POST /v1/webhooks/esp``, ``/call-status``, ``/fax`` and ``/partner-orders``.

Open routes (no API key): each is authenticated by its signature instead
(:mod:`touchline.api.webhook_signatures`): the Standard Webhooks one
(``webhook-id``, ``webhook-timestamp``, ``webhook-signature``, HMAC-SHA256
with the provider's ``whsec_`` secret from the settings), or the provider's
own: SendGrid's ECDSA signature on the ESP's events, Twilio's HMAC-SHA1 on
call-status callbacks (form-encoded, as Twilio posts them). A missing or bad
signature, or a timestamp outside the five-minute window (a replay), is a
401 problem; a signed body that is not JSON (or, for call status, a form) a
400. A provider with no key configured is refused the same way.
A partner may sign with its own secret, naming itself (``?partner=P1``):
the Standard Webhooks signature does not cover the headers or the URL, so
the name only picks the key, and the items must then be that partner's own.

Each item is mapped (:mod:`touchline.api.webhooks_map`) and published
through the API's publisher, so the edge checks it and the accepted-ids
ledger makes a provider's resend ``duplicate``; an item that maps to no
event is kept on the dead-letter topic with the reason, as the Segment
routes keep theirs; a step that is no touchpoint (an ESP's ``processed``, a
call still ringing) is ``skipped``. The answer is 200 with a result per item.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

import msgspec
import structlog
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy import Engine

from touchline.adapters.partners import partner_directory
from touchline.api.ingest import Ingest, append
from touchline.api.kept_letters import KeptBefore, kept_id, kept_record, storable
from touchline.api.problems import PROBLEMS, ApiProblem, Problem, bad_request, limit_exceeded
from touchline.api.webhook_signatures import (
    Scheme,
    SendGridSignature,
    SignatureRefused,
    Signed,
    StandardWebhooks,
    TwilioSignature,
    chosen,
    form_fields,
    is_form,
)
from touchline.api.webhooks_map import CALLS, ESP, FAX, call_item, esp_item, fax_item, items_of
from touchline.config import Settings
from touchline.events import Identities
from touchline.inbound.items import Item, Mapped, Sender, Senders, Skipped, Unmapped
from touchline.inbound.partner_orders import PARTNER_ORDERS, SOURCE, partner_order_item
from touchline.log.port import Record
from touchline.publish import CONFLICTING_DUPLICATE, REFUSED, utc_now
from touchline.store.action_ledger import load_action

log = structlog.get_logger(__name__)

PROCESSOR = "webhooks-in"
"""The dead letters' ``processor``: what kept them."""
TAGS = ["webhooks"]
ERRORS = {
    400: ResponseSpec(None, description="Signed, but the body is not JSON (or a form)"),
    401: ResponseSpec(
        None,
        description="No valid signature (Standard Webhooks, or the provider's own), or a "
        "timestamp out of the window",
    ),
    413: ResponseSpec(
        None,
        description="The body is over TOUCHLINE_API_MAX_REQUEST_BYTES, or it holds more "
        "items than TOUCHLINE_API_MAX_BATCH_EVENTS",
    ),
    429: ResponseSpec(None, description="Too many ingest requests: retry after the time given"),
}

Status = Literal["accepted", "duplicate", "kept", "skipped"]


class ItemResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What became of one item of the webhook."""

    index: int
    status: Status
    event_id: str
    """The event's id, derived from the provider's id for the item."""
    event_type: str | None = None
    code: str | None = None
    """Why it was kept: ``unknown_event``, ``unknown_status``, ``invalid``,
    ``no_identifier``, or the edge's code."""
    reason: str | None = None


class WebhookAnswer(msgspec.Struct, kw_only=True):
    accepted: int
    duplicates: int
    kept: int
    skipped: int
    results: list[ItemResult]


class KeptItem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A kept item as its dead letter holds it."""

    id: UUID
    type: str
    """``webhook.esp`` or ``webhook.call-status``."""
    source: str
    identities: Identities = Identities()
    item: Any


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    """``esp``, ``call-status``, ``fax`` or ``partner-orders``."""
    schemes: tuple[Scheme, ...]
    """The signatures accepted: those there is a key for (none: every request refused)."""
    setting: str
    """The keys' settings, named in a refusal."""
    source: str
    """The events' ``source``."""
    mapper: Callable[..., Item]
    forms: bool = False
    """Whether a form-encoded body is one item (Twilio posts its callbacks so)."""


class WebhookCounters:
    """The inbound webhooks' counter, in the API's metrics registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.items = Counter(
            "touchline_api_webhook_items",
            "Inbound webhook items, by provider and status (accepted, duplicate, kept, skipped)",
            ["provider", "status"],
            registry=registry,
        )


@dataclass(frozen=True, slots=True)
class InboundWebhooks:
    """What the routes need: the API's ingest, the action ledger, the providers."""

    ingest: Ingest
    ledger_db: Engine
    dead_letter_topic: str
    esp: Provider
    calls: Provider
    fax: Provider
    partners: Provider
    counters: WebhookCounters
    partner_secrets: Mapping[str, str] = field(default_factory=dict)
    """Partner account -> the secret its order webhooks are signed with (its
    own from ``TOUCHLINE_PARTNERS``, else the shared one)."""
    public_url: str = ""
    """The API's public base URL, as providers call it (empty: the request's)."""

    def partner(self, account: str | None) -> Provider:
        """The provider for orders from ``account`` (``?partner=``): its own
        secret, and only its own orders; None: the shared secret, any partner."""
        if account is None:
            return self.partners
        secret = self.partner_secrets.get(account)
        if secret is None:
            raise _unauthorized(f"no partner {account} is configured (TOUCHLINE_PARTNERS)")
        return Provider(
            PARTNER_ORDERS,
            (StandardWebhooks(secret),),
            f"TOUCHLINE_PARTNERS {account}.secret",
            self.partners.source,
            _only_from(account, self.partners.mapper),
        )

    def sender(self, action_id: UUID) -> Sender | None:
        with self.ledger_db.connect() as connection:
            row = load_action(connection, str(action_id))
        return None if row is None else Sender(row.customer_id, row.campaign_id)


def inbound_webhooks(
    settings: Settings, ingest: Ingest, ledger_db: Engine, registry: CollectorRegistry
) -> InboundWebhooks:
    return InboundWebhooks(
        counters=WebhookCounters(registry),
        ingest=ingest,
        ledger_db=ledger_db,
        dead_letter_topic=settings.topics.dead_letter,
        public_url=settings.public_url or settings.unsubscribe_url,
        esp=Provider(
            ESP,
            _native(
                SendGridSignature.from_setting(key, "TOUCHLINE_ESP_WEBHOOK_PUBLIC_KEY")
                if (key := settings.esp_webhook_public_key)
                else None,
                settings.esp_webhook_secret,
            ),
            "TOUCHLINE_ESP_WEBHOOK_PUBLIC_KEY or TOUCHLINE_ESP_WEBHOOK_SECRET",
            "esp",
            esp_item,
        ),
        calls=Provider(
            CALLS,
            _native(
                TwilioSignature(token) if (token := settings.twilio_auth_token) else None,
                settings.contact_centre_secret,
            ),
            "TOUCHLINE_TWILIO_AUTH_TOKEN or TOUCHLINE_CONTACT_CENTRE_SECRET",
            "contact-centre",
            call_item,
            forms=True,
        ),
        fax=Provider(
            FAX,
            _native(None, settings.fax_webhook_secret),
            "TOUCHLINE_FAX_WEBHOOK_SECRET",
            "fax",
            fax_item,
        ),
        partners=Provider(
            PARTNER_ORDERS,
            _native(None, settings.partner_webhook_secret),
            "TOUCHLINE_PARTNER_WEBHOOK_SECRET",
            SOURCE,
            partner_order_item,
        ),
        partner_secrets={
            account: partner.secret
            for account, partner in partner_directory(
                settings.partners,
                # The older form's partners share the secret: without it there are none.
                settings.partner_webhooks if settings.partner_webhook_secret else "",
                settings.partner_webhook_secret,
            ).items()
        },
    )


def _native(native: Scheme | None, secret: str) -> tuple[Scheme, ...]:
    """The provider's own scheme, if keyed, and Standard Webhooks, if a secret is set."""
    return (
        *(() if native is None else (native,)),
        *(() if not secret else (StandardWebhooks(secret),)),
    )


def _only_from(account: str, mapper: Callable[..., Item]) -> Callable[..., Item]:
    """``mapper``, keeping (not publishing) an item that names another partner:
    a partner's own secret vouches for its own orders only."""

    def mapped(item: object, senders: Senders, *, source: str) -> Item:
        m = mapper(item, senders, source=source)
        named = getattr(m.event.payload, "partner_account", None) if isinstance(m, Mapped) else None
        if isinstance(m, Mapped) and named != account:
            reason = f"signed by partner {account}, but names partner {named}"
            return Unmapped(m.event.id, "wrong_partner", reason, m.event.identities)
        return m

    return mapped


def _unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        Problem(type=f"{PROBLEMS}unauthorized", title="Unauthorized", status=401, detail=detail)
    )


def verified(provider: Provider, signed: Signed) -> Any:
    """The body (JSON, or a form's fields where the provider posts forms), once
    its signature checks out; 401 or 400 otherwise."""
    if not provider.schemes:
        raise _unauthorized(f"no key configured for {provider.name} ({provider.setting})")
    try:
        chosen(provider.schemes, signed.headers).verify(signed)
    except SignatureRefused as error:
        raise _unauthorized(f"signature refused: {error}") from None
    if provider.forms and is_form(signed.headers):
        try:
            return dict(form_fields(signed.body))
        except ValueError as error:
            raise bad_request(f"the body is not a form: {error}") from None
    try:
        return msgspec.json.decode(signed.body)
    except (msgspec.DecodeError, RecursionError) as error:
        raise bad_request(f"the body is not JSON: {error}") from None


def take(hooks: InboundWebhooks, provider: Provider, body: Any) -> WebhookAnswer:
    """Publish what maps, keep what does not. Blocking: run in a gate turn."""
    senders: Senders = hooks.sender
    items = items_of(body)
    mapped = [provider.mapper(item, senders, source=provider.source) for item in items]
    results: dict[int, ItemResult] = {}
    events = [(i, m) for i, m in enumerate(mapped) if isinstance(m, Mapped)]
    kept = [(i, m) for i, m in enumerate(mapped) if isinstance(m, Unmapped)]
    for index, m in enumerate(mapped):
        if isinstance(m, Skipped):
            results[index] = ItemResult(
                index=index, status="skipped", event_id=str(m.event_id), reason=m.reason
            )
    publisher = hooks.ingest.publisher
    if events:
        published = publisher.publish([m.event for _, m in events])
        for place, error in published.refusals(len(events)):
            index, m = events[place]
            if error.code == CONFLICTING_DUPLICATE:
                results[index] = _result(index, "duplicate", m)
                continue
            identities = m.event.identities
            kept.append(
                (index, Unmapped(m.event.id, error.code or REFUSED, error.reason, identities))
            )
        for place, (_, status) in published.statuses.items():
            index, m = events[place]
            results[index] = _result(index, status, m)
    _keep(hooks, provider, kept, items, results)
    ordered = [results[index] for index in range(len(items))]
    for result in ordered:
        hooks.counters.items.labels(provider.name, result.status).inc()
    return WebhookAnswer(
        accepted=sum(r.status == "accepted" for r in ordered),
        duplicates=sum(r.status == "duplicate" for r in ordered),
        kept=sum(r.status == "kept" for r in ordered),
        skipped=sum(r.status == "skipped" for r in ordered),
        results=ordered,
    )


def _result(index: int, status: Literal["accepted", "duplicate"], m: Mapped) -> ItemResult:
    return ItemResult(index=index, status=status, event_id=str(m.event.id), event_type=m.event.type)


def _keep(
    hooks: InboundWebhooks,
    provider: Provider,
    kept: list[tuple[int, Unmapped]],
    items: list[object],
    results: dict[int, ItemResult],
) -> None:
    """A letter per item not kept (or published) before: a resend keeps nothing new."""
    if not kept:
        return
    publisher = hooks.ingest.publisher
    ledger = publisher.ledger
    before = KeptBefore(ledger, (keep.event_id for _, keep in kept))
    letters: list[Record] = []
    fresh: list[UUID] = []
    for index, keep in kept:
        if not before.first_time(keep.event_id):
            results[index] = ItemResult(
                index=index, status="duplicate", event_id=str(keep.event_id)
            )
            continue
        fresh.append(keep.event_id)
        results[index] = ItemResult(
            index=index,
            status="kept",
            event_id=str(keep.event_id),
            code=keep.code,
            reason=keep.reason,
        )
        letters.append(_letter(provider, index, keep, items[index], publisher.key_secret))
    if not letters:
        return
    publisher.log.append(hooks.dead_letter_topic, letters)
    # Counts and codes only: an item's content is personal data.
    log.info("webhook items kept", provider=provider.name, items=len(letters))
    if ledger is not None:
        ledger.record([(kept_id(event_id), "kept") for event_id in fresh], utc_now())


def _letter(provider: Provider, index: int, keep: Unmapped, item: object, secret: bytes) -> Record:
    identities = storable(keep.identities)
    document = KeptItem(
        id=keep.event_id,
        type=f"webhook.{provider.name}",
        source=provider.source,
        identities=identities,
        item=item,
    )
    return kept_record(
        msgspec.json.encode(document),
        identities,
        reason=keep.reason,
        code=keep.code,
        processor=PROCESSOR,
        route=f"/v1/webhooks/{provider.name}",
        index=index,
        key_secret=secret,
    )


async def _receive(
    request: Request[Any, Any, Any], hooks: InboundWebhooks, provider: Provider
) -> Response[WebhookAnswer]:
    # The bytes as signed: never decompressed or re-encoded before the check
    # (the app's request_max_body_size bounds them).
    data = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = verified(provider, Signed(data, headers, _called(request, hooks.public_url), utc_now()))
    task = request.query_params.get("TaskId")
    if provider.forms and isinstance(body, dict) and task and "TaskId" not in body:
        # Twilio posts only its own fields; the call task's id rides in the
        # status callback URL touchline's task gave it (which it signs).
        body["TaskId"] = task
    limit = hooks.ingest.limits.max_batch_events
    if isinstance(body, list) and len(body) > limit:
        raise limit_exceeded(
            "TOUCHLINE_API_MAX_BATCH_EVENTS",
            limit,
            f"{len(body)} items in one webhook, over the limit of {limit}",
        )
    answer = await append(hooks.ingest, lambda b: take(hooks, provider, b), body)
    return Response(answer, status_code=200)


def _called(request: Request[Any, Any, Any], public_url: str) -> str:
    """The URL the provider called: behind a proxy, the public base URL with the
    request's path and query as sent; without one, the request's own."""
    if not public_url:
        return str(request.url)
    query = request.scope.get("query_string", b"").decode("latin-1")
    return public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


@post(
    "/v1/webhooks/esp",
    status_code=200,
    summary="An email service provider's event webhook (SendGrid's format), signed",
    description=(
        "An array of ESP events (delivered, open, click, bounce, spamreport, unsubscribe) "
        "signed by SendGrid (its ECDSA signature, checked with TOUCHLINE_ESP_WEBHOOK_PUBLIC_KEY) "
        "or the Standard Webhooks way with TOUCHLINE_ESP_WEBHOOK_SECRET. Each becomes an "
        "email.* event on the customer the message went to (its smtp-id is the adapter's "
        "Message-ID), is skipped (processed, deferred) or is kept on the dead-letter topic "
        "with the reason. Idempotent on sg_event_id."
    ),
    tags=TAGS,
    operation_id="espWebhook",
    responses=ERRORS,
)
async def esp_webhook(
    request: Request[Any, Any, Any], webhooks: NamedDependency[InboundWebhooks]
) -> Response[WebhookAnswer]:
    return await _receive(request, webhooks, webhooks.esp)


@post(
    "/v1/webhooks/call-status",
    status_code=200,
    summary="A contact centre's call-status callback (Twilio's fields), signed",
    description=(
        "One callback, form-encoded as Twilio posts it or JSON, or a JSON array of them "
        "(CallSid, CallStatus, Direction, CallDuration, From, To, Timestamp, TaskId: the call "
        "task's id), signed by Twilio (X-Twilio-Signature, checked with "
        "TOUCHLINE_TWILIO_AUTH_TOKEN over the public URL, TOUCHLINE_PUBLIC_URL) or the "
        "Standard Webhooks way with TOUCHLINE_CONTACT_CENTRE_SECRET. A finished call "
        "becomes a call.* event; a call "
        "under way is skipped; anything else is kept on the dead-letter topic. Idempotent on "
        "CallSid and CallStatus."
    ),
    tags=TAGS,
    operation_id="callStatusWebhook",
    responses=ERRORS,
)
async def call_status_webhook(
    request: Request[Any, Any, Any], webhooks: NamedDependency[InboundWebhooks]
) -> Response[WebhookAnswer]:
    return await _receive(request, webhooks, webhooks.calls)


@post(
    "/v1/webhooks/fax",
    status_code=200,
    summary="A fax gateway's delivery report (Phaxio's fax object), signed",
    description=(
        "{event_type, fax: {id, direction, status, num_pages, completed_at, caller_id, "
        "recipients, tags}} or an array of them, signed the Standard Webhooks way with "
        "TOUCHLINE_FAX_WEBHOOK_SECRET: a finished fax becomes fax.sent, fax.received or "
        "fax.failed on the customer of its tags.action_id or its number; one still under way "
        "is skipped. Idempotent on the fax id and status."
    ),
    tags=TAGS,
    operation_id="faxWebhook",
    responses=ERRORS,
)
async def fax_webhook(
    request: Request[Any, Any, Any], webhooks: NamedDependency[InboundWebhooks]
) -> Response[WebhookAnswer]:
    return await _receive(request, webhooks, webhooks.fax)


@post(
    "/v1/webhooks/partner-orders",
    status_code=200,
    summary="A partner's order webhook (placed, shipped, cancelled), signed",
    description=(
        "{event_id, event: order.placed|order.shipped|order.cancelled, partner: {account, "
        "name}, customer: {ref, email, phone}, order: {order_id, items, total, currency, ...}, "
        "occurred_at} or an array of them, signed the Standard Webhooks way with "
        "TOUCHLINE_PARTNER_WEBHOOK_SECRET, or, with ?partner=<account>, with that "
        "partner's own secret (TOUCHLINE_PARTNERS), its items then naming that partner "
        "only (another's is kept, wrong_partner): each becomes a partner.order_* event. "
        "Idempotent on event_id."
    ),
    tags=TAGS,
    operation_id="partnerOrderWebhook",
    responses=ERRORS,
)
async def partner_order_webhook(
    request: Request[Any, Any, Any], webhooks: NamedDependency[InboundWebhooks]
) -> Response[WebhookAnswer]:
    return await _receive(request, webhooks, webhooks.partner(request.query_params.get("partner")))


WEBHOOK_ROUTES = [esp_webhook, call_status_webhook, fax_webhook, partner_order_webhook]
