"""``POST /v1/unsubscribe/{token}``: the one-click unsubscribe of RFC 8058.

A mail client posts ``List-Unsubscribe=One-Click`` to the URL an email's
``List-Unsubscribe`` header gave it, without asking the reader again. The
route is open (no API key): the token, the email's action id signed with the
deployment's key, is the credential, and it grants one thing only, the
revocation of that customer's email consent for the campaign's purpose. It
publishes ``consent.revoked``; the synchronizer cancels what is pending and
every adapter's check at the moment of sending refuses from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import msgspec
from anyio import to_thread
from litestar import Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy import Engine

from touchline.adapters.email import unsubscribed_action
from touchline.api.ingest import Ingest, append
from touchline.api.problems import not_found
from touchline.events import Envelope, new_event
from touchline.events.consent import ConsentPurpose, ConsentRevoked
from touchline.handlers.campaign_reads import stored_campaigns
from touchline.store.action_ledger import load_action

SOURCE = "touchline-unsubscribe"


class Unsubscribed(msgspec.Struct, kw_only=True):
    """The revocation recorded for the customer the email went to."""

    event_id: str
    status: Literal["accepted", "duplicate"]


@dataclass(frozen=True)
class Unsubscribes:
    """Tokens to revocations: the key that signs them and the action ledger."""

    secret: bytes
    ledger_db: Engine

    def revocation(self, token: str) -> Envelope | None:
        """The ``consent.revoked`` a valid token stands for; None for any other."""
        action_id = unsubscribed_action(token, self.secret)
        if action_id is None:
            return None
        with self.ledger_db.connect() as connection:
            row = load_action(connection, str(action_id))
            campaign = None if row is None else stored_campaigns(connection).get(row.campaign_id)
        if row is None:
            return None
        purpose: ConsentPurpose = campaign.terms.consent_purpose if campaign else "marketing"
        return new_event(
            ConsentRevoked(
                contact_channel="email", purpose=purpose, reason="one-click unsubscribe"
            ),
            occurred_at=datetime.now(UTC),
            source=SOURCE,
            customer_id=row.customer_id,
            campaign_id=row.campaign_id,
            causation_id=action_id,
        )


@post(
    "/v1/unsubscribe/{token:str}",
    status_code=200,
    summary="One-click unsubscribe (RFC 8058), from an email's List-Unsubscribe link",
    tags=["channels"],
    operation_id="unsubscribe",
)
async def unsubscribe(
    token: FromPath[str],
    ingest: NamedDependency[Ingest],
    unsubscribes: NamedDependency[Unsubscribes],
) -> Response[Unsubscribed]:
    event = await to_thread.run_sync(unsubscribes.revocation, token)
    if event is None:
        raise not_found("no such unsubscribe link")
    result = await append(ingest, ingest.publisher.publish, [event])
    status: Literal["accepted", "duplicate"] = "duplicate" if result.duplicates else "accepted"
    return Response(Unsubscribed(event_id=str(event.id), status=status), status_code=200)
