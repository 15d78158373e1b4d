"""Web push: a campaign's ``web`` step as a signed webhook to the site's CMS or
personalization service, so the site shows the offer to that customer.

A ``web`` step is one the customer comes to: without this adapter its
action stays with the site, which shows the offer when it asks the
next-best-offer endpoint (``GET /v1/next-offer?web_id=...``, ``shown=true``
recording it as made). Where a site wants the offer pushed instead, set
``TOUCHLINE_WEB_PUSH_URL`` and ``TOUCHLINE_WEB_PUSH_SECRET``: each web action
is then POSTed once as ``offer.push``, keyed by the action id like every
webhook, with the identifiers the site knows the customer by.
"""

from __future__ import annotations

from touchline.adapters.port import Action, Recipient, Undeliverable
from touchline.adapters.webhook import OneReceiverAdapter, Outgoing, offer_of

SITE_IDENTIFIERS = ("web_id", "email", "crm_id")
"""What a site knows a visitor by: its own visitor ids, a login's email, the CRM id."""


class WebPushAdapter(OneReceiverAdapter):
    """An offer to show, pushed to the site's personalization service."""

    channel = "web"
    receiver = "web push URL (TOUCHLINE_WEB_PUSH_URL)"

    def request(self, action: Action, recipient: Recipient) -> Outgoing:
        url = self.target()
        known = {
            kind: list(recipient.identifiers[kind])
            for kind in SITE_IDENTIFIERS
            if recipient.identifiers.get(kind)
        }
        if not known:
            raise Undeliverable(
                f"customer {recipient.customer_id} has no identifier a site knows "
                f"({', '.join(SITE_IDENTIFIERS)})"
            )
        return Outgoing(
            url,
            "offer.push",
            {
                "push_id": str(action.action_id),
                "customer_id": recipient.customer_id,
                "identifiers": known,
                "offer": offer_of(action),
            },
        )
