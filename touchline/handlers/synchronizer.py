"""The campaign synchronizer: one ledger per (campaign, customer) across every channel.

It reads ``touchline.interactions`` and, in the transaction of the event
that causes it, moves each customer's campaigns through their states
(:mod:`touchline.handlers.campaign_rules`), writes the state change to
``touchline.campaign-state`` for the campaign engine, and the actions (and
their cancellations) to ``touchline.actions`` for the adapters. Follow-ups
and expiries are timers, fired by the injected clock live and on replay.
What a channel reports of an action it took (an ESP's delivered or hard
bounce) moves the action's ledger row on, in the same transaction
(:mod:`touchline.handlers.delivery_reports`).

A campaign's launch reaches every partition: the publisher appends it to
every partition of the touchpoints and each resolver hands it to every
partition of the interactions, so whatever was published after it, on
whichever partition, meets it first. The copies are one event (one id);
the latest launch by time stands. A merge moves the
merged customer's campaigns to the survivor (the survivor's own record wins
where both are in one campaign) and joins their contact facts.

Each customer's events that the rules acted on are journaled in the same
transaction (:mod:`touchline.handlers.campaign_journal`), from this store
alone: a merge moves the merged customer's journal to the survivor, and an
unmerge splits it by the rule every projection shares and folds both
customers again (:mod:`touchline.handlers.campaign_unmerge`). The
synchronizer never reads the timeline's index, which lives in another
store and may be ahead of it or behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, timedelta

from sqlalchemy import Connection

from touchline.events import Envelope, EventCodec
from touchline.events.campaign import CampaignClosed, CampaignLaunched
from touchline.events.identity import CustomerMerged, CustomerUnmerged
from touchline.events.instants import to_us
from touchline.handlers import campaign_journal as journaling
from touchline.handlers import campaign_records as records
from touchline.handlers import campaign_unmerge as unmerging
from touchline.handlers.campaign_model import Campaign, Effects
from touchline.handlers.campaign_reads import encode_terms, stored_campaigns, stored_records
from touchline.handlers.campaign_rules import CustomerCampaigns
from touchline.handlers.delivery_reports import Delivery, delivery_of
from touchline.processing.port import (
    WRITTEN_WITH_BYTES,
    CancelTimer,
    Emit,
    Outcome,
    Processor,
    Received,
    Rejected,
    Timer,
)
from touchline.store import action_ledger
from touchline.store import campaign_journal as journal
from touchline.store import campaigns as store
from touchline.store.aliases import Aliases, AliasTable
from touchline.store.tables import campaign_aliases

SYNCHRONIZER = "synchronizer"

CAMPAIGN_ALIASES = AliasTable(campaign_aliases, "campaign-aliases")
"""The synchronizer's own merge aliases (the timeline's live in its store)."""


class CampaignSynchronizer(Processor[Received[Envelope]]):
    name = SYNCHRONIZER
    reads = WRITTEN_WITH_BYTES
    """Decoded to decide, and the bytes as read to journal."""

    def __init__(
        self,
        source_topic: str,
        codec: EventCodec,
        *,
        campaign_state_topic: str,
        actions_topic: str,
        complaint_window: timedelta = timedelta(days=90),
    ) -> None:
        self.source_topic = source_topic
        self.codec = codec
        self.campaign_state_topic = campaign_state_topic
        self.actions_topic = actions_topic
        self.complaint_window = complaint_window

    def process(self, connection: Connection, events: Sequence[Received[Envelope]]) -> Outcome:
        outcome = Outcome.nothing()
        regroups = any(
            isinstance(r.event.payload, CustomerMerged | CustomerUnmerged) for r in events
        )
        met = {r.event.customer_id for r in events if r.event.customer_id}
        # An event may still carry a merged customer's id (resolved before the
        # merge, on another partition): it belongs to the survivor's campaigns.
        aliases = Aliases(connection, met, CAMPAIGN_ALIASES, exclusive=regroups)
        customers = sorted({aliases[customer_id] for customer_id in met})
        batch = _Batch(connection, customers, self.complaint_window)
        for received in events:
            event = received.event
            payload = event.payload
            delivery = delivery_of(event)
            if delivery is not None:
                batch.deliveries.append(delivery)
            if isinstance(payload, CampaignLaunched | CampaignClosed) and event.customer_id is None:
                refused = batch.campaign_wide(event, payload)
            elif event.customer_id is None:
                continue  # the timeline dead-letters it; nothing to synchronize
            elif isinstance(payload, CustomerMerged):
                survivor = aliases.merge(payload.merged_id, payload.survivor_id)
                batch.merge(payload.merged_id, survivor, event)
                continue
            elif isinstance(payload, CustomerUnmerged):
                # One copy per side; the survivor's splits (as the timeline's does).
                if event.customer_id == payload.survivor_id:
                    batch.unmerge(payload, event, self.codec.decode)
                    aliases.restore(payload.restored_id, payload.restored_customers)
                continue
            else:
                customer_id = aliases[event.customer_id]
                refused = batch.ledger(customer_id).apply(event)
                if refused is None and journaling.acted_on(event, batch.campaigns):
                    batch.journaled.setdefault(customer_id, []).append(journaling.entry(received))
            if refused is not None:
                outcome.rejected.append(Rejected(event, refused))
        batch.write()
        self._outcome(batch.effects, outcome)
        return outcome

    def _outcome(self, effects: Effects, outcome: Outcome) -> None:
        for change in effects.changes:
            key = (change.customer_id or "").encode()
            outcome.emitted.append(Emit(self.campaign_state_topic, key, change))
        for action in effects.actions:
            key = (action.customer_id or "").encode()
            outcome.emitted.append(Emit(self.actions_topic, key, action))
        for timer in effects.timers:
            if timer.due_at is None or timer.event is None:
                outcome.timers.append(CancelTimer(timer.name))
            else:
                key = (timer.event.customer_id or "").encode()
                outcome.timers.append(
                    Timer(timer.name, timer.due_at, self.source_topic, key, timer.event)
                )


class _Batch:
    """One batch's campaigns, customers' records and what it decided."""

    def __init__(
        self, connection: Connection, customers: list[str], complaint_window: timedelta
    ) -> None:
        self.connection = connection
        self.complaint_window = complaint_window
        self.campaigns = stored_campaigns(connection)
        self.pairs, self.facts = stored_records(connection, customers)
        self.effects = Effects()
        self.ledgers: dict[str, CustomerCampaigns] = {}
        self.journaled: dict[str, list[journal.JournalEntry]] = {}
        """Journal entries not written yet, per customer."""
        self.deliveries: list[Delivery] = []
        """What the channels said became of our actions, in log order."""

    def _load(self, customer_id: str) -> None:
        """A customer the batch had no event of (a merge's merged side)."""
        if customer_id in self.pairs or customer_id in self.facts:
            return
        pairs, facts = stored_records(self.connection, [customer_id])
        self.pairs.update(pairs)
        self.facts.update(facts)

    def ledger(self, customer_id: str) -> CustomerCampaigns:
        ledger = self.ledgers.get(customer_id)
        if ledger is None:
            ledger = self.ledgers[customer_id] = CustomerCampaigns(
                customer_id,
                facts=self.facts.setdefault(customer_id, records.Facts()),
                pairs=self.pairs.setdefault(customer_id, {}),
                campaigns=self.campaigns,
                complaint_window=self.complaint_window,
                effects=self.effects,
            )
        return ledger

    def campaign_wide(
        self, event: Envelope, payload: CampaignLaunched | CampaignClosed
    ) -> str | None:
        campaign_id = event.campaign_id
        if campaign_id is None:
            return f"{event.type} without a campaign_id"
        known = self.campaigns.get(campaign_id)
        at = event.occurred_at.astimezone(UTC)
        if isinstance(payload, CampaignClosed):
            if known is None:
                return f"campaign {campaign_id!r} was never launched"
            closed = at if known.closed_at is None else min(at, known.closed_at)
            self.campaigns[campaign_id] = Campaign(campaign_id, known.terms, closed)
            store.close_campaign(self.connection, campaign_id, to_us(closed))
            return None
        standing = store.load_launch(self.connection, campaign_id)
        if standing is not None and (to_us(at), str(event.id)) <= standing:
            return None  # an older (or the same) launch: the latest by time stands
        closed_at = None if known is None else known.closed_at
        store.save_campaign(
            self.connection,
            store.StoredCampaign(
                campaign_id,
                encode_terms(payload),
                to_us(at),
                str(event.id),
                None if closed_at is None else to_us(closed_at),
            ),
        )
        self.campaigns[campaign_id] = Campaign(campaign_id, payload, closed_at)
        return None

    def merge(self, merged: str, survivor: str, cause: Envelope) -> None:
        """The merged customer's campaigns, facts and journal join the survivor's."""
        self._load(merged)
        theirs = self.ledger(merged)
        ours = self.ledger(survivor)
        for campaign_id, pair in theirs.pairs.items():
            theirs.retire_timers(campaign_id)
            # What the feed carried for the merged customer, should an unmerge restore it.
            ours.facts.floor(merged, campaign_id, pair.sequence)
            if campaign_id not in ours.pairs:
                ours.adopt(campaign_id, pair, cause)
        for key, decision in theirs.facts.consent.items():
            ours.facts.decide(key, decision)
        if theirs.facts.do_not_contact is not None:
            ours.facts.decide_do_not_contact(theirs.facts.do_not_contact)
        ours.facts.complaints.update(theirs.facts.complaints)
        ours.facts.touches.update(theirs.facts.touches)
        for customer_id, floors in theirs.facts.feed_floors.items():
            for campaign_id, sequence in floors.items():
                ours.facts.floor(customer_id, campaign_id, sequence)
        # One person now: a do-not-contact either side set holds for both.
        ours.honour_do_not_contact(cause, cause.occurred_at.astimezone(UTC))
        self._write_journal()
        journal.move_all(self.connection, merged, survivor)
        store.delete_customer(self.connection, merged)
        del self.ledgers[merged]
        self.pairs.pop(merged, None)
        self.facts.pop(merged, None)

    def unmerge(
        self, unmerge: CustomerUnmerged, cause: Envelope, decode: Callable[[bytes], Envelope]
    ) -> None:
        """Split the survivor's journal and fold both customers again."""
        survivor, restored = unmerge.survivor_id, unmerge.restored_id
        self._write_journal()
        self._load(restored)
        sides = unmerge.sides()
        stays: list[journal.JournalEntry] = []
        goes: list[journal.JournalEntry] = []
        for entry in journal.entries_of(self.connection, survivor):
            back = sides.goes_back(entry.identifiers, entry.attributed_to)
            (goes if back else stays).append(entry)
        journal.move(self.connection, survivor, [entry.event_id for entry in goes], restored)
        theirs = journal.entries_of(self.connection, restored)  # with those come back
        members = {*unmerge.restored_customers, restored}
        before = {customer: self.ledger(customer) for customer in (survivor, restored)}
        kept = {
            customer
            for ledger in before.values()
            for customer in ledger.facts.feed_floors
            if customer not in members
        }
        rebuilt = unmerging.rebuild(
            [
                unmerging.Side(before[survivor], stays, kept | {survivor}),
                unmerging.Side(before[restored], theirs, members),
            ],
            unmerging.Rules(
                self.campaigns,
                self.complaint_window,
                decode,
                self._action_statuses,
            ),
            cause,
        )
        for ledger in rebuilt:
            customer = ledger.customer_id
            store.delete_pairs(
                self.connection, customer, sorted(before[customer].pairs.keys() - ledger.pairs)
            )
            self.ledgers[customer] = ledger
            self.pairs[customer], self.facts[customer] = ledger.pairs, ledger.facts

    def _action_statuses(self, action_ids: Sequence[str]) -> dict[str, str]:
        """The ledger's status of these actions as :meth:`write` will leave
        it for what the batch decided so far (stored, then requested, then
        cancelled where pending)."""
        found = store.action_statuses(self.connection, action_ids)
        wanted = set(action_ids)
        ours = [entry for entry in self.effects.ledger if entry.action_id in wanted]
        for entry in ours:
            if entry.status == "pending":
                found.setdefault(entry.action_id, "pending")
        for entry in ours:
            if entry.status != "pending" and found.get(entry.action_id) == "pending":
                found[entry.action_id] = entry.status
        return found

    def _write_journal(self) -> None:
        journal.record(self.connection, self.journaled)
        self.journaled.clear()

    def write(self) -> None:
        self._write_journal()
        rows: list[tuple[object, ...]] = []
        for customer_id, ledger in self.ledgers.items():
            for campaign_id in sorted(ledger.changed):
                pair = ledger.pairs[campaign_id]
                rows.append(  # in store.PAIR_COLUMNS' order
                    (
                        campaign_id,
                        customer_id,
                        pair.state,
                        pair.offered_via,
                        pair.sequence,
                        records.encode_pair(pair),
                        to_us(pair.history[-1].at) if pair.history else 0,
                    )
                )
        store.save_pairs(self.connection, rows)
        store.save_facts(
            self.connection,
            {
                customer: records.encode_facts(ledger.facts)
                for customer, ledger in self.ledgers.items()
            },
        )
        requested = [entry for entry in self.effects.ledger if entry.status == "pending"]
        store.request_actions(
            self.connection,
            [
                {
                    "action_id": entry.action_id,
                    "campaign_id": entry.campaign_id,
                    "customer_id": entry.customer_id,
                    "channel": entry.channel,
                    "offer_code": entry.offer_code,
                    "step": entry.step,
                    "status": "pending",
                    "requested_at_us": to_us(entry.at),
                    "expires_at_us": None if entry.expires_at is None else to_us(entry.expires_at),
                    "updated_at_us": to_us(entry.at),
                }
                for entry in requested
            ],
        )
        cancelled = [e for e in self.effects.ledger if e.status == "cancelled"]
        if cancelled:
            # One statement for the batch; the ledger keeps the latest cancel's time.
            at_us = max(to_us(entry.at) for entry in cancelled)
            ids = [entry.action_id for entry in cancelled]
            store.end_actions(self.connection, ids, "cancelled", at_us)
        for delivery in self.deliveries:
            action_ledger.report(
                self.connection,
                delivery.action_id,
                status=delivery.status,
                reason=delivery.reason,
                at_us=delivery.at_us,
            )
