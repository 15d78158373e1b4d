"""The campaign synchronizer: one ledger per (campaign, customer) across every channel.

It reads ``touchline.interactions`` and, in the transaction of the event
that causes it, moves each customer's campaigns through their states
(:mod:`touchline.handlers.campaign_rules`), writes the state change to
``touchline.campaign-state`` for the campaign engine, and the actions (and
their cancellations) to ``touchline.actions`` for the adapters. Follow-ups
and expiries are timers, fired by the injected clock live and on replay.

A campaign's launch reaches every partition: the publisher appends it to
every partition of the touchpoints and each resolver hands it to every
partition of the interactions, so whatever was published after it, on
whichever partition, meets it first. The copies are one event (one id);
the latest launch by time stands. A merge moves the
merged customer's campaigns to the survivor (the survivor's own record wins
where both are in one campaign) and joins their contact facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta

from sqlalchemy import Connection

from touchline.events import Envelope
from touchline.events.campaign import CampaignClosed, CampaignLaunched
from touchline.events.identity import CustomerMerged
from touchline.events.instants import to_us
from touchline.handlers import campaign_records as records
from touchline.handlers.campaign_model import Campaign, Effects
from touchline.handlers.campaign_reads import encode_terms, stored_campaigns, stored_records
from touchline.handlers.campaign_rules import CustomerCampaigns
from touchline.processing.port import (
    EVENTS,
    CancelTimer,
    Emit,
    Outcome,
    Processor,
    Rejected,
    Timer,
)
from touchline.store import campaigns as store

SYNCHRONIZER = "synchronizer"


class CampaignSynchronizer(Processor[Envelope]):
    name = SYNCHRONIZER
    reads = EVENTS

    def __init__(
        self,
        source_topic: str,
        *,
        campaign_state_topic: str,
        actions_topic: str,
        complaint_window: timedelta = timedelta(days=90),
    ) -> None:
        self.source_topic = source_topic
        self.campaign_state_topic = campaign_state_topic
        self.actions_topic = actions_topic
        self.complaint_window = complaint_window

    def process(self, connection: Connection, events: Sequence[Envelope]) -> Outcome:
        outcome = Outcome.nothing()
        customers = sorted({e.customer_id for e in events if e.customer_id is not None})
        batch = _Batch(connection, customers, self.complaint_window)
        for event in events:
            payload = event.payload
            if isinstance(payload, CampaignLaunched | CampaignClosed) and event.customer_id is None:
                refused = batch.campaign_wide(event, payload)
            elif event.customer_id is None:
                continue  # the timeline dead-letters it; nothing to synchronize
            elif isinstance(payload, CustomerMerged):
                batch.merge(payload.merged_id, payload.survivor_id, event)
                continue
            else:
                refused = batch.ledger(event.customer_id).apply(event)
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
        """The merged customer's campaigns and facts join the survivor's."""
        self._load(merged)
        theirs = self.ledger(merged)
        ours = self.ledger(survivor)
        for campaign_id, pair in theirs.pairs.items():
            theirs.retire_timers(campaign_id)
            if campaign_id not in ours.pairs:
                ours.adopt(campaign_id, pair, cause)
        for key, decision in theirs.facts.consent.items():
            ours.facts.decide(key, decision)
        if theirs.facts.do_not_contact is not None:
            ours.facts.decide_do_not_contact(theirs.facts.do_not_contact)
        ours.facts.complaints.update(theirs.facts.complaints)
        ours.facts.touches.update(theirs.facts.touches)
        # One person now: a do-not-contact either side set holds for both.
        ours.honour_do_not_contact(cause, cause.occurred_at.astimezone(UTC))
        store.delete_customer(self.connection, merged)
        del self.ledgers[merged]
        self.pairs.pop(merged, None)
        self.facts.pop(merged, None)

    def write(self) -> None:
        rows = []
        for customer_id, ledger in self.ledgers.items():
            for campaign_id in sorted(ledger.changed):
                pair = ledger.pairs[campaign_id]
                rows.append(
                    {
                        "campaign_id": campaign_id,
                        "customer_id": customer_id,
                        "state": pair.state,
                        "via": pair.offered_via,
                        "sequence": pair.sequence,
                        "record": records.encode_pair(pair),
                        "updated_at_us": to_us(pair.history[-1].at) if pair.history else 0,
                    }
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
