"""Signed webhooks (Standard Webhooks): the contact centre's call tasks and partners' leads.

Each action goes out as one JSON POST signed the Standard Webhooks way:
``webhook-id`` is the action id, so a receiver that dedups by it takes a
re-send as the same message (:attr:`WebhookAdapter.dedups_by_key` is True: an
action a crash left in flight is sent again, under the same id);
``webhook-timestamp`` the moment of the attempt; ``webhook-signature`` an
HMAC-SHA256 over ``id.timestamp.body`` with the receiver's ``whsec_`` secret.

A 2xx is delivered to the receiver (``sent``: the channel took it); 408,
429, 5xx, a refused connection or a timeout are transient; any other
status is permanent.

:class:`~touchline.adapters.port.Rendered` carries the request: ``to`` the
URL, ``subject`` the webhook's event type, ``text`` the JSON body, rendered
once per dispatch so every attempt sends the very same bytes.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import httpx
from standardwebhooks.webhooks import Webhook

from touchline.adapters.port import Action, Adapter, Recipient, Rendered, Sent, Undeliverable


def _utcnow() -> datetime:
    return datetime.now(UTC)


TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""Besides every 5xx: the receiver asks to be tried again later."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    secret: str
    """The receiver's signing secret, ``whsec_`` and base64."""
    timeout: float = 10.0
    """Seconds for the whole request."""
    connect_timeout: float = 5.0
    concurrency: int = 1
    """Webhooks sent at once (httpx's client is safe to share between threads)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One webhook as an adapter makes it."""

    url: str
    event_type: str
    data: dict[str, object]
    route: str | None = None
    """Where it goes and why, when the adapter picks among receivers."""


class WebhookAdapter(Adapter):
    """A channel whose transport is a signed JSON POST."""

    dedups_by_key = True

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        now: Callable[[], datetime] = _utcnow,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.parallel = settings.concurrency
        self.signer = Webhook(settings.secret)
        self.now = now
        """Wall-clock time for ``webhook-timestamp``: the receiver checks it
        against its own clock, whatever time the dispatcher runs on."""
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            transport=transport,
        )

    def message_id(self, action_id: UUID) -> str:
        return str(action_id)

    @abstractmethod
    def request(self, action: Action, recipient: Recipient) -> Outgoing:
        """The webhook for ``recipient``; raises :class:`Undeliverable`."""

    def render(self, action: Action, recipient: Recipient) -> Rendered:
        out = self.request(action, recipient)
        # No time in the body: a re-send after a crash is the same bytes, and
        # the attempt's moment is in the signed webhook-timestamp.
        body = {"type": out.event_type, "data": out.data}
        return Rendered(
            to=out.url,
            subject=out.event_type,
            text=json.dumps(body, separators=(",", ":"), sort_keys=True, default=str),
            route=out.route,
        )

    def headers(self, action: Action, rendered: Rendered) -> dict[str, str]:
        webhook_id = self.message_id(action.action_id)
        at = self.now()
        return {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self.signer.sign(webhook_id, at, rendered.text),
        }

    def send(self, action: Action, rendered: Rendered) -> Sent:
        try:
            response = self.client.post(
                rendered.to,
                content=rendered.text.encode(),
                headers=self.headers(action, rendered),
            )
        except httpx.HTTPError as error:  # refused, reset, timed out: may be back soon
            return Sent.retry(f"{type(error).__name__}: {error}")
        status = response.status_code
        if 200 <= status < 300:
            return Sent("sent", message_id=self.message_id(action.action_id))
        said = f"{status} {response.reason_phrase}: {response.text[:200]}".rstrip(": ")
        if status >= 500 or status in TRANSIENT_STATUSES:
            return Sent.retry(said)
        return Sent.permanent(said)

    def close(self) -> None:
        self.client.close()


def _offer(action: Action) -> dict[str, object]:
    return {
        "action_id": str(action.action_id),
        "campaign_id": action.campaign_id,
        "campaign_name": action.campaign_name,
        "offer_code": action.offer_code,
        "step": action.step,
        "expires_at": None if action.expires_at is None else action.expires_at.isoformat(),
    }


