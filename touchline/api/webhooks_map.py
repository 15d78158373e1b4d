"""Providers' webhook items to catalogue events: an ESP's event webhook, a
contact centre's call-status callbacks.

Each item becomes an event (:class:`Mapped`), nothing by design
(:class:`Skipped`: a step on the way, such as an ESP's ``processed`` or a
call still ringing, which is no touchpoint), or nothing for want of a
mapping (:class:`Unmapped`, kept on the dead-letter topic with the reason).

An event's id is derived from the provider's own id for the item (SendGrid's
``sg_event_id``, a call's sid and status), so a provider's resend is a
duplicate. The customer is found by the message the item is about: the
email adapter's Message-ID and the contact centre's task id are both the
action id, which the action ledger knows the customer and campaign of;
else by the address or number the item names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from uuid import UUID, uuid5

import msgspec

from touchline.events import Envelope, Identities, new_event
from touchline.events.action import named_action
from touchline.events.base import Payload
from touchline.events.call import InboundCallEnded, InboundCallStarted, OutboundCallMade
from touchline.events.email import (
    EmailBounced,
    EmailClicked,
    EmailComplained,
    EmailDelivered,
    EmailOpened,
    EmailUnsubscribed,
)
from touchline.events.fax import FaxFailed, FaxReceived, FaxSent
from touchline.events.partner import PartnerOrderCancelled, PartnerOrderPlaced, PartnerOrderShipped

NAMESPACE = UUID("0c6f4f0e-7a55-4a53-9c3b-5f1e3d1c9a13")
"""The namespace of inbound webhook event ids: ``uuid5(NAMESPACE, provider/item id)``."""


@dataclass(frozen=True, slots=True)
class Sender:
    """Whom an item is about, as the action ledger knows the action it names."""

    customer_id: str
    campaign_id: str | None


Senders = Callable[[UUID], Sender | None]
"""An action id -> its customer and campaign (None: not an action of ours)."""


@dataclass(frozen=True, slots=True)
class Mapped:
    event: Envelope


@dataclass(frozen=True, slots=True)
class Skipped:
    event_id: UUID
    reason: str


@dataclass(frozen=True, slots=True)
class Unmapped:
    event_id: UUID
    code: str
    reason: str
    identities: Identities = field(default_factory=Identities)


Item = Mapped | Skipped | Unmapped


def item_id(provider: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"{provider}/{key}")


def _raw_id(provider: str, item: object) -> UUID:
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    return item_id(provider, "sha256:" + hashlib.sha256(canonical.encode()).hexdigest())


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


# --- an ESP's event webhook (SendGrid's format) -------------------------------------

ESP = "esp"
ESP_SKIPPED = frozenset({"processed", "deferred"})
"""Steps on the way to delivery: no touchpoint (a deferral is retried by the ESP)."""


def esp_item(item: object, senders: Senders, *, source: str) -> Item:
    """One element of a SendGrid-style event webhook array."""
    if not isinstance(item, Mapping):
        return Unmapped(_raw_id(ESP, item), "invalid", "an ESP event is a JSON object")
    kind = _text(item.get("event")) or ""
    event_key = _text(item.get("sg_event_id"))
    event_id = item_id(ESP, event_key) if event_key else _raw_id(ESP, item)
    email = _text(item.get("email"))
    identities = Identities(email=email) if email else Identities()
    if kind in ESP_SKIPPED:
        return Skipped(event_id, f"{kind}: a step on the way to delivery, not a touchpoint")
    message_id = _text(item.get("smtp-id")) or _text(item.get("sg_message_id"))
    if message_id is None:
        return Unmapped(event_id, "invalid", "no smtp-id or sg_message_id", identities)
    payload = _esp_payload(kind, item, message_id)
    if isinstance(payload, str):
        code = "invalid" if kind in ESP_KNOWN else "unknown_event"
        return Unmapped(event_id, code, payload, identities)
    at = item.get("timestamp")
    if not isinstance(at, int | float) or isinstance(at, bool):
        return Unmapped(event_id, "invalid", "no numeric timestamp", identities)
    return _mapped(
        payload,
        at=datetime.fromtimestamp(at, UTC),
        event_id=event_id,
        source=source,
        action_id=named_action(message_id),
        senders=senders,
        identities=identities,
    )


ESP_KNOWN = frozenset(
    {"delivered", "open", "click", "bounce", "spamreport", "unsubscribe", "group_unsubscribe"}
)


def _esp_payload(kind: str, item: Mapping[str, Any], message_id: str) -> Payload | str:
    """The event's payload, or why there is none."""
    payload: Payload
    match kind:
        case "delivered":
            payload = EmailDelivered(message_id=message_id)
        case "open":
            payload = EmailOpened(message_id=message_id, user_agent=_text(item.get("useragent")))
        case "click":
            url = _text(item.get("url"))
            if url is None:
                return "a click without its url"
            payload = EmailClicked(message_id=message_id, url=url)
        case "bounce":
            hard = item.get("type", "bounce") == "bounce"  # "blocked": refused for now
            payload = EmailBounced(
                message_id=message_id,
                bounce="hard" if hard else "soft",
                reason=_text(item.get("reason")),
            )
        case "spamreport":
            payload = EmailComplained(message_id=message_id)
        case "unsubscribe" | "group_unsubscribe":
            group = item.get("asm_group_id")
            payload = EmailUnsubscribed(
                message_id=message_id, list_id=None if group is None else str(group)
            )
        case _:
            return f"no catalogue type for ESP event {kind!r}"
    return payload


