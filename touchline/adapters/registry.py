"""The channels touchline has adapters for, and their dispatchers wired from settings.

``touchline adapters`` and the tests build dispatchers from here, one per
channel, each a processor on ``touchline.actions`` driven by a
:class:`~touchline.processing.runner.ProcessorRunner` whose positions live
beside the ledger, in the synchronizer's store.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import msgspec
from sqlalchemy import Engine

from touchline import registry
from touchline.adapters.dispatcher import Dispatcher, dispatcher_name
from touchline.adapters.email import EmailAdapter, SmtpSettings
from touchline.adapters.fax import FaxAdapter
from touchline.adapters.pacing import Backoff, TokenBucket
from touchline.adapters.partners import partner_directory
from touchline.adapters.port import Adapter, Recipient
from touchline.adapters.web_push import WebPushAdapter
from touchline.adapters.webhook import (
    ContactCentreAdapter,
    OpenLeads,
    PartnerAdapter,
    WebhookSettings,
)
from touchline.bootstrap import Backbone, packing_policies
from touchline.config import Settings
from touchline.events.instants import to_us
from touchline.handlers.campaign_records import ENDED
from touchline.handlers.synchronizer import SYNCHRONIZER
from touchline.processing.clock import Clock, SystemClock
from touchline.processing.runner import ProcessorRunner
from touchline.queries import Queries
from touchline.store import action_ledger as ledger
from touchline.store.assignments import Holding, holdings
from touchline.store.positions import load_positions
from touchline.store.secrets import deployment_secret


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What an adapter may be built from."""

    settings: Settings
    unsubscribe_key: bytes
    ledger_db: Engine
    """The action ledger's database, for an adapter that reads it (a partner's open leads)."""
    clock: Clock


@dataclass(frozen=True, slots=True)
class AdapterEntry:
    channel: str
    build: Callable[[AdapterContext], Adapter]
    about: str
    configured: Callable[[Settings], bool] = lambda _settings: True
    """Whether the settings say where to send: an unconfigured channel's
    actions are left for whoever handles them (an agent), not failed."""


def _smtp(settings: Settings, unsubscribe_key: bytes) -> SmtpSettings:
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout,
        sender=settings.email_sender,
        domain=settings.email_domain,
        templates=settings.email_templates,
        unsubscribe_url=settings.unsubscribe_url,
        unsubscribe_secret=unsubscribe_key,
        connections=settings.smtp_connections,
    )


def _email(context: AdapterContext) -> Adapter:
    return EmailAdapter(_smtp(context.settings, context.unsubscribe_key))


def _fax(context: AdapterContext) -> Adapter:
    settings = context.settings
    return FaxAdapter(_smtp(settings, context.unsubscribe_key), settings.fax_gateway_domain)


def _webhook_settings(settings: Settings, secret: str) -> WebhookSettings:
    return WebhookSettings(
        secret=secret,
        timeout=settings.webhook_timeout,
        connect_timeout=settings.webhook_connect_timeout,
        concurrency=settings.webhook_concurrency,
    )


def _phone(context: AdapterContext) -> Adapter:
    settings = context.settings
    if not settings.contact_centre_secret:
        raise ValueError("the phone adapter needs TOUCHLINE_CONTACT_CENTRE_SECRET (whsec_...)")
    return ContactCentreAdapter(
        settings.contact_centre_url,
        _webhook_settings(settings, settings.contact_centre_secret),
    )


def _web(context: AdapterContext) -> Adapter:
    settings = context.settings
    if not settings.web_push_secret:
        raise ValueError("the web adapter needs TOUCHLINE_WEB_PUSH_SECRET (whsec_...)")
    return WebPushAdapter(
        settings.web_push_url, _webhook_settings(settings, settings.web_push_secret)
    )


