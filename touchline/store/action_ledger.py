"""The adapters' side of the action ledger (``campaign_actions``).

The synchronizer requests actions (``pending``) and cancels pending ones;
an adapter takes one (``dispatching``) and settles it with an outcome. Each
move is one conditional update, so of a cancel and a take racing for the
same pending row exactly one wins, and an action is taken at most once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, select, update

from touchline.store.reads import rows_where_in
from touchline.store.tables import campaign_actions

PENDING = "pending"
DISPATCHING = "dispatching"
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ActionRow:
    action_id: str
    campaign_id: str
    customer_id: str
    channel: str
    offer_code: str
    step: int
    status: str
    expires_at_us: int | None
    updated_at_us: int
    attempts: int
    reason: str | None
    proof: bytes | None


_a = campaign_actions.c
_ROW = (
    _a.action_id,
    _a.campaign_id,
    _a.customer_id,
    _a.channel,
    _a.offer_code,
    _a.step,
    _a.status,
    _a.expires_at_us,
    _a.updated_at_us,
    _a.attempts,
    _a.reason,
    _a.proof,
)


def load_action(connection: Connection, action_id: str) -> ActionRow | None:
    row = connection.execute(select(*_ROW).where(_a.action_id == action_id)).first()
    return None if row is None else ActionRow(**row._mapping)


def load_actions(connection: Connection, action_ids: Collection[str]) -> dict[str, ActionRow]:
    """The rows of those of ``action_ids`` the ledger holds, by id."""
    columns = [column.name for column in _ROW]
    rows = rows_where_in(connection, campaign_actions, _ROW, _a.action_id, list(action_ids))
    return {row[0]: ActionRow(**dict(zip(columns, row, strict=True))) for row in rows}


def take_all(connection: Connection, action_ids: Collection[str], at_us: int) -> set[str]:
    """Mark those of ``action_ids`` still pending ``dispatching``: the ids
    taken (one not pending was cancelled by the synchronizer first, or taken
    by another dispatcher)."""
    if not action_ids:
        return set()
    a = campaign_actions.c
    taken = connection.execute(
        update(campaign_actions)
        .where(a.action_id.in_(list(action_ids)), a.status == PENDING)
        .values(status=DISPATCHING, updated_at_us=at_us)
        .returning(a.action_id)
    )
    return set(taken.scalars())


@dataclass(frozen=True, slots=True)
class Settlement:
    """An outcome to record: the action, if it is still ``was``, becomes ``status``."""

    action_id: str
    status: str
    attempts: int
    reason: str | None
    proof: bytes | None
    was: str = DISPATCHING


def settle_all(connection: Connection, settlements: Sequence[Settlement], at_us: int) -> int:
    """Record each outcome whose action is still as it says it was, in one
    statement run for them all: how many were."""
    if not settlements:
        return 0
    a = campaign_actions.c
    statement = (
        update(campaign_actions)
        .where(a.action_id == bindparam("id"), a.status == bindparam("was"))
        .values(
            status=bindparam("to"),
            updated_at_us=at_us,
            attempts=bindparam("n"),
            reason=bindparam("why"),
            proof=bindparam("blob"),
        )
    )
    rows = [
        {"id": s.action_id, "was": s.was, "to": s.status, "n": s.attempts, "why": s.reason}
        | {"blob": s.proof}
        for s in settlements
    ]
    return connection.execute(statement, rows).rowcount