# --- a contact centre's call-status callback (Twilio's fields) ----------------------

CALLS = "call-status"
INTERIM = frozenset({"queued", "initiated", "ringing", "in-progress"})
OUTCOMES: dict[str, Literal["busy", "no_answer", "failed"]] = {
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "failed",
}


def call_item(item: object, senders: Senders, *, source: str) -> Item:
    """One call-status callback: ``CallSid``, ``CallStatus``, ``Direction``..."""
    if not isinstance(item, Mapping):
        return Unmapped(_raw_id(CALLS, item), "invalid", "a call status is a JSON object")
    sid, status = _text(item.get("CallSid")), _text(item.get("CallStatus")) or ""
    event_id = item_id(CALLS, f"{sid}/{status}") if sid else _raw_id(CALLS, item)
    outbound = (_text(item.get("Direction")) or "").startswith("outbound")
    number = _text(item.get("To") if outbound else item.get("From"))
    identities = Identities(phone=number) if number else Identities()
    if sid is None:
        return Unmapped(event_id, "invalid", "no CallSid", identities)
    when = _call_time(item)
    if isinstance(when, str):
        return Unmapped(event_id, "invalid", when, identities)
    duration, at = when
    if not outbound and status == "ringing":
        payload: Payload = InboundCallStarted(call_id=sid, dialled_number=_text(item.get("To")))
    elif status == "completed" or (outbound and status in OUTCOMES):
        payload = _ended(item, sid, status, outbound=outbound, duration=duration)
    elif status in INTERIM:
        return Skipped(event_id, f"{status}: the call is under way, not a touchpoint yet")
    else:
        return Unmapped(
            event_id, "unknown_status", f"no catalogue type for CallStatus {status!r}", identities
        )
    task = _text(item.get("TaskId"))
    return _mapped(
        payload,
        at=at,
        event_id=event_id,
        source=source,
        action_id=None if task is None else named_action(task),
        senders=senders,
        identities=identities,
    )


def _call_time(item: Mapping[str, Any]) -> tuple[int, datetime] | str:
    """The call's duration and the callback's moment, or what is wrong with them."""
    try:
        duration = int(str(item.get("CallDuration") or 0))
        at = parsedate_to_datetime(str(item.get("Timestamp")))
    except (TypeError, ValueError):
        return "CallDuration or Timestamp unreadable"
    if at.tzinfo is None:
        return "a Timestamp without its zone"
    if duration < 0:
        return "a negative CallDuration"
    return duration, at


def _ended(
    item: Mapping[str, Any], sid: str, status: str, *, outbound: bool, duration: int
) -> Payload:
    """A call over: answered and talked (``completed``), or never answered."""
    agent_id, agent_name = _text(item.get("AgentId")), _text(item.get("AgentName"))
    disposition = _text(item.get("Disposition"))
    if not outbound:
        return InboundCallEnded(
            call_id=sid,
            duration_seconds=duration,
            queue=_text(item.get("Queue")),
            agent_id=agent_id,
            agent_name=agent_name,
            disposition=disposition,
        )
    if status != "completed":
        return OutboundCallMade(call_id=sid, duration_seconds=duration, outcome=OUTCOMES[status])
    return OutboundCallMade(
        call_id=sid,
        duration_seconds=duration,
        agent_id=agent_id,
        agent_name=agent_name,
        disposition=disposition,
    )


def _mapped(
    payload: Payload,
    *,
    at: datetime,
    event_id: UUID,
    source: str,
    action_id: UUID | None,
    senders: Senders,
    identities: Identities,
) -> Item:
    sender = None if action_id is None else senders(action_id)
    if sender is None and not identities.items():
        return Unmapped(
            event_id, "no_identifier", "names no action of ours and no address or number"
        )
    return Mapped(
        new_event(
            payload,
            occurred_at=at,
            source=source,
            event_id=event_id,
            # The action names the customer: identity resolution goes by the
            # identifiers first, and an address the item carries (a forward,
            # an alias) must not send the event to someone else.
            identities=identities if sender is None else Identities(),
            customer_id=None if sender is None else sender.customer_id,
            campaign_id=None if sender is None else sender.campaign_id,
            causation_id=action_id if sender is not None else None,
        )
    )


def items_of(body: Any) -> list[object]:
    """A webhook's items: an array of them, or one."""
    return list(body) if isinstance(body, list) else [body]


# --- a fax gateway's delivery report (Phaxio's fax object) ---------------------------

