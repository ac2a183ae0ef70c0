"""Applying events in batches: one transaction for many events, each isolated by a savepoint."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from desktop.storage.models import AccountSource, Invoice, Subscription, WebhookEvent
from desktop.webhooks import applier as applier_module
from desktop.webhooks.applier import EventApplier
from desktop.webhooks.apply import apply_event
from desktop.webhooks.store import Incoming, write_events
from desktop.webhooks.turns import WriteTurns
from tests.unit.webhooks.webhook_seed import (
    CUSTOMER_ID,
    INVOICE_ID,
    SUBSCRIPTION_ID,
    Seeded,
    clock,
    event_body,
)


def _store(seeded: Seeded, event_id: str, event_type: str, data: dict[str, Any], when: str) -> None:
    body = event_body(event_id, event_type, data, event_time=when)
    write_events(
        seeded.database,
        [Incoming(seeded.connection_id, None, body.decode(), event_id=event_id)],
        clock,
    )


def _subscription(seeded: Seeded, event_id: str, status: str, when: str) -> None:
    data = {"subscription": {"subscription_id": SUBSCRIPTION_ID, "status": status}}
    _store(seeded, event_id, "subscription_renewed", data, when)


def _invoice(seeded: Seeded, event_id: str, status: str, balance: float, when: str) -> None:
    data = {"invoice": {"invoice_id": INVOICE_ID, "status": status, "balance": balance}}
    _store(seeded, event_id, "invoice_updated", data, when)


def _rows(seeded: Seeded) -> dict[str, WebhookEvent]:
    with seeded.database.session() as session:
        return {str(r.event_id): r for r in session.scalars(select(WebhookEvent))}


def _subscription_status(seeded: Seeded) -> str:
    with seeded.database.session() as session:
        return session.scalars(select(Subscription.status)).one()


def _commits(seeded: Seeded) -> list[int]:
    """Counts the workspace's commits from now on (one item per commit)."""
    commits: list[int] = []
    event.listen(seeded.database.engine, "commit", lambda _conn: commits.append(1))
    return commits


def test_a_batch_applies_many_events_in_one_transaction_in_order(seeded: Seeded) -> None:
    for k, status in enumerate(["unpaid", "live", "non_renewing", "unpaid"]):
        _subscription(seeded, f"s{k}", status, f"2024-03-10T10:0{k}:00+0000")
    _invoice(seeded, "i0", "partially_paid", 40.0, "2024-03-10T10:05:00+0000")
    commits = _commits(seeded)
    outcomes = EventApplier(seeded.database, clock).apply_batch()
    assert len(commits) == 1
    assert [o.status for o in outcomes] == ["applied"] * 5
    rows = _rows(seeded)
    assert all(r.status == "applied" and r.attempts == 1 for r in rows.values())
    assert _subscription_status(seeded) == "unpaid"  # the last of the four, applied in order
    with seeded.database.session() as session:
        invoice = session.scalars(select(Invoice)).one()
    assert invoice.amount_due_minor == 4000


def test_a_late_event_in_the_same_batch_is_ignored_with_its_reason(seeded: Seeded) -> None:
    _subscription(seeded, "newer", "unpaid", "2024-03-10T11:00:00+0000")
    _subscription(seeded, "older", "live", "2024-03-10T09:00:00+0000")
    outcomes = EventApplier(seeded.database, clock).apply_batch()
    assert [o.status for o in outcomes] == ["applied", "ignored"]
    assert outcomes[1].reason is not None
    assert "newer in the workspace" in outcomes[1].reason
    assert _subscription_status(seeded) == "unpaid"


def test_a_failing_event_rolls_back_alone_and_its_neighbours_stay_applied(
    seeded: Seeded,
) -> None:
    _subscription(seeded, "before", "unpaid", "2024-03-10T10:00:00+0000")
    # writes the customer's new e-mail first, then fails on the subscription's status
    _store(
        seeded,
        "bad",
        "subscription_updated",
        {
            "customer": {"customer_id": CUSTOMER_ID, "email": "new@harbor.example"},
            "subscription": {"subscription_id": SUBSCRIPTION_ID, "status": "zombie"},
        },
        "2024-03-10T10:01:00+0000",
    )
    _invoice(seeded, "after", "partially_paid", 40.0, "2024-03-10T10:02:00+0000")
    commits = _commits(seeded)
    outcomes = EventApplier(seeded.database, clock).apply_batch()
    assert len(commits) == 1
    assert [o.status for o in outcomes] == ["applied", "failed", "applied"]
    rows = _rows(seeded)
    assert rows["bad"].status == "failed"
    assert rows["bad"].reason is not None
    assert "unknown status (zombie)" in rows["bad"].reason
    assert rows["bad"].changes == {}
    assert [rows[k].attempts for k in ("before", "bad", "after")] == [1, 1, 1]
    with seeded.database.session() as session:
        email = session.scalars(select(AccountSource.email)).one()
        invoice = session.scalars(select(Invoice)).one()
    assert email == "lena@harbor.example"  # the failed event's first write was undone
    assert _subscription_status(seeded) == "unpaid"
    assert invoice.amount_due_minor == 4000


