"""The adapters' side of the action ledger (``campaign_actions``).

The synchronizer requests actions (``pending``) and cancels pending ones;
an adapter takes one (``dispatching``) and settles it with an outcome; the
channel's own word on it afterwards (an ESP's ``delivered`` or hard bounce,
which the synchronizer reads) moves it on once more. Each move is one
conditional update, so of a cancel and a take racing for the same pending
row exactly one wins, an action is taken at most once, and a report never
moves a row back.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, case, select, update

from touchline.store.tables import campaign_actions

PENDING = "pending"
DISPATCHING = "dispatching"
CANCELLED = "cancelled"
SENT = "sent"
DELIVERED = "delivered"
FAILED = "failed"
UNKNOWN = "unknown"

REPORTED_FROM: dict[str, tuple[str, ...]] = {
    DELIVERED: (DISPATCHING, SENT, UNKNOWN),
    FAILED: (DISPATCHING, SENT, UNKNOWN, DELIVERED),
}
"""The statuses the channel's report moves a row on from: forward only.
``dispatching``: the report outran the dispatcher's own settle (which then
adds its attempts and proof, :func:`fill_in`); ``unknown``: a crash left it
in flight, and the channel says it went out after all; ``delivered`` then a
hard bounce: the receiving server bounced it after taking it. Never from
``pending`` (nothing went out), nor from ``cancelled``, ``suppressed`` or a
dispatcher's ``failed`` (nothing did either), nor back from ``failed``."""


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


def report(
    connection: Connection, action_id: str, *, status: str, reason: str | None, at_us: int
) -> bool:
    """The channel's word that the action was ``delivered`` or ``failed``
    (:data:`REPORTED_FROM`); False when the row is not where that moves from
    (already there, further on, never sent, or not ours). Its time never
    goes back, whatever the channel's clock said."""
    a = campaign_actions.c
    result = connection.execute(
        update(campaign_actions)
        .where(a.action_id == action_id, a.status.in_(REPORTED_FROM[status]))
        .values(
            status=status,
            reason=reason,
            updated_at_us=case((a.updated_at_us > at_us, a.updated_at_us), else_=at_us),
        )
    )
    return result.rowcount == 1


def fill_in(connection: Connection, action_id: str, *, attempts: int, proof: bytes | None) -> bool:
    """A row the channel's report settled while its dispatcher was still
    sending: the dispatcher's attempts and consent proof join it, its
    status and reason stay the channel's."""
    a = campaign_actions.c
    result = connection.execute(
        update(campaign_actions)
        .where(
            a.action_id == action_id,
            a.status.in_(tuple(REPORTED_FROM)),
            a.proof.is_(None),
        )
        .values(attempts=attempts, proof=proof)
    )
    return result.rowcount == 1
