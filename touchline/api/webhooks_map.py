"""Providers' webhook items to catalogue events: an ESP's event webhook, a
contact centre's call-status callbacks, a fax gateway's delivery reports.

What an item becomes (:class:`~touchline.inbound.items.Mapped`, ``Skipped``,
``Unmapped``) and the pieces every mapping shares are in
:mod:`touchline.inbound.items`; a partner's order events, which also arrive
as files, are mapped in :mod:`touchline.inbound.partner_orders`.

An event's id is derived from the provider's own id for the item (SendGrid's
``sg_event_id``, a call's sid and status), so a provider's resend is a
duplicate. The customer is found by the message the item is about: the
email adapter's Message-ID and the contact centre's task id are both the
action id, which the action ledger knows the customer and campaign of;
else by the address or number the item names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from touchline.events import Identities
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
from touchline.inbound.items import (
    Item,
    Senders,
    Skipped,
    Unmapped,
    item_id,
    mapped,
    raw_id,
    text,
)

# --- an ESP's event webhook (SendGrid's format) -------------------------------------

ESP = "esp"
ESP_SKIPPED = frozenset({"processed", "deferred"})
"""Steps on the way to delivery: no touchpoint (a deferral is retried by the ESP)."""


def esp_item(item: object, senders: Senders, *, source: str) -> Item:
    """One element of a SendGrid-style event webhook array."""
    if not isinstance(item, Mapping):
        return Unmapped(raw_id(ESP, item), "invalid", "an ESP event is a JSON object")
    kind = text(item.get("event")) or ""
    event_key = text(item.get("sg_event_id"))
    event_id = item_id(ESP, event_key) if event_key else raw_id(ESP, item)
    email = text(item.get("email"))
    identities = Identities(email=email) if email else Identities()
    if kind in ESP_SKIPPED:
        return Skipped(event_id, f"{kind}: a step on the way to delivery, not a touchpoint")
    message_id = text(item.get("smtp-id")) or text(item.get("sg_message_id"))
    if message_id is None:
        return Unmapped(event_id, "invalid", "no smtp-id or sg_message_id", identities)
    payload = _esp_payload(kind, item, message_id)
    if isinstance(payload, str):
        code = "invalid" if kind in ESP_KNOWN else "unknown_event"
        return Unmapped(event_id, code, payload, identities)
    at = item.get("timestamp")
    if not isinstance(at, int | float) or isinstance(at, bool):
        return Unmapped(event_id, "invalid", "no numeric timestamp", identities)
    return mapped(
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
            payload = EmailOpened(message_id=message_id, user_agent=text(item.get("useragent")))
        case "click":
            url = text(item.get("url"))
            if url is None:
                return "a click without its url"
            payload = EmailClicked(message_id=message_id, url=url)
        case "bounce":
            hard = item.get("type", "bounce") == "bounce"  # "blocked": refused for now
            payload = EmailBounced(
                message_id=message_id,
                bounce="hard" if hard else "soft",
                reason=text(item.get("reason")),
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
        return Unmapped(raw_id(CALLS, item), "invalid", "a call status is a JSON object")
    sid, status = text(item.get("CallSid")), text(item.get("CallStatus")) or ""
    event_id = item_id(CALLS, f"{sid}/{status}") if sid else raw_id(CALLS, item)
    outbound = (text(item.get("Direction")) or "").startswith("outbound")
    number = text(item.get("To") if outbound else item.get("From"))
    identities = Identities(phone=number) if number else Identities()
    if sid is None:
        return Unmapped(event_id, "invalid", "no CallSid", identities)
    when = _call_time(item)
    if isinstance(when, str):
        return Unmapped(event_id, "invalid", when, identities)
    duration, at = when
    if not outbound and status == "ringing":
        payload: Payload = InboundCallStarted(call_id=sid, dialled_number=text(item.get("To")))
    elif status == "completed" or (outbound and status in OUTCOMES):
        payload = _ended(item, sid, status, outbound=outbound, duration=duration)
    elif status in INTERIM:
        return Skipped(event_id, f"{status}: the call is under way, not a touchpoint yet")
    else:
        return Unmapped(
            event_id, "unknown_status", f"no catalogue type for CallStatus {status!r}", identities
        )
    task = text(item.get("TaskId"))
    return mapped(
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
    agent_id, agent_name = text(item.get("AgentId")), text(item.get("AgentName"))
    disposition = text(item.get("Disposition"))
    if not outbound:
        return InboundCallEnded(
            call_id=sid,
            duration_seconds=duration,
            queue=text(item.get("Queue")),
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
        return Unmapped(raw_id(FAX, item), "invalid", "no fax object with its id")
    fax_id, status = str(fax["id"]), text(fax.get("status")) or ""
    event_id = item_id(FAX, f"{fax_id}/{status}")
    sent = fax.get("direction") == "sent"
    recipients = fax.get("recipients")
    first = recipients[0] if isinstance(recipients, list) and recipients else {}
    first = first if isinstance(first, Mapping) else {}
    number = text(first.get("phone_number") if sent else fax.get("caller_id"))
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
    subject = text(tags.get("subject"))
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
            reason=text(first.get("error_message")) or text(fax.get("error_message")) or status,
            direction="outbound" if sent else "inbound",
            attempts=retries + 1 if isinstance(retries, int) and retries >= 0 else None,
        )
    else:
        return Unmapped(event_id, "unknown_status", f"no catalogue type for {status!r}", identities)
    action = text(tags.get("action_id"))
    return mapped(
        payload,
        at=at,
        event_id=event_id,
        source=source,
        action_id=None if action is None else named_action(action),
        senders=senders,
        identities=identities,
    )