def open_leads_from(ledger_db: Engine, clock: Clock, window: timedelta) -> OpenLeads:
    """Each partner's open leads as the ledger has them now: leads that went
    out within ``window`` whose campaign has not ended for the customer."""

    def open_leads(action_id: UUID) -> dict[str, int]:
        with ledger_db.connect() as connection:
            return ledger.open_by_receiver(
                connection,
                "partner",
                since_us=to_us(clock.now() - window),
                ended=ENDED,
                leaving_out=str(action_id),
            )

    return open_leads


def _partner(context: AdapterContext) -> Adapter:
    settings = context.settings
    return PartnerAdapter(
        partner_directory(
            settings.partners, settings.partner_webhooks, settings.partner_webhook_secret
        ),
        settings.partner_default,
        _webhook_settings(settings, settings.partner_webhook_secret),
        open_leads=open_leads_from(
            context.ledger_db, context.clock, timedelta(days=settings.partner_lead_days)
        ),
    )


ADAPTERS: tuple[AdapterEntry, ...] = (
    AdapterEntry("email", _email, "email over SMTP: a Jinja2 body, Message-ID from the action id"),
    AdapterEntry(
        "fax",
        _fax,
        "fax through an email-to-fax gateway over the SMTP relay, Message-ID from the action id",
        lambda s: bool(s.fax_gateway_domain),
    ),
    AdapterEntry(
        "phone",
        _phone,
        "call tasks with a screen pop to the contact centre, a signed webhook keyed by action id",
        lambda s: bool(s.contact_centre_url and s.contact_centre_secret),
    ),
    AdapterEntry(
        "partner",
        _partner,
        "leads to the partner with the best affinity (ownership, past orders, territory, "
        "capacity), a webhook signed with its secret, keyed by action id",
        lambda s: bool(s.partners.strip() or (s.partner_webhooks and s.partner_webhook_secret)),
    ),
    AdapterEntry(
        "web",
        _web,
        "offers of web steps pushed to the site's CMS or personalization service, a signed "
        "webhook keyed by action id (opt-in: else the site asks next-best-offer)",
        lambda s: bool(s.web_push_url and s.web_push_secret),
    ),
)


class UnknownChannel(ValueError):
    """A channel no adapter is registered for."""


def channels() -> list[str]:
    return [entry.channel for entry in ADAPTERS]


def configured_channels(settings: Settings) -> list[str]:
    """The channels ``touchline adapters`` runs with no ``--channel``: those
    whose settings say where to send."""
    return [entry.channel for entry in ADAPTERS if entry.configured(settings)]


def unsubscribe_key(backbone: Backbone) -> bytes:
    """The key that signs unsubscribe tokens: derived from the deployment's
    secret, so a token is worth nothing as a record key and the other way round."""
    secret = (backbone.settings.key_secret or deployment_secret(backbone.engine)).encode()
    return hmac.new(secret, b"touchline unsubscribe", hashlib.sha256).digest()


def recipients_from(queries: Queries) -> Callable[[Sequence[str]], dict[str, Recipient]]:
    """The customers as the identity graph and the profile know them now."""

    def recipients(customer_ids: Sequence[str]) -> dict[str, Recipient]:
        found = {}
        for customer_id, profile in queries.profiles(customer_ids).items():
            if profile is None:  # the profile has not seen them yet: the graph has
                identifiers = queries.identities(customer_id)[1]
                data = {}
            else:
                identifiers = list(profile.identifiers)
                data = msgspec.to_builtins(profile)
            by_kind: dict[str, list[str]] = {}
            for identifier in identifiers:
                kind, _, value = identifier.partition(":")
                by_kind.setdefault(kind, []).append(value)
            found[customer_id] = Recipient(
                customer_id=customer_id,
                identifiers={kind: tuple(values) for kind, values in by_kind.items()},
                data=data,
            )
        return found

    return recipients


@dataclass(frozen=True, slots=True)
class Pacing:
    """Time as the dispatchers take it: the real one unless a test gives its own."""

    clock: Clock | None = None
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    rng: random.Random | None = None


