"""A Segment call as a typed catalogue event, or the reason it cannot be one.

A pure function of the call, the rules and the moment it was received: no
clock, no store. The event's id comes in from the caller, derived from the
call's ``messageId`` (:func:`event_id`), so an SDK's retry is the same event
and the publisher's ledger answers it ``duplicate``.

- ``page`` becomes ``web.page_viewed``;
- ``identify`` becomes ``customer.identified``: its envelope carries the
  anonymous id beside the user's identifiers, and identity resolution joins
  them, so the page views made before the visitor logged in land on the
  customer who did;
- ``track`` becomes the catalogue type a configured mapping names for its
  event, else the type its event already is (``campaign.offer_responded``),
  when its properties fit that type's schema;
- everything else (``screen``, ``group``, ``alias``, a track with an unknown
  name or properties of the wrong shape) is :class:`Unmapped`, with the
  reason, for the caller to keep.

Identifiers: ``anonymousId`` is the web id, ``userId`` the kind the rules
name (the CRM id unless configured), and the ``email`` and ``phone`` traits
(top-level, or ``context.traits`` as RudderStack sends them) are the email
and phone. They are normalised here as the codec would, so a bad one is
named with where it came from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec

from touchline.api.segment_spec import Call, text
from touchline.events import CATALOGUE, Envelope, Identities, Payload, new_event
from touchline.events.codec import INVALID
from touchline.events.identifiers import InvalidIdentifier, normalise_identifier
from touchline.events.identity import CustomerIdentified
from touchline.events.web import PageViewed

UserIdKind = Literal["crm_id", "email", "phone"]

UNKNOWN_TRACK = "unknown_track"
"""A track whose event is no catalogue type and has no configured mapping."""
UNSUPPORTED_CALL = "unsupported_call"
"""screen, group and alias (and a type the spec does not have): no catalogue type."""

IDENTIFY_METHOD = "segment_identify"
"""``customer.identified``'s method for an identify call."""
_IDS = uuid5(NAMESPACE_URL, "https://touchline.dev/ids/segment")


