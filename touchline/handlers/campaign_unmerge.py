"""An unmerge, for the campaign synchronizer: both customers' records folded
again from their own journals.

Each side starts empty (no pairs, no contact facts) and takes its journal
(:mod:`touchline.handlers.campaign_journal`) through the same rules, in
(time, event id) order: the order every replay finds, whatever partitions
and batches brought the events. The rules' own timers fire where they fall
between those events, and those due by the unmerge fire before it, so each
side ends where it would stand had the two never been merged, as far as
the journal tells.

What the fold decides is not all written: the feed and the adapters heard
the story once already. Compared with what each customer held before:

- a pair whose standing (state, channel, reason, offer, order) is unchanged
  keeps its number and says nothing;
- a pair that changed, or is new to the customer, is restated once: its
  state now, numbered past anything the feed carried for that (campaign,
  customer), caused by the unmerge;
- a pair the customer no longer holds is ``suppressed`` (``unmerged``), and
  its number is kept as a floor should the pair be made again;
- an action pending before and re-derived keeps its id and is not sent
  again; one no longer re-derived is cancelled (``unmerged``); one
  re-derived anew is requested, under its own id when it never was, under
  an id derived from it and the unmerge when it had been cancelled (the
  adapters took that id as final), and not at all when it is out already;
- every timer the customers had is cancelled and those the fold left set
  are set again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import msgspec

from touchline.events import Envelope
from touchline.events.campaign_feed import ActionRequested
from touchline.handlers.campaign_model import Campaign, Effects, TimerSpec
from touchline.handlers.campaign_records import Facts, Pair
from touchline.handlers.campaign_rules import CustomerCampaigns
from touchline.handlers.campaign_writes import ACTIONS
from touchline.store.campaign_journal import JournalEntry

UNMERGED = "unmerged"
"""The reason on what an unmerge suppresses or cancels."""


@dataclass(frozen=True, slots=True)
class Side:
    """One customer of the unmerge: its records as they stand, and its journal."""

    before: CustomerCampaigns
    journal: Sequence[JournalEntry]
    members: Collection[str]
    """The customer ids whose feed floors it keeps (itself and those folded into it)."""


@dataclass(frozen=True, slots=True)
class Rules:
    campaigns: Mapping[str, Campaign]
    complaint_window: timedelta
    decode: Callable[[bytes], Envelope]
    statuses: Callable[[Sequence[str]], dict[str, str]]
    """The ledger's status of each of these action ids it holds."""


def rebuild(sides: Sequence[Side], rules: Rules, cause: Envelope) -> list[CustomerCampaigns]:
    """Each side folded again, what changed written to the sides' effects
    (the batch's); the rebuilt records, one per side, in order."""
    floors = _floors([side.before for side in sides])
    scratch = Effects()
    after = []
    for side in sides:
        kept = {m: dict(floors[m]) for m in side.members if m in floors}
        ledger = CustomerCampaigns(
            side.before.customer_id,
            facts=Facts(feed_floors=kept),
            pairs={},
            campaigns=rules.campaigns,
            complaint_window=rules.complaint_window,
            effects=scratch,
        )
        left = _fold(ledger, side.journal, rules.decode, cause.occurred_at.astimezone(UTC))
        ledger.effects = side.before.effects
        _announce(side.before, ledger, cause)
        _retime(side.before, ledger, left)
        after.append(ledger)
    _settle_actions([side.before for side in sides], after, scratch, rules, cause)
    return after


def _floors(before: Sequence[CustomerCampaigns]) -> dict[str, dict[str, int]]:
    """Every number the feed carried, per customer and campaign, on either side."""
    floors = Facts()
    for ledger in before:
        for customer_id, campaigns in ledger.facts.feed_floors.items():
            for campaign_id, sequence in campaigns.items():
                floors.floor(customer_id, campaign_id, sequence)
        for campaign_id, pair in ledger.pairs.items():
            floors.floor(ledger.customer_id, campaign_id, pair.sequence)
    return floors.feed_floors


