"""Settings, read once from the environment (``TOUCHLINE_*``) in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from touchline.events.codec import WireFormat
from touchline.events.edge import EdgeRules
from touchline.handlers.identity_rules import IdentityRules
from touchline.projections.profile_signals import ProfileRules


class Topics(msgspec.Struct, frozen=True, kw_only=True):
    """Topic names; each is configuration, these are the defaults."""

    touchpoints: str = "touchline.touchpoints"
    interactions: str = "touchline.interactions"
    campaign_state: str = "touchline.campaign-state"
    actions: str = "touchline.actions"
    dead_letter: str = "touchline.dead-letter"

    def all(self) -> list[str]:
        return [getattr(self, name) for name in self.__struct_fields__]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything configurable, with defaults that run on one machine as is."""

    data_dir: str = "touchline-data"
    log_url: str = ""
    """``sqlite:///path`` (default: ``<data_dir>/log.db``) or ``kafka://host:port``."""
    database_url: str = ""
    """SQLAlchemy URL of the projection store (default: ``<data_dir>/projections.db``)."""
    partitions: int = 8
    wire_format: WireFormat = "json"
    max_event_bytes: int = 64 * 1024
    default_region: str = "US"
    """Region used to read national phone and fax numbers into E.164."""
    batch_size: int = 8000
    """Events a processor takes into one transaction at most. Larger batches
    dirty each page of a projection's indexes for more rows: 8,000 measured
    a third faster than 2,000 on the embedded path, and 20,000 no faster."""
    interactions_retention: Literal["read", "all"] = "read"
    """On the embedded log, ``read`` deletes an interaction once every
    processor reading it has stored its position past it (the timeline keeps
    each customer's events); ``all`` keeps them, to replay into a new store.
    On Kafka the topic's retention is the broker's."""
    interactions_trim_seconds: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    """How often ``touchline run`` (and ``touchline api``) deletes what every
    reader has taken, when the retention is ``read``."""
    group: str = "touchline"
    """The Kafka consumer group (Faust app id) the workers share."""
    session_timeout: float = 10.0
    """Seconds before a silent worker's partitions go to the others (short in tests)."""
    log_format: str = "console"
    identity_attach_only: str = ""
    """Identifier kinds that join a customer but never merge two, comma-separated
    (e.g. ``phone,fax`` where households share lines)."""
    identity_blocked: str = ""
    """Shared identifiers ignored by identity resolution, comma-separated
    ``kind:value`` (e.g. ``email:orders@reseller.example``)."""
    profile_currency: str = "USD"
    """The currency whose lifetime value decides the profile's value tier
    (USD beside the default region, US; set both for another market)."""
    profile_tiers: str = "silver:500,gold:2000,platinum:10000"
    """Value tiers above bronze, ``name:lifetime value from which it applies``."""
    profile_complaint_days: int = 90
    """How long a complaint counts as recent (shown, and holds back offers)."""
    profile_churn_days: int = 60
    """No purchase this many days after a complaint is a churn signal."""
    key_secret: str = ""
    """The HMAC key of touchpoint record keys; empty: the deployment's own,
    made on first start and kept in the projection database."""
    edge_earliest: str = "1970-01-01T00:00:00+00:00"
    """The earliest ``occurred_at``/``recorded_at`` the edge accepts (ISO 8601, with zone)."""
    edge_future_seconds: int = 86_400
    """How far past now an event's own time may be (clock skew between systems)."""
    api_max_event_bytes: int = 32 * 1024
    """``POST /v1/events``: the largest event (at most ``max_event_bytes``)."""
    api_max_batch_events: int = 2_500
    """The most events in one request."""
    api_max_request_bytes: int = 4 * 1024 * 1024
    """The largest request body."""
    api_ingest_concurrency: int = 2
    """Requests appending to the log at once (the embedded log has one writer)."""
    api_ingest_queue: int = 16
    """Requests waiting for a turn to append; past these the API answers 429."""
    api_retry_after_seconds: int = 1
    """What a 429 (overload) or 503 (log or database away) says in Retry-After."""
    api_dedupe_days: int = 7
    """How long the API remembers an accepted event id, to answer a retry
    ``duplicate``. Older ids are forgotten: a retry after that appends again,
    and every processor still skips the event by its id."""
    api_sse_heartbeat_seconds: Annotated[float, msgspec.Meta(gt=0, lt=15)] = 10.0
    """How often ``GET /v1/streams/campaign-state`` sends a heartbeat comment:
    under 15 s, the longest a subscriber is promised to wait for a sign of life
    (and below the idle timeouts of common proxies)."""
    segment_source: Annotated[str, msgspec.Meta(min_length=1)] = "segment"
    """The ``source`` of the events the Segment-compatible routes publish."""
    segment_user_id: Literal["crm_id", "email", "phone"] = "crm_id"
    """Which identifier a Segment ``userId`` is."""
    segment_mapping: str = ""
    """Track event names to catalogue types: inline JSON, or a .json or .toml
    file's path (see touchline/api/segment_rules.py)."""
    smtp_host: str = "localhost"
    """The SMTP relay the email adapter sends through."""
    smtp_port: int = 25
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    """``starttls`` upgrades a plain connection (port 587); ``tls`` starts encrypted (465)."""
    smtp_username: str = ""
    """Logs in when set."""
    smtp_password: str = ""
    smtp_timeout: float = 30.0
    email_sender: str = "offers@touchline.invalid"
    """The From of every email an adapter sends."""
    email_domain: str = "touchline.invalid"
    """The right-hand side of the Message-IDs (``<action id@domain>``)."""
    email_templates: str = ""
    """A directory of Jinja2 templates, ``<offer code>.{subject,txt,html}`` or
    ``default.*`` (empty: the built-in ones)."""
    unsubscribe_url: str = ""
    """The API's public base URL, for one-click unsubscribe links (empty: none)."""
    public_url: str = ""
    """The API's public base URL as providers call it, behind any proxy: Twilio
    signs the URL it called (empty: ``unsubscribe_url``, else the request's own)."""
    webhook_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    """Seconds an outbound webhook may take, whole request."""
    webhook_connect_timeout: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    contact_centre_url: str = ""
    """Where the phone adapter POSTs call tasks (signed webhooks)."""
    contact_centre_secret: str = ""
    """The contact centre's Standard Webhooks secret, ``whsec_...``: signs the
    call tasks sent to it and checks its call-status callbacks."""
    twilio_auth_token: str = ""
    """The Twilio account's auth token: checks its own ``X-Twilio-Signature`` on
    call-status callbacks (HMAC-SHA1; empty: only the Standard Webhooks one)."""
    partners: str = ""
    """The partner directory, JSON: account -> ``{"url", "secret", "territories",
    "capacity"}`` (see touchline/adapters/partners.py)."""
    partner_webhooks: str = ""
    """Partner account -> lead webhook URL: ``P1=https://...,P2=https://...`` or
    JSON; partners with the shared secret, no territory and no capacity limit."""
    partner_default: str = ""
    """The partner account a lead goes to when no partner owns, has sold to or
    covers the customer (empty: such leads fail as undeliverable)."""
    partner_webhook_secret: str = ""
    """The shared ``whsec_...`` secret of partners without one of their own,
    both ways (their leads, and the orders they send in)."""
    partner_lead_days: Annotated[int, msgspec.Meta(ge=1)] = 30
    """How long a lead sent to a partner counts against its capacity while
    its campaign is still open for the customer."""
    web_push_url: str = ""
    """Where the web adapter POSTs the offers of campaigns' ``web`` steps (a CMS
    or personalization service; empty: the site asks next-best-offer instead)."""
    web_push_secret: str = ""
    """The web push receiver's ``whsec_...`` secret."""
    fax_gateway_domain: str = ""
    """The email-to-fax gateway's domain: a fax goes through the SMTP relay to
    ``<number>@<domain>`` (empty: the fax adapter does not run)."""
    fax_webhook_secret: str = ""
    """The ``whsec_...`` secret the fax gateway signs its delivery reports with."""
    esp_webhook_secret: str = ""
    """The ``whsec_...`` secret the ESP signs its event webhooks with (empty, and no
    public key: refused)."""
    esp_webhook_public_key: str = ""
    """SendGrid's Signed Event Webhook verification key, base64 DER as its settings
    page shows it (or PEM): checks its own ECDSA signature (empty: not accepted)."""
    adapter_attempts: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Attempts per action before a transient failure becomes a dead letter."""
    adapter_backoff_seconds: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    """The first retry's longest wait; it doubles per attempt (with jitter)."""
    adapter_backoff_cap_seconds: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    adapter_rate: Annotated[float, msgspec.Meta(gt=0)] = 50.0
    """Sends per second per channel and process (a token bucket)."""
    adapter_burst: Annotated[int, msgspec.Meta(ge=1)] = 10
    adapter_in_flight: Annotated[int, msgspec.Meta(ge=1)] = 64
    """Actions a dispatcher takes at once, then sends and settles together:
    what a crash can leave in flight (an email among them is then recorded
    ``unknown`` and not sent again)."""
    smtp_connections: Annotated[int, msgspec.Meta(ge=1)] = 4
    """SMTP connections an email (or fax) dispatcher sends on at once."""
    webhook_concurrency: Annotated[int, msgspec.Meta(ge=1)] = 8
    """Webhooks a dispatcher has going at once."""
    topics: Topics = Topics()

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def resolved_log_url(self) -> str:
        return self.log_url or f"sqlite:///{self.data_path / 'log.db'}"

    @property
    def resolved_database_url(self) -> str:
        return self.store_url("projections")

    def store_url(self, store: str) -> str:
        """The database of ``store``: the one ``database_url`` when it is set
        (PostgreSQL, or one SQLite file for everything), else a SQLite file
        of its own in the data directory."""
        return self.database_url or f"sqlite:///{self.data_path / f'{store}.db'}"

    def profile_rules(self) -> ProfileRules:
        tiers = []
        for item in self.profile_tiers.split(","):
            name, sep, threshold = item.strip().partition(":")
            try:
                tiers.append((name, float(threshold)))
            except ValueError:
                raise ValueError(
                    f"bad TOUCHLINE_PROFILE_TIERS item {item!r}: write name:amount, "
                    "e.g. silver:500,gold:2000"
                ) from None
            if not sep or not name:
                raise ValueError(f"bad TOUCHLINE_PROFILE_TIERS item {item!r}: write name:amount")
        return ProfileRules(
            currency=self.profile_currency,
            tiers=tuple(tiers),
            complaint_window=timedelta(days=self.profile_complaint_days),
            churn_after_complaint=timedelta(days=self.profile_churn_days),
        )

    def edge_rules(self) -> EdgeRules:
        try:
            earliest = datetime.fromisoformat(self.edge_earliest)
        except ValueError:
            raise ValueError(
                f"bad TOUCHLINE_EDGE_EARLIEST {self.edge_earliest!r}: "
                "write an ISO 8601 time with its zone, e.g. 1970-01-01T00:00:00+00:00"
            ) from None
        return EdgeRules(earliest=earliest, future=timedelta(seconds=self.edge_future_seconds))

    def identity_rules(self) -> IdentityRules:
        return IdentityRules.parse(
            self.identity_attach_only.split(","),
            [item for item in self.identity_blocked.split(",") if item.strip()],
            self.default_region,
        )


_PREFIX = "TOUCHLINE_"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``TOUCHLINE_*`` variables, then explicit overrides."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name in Settings.__struct_fields__:
        value = env.get(_PREFIX + name.upper())
        if value is not None:
            raw[name] = value
    topics = {
        name: env[key]
        for name in Topics.__struct_fields__
        if (key := f"{_PREFIX}TOPIC_{name.upper()}") in env
    }
    if topics:
        raw["topics"] = topics
    raw.update(
        {
            key: str(value) if isinstance(value, Path) else value
            for key, value in overrides.items()
            if value is not None
        }
    )
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as error:
        raise ValueError(f"bad touchline setting: {error}") from None
