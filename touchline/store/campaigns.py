"""The campaign synchronizer's tables: definitions, per-customer records, the ledger.

Blobs in and out as bytes: what they hold is the synchronizer's business
(:mod:`touchline.handlers.campaign_records`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from touchline.store.reads import CHUNK, rows_where_in
from touchline.store.tables import (
    campaign_actions,
    campaign_contacts,
    campaign_states,
    campaigns,
    processor_clocks,
)
from touchline.store.writes import (
    bulk_insert_ignoring_duplicates,
    bulk_upsert,
    bulk_upsert_values,
    dialect_insert,
)


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    campaign_id: str
    definition: bytes
    launched_at_us: int
    launched_by_event: str
    closed_at_us: int | None


def load_campaigns(connection: Connection) -> list[StoredCampaign]:
    c = campaigns.c
    rows = connection.execute(
        select(c.campaign_id, c.definition, c.launched_at_us, c.launched_by_event, c.closed_at_us)
    )
    return [StoredCampaign(*row) for row in rows]


VERSION_CLOCK = "campaigns"
"""Its row in ``processor_clocks`` counts the changes to the definitions:
readers that keep them decoded read them again when it moves."""


def campaigns_version(connection: Connection) -> int:
    """The definitions' version: it moves with every launch stored and every close."""
    clock = processor_clocks.c
    found = connection.execute(
        select(clock.version).where(clock.name == VERSION_CLOCK)
    ).scalar_one_or_none()
    return found or 0


def _bump(connection: Connection) -> None:
    clock = processor_clocks.c
    statement = dialect_insert(connection, processor_clocks).values(name=VERSION_CLOCK, version=1)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"version": clock.version + 1}
        )
    )


def load_launch(connection: Connection, campaign_id: str) -> tuple[int, str] | None:
    """When the standing launch of ``campaign_id`` happened, and its event id."""
    c = campaigns.c
    row = connection.execute(
        select(c.launched_at_us, c.launched_by_event).where(c.campaign_id == campaign_id)
    ).first()
    return None if row is None else (row[0], row[1])


def close_campaign(connection: Connection, campaign_id: str, closed_at_us: int) -> None:
    c = campaigns.c
    connection.execute(
        update(campaigns).where(c.campaign_id == campaign_id).values(closed_at_us=closed_at_us)
    )
    _bump(connection)


def delete_customer(connection: Connection, customer_id: str) -> None:
    """A merged customer's campaign rows (the survivor now holds them)."""
    connection.execute(delete(campaign_states).where(campaign_states.c.customer_id == customer_id))
    connection.execute(
        delete(campaign_contacts).where(campaign_contacts.c.customer_id == customer_id)
    )


def delete_pairs(connection: Connection, customer_id: str, campaign_ids: Sequence[str]) -> None:
    """Records an unmerge took from a customer (they were the other one's)."""
    if not campaign_ids:
        return
    s = campaign_states.c
    connection.execute(
        delete(campaign_states).where(
            s.customer_id == customer_id, s.campaign_id.in_(list(campaign_ids))
        )
    )


def save_campaign(connection: Connection, campaign: StoredCampaign) -> None:
    row = {
        "campaign_id": campaign.campaign_id,
        "definition": campaign.definition,
        "launched_at_us": campaign.launched_at_us,
        "launched_by_event": campaign.launched_by_event,
        "closed_at_us": campaign.closed_at_us,
    }
    bulk_upsert(
        connection,
        campaigns,
        [row],
        key=["campaign_id"],
        update=["definition", "launched_at_us", "launched_by_event", "closed_at_us"],
    )
    _bump(connection)


def load_pairs(connection: Connection, customer_ids: Sequence[str]) -> list[tuple[str, str, bytes]]:
    """(campaign id, customer id, record) of every campaign of these customers."""
    s = campaign_states.c
    rows = rows_where_in(
        connection,
        campaign_states,
        [s.campaign_id, s.customer_id, s.record],
        s.customer_id,
        customer_ids,
    )
    return [(row[0], row[1], row[2]) for row in rows]


PAIR_COLUMNS = ("campaign_id", "customer_id", "state", "via", "sequence", "record", "updated_at_us")
"""The order of a ``campaign_states`` row given to :func:`save_pairs`."""


def save_pairs(connection: Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Rows of ``campaign_states`` in :data:`PAIR_COLUMNS`' order, replacing those there."""
    bulk_upsert_values(
        connection,
        campaign_states,
        PAIR_COLUMNS,
        rows,
        key=["campaign_id", "customer_id"],
        update=["state", "via", "sequence", "record", "updated_at_us"],
    )


def load_facts(connection: Connection, customer_ids: Sequence[str]) -> dict[str, bytes]:
    f = campaign_contacts.c
    rows = rows_where_in(
        connection, campaign_contacts, [f.customer_id, f.facts], f.customer_id, customer_ids
    )
    return {row[0]: row[1] for row in rows}


def save_facts(connection: Connection, facts: dict[str, bytes]) -> None:
    bulk_upsert_values(
        connection,
        campaign_contacts,
        ("customer_id", "facts"),
        list(facts.items()),
        key=["customer_id"],
        update=["facts"],
    )


def request_actions(connection: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    """New actions, ``pending``; one already in the ledger keeps its row (a replay)."""
    bulk_insert_ignoring_duplicates(connection, campaign_actions, rows)


def action_statuses(connection: Connection, action_ids: Sequence[str]) -> dict[str, str]:
    """The ledger's status of each of ``action_ids`` it holds."""
    a = campaign_actions.c
    rows = rows_where_in(
        connection, campaign_actions, [a.action_id, a.status], a.action_id, action_ids
    )
    return {row[0]: row[1] for row in rows}


def end_actions(connection: Connection, action_ids: Sequence[str], status: str, at_us: int) -> None:
    """End pending actions. A reason a dispatcher left on one it put back (a
    transient failure) is dropped: it is not why the action ended, which the
    synchronizer's own event says."""
    if not action_ids:
        return
    a = campaign_actions.c
    for start in range(0, len(action_ids), CHUNK):
        connection.execute(
            update(campaign_actions)
            .where(a.action_id.in_(list(action_ids[start : start + CHUNK])), a.status == "pending")
            .values(status=status, updated_at_us=at_us, reason=None)
        )