FAX = "fax"
FAX_PENDING = frozenset({"queued", "pendingbatch", "inprogress"})


def fax_item(item: object, senders: Senders, *, source: str) -> Item:
    """``{"event_type": "fax_completed", "fax": {id, direction, status, ...}}``."""
    fax = item.get("fax") if isinstance(item, Mapping) else None
    if not isinstance(fax, Mapping) or fax.get("id") is None:
        return Unmapped(_raw_id(FAX, item), "invalid", "no fax object with its id")
    fax_id, status = str(fax["id"]), _text(fax.get("status")) or ""
    event_id = item_id(FAX, f"{fax_id}/{status}")
    sent = fax.get("direction") == "sent"
    recipients = fax.get("recipients")
    first = recipients[0] if isinstance(recipients, list) and recipients else {}
    first = first if isinstance(first, Mapping) else {}
    number = _text(first.get("phone_number") if sent else fax.get("caller_id"))
    identities = Identities(fax=number) if number else Identities()
    if status in FAX_PENDING:
        return Skipped(event_id, f"{status}: not finished yet")
    try:
        at = datetime.fromisoformat(str(fax.get("completed_at")))
        pages = int(str(fax.get("num_pages") or 0))
    except ValueError:
        return Unmapped(event_id, "invalid", "completed_at or num_pages unreadable", identities)
    if at.tzinfo is None:
        return Unmapped(event_id, "invalid", "a completed_at without its zone", identities)
    tags = fax.get("tags")
    tags = tags if isinstance(tags, Mapping) else {}
    subject = _text(tags.get("subject"))
    payload: Payload
    if status == "success" and pages >= 1:
        payload = (
            FaxSent(document_id=fax_id, subject=subject, pages=pages)
            if sent
            else FaxReceived(document_id=fax_id, subject=subject, pages=pages)
        )
    elif status in {"failure", "partialsuccess"}:
        retries = first.get("retry_count")
        payload = FaxFailed(
            document_id=fax_id,
            subject=subject,
            reason=_text(first.get("error_message")) or _text(fax.get("error_message")) or status,
            direction="outbound" if sent else "inbound",
            attempts=retries + 1 if isinstance(retries, int) and retries >= 0 else None,
        )
    else:
        return Unmapped(event_id, "unknown_status", f"no catalogue type for {status!r}", identities)
    action = _text(tags.get("action_id"))
    return _mapped(
        payload,
        at=at,
        event_id=event_id,
        source=source,
        action_id=None if action is None else named_action(action),
        senders=senders,
        identities=identities,
    )


# --- a partner's order webhook -------------------------------------------------------

PARTNER_ORDERS = "partner-orders"


def partner_order_item(item: object, senders: Senders, *, source: str) -> Item:
    """``{"event_id", "event": "order.placed|shipped|cancelled", "partner": {...},
    "customer": {"ref", "email"?, "phone"?}, "order": {...}, "occurred_at"}``."""
    if not isinstance(item, Mapping):
        return Unmapped(_raw_id(PARTNER_ORDERS, item), "invalid", "an order event is an object")
    key = _text(item.get("event_id"))
    event_id = item_id(PARTNER_ORDERS, key) if key else _raw_id(PARTNER_ORDERS, item)
    partner = item.get("partner")
    customer = item.get("customer")
    partner = partner if isinstance(partner, Mapping) else {}
    customer = customer if isinstance(customer, Mapping) else {}
    account, ref = _text(partner.get("account")), _text(customer.get("ref"))
    if account is None or ref is None:
        return Unmapped(event_id, "no_identifier", "no partner account or customer ref")
    identities = Identities(
        partner_account=account,
        partner_customer_ref=ref,
        email=_text(customer.get("email")),
        phone=_text(customer.get("phone")),
    )
    kind = _text(item.get("event")) or ""
    head: dict[str, object] = {
        "partner_account": account,
        "partner_customer_ref": ref,
        "partner_name": _text(partner.get("name")),
    }
    order = item.get("order")
    try:
        at = datetime.fromisoformat(str(item.get("occurred_at")))
        payload = msgspec.convert(
            {**head, **(order if isinstance(order, Mapping) else {})},
            PARTNER_ORDER_TYPES[kind],
            strict=False,
        )
    except KeyError:
        return Unmapped(
            event_id, "unknown_event", f"no catalogue type for order event {kind!r}", identities
        )
    except (ValueError, msgspec.ValidationError) as error:
        return Unmapped(event_id, "invalid", f"{kind}: {error}", identities)
    if at.tzinfo is None:
        return Unmapped(event_id, "invalid", "an occurred_at without its zone", identities)
    return _mapped(
        payload,
        at=at,
        event_id=event_id,
        source=source,
        action_id=None,
        senders=senders,
        identities=identities,
    )


PARTNER_ORDER_TYPES: dict[str, type[Payload]] = {
    "order.placed": PartnerOrderPlaced,
    "order.shipped": PartnerOrderShipped,
    "order.cancelled": PartnerOrderCancelled,
}
