"""The adapters' side of the action ledger (``campaign_actions``).

The synchronizer requests actions (``pending``) and cancels pending ones;
an adapter takes one (``dispatching``) and settles it with an outcome. Each
move is one conditional update, so of a cancel and a take racing for the
same pending row exactly one wins, and an action is taken at most once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

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


def load_action(connection: Connection, action_id: str) -> ActionRow | None:
    a = campaign_actions.c
    row = connection.execute(
        select(
            a.action_id,
            a.campaign_id,
            a.customer_id,
            a.channel,
            a.offer_code,
            a.step,
            a.status,
            a.expires_at_us,
            a.updated_at_us,
            a.attempts,
            a.reason,
            a.proof,
        ).where(a.action_id == action_id)
    ).first()
    return None if row is None else ActionRow(**row._mapping)


def take(connection: Connection, action_id: str, at_us: int) -> bool:
    """Mark a pending action ``dispatching``; False when it is not pending
    (the synchronizer cancelled it first, or another dispatcher took it)."""
    a = campaign_actions.c
    result = connection.execute(
        update(campaign_actions)
        .where(a.action_id == action_id, a.status == PENDING)
        .values(status=DISPATCHING, updated_at_us=at_us)
    )
    return result.rowcount == 1


def settle(
    connection: Connection,
    action_id: str,
    *,
    status: str,
    at_us: int,
    attempts: int,
    reason: str | None,
    proof: bytes | None,
    was: str = DISPATCHING,
) -> bool:
    """Record the outcome of an action that is ``was``; False when it is not."""
    a = campaign_actions.c
    result = connection.execute(
        update(campaign_actions)
        .where(a.action_id == action_id, a.status == was)
        .values(status=status, updated_at_us=at_us, attempts=attempts, reason=reason, proof=proof)
    )
    return result.rowcount == 1
