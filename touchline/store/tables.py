"""Every projection table, in one metadata that Alembic migrates.

Timestamps are stored as UTC microseconds since the epoch (BIGINT): the same
type and ordering on SQLite and PostgreSQL, and no per-row datetime parsing on
the hot path (SQLite has no native timestamp type).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

projector_positions = Table(
    "projector_positions",
    metadata,
    Column("projector", String(100), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)
"""Where each projector resumes: written in the same transaction as its rows."""

timeline_entries = Table(
    "timeline_entries",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("occurred_at_us", BigInteger, nullable=False),
    Column("recorded_at_us", BigInteger, nullable=True),
    Column("type", String(100), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("source", String(200), nullable=False),
    Column("campaign_id", String(100), nullable=True),
    Column("summary", Text, nullable=False),
    Column("event", LargeBinary, nullable=False),
    Index("ix_timeline_customer_time", "customer_id", "occurred_at_us", "event_id"),
)
"""One row per event per customer; ``event`` keeps the encoded envelope so
other projections can be rebuilt for one customer from here."""


def _aliases(name: str) -> Table:
    """A processor's merge aliases (:mod:`touchline.store.aliases`): the
    survivor of each merged customer it met."""
    return Table(
        name,
        metadata,
        Column("merged_id", String(64), primary_key=True),
        Column("survivor_id", String(64), nullable=False, index=True),
    )


timeline_aliases = _aliases("timeline_aliases")
"""Merged customers, as the timeline learnt of them from ``customer.merged``:
events still in flight for a merged id land on its survivor."""

campaign_aliases = _aliases("campaign_aliases")
"""Merged customers, as the campaign synchronizer learnt of them: an event
still in flight for a merged id reaches the survivor's campaigns."""

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("created_at_us", BigInteger, nullable=False),
    Column("created_by_event", String(36), nullable=False),
    Column("merged_into", String(64), nullable=True),
    Column("root_id", String(64), nullable=False, index=True),
)
"""Every customer the resolver created. Merges form a tree: ``merged_into`` is
the parent a customer was folded into (an unmerge cuts that edge again) and
``root_id`` the customer it lives on now, kept for one-step lookups."""

identifiers = Table(
    "identifiers",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("value", String(320), primary_key=True),
    Column("customer_id", String(64), nullable=False, index=True),
    Column("node_id", String(64), nullable=False, index=True),
    Column("linked_by_event", String(36), nullable=False),
)
"""The identity graph: every normalised identifier belongs to one customer.

``node_id`` is the customer it first joined and never changes, so an unmerge
knows which identifiers go back; ``customer_id`` is where it lives now (the
root of that customer's merge tree)."""

identity_separations = Table(
    "identity_separations",
    metadata,
    Column("customer_a", String(64), primary_key=True),
    Column("customer_b", String(64), primary_key=True),
    Column("unmerged_by_event", String(36), nullable=False),
)
"""Pairs an unmerge split (``customer_a`` < ``customer_b``): no later event
merges their trees again, whatever identifiers it carries."""

processor_clocks = Table(
    "processor_clocks",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("version", BigInteger, nullable=False),
)
"""A row per shared structure that several workers of one processor write:
its row lock orders their transactions. ``identity-graph`` is bumped by every
resolver batch on SQLite (a version the resolver did not write itself tells
it that its cache is stale) and only by unmerges on PostgreSQL, where
resolvers lock the customers they touch instead; ``timeline-aliases`` is held
shared by timeline batches and exclusively by those that merge or split
customers."""

customer_profiles = Table(
    "customer_profiles",
    metadata,
    Column("generation", Integer, primary_key=True),
    Column("customer_id", String(64), primary_key=True),
    Column("state", LargeBinary, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)
"""The profile's folded state per customer, with the time of the latest event
folded in; a full rebuild writes the next ``generation`` beside the live one."""

projection_generations = Table(
    "projection_generations",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("live", Integer, nullable=False),
    Column("building", Integer, nullable=True),
    Column("build_cursor", String(64), nullable=True),
)
"""Which generation of a rebuildable projection readers see, and the one a
rebuild is filling (customers up to ``build_cursor`` are done)."""

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, primary_key=True),
    Column("dead_at_us", BigInteger, nullable=False),
    Column("processor", String(100), nullable=False, index=True),
    Column("code", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("origin_topic", String(200), nullable=False),
    Column("origin_partition", Integer, nullable=False),
    Column("origin_offset", BigInteger, nullable=False),
    Column("origin_index", Integer, nullable=True),
    Column("event_id", String(36), nullable=True, index=True),
    Column("event_type", String(100), nullable=True),
    Column("customer_id", String(64), nullable=True, index=True),
    Column("identifiers", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("status_at_us", BigInteger, nullable=True),
    Column("status_by", String(200), nullable=True),
    Column("status_note", Text, nullable=True),
    Column("redriven_to", String(250), nullable=True),
)
"""An index of the dead-letter topic (which keeps the bytes) for people to
search, with what was done about each: ``dead``, ``redriven`` to the source
topic, or ``discarded`` (who, when and why: the audit entry)."""

deployment_secrets = Table(
    "deployment_secrets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", String(200), nullable=False),
)
"""Secrets every process of one deployment must share, made once on first
start (``record-key``: the HMAC key of touchpoint record keys)."""

