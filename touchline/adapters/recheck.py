"""The check at the moment of sending, and its proof.

Consent, do-not-contact, complaints, contact pressure and the campaign's
state are read again from the synchronizer's store as they are now (never a
copy the dispatcher kept), judged by the very filters next-best-offer
applies (:func:`touchline.offers.refusal_at_send`), and written down with
the versions read: the :class:`~touchline.events.action.ConsentProof`. A
refusal that passes by itself at a known time (quiet hours, contact
pressure) says when, so the dispatcher defers the action rather than
suppress it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import Connection

from touchline.events.action import ConsentProof
from touchline.handlers.campaign_reads import stored_campaigns, stored_records
from touchline.handlers.campaign_records import Decision, Facts
from touchline.offers import refusal_at_send
from touchline.store import campaigns as campaign_store
from touchline.store.action_ledger import ActionRow
from touchline.store.aliases import survivor_in
from touchline.store.tables import campaign_aliases

_ENCODE = msgspec.msgpack.Encoder(order="deterministic").encode
_DECODE = msgspec.msgpack.Decoder(ConsentProof).decode


def encode_proof(proof: ConsentProof) -> bytes:
    return _ENCODE(proof)


def decode_proof(blob: bytes | None) -> ConsentProof | None:
    return None if blob is None else _DECODE(blob)


@dataclass(frozen=True, slots=True)
class Checked:
    """The check of one action: its proof, and when its refusal passes, if it does."""

    proof: ConsentProof
    passes_at: datetime | None = None
    """Set only with a refusal that ends by itself then (quiet hours, pressure)."""


def check_all(
    connection: Connection, rows: Sequence[ActionRow], at: datetime, complaint_window: timedelta
) -> dict[str, Checked]:
    """What was read for each action, the versions read, and the refusal if
    any, by action id: the campaigns read once for them all."""
    campaigns = stored_campaigns(connection)
    version = campaign_store.campaigns_version(connection)
    # Merged since the action was requested: the survivor's records are the
    # person's now (their consent, their state in the campaign).
    survivors = {
        row.customer_id: survivor_in(connection, campaign_aliases, row.customer_id) for row in rows
    }
    pairs, facts_of = stored_records(connection, list(dict.fromkeys(survivors.values())))
    proofs = {}
    for row in rows:
        customer_id = survivors[row.customer_id]
        campaign = campaigns.get(row.campaign_id)
        pair = pairs.get(customer_id, {}).get(row.campaign_id)
        facts = facts_of.get(customer_id) or Facts()
        refusal = refusal_at_send(
            campaign,
            pair,
            facts,
            channel=row.channel,
            at=at,
            complaint_window=complaint_window,
            action_id=row.action_id,
        )
        purpose = campaign.terms.consent_purpose if campaign else "marketing"
        consent = _latest_consent(facts, row.channel, purpose)
        dnc = facts.do_not_contact
        proof = ConsentProof(
            checked_at=at,
            campaigns_version=version,
            campaign_state=None if pair is None else pair.state,
            state_sequence=0 if pair is None else pair.sequence,
            consent_event=None if consent is None else consent.event_id,
            consent_granted=None if consent is None else consent.active,
            do_not_contact_event=None if dnc is None else dnc.event_id,
            refusal=None if refusal is None else refusal.reason,
        )
        passes_at = None if refusal is None else refusal.passes_at
        proofs[row.action_id] = Checked(proof, passes_at)
    return proofs


def _latest_consent(facts: Facts, channel: str, purpose: str) -> Decision | None:
    """The decision :meth:`Facts.refuses` goes by: the channel's or all channels'."""
    own = facts.consent.get(f"{channel}/{purpose}")
    everywhere = facts.consent.get(f"all/{purpose}")
    return everywhere if everywhere is not None and everywhere.supersedes(own) else own
