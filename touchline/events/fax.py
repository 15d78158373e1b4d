"""Fax touchpoints, as the fax gateway reports them.

Faxes still carry order forms and signed paperwork in some trades; the fax
number itself is an identity (``identities.fax``), the document is named here.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from touchline.events.base import NonEmpty, Payload, clip

Pages = Annotated[int, msgspec.Meta(ge=1)]


class FaxEvent(Payload, frozen=True, kw_only=True):
    channel: ClassVar[str] = "fax"

    document_id: NonEmpty
    subject: str | None = None
    """The cover sheet's subject, or the name of the form the fax carries."""

    def _document(self) -> str:
        return f" '{clip(self.subject)}'" if self.subject else ""


def _pages(pages: int) -> str:
    return "1 page" if pages == 1 else f"{pages} pages"


class FaxReceived(FaxEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "fax.received"

    pages: Pages
    form_name: str | None = None
    """The form recognised on the first page (e.g. ``order-form-b``), if any."""

    def summary(self) -> str:
        form = f" ({self.form_name} form)" if self.form_name else ""
        return f"Fax received{self._document()}{form}, {_pages(self.pages)}"


class FaxSent(FaxEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "fax.sent"

    pages: Pages
    sent_by: str | None = None

    def summary(self) -> str:
        by = f" by {self.sent_by}" if self.sent_by else ""
        return f"Fax sent{self._document()}{by}, {_pages(self.pages)}"


class FaxFailed(FaxEvent, frozen=True, kw_only=True):
    type: ClassVar[str] = "fax.failed"

    reason: NonEmpty
    direction: Literal["inbound", "outbound"] = "outbound"
    attempts: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def summary(self) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts and self.attempts > 1 else ""
        what = "Outgoing fax" if self.direction == "outbound" else "Incoming fax"
        return f"{what}{self._document()} failed{tries}: {clip(self.reason)}"


FAX_EVENTS: tuple[type[Payload], ...] = (FaxReceived, FaxSent, FaxFailed)
