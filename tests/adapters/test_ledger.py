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


def _row(engine: Engine) -> ledger.ActionRow:
    with engine.connect() as connection:
        row = ledger.load_action(connection, ACTION)
    assert row is not None
    return row


def _sent(engine: Engine) -> None:
    _requested(engine)
    with engine.begin() as connection:
        assert ledger.take_all(connection, [ACTION], 2) == {ACTION}
        sent = ledger.Settlement(ACTION, "sent", 1, None, b"p")
        assert ledger.settle_all(connection, [sent], 3) == 1


def _report(engine: Engine, status: str, at_us: int, reason: str | None = None) -> bool:
    with engine.begin() as connection:
        return ledger.report(connection, ACTION, status=status, reason=reason, at_us=at_us)


def test_the_channels_report_moves_a_sent_action_forward_only(engine: Engine) -> None:
    """sent -> delivered -> failed (a bounce after delivery); a repeat, or a
    delivered after the bounce, moves nothing; the row's time never goes back."""
    _sent(engine)
    assert _report(engine, ledger.DELIVERED, 10)
    assert not _report(engine, ledger.DELIVERED, 11)
    assert (_row(engine).status, _row(engine).updated_at_us) == ("delivered", 10)
    assert _report(engine, ledger.FAILED, 5, "hard bounce: 550 no such user")
    assert not _report(engine, ledger.DELIVERED, 12)
    failed = _row(engine)
    assert (failed.status, failed.reason, failed.updated_at_us) == (
        "failed",
        "hard bounce: 550 no such user",
        10,
    )
    assert (failed.attempts, failed.proof) == (1, b"p")  # the dispatcher's, kept


def test_a_report_never_moves_an_action_that_did_not_go_out(engine: Engine) -> None:
    """Pending, cancelled and suppressed actions stay as they are."""
    _requested(engine)
    assert not _report(engine, ledger.DELIVERED, 10)
    assert _status(engine) == ledger.PENDING
    with engine.begin() as connection:
        store.end_actions(connection, [ACTION], "cancelled", 2)
    assert not _report(engine, ledger.FAILED, 10, "hard bounce")
    assert not _report(engine, ledger.DELIVERED, 10)
    assert _status(engine) == ledger.CANCELLED


def test_a_report_that_outruns_the_dispatchers_settle_keeps_its_word_and_gains_the_proof(
    engine: Engine,
) -> None:
    """Delivered while still dispatching: the dispatcher's settle finds it moved,
    and its attempts and proof join the channel's status."""
    _requested(engine)
    with engine.begin() as connection:
        assert ledger.take_all(connection, [ACTION], 2) == {ACTION}
    assert _report(engine, ledger.DELIVERED, 10)
    with engine.begin() as connection:
        sent = ledger.Settlement(ACTION, "sent", 2, None, b"p")
        assert ledger.settle_all(connection, [sent], 3) == 0
        assert ledger.fill_in(connection, ACTION, attempts=2, proof=b"p")
        assert not ledger.fill_in(connection, ACTION, attempts=3, proof=b"q")
    row = _row(engine)
    assert (row.status, row.attempts, row.proof) == ("delivered", 2, b"p")
