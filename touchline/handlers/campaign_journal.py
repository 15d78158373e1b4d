"""What the synchronizer journals per customer, so that an unmerge can fold
each side again from its own events (:mod:`touchline.handlers.campaign_unmerge`).

Only the events the rules act on are kept, as they were read from the log:
campaign events, touches that count as pressure, consent and do-not-contact,
complaints, orders, clicks, views of an offer's page and answers. The
synchronizer's own timers are not: a rebuild sets them again under the
customer it rebuilds, and fires them where they fall.
"""

from __future__ import annotations

from collections.abc import Mapping

from touchline.events import Envelope, campaign, consent, email, order, partner
from touchline.events.instants import to_us
from touchline.events.keys import identifier_names
from touchline.events.service import CaseOpened
from touchline.events.web import PageViewed
from touchline.handlers.campaign_model import Campaign, shows_offer
from touchline.handlers.campaign_rules import TOUCHES
from touchline.handlers.campaign_writes import SOURCE
from touchline.processing.port import Received
from touchline.store.campaign_journal import JournalEntry

_ALWAYS = (
    campaign.CustomerTargeted,
    campaign.OfferMade,
    campaign.OfferResponded,
    campaign.CampaignConverted,
    consent.ConsentGranted,
    consent.ConsentRevoked,
    consent.DoNotContactSet,
    consent.DoNotContactCleared,
    email.EmailClicked,
    email.EmailReplied,
    email.EmailUnsubscribed,
    email.EmailComplained,
    order.OrderPlaced,
    partner.PartnerOrderPlaced,
)


def acted_on(event: Envelope, campaigns: Mapping[str, Campaign]) -> bool:
    """Whether the rules act on ``event``, so the journal keeps it."""
    payload = event.payload
    if isinstance(payload, _ALWAYS) or payload.type in TOUCHES:
        return True
    match payload:
        case campaign.FollowUpDue() | campaign.OfferExpired():
            return event.source != SOURCE
        case CaseOpened(is_complaint=complaint):
            return complaint
        case PageViewed(url=url):
            # Any campaign's page, live or not: a record an unmerge splits
            # may be live again on one side.
            return any(
                offer.page and shows_offer(url, offer.page)
                for launched in campaigns.values()
                for offer in launched.terms.offers
            )
    return False


def entry(received: Received[Envelope]) -> JournalEntry:
    """The journal's row for an event, from the bytes it was read as."""
    event = received.event
    return JournalEntry(
        str(event.id),
        to_us(event.occurred_at),
        event.customer_id,
        identifier_names(event.identities),
        received.data,
    )