def test_an_unexpected_error_fails_only_its_event(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = apply_event

    def flaky(session: Any, connection: Any, parsed: Any, now: Any, writer: Any = None) -> Any:
        changes = real(session, connection, parsed, now, writer)
        if parsed.event_id == "boom":
            raise RuntimeError("disk on fire")
        return changes

    monkeypatch.setattr(applier_module, "apply_event", flaky)
    _subscription(seeded, "ok1", "unpaid", "2024-03-10T10:00:00+0000")
    _subscription(seeded, "boom", "live", "2024-03-10T10:01:00+0000")
    _invoice(seeded, "ok2", "partially_paid", 40.0, "2024-03-10T10:02:00+0000")
    outcomes = EventApplier(seeded.database, clock).apply_batch()
    assert [o.status for o in outcomes] == ["applied", "failed", "applied"]
    assert outcomes[1].reason is not None
    assert "failed unexpectedly (RuntimeError)" in outcomes[1].reason
    assert "disk on fire" not in outcomes[1].reason
    assert _subscription_status(seeded) == "unpaid"  # "boom" wrote live, rolled back


def test_a_batch_that_cannot_commit_is_applied_event_by_event(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in range(3):
        _subscription(seeded, f"e{k}", "unpaid", f"2024-03-10T10:0{k}:00+0000")

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("COMMIT", {}, Exception("deadlock detected"))

    monkeypatch.setattr(EventApplier, "_apply_batch", refused)
    outcomes = EventApplier(seeded.database, clock).apply_batch()
    assert [o.status for o in outcomes] == ["applied"] * 3
    assert all(r.attempts == 1 for r in _rows(seeded).values())


def test_a_repeated_event_id_is_not_applied_again(seeded: Seeded) -> None:
    _subscription(seeded, "once", "unpaid", "2024-03-10T10:00:00+0000")
    applier = EventApplier(seeded.database, clock)
    assert [o.status for o in applier.apply_pending()] == ["applied"]
    _subscription(seeded, "once", "unpaid", "2024-03-10T10:00:00+0000")  # redelivered
    assert applier.apply_pending() == []
    row = _rows(seeded)["once"]
    assert (row.status, row.attempts, row.deliveries) == ("applied", 1, 2)


def test_small_batches_from_several_appliers_apply_each_event_once(seeded: Seeded) -> None:
    for k in range(30):
        _subscription(
            seeded, f"c{k:02d}", "unpaid" if k % 2 else "live", f"2024-03-10T10:{k:02d}:00+0000"
        )
    appliers = [EventApplier(seeded.database, clock, batch=3) for _ in range(3)]
    threads = [threading.Thread(target=applier.apply_pending) for applier in appliers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = _rows(seeded)
    assert len(rows) == 30
    assert {(r.status, r.attempts) for r in rows.values()} == {("applied", 1)}


def test_a_batch_gives_way_when_the_receiver_waits_to_store(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k in range(4):
        _subscription(seeded, f"g{k}", "unpaid", f"2024-03-10T10:0{k}:00+0000")
    turns = WriteTurns(enabled=True)
    monkeypatch.setattr(turns, "urgent_waiting", lambda: True)
    applier = EventApplier(seeded.database, clock, turns=turns)
    assert [o.status for o in applier.apply_batch()] == ["applied"]  # one, then it commits
    statuses = sorted(r.status for r in _rows(seeded).values())
    assert statuses == ["applied", "received", "received", "received"]


def test_alerts_run_once_for_a_run_of_batches(seeded: Seeded) -> None:
    for k in range(7):
        _subscription(seeded, f"a{k}", "unpaid", f"2024-03-10T10:0{k}:00+0000")
    calls: list[int] = []
    outcomes = EventApplier(
        seeded.database, clock, batch=2, after_apply=lambda: calls.append(1)
    ).apply_pending()
    assert len(outcomes) == 7
    assert calls == [1]