def dispatcher_runners(
    backbone: Backbone,
    *,
    only: Collection[str] = (),
    adapters: Collection[Adapter] = (),
    pacing: Pacing | None = None,
) -> list[ProcessorRunner]:
    """A runner per channel (those in ``only``, default all); ``adapters``
    replaces the registered adapter of its channel (a test's transport)."""
    unknown = sorted(set(only) - set(channels()))
    if unknown:
        raise UnknownChannel(f"no adapter for {unknown} (known: {', '.join(channels())})")
    pacing = pacing or Pacing()
    settings = backbone.settings
    given = {adapter.channel: adapter for adapter in adapters}
    ledger_db = backbone.stores[registry.store_of(SYNCHRONIZER)]
    context = AdapterContext(
        settings, unsubscribe_key(backbone), ledger_db, pacing.clock or SystemClock()
    )
    recipients = recipients_from(backbone.queries)
    runners = []
    unset = [
        e.channel
        for e in ADAPTERS
        if e.channel in only and e.channel not in given and not e.configured(settings)
    ]
    if unset:
        raise UnknownChannel(f"{', '.join(unset)}: not configured (see its adapter's settings)")
    configured = configured_channels(settings)
    for entry in ADAPTERS:
        if only and entry.channel not in only:
            continue
        if not only and entry.channel not in given and entry.channel not in configured:
            continue
        dispatcher = Dispatcher(
            given.get(entry.channel) or entry.build(context),
            actions_topic=settings.topics.actions,
            reports_topic=settings.topics.touchpoints,
            ledger_db=ledger_db,
            recipients=recipients,
            clock=pacing.clock,
            backoff=Backoff(
                attempts=settings.adapter_attempts,
                base=settings.adapter_backoff_seconds,
                cap=settings.adapter_backoff_cap_seconds,
                rng=pacing.rng or random.Random(),
            ),
            limiter=TokenBucket(
                settings.adapter_rate,
                settings.adapter_burst,
                monotonic=pacing.monotonic,
                sleep=pacing.sleep,
            ),
            complaint_window=timedelta(days=settings.profile_complaint_days),
            in_flight=settings.adapter_in_flight,
        )
        runners.append(
            ProcessorRunner(
                dispatcher,
                backbone.log,
                ledger_db,
                backbone.codec,
                dead_letter_topic=settings.topics.dead_letter,
                batch_size=settings.batch_size,
                clock=pacing.clock,
                packing=packing_policies(settings),
            )
        )
    return runners


@dataclass(frozen=True, slots=True)
class DispatcherLag:
    """How far one configured channel's dispatcher is behind, from its store
    alone (nothing is built or connected to the channel to say it)."""

    name: str
    topic: str
    behind: dict[int, int]
    """Records not yet read, per partition of the actions topic."""
    held: dict[int, Holding]
    """Who holds each partition, where a Kafka worker reported it."""
    put_back: int
    """Actions waiting, put back for later (a backoff, quiet hours, pressure)."""
    next_due_us: int | None
    """The earliest time one of them may be taken again."""


def dispatcher_lag(backbone: Backbone) -> list[DispatcherLag]:
    """Every configured channel's dispatcher, as ``touchline adapters`` runs them."""
    settings = backbone.settings
    topic = settings.topics.actions
    ledger_db = backbone.stores[registry.store_of(SYNCHRONIZER)]
    ends = backbone.log.end_offsets(topic)
    lags = []
    with ledger_db.connect() as connection:
        for channel in configured_channels(settings):
            name = dispatcher_name(channel)
            positions = load_positions(connection, name, topic)
            held = holdings(connection, name, topic)
            put_back, next_due_us = ledger.put_back(connection, channel)
            behind = {p: end - positions.get(p, 0) for p, end in ends.items()}
            lags.append(DispatcherLag(name, topic, behind, held, put_back, next_due_us))
    return lags


def close_adapters(runners: Collection[ProcessorRunner]) -> None:
    """Close the adapters of dispatchers :func:`dispatcher_runners` made."""
    for runner in runners:
        if isinstance(runner.processor, Dispatcher):
            runner.processor.close()
