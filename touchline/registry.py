"""The processors touchline runs, by name, in pipeline order.

``touchline run``, ``touchline worker --processor NAME``, ``lag``, ``rebuild``
and the tests all build processors from here. Adding one (the campaign
synchronizer, say) takes its module, one entry below and its migration.

Followers are projections kept *inside* a processor's transaction. The
profile follows the timeline, and must: it is folded from the timeline's
per-customer event index, and on a merge or an unmerge it is rebuilt from
that index for the customers whose rows just moved. In a transaction of its
own it could read the index before or after the move and fold a customer
twice or not at all. The price is that the fold runs inside the timeline's
batch (``bench/profile.py`` measures it); the gain, a profile never behind or
ahead of the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from touchline.config import Settings
from touchline.events import EventCodec
from touchline.handlers.identity import RESOLVER, IdentityResolver
from touchline.handlers.synchronizer import SYNCHRONIZER, CampaignSynchronizer
from touchline.processing.port import Processor
from touchline.projections.profile_store import ProfileProjection
from touchline.projections.timeline import TimelineFollower, TimelineProjection


@dataclass(frozen=True, slots=True)
class Context:
    """What a factory may build a processor from."""

    settings: Settings
    codec: EventCodec


@dataclass(frozen=True, slots=True)
class Follower:
    name: str
    host: str
    """The processor whose transaction it shares."""
    build: Callable[[Context], TimelineFollower]
    about: str


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    build: Callable[[Context, Sequence[TimelineFollower]], Processor[Any]]
    about: str
    tables: tuple[str, ...] = ()
    """The tables that hold its state alone (moved with it to its own store)."""
    clocks: tuple[str, ...] = ()
    """Its rows in ``processor_clocks``."""
    store: str = "projections"
    """Its SQLite file on the embedded default (``<data_dir>/<store>.db``):
    processors with files of their own write at once, each in its own process.
    Processors that must commit together share one. Everything else
    (dead letters, secrets, worker records) lives in ``projections``."""


def _resolver(context: Context, _followers: Sequence[TimelineFollower]) -> Processor[Any]:
    settings = context.settings
    return IdentityResolver(
        settings.topics.touchpoints,
        settings.topics.interactions,
        context.codec,
        settings.identity_rules(),
        edge=settings.edge_rules(),
    )


def _timeline(context: Context, followers: Sequence[TimelineFollower]) -> Processor[Any]:
    return TimelineProjection(context.settings.topics.interactions, context.codec, followers)


def _synchronizer(context: Context, _followers: Sequence[TimelineFollower]) -> Processor[Any]:
    settings = context.settings
    return CampaignSynchronizer(
        settings.topics.interactions,
        context.codec,
        campaign_state_topic=settings.topics.campaign_state,
        actions_topic=settings.topics.actions,
        complaint_window=timedelta(days=settings.profile_complaint_days),
    )


PROCESSORS: tuple[Entry, ...] = (
    Entry(
        RESOLVER,
        _resolver,
        "touchpoints -> interactions: one customer per person",
        tables=("customers", "identifiers", "identity_separations"),
        clocks=("identity-graph",),
        store="identity",
    ),
    Entry(TimelineProjection.name, _timeline, "interactions -> the per-customer timeline"),
    Entry(
        SYNCHRONIZER,
        _synchronizer,
        "interactions -> campaign state per customer, actions for the adapters",
        tables=(
            "campaigns",
            "campaign_states",
            "campaign_contacts",
            "campaign_actions",
            "campaign_journal",
            "campaign_aliases",
            "outbox_heads",
            "outbox",
        ),
        clocks=("campaigns", "campaign-aliases"),
        store="campaigns",
    ),
)

FOLLOWERS: tuple[Follower, ...] = (
    Follower(
        "profile",
        TimelineProjection.name,
        lambda context: ProfileProjection(context.codec),
        "the 360-degree profile, folded in the timeline's transaction",
    ),
)


class UnknownProcessor(ValueError):
    """A processor name nobody registered."""


SYSTEM_STORE = "projections"
"""The store of what belongs to no processor: dead letters, secrets, worker records."""


def names() -> list[str]:
    return [entry.name for entry in PROCESSORS]


def stores() -> list[str]:
    """Every store's name, the system store first."""
    return list(dict.fromkeys([SYSTEM_STORE, *(entry.store for entry in PROCESSORS)]))


def store_of(name: str) -> str:
    """The store a processor (or a follower, through its host) writes to."""
    host = host_of(name)
    return next((e.store for e in PROCESSORS if e.name == host), SYSTEM_STORE)


def followers_of(name: str) -> list[Follower]:
    return [follower for follower in FOLLOWERS if follower.host == name]


def host_of(name: str) -> str | None:
    """The processor whose transaction keeps projection ``name``: itself if
    it is a processor, its host if a follower, None if unknown."""
    if name in names():
        return name
    return next((f.host for f in FOLLOWERS if f.name == name), None)


def build(context: Context, only: Collection[str] = ()) -> list[Processor[Any]]:
    """The registered processors (or those named in ``only``), in pipeline order.

    A follower's name selects its host: ``--processor profile`` runs the timeline.
    """
    hosts = set()
    for name in only:
        host = host_of(name)
        if host is None:
            known = ", ".join(names() + [f.name for f in FOLLOWERS])
            raise UnknownProcessor(f"no processor {name!r} (known: {known})")
        hosts.add(host)
    return [
        entry.build(context, [f.build(context) for f in followers_of(entry.name)])
        for entry in PROCESSORS
        if not hosts or entry.name in hosts
    ]
