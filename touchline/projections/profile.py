"""The customer profile's fold: one customer's events in, one small struct out.

:func:`apply` folds one event into a
:class:`~touchline.projections.profile_state.ProfileState` (its parts and its
bytes live in :mod:`touchline.projections.profile_state`); the read model an
agent sees is rendered from it by :func:`touchline.projections.profile_view.render`
under :class:`~touchline.projections.profile_view.ProfileRules` (the fold itself
judges nothing). No I/O here: the caller stores the state as a blob per customer.

The fold is **order-insensitive**: any order of the same set of events gives
an equal state, so a profile built in arrival order and one rebuilt from the
timeline after a merge or unmerge agree exactly. That is why

- "latest" means the greatest ``(occurred_at, event id)``, never the last applied;
- collections are dicts keyed by natural ids (order, case, offer) or by event
  id (returns, surveys, spam complaints); a duplicate natural id keeps the
  earliest record (the first report of an order or case), so nothing counts twice;
- money is kept in integer hundredths of the major unit (exact sums in any order);
- times are kept in UTC, engagement is counted per UTC day (a sum);
- what render can never read again is dropped by a horizon that depends only on
  the set of events (a max), never on arrival order: engagement days and spam
  complaints older than their latest by more than a constant (see
  :func:`_count_engagement`).

Exactly-once per event id is the caller's job; identity events change nothing.
This module re-exports the state's codec and the view's :func:`render`, so
callers need one import.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from touchline.events import Envelope, Payload
from touchline.events.campaign import (
    CampaignClosed,
    CampaignConverted,
    CampaignSuppressed,
    OfferExpired,
    OfferMade,
    OfferResponded,
)
from touchline.events.consent import (
    ConsentGranted,
    ConsentRevoked,
    DoNotContactCleared,
    DoNotContactSet,
)
from touchline.events.email import EmailComplained, EmailUnsubscribed
from touchline.events.order import OrderPlaced, OrderReturned
from touchline.events.partner import (
    PartnerEvent,
    PartnerOrderCancelled,
    PartnerOrderPlaced,
    PartnerOrderShipped,
)
from touchline.events.service import CaseOpened, CaseResolved, CaseUpdated, SurveyAnswered
from touchline.events.web import ChatMessageSent
from touchline.projections.profile_sales import fold_sales
from touchline.projections.profile_state import (
    ENGAGEMENT_DAYS_KEPT,
    RESOLVED,
    SPAM_COMPLAINTS_KEPT,
    Case,
    CaseOpening,
    Consent,
    DoNotContact,
    Offer,
    OfferEnd,
    Order,
    PartnerSeen,
    Placement,
    ProfileState,
    Refund,
    SpamComplaint,
    Status,
    Survey,
    decode_state,
    encode_state,
    minor_units,
    newer,
)
from touchline.projections.profile_view import Profile, ProfileRules, render

__all__ = [
    "ENGAGEMENT_TYPES",
    "Profile",
    "ProfileRules",
    "ProfileState",
    "apply",
    "decode_state",
    "encode_state",
    "render",
]

ENGAGEMENT_TYPES = frozenset(
    {
        "email.opened",
        "email.clicked",
        "email.replied",
        "web.page_viewed",
        "web.product_viewed",
        "web.searched",
        "web.cart_updated",
        "web.checkout_completed",
        "web.form_submitted",
        "call.inbound_ended",
        "call.callback_requested",
        "call.voicemail_left",
        "fax.received",
        "service.survey_answered",
        "campaign.offer_responded",
    }
)
"""What the customer did towards us; plus ``web.chat_message_sent`` from the customer.
An inbound call counts once, when it ends (``call.inbound_started`` would double it)."""


NOT_CONTACTS = frozenset(
    {
        "campaign.launched",
        "campaign.targeted",
        "campaign.customers_targeted",
        "campaign.follow_up_due",
        "campaign.suppressed",
        "campaign.expired",
        "campaign.closed",
    }
)
"""Records about a customer that are no interaction with them: with consent
changes, they never count as a contact ("last contact", "in touch by")."""


def is_contact(payload: Payload) -> bool:
    """Whether an event is an interaction with the customer, in either direction."""
    return payload.channel not in ("consent", "identity") and payload.type not in NOT_CONTACTS


def apply(state: ProfileState, event: Envelope, event_id: str | None = None) -> None:
    """Fold ``event`` into ``state`` (in place); events it does not use change nothing.
    ``event_id``: its id as text if the caller has it (``str(UUID)`` runs in Python)."""
    payload = event.payload
    if payload.channel == "identity":
        return
    at = event.occurred_at.astimezone(UTC)
    if is_contact(payload):
        known = state.last_contact.get(payload.channel)
        if known is None or at > known:
            state.last_contact[payload.channel] = at
    if payload.type in ENGAGEMENT_TYPES or (
        isinstance(payload, ChatMessageSent) and payload.sender == "customer"
    ):
        _count_engagement(state, at.date())
    fold = _FOLDS.get(payload.channel)
    if fold is not None:
        fold(state, event, at, str(event.id) if event_id is None else event_id)


_KEPT = timedelta(days=ENGAGEMENT_DAYS_KEPT)
_DAY = timedelta(days=1)


def _count_engagement(state: ProfileState, day: date) -> None:
    """Count one engagement on ``day``, keeping only the days render can read.

    Let ``latest`` be the latest day counted so far and ``horizon`` be
    ``latest - ENGAGEMENT_DAYS_KEPT``: a day before the horizon is not counted,
    and when ``latest`` advances the days now before the horizon are dropped.
    That keeps the fold order-insensitive: ``latest`` only grows towards the
    latest day of the whole set, ``L``, so the horizon only grows towards
    ``H = L - ENGAGEMENT_DAYS_KEPT``. A day at or after ``H`` is never before
    any horizon met on the way, so all its events are counted and kept; a day
    before ``H`` is either refused or dropped at the latest when the first event
    of day ``L`` comes. The state ends up holding exactly the set's counts for
    the days from ``H`` to ``L`` and ``engagement_latest == L``, whatever the order.
    """
    engagement = state.engagement
    if state.engagement_latest is None and engagement:  # stored before the bound
        state.engagement_latest = date.fromisoformat(max(engagement))
        _drop_days_before(engagement, state.engagement_latest, None)
    key = day.isoformat()
    count = engagement.get(key)
    if count is not None:  # a kept day is at or after the horizon: nothing moves
        engagement[key] = count + 1
        return
    latest = state.engagement_latest
    if latest is None or day > latest:
        engagement[key] = 1
        state.engagement_latest = day
        if latest is not None:
            _drop_days_before(engagement, day, latest)
    elif day >= latest - _KEPT:
        engagement[key] = 1


def _drop_days_before(engagement: dict[str, int], latest: date, previous: date | None) -> None:
    """Drop the days before ``latest``'s horizon; with the ``previous`` latest (whose
    horizon nothing is before), only the days between the two horizons need looking up."""
    horizon = latest - _KEPT
    gap = None if previous is None else (latest - previous).days
    if gap is not None and gap <= len(engagement):
        for _ in range(gap):  # amortised: one look-up per day of history
            horizon -= _DAY
            engagement.pop(horizon.isoformat(), None)
    else:
        cut = horizon.isoformat()  # ISO days compare as strings
        for stale in [key for key in engagement if key < cut]:
            del engagement[stale]


def _keep_spam_complaint(state: ProfileState, event_id: str, complaint: SpamComplaint) -> None:
    """Keep ``complaint`` unless older than the latest by over ``SPAM_COMPLAINTS_KEPT``
    days; drop those it puts past that horizon. Order-insensitive like
    :func:`_count_engagement`: the horizon follows the latest complaint of the set."""
    complaints = state.spam_complaints
    latest = max([complaint.at, *(c.at for c in complaints.values())])
    horizon = latest - timedelta(days=SPAM_COMPLAINTS_KEPT)
    if complaint.at < horizon:
        return
    complaints[event_id] = complaint
    for stale in [key for key, c in complaints.items() if c.at < horizon]:
        del complaints[stale]


def _fold_consent(state: ProfileState, event: Envelope, at: datetime, event_id: str) -> None:
    match event.payload:
        case ConsentGranted() | ConsentRevoked() as consent:
            _consent(
                state,
                (consent.contact_channel, consent.purpose),
                granted=isinstance(consent, ConsentGranted),
                at=at,
                event_id=event_id,
                cause=consent,
            )
        case DoNotContactSet() as dnc_set:
            until = None if dnc_set.until is None else dnc_set.until.astimezone(UTC)
            change = DoNotContact(
                active=True, at=at, event_id=event_id, reason=dnc_set.reason, until=until
            )
            _do_not_contact(state, change)
        case DoNotContactCleared() as cleared:
            change = DoNotContact(active=False, at=at, event_id=event_id, reason=cleared.reason)
            _do_not_contact(state, change)


def _fold_email(state: ProfileState, event: Envelope, at: datetime, event_id: str) -> None:
    match event.payload:
        case EmailUnsubscribed() as unsubscribed:
            _revoke_email_marketing(state, at, event_id, unsubscribed)
        case EmailComplained() as spam:
            _revoke_email_marketing(state, at, event_id, spam)
            complaint = SpamComplaint(at=at, message_id=spam.message_id, subject=spam.subject)
            _keep_spam_complaint(state, event_id, complaint)


def _fold_order(state: ProfileState, event: Envelope, at: datetime, event_id: str) -> None:
    match event.payload:
        case OrderPlaced() as placed:
            order = _order(state.orders, placed.order_id, None)
            _place(order, _placement(placed.total, placed.currency, placed.via, at, event_id))
        case OrderReturned() as returned:
            order = _order(state.orders, returned.order_id, None)
            order.returns[event_id] = Refund(
                at=at,
                amount_minor=minor_units(returned.amount_refunded),
                currency=returned.currency,
            )


def _fold_partner(state: ProfileState, event: Envelope, at: datetime, event_id: str) -> None:
    payload = event.payload
    if not isinstance(payload, PartnerEvent):
        return
    account = payload.partner_account
    seen = state.partners.get(account)
    if seen is None:
        seen = state.partners[account] = PartnerSeen(last_at=at, last_event_id=event_id)
    elif newer(at, event_id, seen.last_at, seen.last_event_id):
        seen.last_at, seen.last_event_id = at, event_id
    if payload.partner_name and (
        seen.named_at is None or newer(at, event_id, seen.named_at, seen.named_event_id)
    ):
        seen.name, seen.named_at, seen.named_event_id = payload.partner_name, at, event_id
    match payload:
        case PartnerOrderPlaced() as placed:
            order = _order(state.partner_orders.setdefault(account, {}), placed.order_id, account)
            _place(order, _placement(placed.total, placed.currency, "partner", at, event_id))
        case PartnerOrderShipped() as shipped:
            order = _order(state.partner_orders.setdefault(account, {}), shipped.order_id, account)
            if order.last_shipped_at is None or at > order.last_shipped_at:
                order.last_shipped_at = at
        case PartnerOrderCancelled() as cancelled:
            order = _order(
                state.partner_orders.setdefault(account, {}), cancelled.order_id, account
            )
            if order.cancelled_at is None or at < order.cancelled_at:
                order.cancelled_at = at


def _fold_service(state: ProfileState, event: Envelope, at: datetime, event_id: str) -> None:
    match event.payload:
        case CaseOpened() as opened:
            case = _case(state, opened.case_id)
            first = case.opened
            if first is None or newer(first.at, first.event_id, at, event_id):
                case.opened = CaseOpening(
                    at=at,
                    event_id=event_id,
                    subject=opened.subject,
                    category=opened.category,
                    priority=opened.priority,
                    is_complaint=opened.is_complaint,
                    opened_via=opened.opened_via,
                )
            _status(case, Status(value="open", at=at, event_id=event_id))
        case CaseUpdated() as updated:
            status = Status(value=updated.status, at=at, event_id=event_id)
            _status(_case(state, updated.case_id), status)
        case CaseResolved() as resolved:
            status = Status(value=RESOLVED, at=at, event_id=event_id)
            _status(_case(state, resolved.case_id), status)
        case SurveyAnswered() as survey:
            state.surveys[event_id] = Survey(
                at=at,
                survey_id=survey.survey_id,
                scale=survey.scale,
                score=survey.score,
                satisfaction=survey.satisfaction(),
                case_id=survey.case_id,
            )


def _fold_campaign(state: ProfileState, event: Envelope, at: datetime, event_id: str) -> None:
    campaign = event.campaign_id or ""
    payload = event.payload
    match payload:
        case OfferMade() as made:
            offers = state.offers.setdefault(campaign, {})
            known = offers.get(made.offer_code)
            if known is None or newer(at, event_id, known.made_at, known.event_id):
                offers[made.offer_code] = Offer(
                    campaign_id=campaign,
                    offer_code=made.offer_code,
                    via=made.via,
                    made_at=at,
                    event_id=event_id,
                    made_by=made.made_by,
                    expires_at=None if made.expires_at is None else made.expires_at.astimezone(UTC),
                )
        case OfferResponded() | CampaignConverted() | OfferExpired() as ended:
            state.offer_ends[event_id] = OfferEnd(
                campaign_id=campaign, kind=ended.type, at=at, offer_code=ended.offer_code
            )
        case CampaignSuppressed() as suppressed:
            state.offer_ends[event_id] = OfferEnd(
                campaign_id=campaign, kind=suppressed.type, at=at, via=suppressed.via
            )
        case CampaignClosed():
            state.offer_ends[event_id] = OfferEnd(campaign_id=campaign, kind=payload.type, at=at)


_FOLDS: dict[str, Callable[[ProfileState, Envelope, datetime, str], None]] = {
    "consent": _fold_consent,
    "email": _fold_email,
    "order": _fold_order,
    "partner": _fold_partner,
    "service": _fold_service,
    "campaign": _fold_campaign,
    "sales": fold_sales,
}
"""Channel -> what folds its events; channels without one only count as contact."""


def _consent(
    state: ProfileState,
    scope: tuple[str, str],
    *,
    granted: bool,
    at: datetime,
    event_id: str,
    cause: Payload,
) -> None:
    channel, purpose = scope
    purposes = state.consents.setdefault(channel, {})
    known = purposes.get(purpose)
    if known is None or newer(at, event_id, known.at, known.event_id):
        purposes[purpose] = Consent(granted=granted, at=at, event_id=event_id, cause=cause.type)


def _revoke_email_marketing(
    state: ProfileState, at: datetime, event_id: str, cause: Payload
) -> None:
    scope = ("email", "marketing")
    _consent(state, scope, granted=False, at=at, event_id=event_id, cause=cause)


def _do_not_contact(state: ProfileState, change: DoNotContact) -> None:
    known = state.do_not_contact
    if known is None or newer(change.at, change.event_id, known.at, known.event_id):
        state.do_not_contact = change


def _order(orders: dict[str, Order], order_id: str, partner_account: str | None) -> Order:
    order = orders.get(order_id)
    if order is None:
        order = orders[order_id] = Order(order_id=order_id, partner_account=partner_account)
    return order


def _placement(total: float, currency: str, via: str, at: datetime, event_id: str) -> Placement:
    return Placement(
        at=at, event_id=event_id, amount_minor=minor_units(total), currency=currency, via=via
    )


def _place(order: Order, placement: Placement) -> None:
    first = order.placed
    if first is None or newer(first.at, first.event_id, placement.at, placement.event_id):
        order.placed = placement


def _case(state: ProfileState, case_id: str) -> Case:
    case = state.cases.get(case_id)
    if case is None:
        case = state.cases[case_id] = Case(case_id=case_id)
    return case


def _status(case: Case, status: Status) -> None:
    known = case.status
    if known is None or newer(status.at, status.event_id, known.at, known.event_id):
        case.status = status