timers = Table(
    "timers",
    metadata,
    Column("processor", String(100), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("due_at_us", BigInteger, nullable=False),
    Column("topic", String(200), nullable=False),
    Column("record_key", LargeBinary, nullable=False),
    Column("event", LargeBinary, nullable=False),
    Index("ix_timers_due", "processor", "due_at_us"),
)
"""Events processors asked to append later (:class:`touchline.processing.port.Timer`),
set and cancelled in the transaction of the batch that decided so."""

worker_assignments = Table(
    "worker_assignments",
    metadata,
    Column("processor", String(100), primary_key=True),
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("worker", String(200), nullable=False),
    Column("assigned_at_us", BigInteger, nullable=False),
)
"""Which Kafka worker holds each partition of a processor's topic, as the
workers last reported it on a rebalance (the embedded runtime writes none).
One holder per partition: a worker given a partition takes the row over from
whichever worker held it before, killed ones included."""

campaigns = Table(
    "campaigns",
    metadata,
    Column("campaign_id", String(100), primary_key=True),
    Column("definition", LargeBinary, nullable=False),
    Column("launched_at_us", BigInteger, nullable=False),
    Column("launched_by_event", String(36), nullable=False),
    Column("closed_at_us", BigInteger, nullable=True),
)
"""Each campaign's definition (the ``campaign.launched`` payload, msgpack) as
the synchronizer met it: the latest launch by time stands."""

campaign_states = Table(
    "campaign_states",
    metadata,
    Column("campaign_id", String(100), primary_key=True),
    Column("customer_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("via", String(16), nullable=True),
    Column("sequence", Integer, nullable=False),
    Column("record", LargeBinary, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Index("ix_campaign_states_customer", "customer_id"),
)
"""One row per (campaign, customer): its state, and (``record``, msgpack) the
history and what is pending; the funnel counts ``state`` and ``via``."""

campaign_contacts = Table(
    "campaign_contacts",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("facts", LargeBinary, nullable=False),
)
"""What the synchronizer knows of a customer across campaigns (msgpack):
consent, do-not-contact, recent complaints and the touches that count as
contact pressure, each changed in the transaction of the event that says so."""

campaign_actions = Table(
    "campaign_actions",
    metadata,
    Column("action_id", String(36), primary_key=True),
    Column("campaign_id", String(100), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("offer_code", String(100), nullable=False),
    Column("step", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_at_us", BigInteger, nullable=False),
    Column("expires_at_us", BigInteger, nullable=True),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("reason", Text, nullable=True),
    Column("proof", LargeBinary, nullable=True),
    Column("routed_to", String(100), nullable=True),
    Column("not_before_us", BigInteger, nullable=True),
    Index("ix_campaign_actions_customer", "customer_id", "status"),
    Index("ix_campaign_actions_routed_to", "routed_to", "status"),
)
"""The action ledger: ``pending`` when requested, then ``cancelled`` by the
synchronizer, or ``dispatching`` when an adapter takes it and then one of
the outcomes of :data:`touchline.events.action.ActionOutcome`, with the
attempts made, the reason and the consent proof (msgpack) it checked;
``routed_to`` is the receiver (a partner) an adapter that picks one chose,
written before the send; ``not_before_us``, on an action a dispatcher put
back to ``pending`` (a transient failure, quiet hours), is when it may be
taken again."""

campaign_journal = Table(
    "campaign_journal",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("occurred_at_us", BigInteger, primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("attributed_to", String(64), nullable=True),
    Column("identifiers", Text, nullable=False),
    Column("event", LargeBinary, nullable=False),
)
"""The events that changed a customer's campaign records (the envelope as
read, the customer the resolver first attributed it to, the ``kind:value``
identifiers it carried, one a line): what an unmerge splits and folds again.
A merge moves the merged customer's rows to the survivor. The key is the
order a customer's journal is read in, and its only index: the journal is
written for nearly every event the synchronizer reads."""

outbox_heads = Table(
    "outbox_heads",
    metadata,
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_seq", BigInteger, nullable=False),
)
"""Per partition of a relayed topic, the sequence number the next row gets;
its row is also what one relay of that partition locks while it appends."""

outbox = Table(
    "outbox",
    metadata,
    Column("topic", String(200), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("record_key", LargeBinary, nullable=True),
    Column("value", LargeBinary, nullable=False),
)
"""Records bound for a topic that must hold each of them exactly once (the
campaign-state feed): written in the transaction of the batch that made
them, appended by the relay afterwards, deleted once appended."""

accepted_events = Table(
    "accepted_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("digest", String(32), nullable=False),
    Column("accepted_at_us", BigInteger, nullable=False),
)
"""Every event id the HTTP API has appended to the touchpoints, with its
content digest: a retried request answers ``duplicate`` and appends nothing,
and the same id with other content is refused at once."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("sources", Text, nullable=False),
    Column("types", Text, nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("revoked_at_us", BigInteger, nullable=True),
)
"""The HTTP API's keys: the SHA-256 of each secret, never the secret, with what
the key may do (``scopes``) and, for a publisher, the sources and event types
it may publish (JSON arrays; empty: any). A revoked key keeps its row, so the
list says when it stopped working."""
