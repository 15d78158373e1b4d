"""Reading the synchronizer's stored state: the campaigns in force, and
customers' records. The synchronizer and next-best-offer read through these."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from sqlalchemy import Connection

from touchline.events.campaign import CampaignLaunched
from touchline.events.instants import from_us
from touchline.handlers.campaign_model import Campaign
from touchline.handlers.campaign_records import Facts, Pair, decode_facts, decode_pair
from touchline.store import campaigns as store

_TERMS = msgspec.msgpack.Decoder(CampaignLaunched)
_ENCODE = msgspec.msgpack.Encoder(order="deterministic").encode


def encode_terms(terms: CampaignLaunched) -> bytes:
    """A definition as ``campaigns.definition`` keeps it."""
    return _ENCODE(terms)


def stored_campaigns(connection: Connection) -> dict[str, Campaign]:
    """Every campaign launched, by id, as it stands (closed or not)."""
    return {
        stored.campaign_id: Campaign(
            stored.campaign_id,
            _TERMS.decode(stored.definition),
            None if stored.closed_at_us is None else from_us(stored.closed_at_us),
        )
        for stored in store.load_campaigns(connection)
    }


def stored_records(
    connection: Connection, customer_ids: Sequence[str]
) -> tuple[dict[str, dict[str, Pair]], dict[str, Facts]]:
    """These customers' records per campaign, and their contact facts (those stored)."""
    pairs: dict[str, dict[str, Pair]] = {}
    for campaign_id, customer_id, blob in store.load_pairs(connection, customer_ids):
        pairs.setdefault(customer_id, {})[campaign_id] = decode_pair(blob)
    facts = {c: decode_facts(b) for c, b in store.load_facts(connection, customer_ids).items()}
    return pairs, facts
