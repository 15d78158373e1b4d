"""A fax's pages: the offer laid out as a PDF (fpdf2), for the gateway to fax.

Email-to-fax gateways fax a PDF attachment as the pages and the email's body
as the cover sheet. The PDF is made from the same rendered text as the
email (the templates' subject and plain text), with the action id printed as
the reference a reply by fax can quote. Its bytes depend on the text alone
(a fixed creation date): the same action always makes the same document.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

CREATED = datetime(2000, 1, 1, tzinfo=UTC)
"""Every document's creation date: fixed, so the bytes depend on the text alone."""


def _printable(text: str) -> str:
    # The PDF core fonts cover Latin-1 only; embedding a Unicode font would
    # need a font file on every host. What they cannot print shows as "?".
    return text.encode("latin-1", errors="replace").decode("latin-1")


def offer_pdf(title: str, body: str, reference: str) -> bytes:
    """One or more Letter pages: ``title`` large, ``body`` as written, ``reference`` at the foot."""
    pdf = FPDF(format="letter")
    pdf.set_creation_date(CREATED)
    pdf.set_producer("touchline")
    pdf.set_title(_printable(title))
    pdf.set_auto_page_break(auto=True, margin=25)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.multi_cell(0, 9, _printable(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 6, _printable(body), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)
    pdf.set_font("Helvetica", size=9)
    pdf.multi_cell(0, 5, f"Reference: {_printable(reference)}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
