"""The ledger's moves race safely: one conditional update each, on every store."""

from __future__ import annotations

from sqlalchemy import Engine

from touchline.store import action_ledger as ledger
from touchline.store import campaigns as store

ACTION = "01900000-0000-7000-8000-0000000000a1"


def _requested(engine: Engine) -> None:
    with engine.begin() as connection:
        store.request_actions(
            connection,
            [
                {
                    "action_id": ACTION,
                    "campaign_id": "spring",
                    "customer_id": "c1",
                    "channel": "email",
                    "offer_code": "S",
                    "step": 0,
                    "status": "pending",
                    "requested_at_us": 1,
                    "expires_at_us": None,
                    "updated_at_us": 1,
                }
            ],
        )


def _status(engine: Engine) -> str:
    with engine.connect() as connection:
        row = ledger.load_action(connection, ACTION)
    assert row is not None
    return row.status


def test_an_action_is_taken_once(engine: Engine) -> None:
    """Of two takes the second finds it no longer pending."""
    _requested(engine)
    with engine.begin() as connection:
        assert ledger.take_all(connection, [ACTION], 2) == {ACTION}
        assert not ledger.take_all(connection, [ACTION], 3)
    assert _status(engine) == ledger.DISPATCHING


def test_a_cancel_after_the_take_changes_nothing_and_a_take_after_a_cancel_fails(
    engine: Engine,
) -> None:
    """The synchronizer cancels only what is pending; a dispatcher takes only that."""
    _requested(engine)
    with engine.begin() as connection:
        assert ledger.take_all(connection, [ACTION], 2) == {ACTION}
        store.end_actions(connection, [ACTION], "cancelled", 3)
    assert _status(engine) == ledger.DISPATCHING
    with engine.begin() as connection:
        sent = ledger.Settlement(ACTION, "sent", 1, None, None)
        assert ledger.settle_all(connection, [sent], 4) == 1
        late = ledger.Settlement(ACTION, "failed", 2, "late", None)
        assert ledger.settle_all(connection, [late], 5) == 0
    assert _status(engine) == "sent"


def test_a_cancelled_action_cannot_be_taken(engine: Engine) -> None:
    """Cancelled first: the take finds nothing to take."""
    _requested(engine)
    with engine.begin() as connection:
        store.end_actions(connection, [ACTION], "cancelled", 2)
        assert not ledger.take_all(connection, [ACTION], 3)
    assert _status(engine) == ledger.CANCELLED
