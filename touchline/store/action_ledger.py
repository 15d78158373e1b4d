"""The adapters' side of the action ledger (``campaign_actions``).

The synchronizer requests actions (``pending``) and cancels pending ones;
an adapter takes one (``dispatching``) and settles it with an outcome, or
puts it back (``pending`` again, not to be taken before a time: a transient
failure's backoff, the end of quiet hours), counting its attempts; the
channel's own word on it afterwards (an ESP's ``delivered`` or hard bounce,
which the synchronizer reads) moves it on once more. Each move is one
conditional update, so of a cancel and a take racing for the same pending
row exactly one wins, an action is taken at most once, and a report never
moves a row back.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Connection, and_, bindparam, case, func, or_, select, update

from touchline.store.reads import rows_where_in
from touchline.store.tables import campaign_actions, campaign_states

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
OUT = (DISPATCHING, SENT, DELIVERED)
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
    not_before_us: int | None = None
    """When an action a dispatcher put back may be taken again (None: never put back)."""


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
    _a.routed_to,
    _a.not_before_us,
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
    """Mark those of ``action_ids`` still pending, and due by ``at_us``,
    ``dispatching``: the ids taken (one not pending was cancelled by the
    synchronizer first, or taken by another dispatcher; one put back for a
    later time waits for it, whatever event brought it here)."""
    if not action_ids:
        return set()
    a = campaign_actions.c
    taken = connection.execute(
        update(campaign_actions)
        .where(
            a.action_id.in_(list(action_ids)),
            a.status == PENDING,
            or_(a.not_before_us.is_(None), a.not_before_us <= at_us),
        )
        .values(status=DISPATCHING, updated_at_us=at_us)
        .returning(a.action_id)
    )
    return set(taken.scalars())


@dataclass(frozen=True, slots=True)
class Settlement:
    """An outcome to record: the action, if it is still ``was``, becomes
    ``status``; ``pending`` with ``not_before_us`` puts it back until then."""

    action_id: str
    status: str
    attempts: int
    reason: str | None
    proof: bytes | None
    was: str = DISPATCHING
    not_before_us: int | None = None

    def __post_init__(self) -> None:
        if (self.status == PENDING) != (self.not_before_us is not None):
            raise ValueError("an action put back to pending, and only that, needs a time")


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
            # A final settle keeps the last put-back's time: it says a retry
            # timer may still be set for the action.
            not_before_us=func.coalesce(bindparam("after", type_=BigInteger), a.not_before_us),
        )
    )
    rows = [
        {"id": s.action_id, "was": s.was, "to": s.status, "n": s.attempts, "why": s.reason}
        | {"blob": s.proof, "after": s.not_before_us}
        for s in settlements
    ]
    return connection.execute(statement, rows).rowcount


def put_back(connection: Connection, channel: str) -> tuple[int, int | None]:
    """How many of ``channel``'s actions wait, put back by a dispatcher, and
    the earliest time one of them may be taken again."""
    a = campaign_actions.c
    count, earliest = connection.execute(
        select(func.count(), func.min(a.not_before_us)).where(
            a.channel == channel, a.status == PENDING, a.not_before_us.is_not(None)
        )
    ).one()
    return int(count), None if earliest is None else int(earliest)


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
