"""The adapters' side of the action ledger (``campaign_actions``).

The synchronizer requests actions (``pending``) and cancels pending ones;
an adapter takes one (``dispatching``) and settles it with an outcome. Each
move is one conditional update, so of a cancel and a take racing for the
same pending row exactly one wins, and an action is taken at most once.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, or_, select, update

from touchline.store.tables import campaign_actions, campaign_states

PENDING = "pending"
DISPATCHING = "dispatching"
CANCELLED = "cancelled"
OUT = (DISPATCHING, "sent", "delivered")
"""The statuses of an action that went (or is going) out to its receiver."""


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
    routed_to: str | None = None


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
            a.routed_to,
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


def route_to(connection: Connection, action_id: str, receiver: str) -> None:
    """Record the receiver a ``dispatching`` action goes to, before it is sent."""
    a = campaign_actions.c
    connection.execute(
        update(campaign_actions)
        .where(a.action_id == action_id, a.status == DISPATCHING)
        .values(routed_to=receiver)
    )


def open_by_receiver(
    connection: Connection,
    channel: str,
    *,
    since_us: int,
    ended: Collection[str],
    leaving_out: str,
) -> dict[str, int]:
    """Per receiver, the ``channel`` actions routed to it since ``since_us``
    that went out and whose campaign is still open for the customer (its
    state not one of ``ended``), ``leaving_out`` one action (the one routed now)."""
    a, s = campaign_actions.c, campaign_states.c
    pair = and_(s.campaign_id == a.campaign_id, s.customer_id == a.customer_id)
    rows = connection.execute(
        select(a.routed_to, func.count())
        .select_from(campaign_actions.outerjoin(campaign_states, pair))
        .where(
            a.channel == channel,
            a.routed_to.is_not(None),
            a.status.in_(OUT),
            a.updated_at_us >= since_us,
            a.action_id != leaving_out,
            or_(s.state.is_(None), s.state.not_in(list(ended))),
        )
        .group_by(a.routed_to)
    )
    return {str(receiver): int(count) for receiver, count in rows}
