"""The read side, in one place: find a customer, a page of their timeline, their profile.

The CLI, the demo and the HTTP API all read through :class:`Queries`, so a
customer is found the same way everywhere: by any identifier (as a person
types it: ``ann@example.com``, ``+1 555 0100``, ``crm_id:C-42``) or by a
customer id, a merged one leading to its survivor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from sqlalchemy import Connection, Engine, select

from touchline.events import EventCodec
from touchline.events.keys import parse_identifier
from touchline.handlers.campaign_views import (
    CampaignView,
    Funnel,
    customer_campaigns,
    customers_campaigns,
    funnel,
)
from touchline.handlers.identity_graph import (
    find_customer,
    identifiers_of,
    identifiers_of_all,
    surviving_customer,
    surviving_customers,
)
from touchline.projections.aliases import survivor_of
from touchline.projections.profile_store import stored_states
from touchline.projections.profile_view import OfferView, Profile, ProfileRules, render
from touchline.projections.timeline import TimelineFilter, TimelinePage, read_timeline
from touchline.store.campaigns import load_campaigns
from touchline.store.tables import customers, timeline_entries


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a lookup found: the customer, and the identifier it was asked by
    in the form the log stores (``kind:value``), or the customer id asked."""

    customer_id: str | None
    asked: str


@dataclass(frozen=True)
class Queries:
    """Reads over the projection database (``engine``) and the identity graph
    (``identity``: the same database unless the embedded default gives the
    resolver a file of its own); every method opens its own connections."""

    engine: Engine
    codec: EventCodec
    profile_rules: ProfileRules = field(default_factory=ProfileRules)
    clock: Callable[[], datetime] = utc_now
    identity: Engine | None = None
    campaigns: Engine | None = None
    """The campaign synchronizer's database (the same unless it has a file of its own)."""

    @property
    def graph(self) -> Engine:
        return self.identity or self.engine

    @property
    def synchronizer(self) -> Engine:
        return self.campaigns or self.engine

    def find(self, identifier: str) -> Lookup:
        """The customer ``identifier`` belongs to, as it stands now.

        Raises ValueError when the identifier's kind cannot be told.
        """
        with self.graph.connect() as connection:
            return find(connection, self.codec, identifier)

    def timeline(
        self,
        customer_id: str,
        *,
        where: TimelineFilter | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TimelinePage:
        """A page of the customer's timeline, newest first (a merged id reads its survivor)."""
        with self.engine.connect() as connection:
            survivor = survivor_of(connection, customer_id)
            return read_timeline(
                connection, survivor, where=where or TimelineFilter(), limit=limit, cursor=cursor
            )

    def placed(self, event_id: str) -> str | None:
        """The customer whose timeline holds ``event_id`` (None: not applied yet)."""
        t = timeline_entries.c
        with self.engine.connect() as connection:
            found = connection.execute(select(t.customer_id).where(t.event_id == event_id)).scalar()
        return None if found is None else str(found)

    def profile(self, customer_id: str, *, now: datetime | None = None) -> Profile | None:
        """The 360-degree profile as of ``now`` (default: the clock); None when
        the profile has seen nothing of this customer yet."""
        return self.profiles([customer_id], now=now)[customer_id]

    def profiles(
        self, customer_ids: Sequence[str], *, now: datetime | None = None
    ) -> dict[str, Profile | None]:
        """:meth:`profile` of each, in a few reads for them all (an adapter's batch)."""
        at = now or self.clock()
        with self.engine.connect() as connection, self.graph.connect() as graph:
            found = profiles(connection, customer_ids, self.profile_rules, at, graph=graph)
            survivors = surviving_customers(
                graph, [p.customer_id for p in found.values() if p is not None]
            )
        with self.synchronizer.connect() as connection:
            campaigns = customers_campaigns(connection, sorted(set(survivors.values())))
        return {
            asked: None
            if p is None
            else with_campaign_offers(p, campaigns.get(survivors.get(p.customer_id, ""), []))
            for asked, p in found.items()
        }

    def customer_campaigns(self, customer_id: str) -> list[CampaignView]:
        """Every campaign of the customer (a merged id reads its survivor), with its history."""
        with self.graph.connect() as graph:
            survivor = surviving_customer(graph, customer_id) or customer_id
        with self.synchronizer.connect() as connection:
            return customer_campaigns(connection, survivor)

    def launched(self, campaign_id: str) -> bool:
        """Whether the synchronizer has applied a launch of ``campaign_id``."""
        with self.synchronizer.connect() as connection:
            return campaign_id in {c.campaign_id for c in load_campaigns(connection)}

    def funnel(self, campaign_id: str) -> Funnel:
        with self.synchronizer.connect() as connection:
            return funnel(connection, campaign_id)

    def identities(self, customer_id: str) -> tuple[list[str], list[str]]:
        """Every customer id that has folded into ``customer_id``'s survivor
        (itself included), and that survivor's identifiers as ``kind:value``."""
        with self.graph.connect() as connection:
            root = surviving_customer(connection, customer_id)
            if root is None:
                return [], []
            c = customers.c
            ids = list(connection.execute(select(c.customer_id).where(c.root_id == root)).scalars())
            return ids, identifiers_of(connection, root)


def with_campaign_offers(profile: Profile, campaigns: list[CampaignView]) -> Profile:
    """The profile's active offers, with those the synchronizer has made and
    that are still live (an agent sees an offer the moment it is made)."""
    offers = {(o.campaign_id, o.offer_code): o for o in profile.active_offers}
    for campaign in campaigns:
        if not campaign.live or campaign.offer_code is None or campaign.offered_at is None:
            continue
        offers.setdefault(
            (campaign.campaign_id, campaign.offer_code),
            OfferView(
                campaign_id=campaign.campaign_id,
                offer_code=campaign.offer_code,
                via=campaign.offered_via or "",
                made_at=campaign.offered_at,
                expires_at=None,
                made_by=campaign.made_by,
            ),
        )
    ordered = sorted(
        offers.values(), key=lambda o: (o.made_at, o.campaign_id or "", o.offer_code), reverse=True
    )
    return msgspec.structs.replace(profile, active_offers=tuple(ordered))


def find(connection: Connection, codec: EventCodec, identifier: str) -> Lookup:
    """:meth:`Queries.find` on an open connection."""
    if identifier.startswith("cus_"):
        return Lookup(surviving_customer(connection, identifier), identifier)
    kind, value = parse_identifier(identifier)
    normalised = codec.normalise_identifier(kind, value)
    return Lookup(find_customer(connection, kind, normalised), f"{kind}:{normalised}")


def profile(
    connection: Connection,
    customer_id: str,
    rules: ProfileRules,
    now: datetime,
    *,
    graph: Connection | None = None,
) -> Profile | None:
    """:meth:`Queries.profile` on open connections (``graph``, the identity
    graph's, when it is not the same database)."""
    return profiles(connection, [customer_id], rules, now, graph=graph)[customer_id]


def profiles(
    connection: Connection,
    customer_ids: Sequence[str],
    rules: ProfileRules,
    now: datetime,
    *,
    graph: Connection | None = None,
) -> dict[str, Profile | None]:
    """:func:`profile` of each of ``customer_ids``, in one read per table."""
    stored = stored_states(connection, customer_ids)
    identifiers = identifiers_of_all(graph or connection, sorted({s for s, _ in stored.values()}))
    found: dict[str, Profile | None] = dict.fromkeys(customer_ids)
    for asked, (survivor, state) in stored.items():
        found[asked] = render(survivor, state, rules, now, identifiers[survivor])
    return found