def _fold(
    ledger: CustomerCampaigns,
    journal: Sequence[JournalEntry],
    decode: Callable[[bytes], Envelope],
    until: datetime,
) -> list[TimerSpec]:
    """Apply the journal in order, firing the ledger's timers where they fall;
    the timers left set (in name order)."""
    timers: dict[str, tuple[datetime, str, TimerSpec]] = {}
    seen = len(ledger.effects.timers)

    def take(event: Envelope) -> None:
        nonlocal seen
        ledger.apply(event)
        for spec in ledger.effects.timers[seen:]:
            if spec.due_at is None or spec.event is None:
                timers.pop(spec.name, None)
            else:
                timers[spec.name] = (spec.due_at, str(spec.event.id), spec)
        seen = len(ledger.effects.timers)

    def fire(before: tuple[datetime, str]) -> None:
        """The timers due before an event (time, id), in that order."""
        while timers:
            due, timer_id, spec = min(timers.values(), key=lambda timer: timer[:2])
            if (due, timer_id) >= before or spec.event is None:
                return
            del timers[spec.name]
            take(spec.event)

    for entry in journal:
        event = decode(entry.event)
        fire((event.occurred_at.astimezone(UTC), str(event.id)))
        take(event)
    fire((until + timedelta(microseconds=1), ""))  # due by ``until``: instants are in µs
    ledger.changed = set(ledger.pairs)
    return [timers[name][2] for name in sorted(timers)]


def _announce(before: CustomerCampaigns, after: CustomerCampaigns, cause: Envelope) -> None:
    at = cause.occurred_at.astimezone(UTC)
    customer_id = after.customer_id
    for campaign_id in sorted(before.pairs.keys() | after.pairs.keys()):
        old, new = before.pairs.get(campaign_id), after.pairs.get(campaign_id)
        if new is None:
            assert old is not None
            before.withdraw(campaign_id, old, cause, at, UNMERGED)
            after.facts.floor(customer_id, campaign_id, old.sequence)
            continue
        after.facts.feed_floors.get(customer_id, {}).pop(campaign_id, None)
        if old is not None and _standing(old) == _standing(new):
            new.sequence = old.sequence  # nothing to tell: the feed's last word stands
        else:
            after.restate(campaign_id, None if old is None else old.state, cause)
    if after.facts.feed_floors.get(customer_id) == {}:
        del after.facts.feed_floors[customer_id]  # its pairs carry their own numbers


def _standing(pair: Pair) -> tuple[object, ...]:
    last = pair.history[-1]
    return (last.state, last.via, last.reason, pair.offer_code, pair.order_id)


def _retime(before: CustomerCampaigns, after: CustomerCampaigns, left: list[TimerSpec]) -> None:
    """Every timer of the old records goes; those the fold left set are set."""
    for campaign_id in sorted(before.pairs):
        before.retire_timers(campaign_id)
    after.effects.timers.extend(left)


def _settle_actions(
    before: Sequence[CustomerCampaigns],
    after: Sequence[CustomerCampaigns],
    scratch: Effects,
    rules: Rules,
    cause: Envelope,
) -> None:
    at = cause.occurred_at.astimezone(UTC)
    owner = {
        action_id: (ledger, campaign_id)
        for ledger in after
        for campaign_id, pair in ledger.pairs.items()
        for action_id in pair.pending
    }
    held = set()
    for ledger in before:
        for campaign_id, pair in sorted(ledger.pairs.items()):
            for action_id in list(pair.pending):
                held.add(action_id)
                if action_id not in owner:
                    ledger.cancel(campaign_id, pair, action_id, cause, at=at, why=UNMERGED)
    fresh = sorted(owner.keys() - held)
    statuses = rules.statuses(fresh)
    requested = {
        str(action.id): action
        for action in scratch.actions
        if isinstance(action.payload, ActionRequested)
    }
    rows = {entry.action_id: entry for entry in scratch.ledger if entry.status == "pending"}
    effects = before[0].effects
    for action_id in fresh:
        status = statuses.get(action_id)
        if status is None:  # never asked for: ask now
            effects.actions.append(requested[action_id])
            effects.ledger.append(rows[action_id])
        elif status == "cancelled":
            # Adapters take a cancelled id as final: the same step goes out
            # again under an id of its own, derived from the old one and the unmerge.
            again = str(uuid5(ACTIONS, f"{action_id}/after/{cause.id}"))
            ledger, campaign_id = owner[action_id]
            ledger.rename_action(campaign_id, action_id, again)
            effects.actions.append(msgspec.structs.replace(requested[action_id], id=UUID(again)))
            effects.ledger.append(dataclasses.replace(rows[action_id], action_id=again))
        # Otherwise it is out already under this id (pending, dispatched...): nothing to say.