class ContactCentreAdapter(WebhookAdapter):
    """A call task with its screen pop, for the contact centre to dial."""

    channel = "phone"

    def __init__(
        self,
        url: str,
        settings: WebhookSettings,
        *,
        now: Callable[[], datetime] = _utcnow,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(settings, now=now, transport=transport)
        self.url = url

    def request(self, action: Action, recipient: Recipient) -> Outgoing:
        if not self.url:
            raise Undeliverable("no contact centre URL (TOUCHLINE_CONTACT_CENTRE_URL)")
        phones = recipient.identifiers.get("phone", ())
        if not phones:
            raise Undeliverable(f"customer {recipient.customer_id} has no phone number")
        profile = recipient.data
        return Outgoing(
            self.url,
            "call_task.requested",
            {
                "task_id": str(action.action_id),
                "customer_id": recipient.customer_id,
                "name": profile.get("name"),
                "phone": phones[0],
                "offer": _offer(action),
                "screen_pop": {
                    "value_tier": profile.get("value_tier"),
                    "talking_points": list(_strings(profile.get("talking_points"))),
                },
            },
        )


@dataclass(frozen=True, slots=True)
class Route:
    """Which partner gets the lead, where, and why."""

    partner: str
    url: str
    reasons: tuple[str, ...]


def parse_partner_webhooks(text: str) -> dict[str, str]:
    """``partner=url,partner=url`` (or a JSON object) -> partner account -> URL."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("TOUCHLINE_PARTNER_WEBHOOKS: a JSON object of partner -> URL")
        return {str(k): str(v) for k, v in loaded.items()}
    mapping = {}
    for item in text.split(","):
        partner, sep, url = item.strip().partition("=")
        if not sep or not partner or not url:
            raise ValueError(f"bad TOUCHLINE_PARTNER_WEBHOOKS item {item!r}: write partner=url")
        mapping[partner.strip()] = url.strip()
    return mapping


def route(owning: Mapping[str, object] | None, webhooks: Mapping[str, str], default: str) -> Route:
    """The customer's owning partner when it has a webhook, else the default."""
    reasons: list[str] = []
    if owning is not None:
        account = str(owning.get("account"))
        seen = owning.get("last_seen_at")
        if account in webhooks:
            reasons.append(f"owning partner on the profile: {account} (last seen {seen})")
            return Route(account, webhooks[account], tuple(reasons))
        reasons.append(f"owning partner {account} has no webhook configured")
    else:
        reasons.append("no owning partner on the profile")
    if default and default in webhooks:
        reasons.append(f"the default partner: {default}")
        return Route(default, webhooks[default], tuple(reasons))
    raise Undeliverable("; ".join([*reasons, "and no default partner with a webhook"]))


class PartnerAdapter(WebhookAdapter):
    """A lead to the partner that owns the customer (or the default one)."""

    channel = "partner"

    def __init__(
        self,
        webhooks: Mapping[str, str],
        default: str,
        settings: WebhookSettings,
        *,
        now: Callable[[], datetime] = _utcnow,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(settings, now=now, transport=transport)
        self.webhooks = dict(webhooks)
        self.default = default

    def request(self, action: Action, recipient: Recipient) -> Outgoing:
        owning = recipient.data.get("owning_partner")
        chosen = route(owning if isinstance(owning, Mapping) else None, self.webhooks, self.default)
        contact = {
            kind: list(values)
            for kind, values in recipient.identifiers.items()
            if kind in {"email", "phone"}
        }
        return Outgoing(
            chosen.url,
            "lead.referred",
            {
                "lead_id": str(action.action_id),
                "partner": chosen.partner,
                "routing": {"partner": chosen.partner, "reasons": list(chosen.reasons)},
                "customer_id": recipient.customer_id,
                "name": recipient.data.get("name"),
                "contact": contact,
                "offer": _offer(action),
            },
            route=f"partner {chosen.partner}: {'; '.join(chosen.reasons)}",
        )


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return ()