class TrackMapping(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How one track event name becomes a catalogue type."""

    type: str
    """The catalogue type, e.g. ``web.product_viewed``."""
    rename: dict[str, str] = msgspec.field(default_factory=dict)
    """Segment property name to payload field (or ``campaign_id``)."""
    fixed: dict[str, Any] = msgspec.field(default_factory=dict)
    """Payload fields the mapping sets, whatever the call says."""
    ignore: tuple[str, ...] = ()
    """Properties left out on purpose; any other property must fit the type."""

    def apply(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        fields = {
            self.rename.get(name, name): value
            for name, value in properties.items()
            if name not in self.ignore
        }
        return {**fields, **self.fixed}


@dataclass(frozen=True, slots=True)
class SegmentRules:
    """What the mapping is configured with (:mod:`touchline.api.segment_rules`)."""

    user_id: UserIdKind = "crm_id"
    default_region: str = "US"
    tracks: Mapping[str, TrackMapping] = field(default_factory=dict)


class Unmapped(msgspec.Struct, frozen=True):
    """A call that is no catalogue event: why, and the identifiers it named."""

    code: str
    reason: str
    identities: Identities = Identities()


def event_id(source: str, message_id: str | None, raw: bytes) -> UUID:
    """The id of the event a call becomes: from its ``messageId`` and source
    (two sources' SDKs may reuse one), else from its bytes, so a re-send of
    the same call is the same event either way."""
    if message_id is not None and message_id.strip():
        return uuid5(_IDS, f"{source}/messageId/{message_id.strip()}")
    return uuid5(_IDS, f"{source}/sha256/{hashlib.sha256(raw).hexdigest()}")


def map_call(
    call: Call, rules: SegmentRules, *, source: str, event_id: UUID, received_at: datetime
) -> Envelope | Unmapped:
    """The event ``call`` becomes, or why it becomes none."""
    context = call.context or {}
    identities, problem = identities_of(call, context, rules)
    if problem is not None:
        return Unmapped(INVALID, problem, identities)
    typed = _payload(call, context, rules)
    if isinstance(typed, Unmapped):
        return Unmapped(typed.code, typed.reason, identities)
    payload, campaign_id = typed
    return new_event(
        payload,
        occurred_at=_occurred_at(call, received_at),
        source=source,
        identities=identities,
        event_id=event_id,
        campaign_id=campaign_id,
    )


def identities_of(
    call: Call, context: Mapping[str, Any], rules: SegmentRules
) -> tuple[Identities, str | None]:
    """The identifiers the call names, normalised, and the first that is bad
    (with where it came from), if any: the good ones are kept either way."""
    found: dict[str, tuple[str, str]] = {}
    anonymous, user = text(call.anonymous_id), text(call.user_id)
    if anonymous is not None:
        found["web_id"] = (anonymous, "anonymousId")
    if user is not None:
        found[rules.user_id] = (user, "userId")
    problem = None
    for where, traits in (("traits", call.traits), ("context.traits", context.get("traits"))):
        if not isinstance(traits, dict):
            continue
        for kind in ("email", "phone"):
            value = traits.get(kind)
            if value is None or kind in found:
                continue
            if not isinstance(value, str):
                problem = problem or f"{where}.{kind} is not a string"
            elif value.strip():
                found[kind] = (value, f"{where}.{kind}")
    normalised: dict[str, str] = {}
    for kind, (value, where) in found.items():
        try:
            normalised[kind] = normalise_identifier(kind, value, rules.default_region)
        except InvalidIdentifier as error:
            problem = problem or f"{where}: {error}"
    return Identities(**normalised), problem


def _payload(
    call: Call, context: Mapping[str, Any], rules: SegmentRules
) -> tuple[Payload, str | None] | Unmapped:
    """The payload and the envelope's campaign id, or why there is none."""
    if call.type == "page":
        fields = _page_fields(call, context)
        if "url" not in fields:
            return Unmapped(
                INVALID, "a page call needs its url: properties.url or context.page.url"
            )
        return _typed(PageViewed, fields, "page", None)
    if call.type == "identify":
        return CustomerIdentified(method=IDENTIFY_METHOD), None
    if call.type == "track":
        return _track(call, rules)
    if call.type in ("screen", "group", "alias"):
        return Unmapped(UNSUPPORTED_CALL, f"a {call.type} call has no catalogue type")
    return Unmapped(UNSUPPORTED_CALL, f"{call.type!r} is not a call type of the Segment spec")


def _track(call: Call, rules: SegmentRules) -> tuple[Payload, str | None] | Unmapped:
    name = (call.event or "").strip()
    if not name:
        return Unmapped(INVALID, "a track call names what happened in `event`")
    properties = dict(call.properties or {})
    mapping = rules.tracks.get(name)
    if mapping is not None:
        type_name, properties = mapping.type, mapping.apply(properties)
    elif name in CATALOGUE:
        type_name = name
    else:
        return Unmapped(
            UNKNOWN_TRACK,
            f"track {name!r} is no catalogue type and no mapping names it "
            "(TOUCHLINE_SEGMENT_MAPPING)",
        )
    # The campaign is the envelope's, never a payload field: a track about
    # one names it among its properties.
    campaign_id = properties.pop("campaign_id", None)
    if campaign_id is not None and not isinstance(campaign_id, str):
        return Unmapped(INVALID, "properties.campaign_id is not a string")
    cls = CATALOGUE.current(type_name)
    return _typed(cls, properties, f"track {name!r} as {type_name}", campaign_id)


def _typed(
    cls: type[Payload], fields: dict[str, Any], what: str, campaign_id: str | None
) -> tuple[Payload, str | None] | Unmapped:
    """``fields`` as a ``cls`` payload, checked as the codec checks a payload."""
    try:
        return msgspec.convert(fields, cls), campaign_id
    except msgspec.ValidationError as error:
        return Unmapped(INVALID, f"{what}: {str(error).replace('`$', '`properties')}")
    except Exception as error:  # RecursionError and the unforeseen: refused, never a traceback
        return Unmapped(INVALID, f"{what}: could not be read ({type(error).__name__})")


def _page_fields(call: Call, context: Mapping[str, Any]) -> dict[str, Any]:
    properties = call.properties or {}
    page = context.get("page")
    page = page if isinstance(page, dict) else {}
    session = context.get("sessionId")  # RudderStack's JavaScript SDK sends a number
    candidates = {
        "url": (properties.get("url"), page.get("url"), properties.get("path"), page.get("path")),
        "title": (properties.get("title"), page.get("title"), call.name),
        "referrer": (properties.get("referrer"), page.get("referrer")),
        "session_id": (str(session) if isinstance(session, int) else session,),
    }
    fields = {}
    for name, values in candidates.items():
        value = next((v for v in values if v is not None and v != ""), None)
        if value is not None:
            fields[name] = value
    return fields


def _occurred_at(call: Call, received_at: datetime) -> datetime:
    """The sender's time; a time without a zone is UTC, as Segment reads it."""
    moment = call.timestamp or call.original_timestamp or received_at
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
