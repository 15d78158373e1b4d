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

import urllib3
from standardwebhooks.webhooks import Webhook

from touchline.adapters.partner_routing import Customer, route
from touchline.adapters.partners import Partner
from touchline.adapters.port import Action, Adapter, Recipient, Rendered, Sent, Undeliverable


def utcnow() -> datetime:
    return datetime.now(UTC)


TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""Besides every 5xx: the receiver asks to be tried again later."""


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    secret: str
    """The receiver's signing secret, ``whsec_`` and base64 (empty where each
    receiver has its own, as partners may)."""
    timeout: float = 10.0
    """Seconds for the whole request."""
    connect_timeout: float = 5.0
    concurrency: int = 1
    """Webhooks sent at once, from as many threads (and connections per receiver)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One webhook as an adapter makes it."""

    url: str
    event_type: str
    data: dict[str, object]
    route: str | None = None
    """Where it goes and why, when the adapter picks among receivers."""
    routed_to: str | None = None
    """The receiver it picked (signed with that receiver's secret)."""


class WebhookAdapter(Adapter):
    """A channel whose transport is a signed JSON POST."""

    dedups_by_key = True

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.parallel = settings.concurrency
        self.signer = Webhook(settings.secret) if settings.secret else None
        self.now = now
        """Wall-clock time for ``webhook-timestamp``: the receiver checks it
        against its own clock, whatever time the dispatcher runs on."""
        # urllib3, not httpx: sending from several threads, httpx's pool did
        # no better than one thread (1,100 requests/s on loopback either way)
        # where urllib3's reached 2,100. Retries are the dispatcher's.
        self.client = urllib3.PoolManager(
            maxsize=settings.concurrency,
            timeout=urllib3.Timeout(total=settings.timeout, connect=settings.connect_timeout),
            retries=False,
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
            routed_to=out.routed_to,
        )

    def signer_for(self, rendered: Rendered) -> Webhook:
        """The secret the receiver of ``rendered`` checks (one per adapter here)."""
        if self.signer is None:
            raise ValueError(f"no webhook secret for {rendered.to}")
        return self.signer

    def headers(self, action: Action, rendered: Rendered) -> dict[str, str]:
        webhook_id = self.message_id(action.action_id)
        at = self.now()
        return {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": self.signer_for(rendered).sign(webhook_id, at, rendered.text),
        }

    def send(self, action: Action, rendered: Rendered) -> Sent:
        try:
            response = self.client.request(
                "POST",
                rendered.to,
                body=rendered.text.encode(),
                headers=self.headers(action, rendered),
            )
        except urllib3.exceptions.HTTPError as error:  # refused, reset, timed out: may be back soon
            return Sent.retry(f"{type(error).__name__}: {error}")
        status = response.status
        if 200 <= status < 300:
            return Sent("sent", message_id=self.message_id(action.action_id))
        said = " ".join(filter(None, (str(status), response.reason)))
        if body := response.data[:200].decode(errors="replace"):
            said += f": {body}"
        if status >= 500 or status in TRANSIENT_STATUSES:
            return Sent.retry(said)
        return Sent.permanent(said)

    def close(self) -> None:
        self.client.clear()


def offer_of(action: Action) -> dict[str, object]:
    return {
        "action_id": str(action.action_id),
        "campaign_id": action.campaign_id,
        "campaign_name": action.campaign_name,
        "offer_code": action.offer_code,
        "step": action.step,
        "expires_at": None if action.expires_at is None else action.expires_at.isoformat(),
    }


class OneReceiverAdapter(WebhookAdapter):
    """A channel whose every webhook goes to the one URL configured for it."""

    receiver: str
    """What the receiver is, and the setting that names its URL, for the error."""

    def __init__(
        self,
        url: str,
        settings: WebhookSettings,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(settings, now=now)
        self.url = url

    def target(self) -> str:
        """The receiver's URL; raises :class:`Undeliverable` when none is set."""
        if not self.url:
            raise Undeliverable(f"no {self.receiver}")
        return self.url


class ContactCentreAdapter(OneReceiverAdapter):
    """A call task with its screen pop, for the contact centre to dial."""

    channel = "phone"
    receiver = "contact centre URL (TOUCHLINE_CONTACT_CENTRE_URL)"

    def request(self, action: Action, recipient: Recipient) -> Outgoing:
        url = self.target()
        phones = recipient.identifiers.get("phone", ())
        if not phones:
            raise Undeliverable(f"customer {recipient.customer_id} has no phone number")
        profile = recipient.data
        return Outgoing(
            url,
            "call_task.requested",
            {
                "task_id": str(action.action_id),
                "customer_id": recipient.customer_id,
                "name": profile.get("name"),
                "phone": phones[0],
                "offer": offer_of(action),
                "screen_pop": {
                    "value_tier": profile.get("value_tier"),
                    "talking_points": list(_strings(profile.get("talking_points"))),
                },
            },
        )


OpenLeads = Callable[[UUID], Mapping[str, int]]
"""Partner account -> the open leads it holds now, leaving out the given action."""


def no_open_leads(_action_id: UUID) -> Mapping[str, int]:
    return {}


def routing_customer(recipient: Recipient) -> Customer:
    """What partner routing weighs, from the profile and identifiers the dispatcher read."""
    owning = recipient.data.get("owning_partner")
    partners = recipient.data.get("partners")
    orders = {}
    if isinstance(partners, list | tuple):
        for seen in partners:
            if isinstance(seen, Mapping) and isinstance(count := seen.get("orders"), int):
                orders[str(seen.get("account"))] = count
    owning_map = owning if isinstance(owning, Mapping) else None
    return Customer(
        owning=None if owning_map is None else str(owning_map.get("account")),
        owning_seen=None if owning_map is None else str(owning_map.get("last_seen_at")),
        orders=orders,
        numbers=(*recipient.identifiers.get("phone", ()), *recipient.identifiers.get("fax", ())),
    )


class PartnerAdapter(WebhookAdapter):
    """A lead to the partner with the best affinity for the customer
    (:mod:`touchline.adapters.partner_routing`), signed with its own secret."""

    channel = "partner"

    def __init__(
        self,
        partners: Mapping[str, Partner],
        default: str,
        settings: WebhookSettings,
        *,
        open_leads: OpenLeads = no_open_leads,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(settings, now=now)
        self.partners = dict(partners)
        self.default = default
        self.open_leads = open_leads
        """Read at each render, from the action ledger (injected: the adapter keeps no store)."""
        self.signers = {name: Webhook(p.secret) for name, p in self.partners.items() if p.secret}

    def signer_for(self, rendered: Rendered) -> Webhook:
        if rendered.routed_to in self.signers:
            return self.signers[rendered.routed_to]
        return super().signer_for(rendered)

    def request(self, action: Action, recipient: Recipient) -> Outgoing:
        chosen = route(
            routing_customer(recipient),
            self.partners,
            self.open_leads(action.action_id),
            self.default,
            sent_to=action.routed_to,
        )
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
                "offer": offer_of(action),
            },
            route=f"partner {chosen.partner}: {'; '.join(chosen.reasons)}",
            routed_to=chosen.partner,
        )


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return ()
