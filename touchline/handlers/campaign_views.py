"""The campaign synchronizer's read side: a customer's campaigns, a campaign's funnel.

Both read the synchronizer's own tables, so they show what it has applied
(``touchline lag synchronizer`` says how far behind the log that is).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
from sqlalchemy import Connection, select

from touchline.handlers.campaign_records import ACTIVE, decode_pair
from touchline.store.reads import rows_where_in
from touchline.store.tables import campaign_states


class TransitionView(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    at: datetime
    caused_by: str
    via: str | None
    reason: str | None


class CampaignView(msgspec.Struct, frozen=True, kw_only=True):
    """One customer in one campaign, with its history."""

    campaign_id: str
    customer_id: str
    state: str
    offer_code: str | None
    offered_via: str | None
    offered_at: datetime | None
    made_by: str | None
    pending_actions: tuple[str, ...]
    history: tuple[TransitionView, ...]

    @property
    def live(self) -> bool:
        return self.state in ACTIVE


class Funnel(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign's customers per state, per channel the offer went by, and
    its conversions with their revenue per channel and per partner."""

    campaign_id: str
    customers: int
    by_state: dict[str, int]
    by_channel: dict[str, dict[str, int]]
    """Channel the offer was made in -> state -> customers."""
    conversions: int
    revenue_by_channel: dict[str, dict[str, float]]
    """The order's channel -> currency -> revenue."""
    revenue_by_partner: dict[str, dict[str, float]]
    """Partner account -> currency -> revenue, for partner orders."""


def customer_campaigns(connection: Connection, customer_id: str) -> list[CampaignView]:
    return customers_campaigns(connection, [customer_id])[customer_id]


def customers_campaigns(
    connection: Connection, customer_ids: Sequence[str]
) -> dict[str, list[CampaignView]]:
    """Each customer's campaigns, the latest moved first (none: an empty list)."""
    s = campaign_states.c
    found: dict[str, list[tuple[int, CampaignView]]] = {c: [] for c in customer_ids}
    rows = rows_where_in(
        connection,
        campaign_states,
        [s.customer_id, s.campaign_id, s.record, s.updated_at_us],
        s.customer_id,
        list(found),
    )
    for customer_id, campaign_id, blob, updated_at_us in rows:
        found[customer_id].append((updated_at_us, _view(customer_id, campaign_id, blob)))
    return {
        customer_id: [view for _at, view in sorted(views, key=lambda v: (-v[0], v[1].campaign_id))]
        for customer_id, views in found.items()
    }


def _view(customer_id: str, campaign_id: str, blob: bytes) -> CampaignView:
    pair = decode_pair(blob)
    return CampaignView(
        campaign_id=campaign_id,
        customer_id=customer_id,
        state=pair.state,
        offer_code=pair.offer_code,
        offered_via=pair.offered_via,
        offered_at=pair.offered_at,
        made_by=pair.made_by,
        pending_actions=tuple(pair.pending),
        history=tuple(
            TransitionView(
                state=t.state, at=t.at, caused_by=t.caused_by, via=t.via, reason=t.reason
            )
            for t in pair.history
        ),
    )


def funnel(connection: Connection, campaign_id: str) -> Funnel:
    s = campaign_states.c
    by_state: dict[str, int] = {}
    by_channel: dict[str, dict[str, int]] = {}
    revenue_by_channel: dict[str, dict[str, float]] = {}
    revenue_by_partner: dict[str, dict[str, float]] = {}
    customers = conversions = 0
    for state, via, blob in connection.execute(
        select(s.state, s.via, s.record).where(s.campaign_id == campaign_id)
    ):
        customers += 1
        by_state[state] = by_state.get(state, 0) + 1
        if via is not None:
            channel = by_channel.setdefault(via, {})
            channel[state] = channel.get(state, 0) + 1
        if state != "converted":
            continue
        conversions += 1
        pair = decode_pair(blob)
        if pair.amount_minor is None or pair.currency is None:
            continue
        amount = pair.amount_minor / 100
        converted_via = pair.history[-1].via or "unknown"
        _add(revenue_by_channel, converted_via, pair.currency, amount)
        if pair.partner_account is not None:
            _add(revenue_by_partner, pair.partner_account, pair.currency, amount)
    return Funnel(
        campaign_id=campaign_id,
        customers=customers,
        by_state=dict(sorted(by_state.items())),
        by_channel={k: dict(sorted(v.items())) for k, v in sorted(by_channel.items())},
        conversions=conversions,
        revenue_by_channel=revenue_by_channel,
        revenue_by_partner=revenue_by_partner,
    )


def _add(totals: dict[str, dict[str, float]], key: str, currency: str, amount: float) -> None:
    per_currency = totals.setdefault(key, {})
    per_currency[currency] = round(per_currency.get(currency, 0.0) + amount, 2)
