"""Fax through an email-to-fax gateway: the email adapter, addressed to a number.

Most fax services take an email to ``<number>@<gateway domain>`` and fax its
PDF attachment as the pages, its body as the cover sheet. So a fax is the
email adapter's message (the same SMTP relay, templates and Message-ID from
the action id), plain text, with the offer as a PDF
(:mod:`touchline.adapters.fax_pdf`), to the customer's fax number at
``TOUCHLINE_FAX_GATEWAY_DOMAIN``. Like SMTP,
the gateway has no idempotency key: :attr:`FaxAdapter.dedups_by_key` is
False, and a fax a crash left in flight is recorded ``unknown``, never sent
again. No unsubscribe header: a fax machine has no button for it.
"""

from __future__ import annotations

import dataclasses

from touchline.adapters.email import EmailAdapter, SmtpSettings
from touchline.adapters.fax_pdf import offer_pdf
from touchline.adapters.port import Action, Attachment, Recipient, Rendered, Undeliverable


class FaxAdapter(EmailAdapter):
    channel = "fax"
    dedups_by_key = False

    def __init__(self, settings: SmtpSettings, gateway_domain: str) -> None:
        super().__init__(dataclasses.replace(settings, unsubscribe_url=""))
        self.gateway_domain = gateway_domain

    def render(self, action: Action, recipient: Recipient) -> Rendered:
        numbers = recipient.identifiers.get("fax", ())
        if not numbers:
            raise Undeliverable(f"customer {recipient.customer_id} has no fax number")
        if not self.gateway_domain:
            raise Undeliverable("no email-to-fax gateway (TOUCHLINE_FAX_GATEWAY_DOMAIN)")
        # The body as the email adapter renders it, for the number at the gateway.
        as_email = Recipient(
            recipient.customer_id,
            {**recipient.identifiers, "email": (self.address(numbers[0]),)},
            recipient.data,
        )
        rendered = super().render(action, as_email)
        pages = offer_pdf(rendered.subject, rendered.text, str(action.action_id))
        name = f"offer-{action.offer_code}.pdf"
        return dataclasses.replace(
            rendered, html=None, attachment=Attachment(name, "application/pdf", pages)
        )

    def address(self, number: str) -> str:
        """``+14155550190`` -> ``14155550190@<gateway domain>``."""
        return f"{number.lstrip('+')}@{self.gateway_domain}"
