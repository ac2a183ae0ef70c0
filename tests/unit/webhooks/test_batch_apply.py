"""Applying events in batches: one transaction for many events, each isolated by a savepoint."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from desktop.storage.models import AccountSource, Invoice, Subscription, User, WebhookEvent
from desktop.sync import zoho_normalise
from desktop.webhooks.applier import BUSY_BATCH, EventApplier
from desktop.webhooks.grouped import Group, GroupWriteMismatch
from desktop.webhooks.store import Incoming, write_events
from desktop.webhooks.turns import BURST_REST, WriteTurns
from tests.unit.webhooks.webhook_seed import (
    CUSTOMER_ID,
    INVOICE_ID,
    INVOICE_RAW,
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


@pytest.fixture(params=[True, False], ids=["grouped", "one-by-one"])
def grouped(request: pytest.FixtureRequest) -> bool:
    """Whether runs of updates are written per stream (the default) or event by event."""
    return bool(request.param)


def _commits(seeded: Seeded) -> list[int]:
    """Counts the workspace's commits from now on (one item per commit)."""
    commits: list[int] = []
    event.listen(seeded.database.engine, "commit", lambda _conn: commits.append(1))
    return commits


def test_a_batch_applies_many_events_in_one_transaction_in_order(
    seeded: Seeded, grouped: bool
) -> None:
    for k, status in enumerate(["unpaid", "live", "non_renewing", "unpaid"]):
        _subscription(seeded, f"s{k}", status, f"2024-03-10T10:0{k}:00+0000")
    _invoice(seeded, "i0", "partially_paid", 40.0, "2024-03-10T10:05:00+0000")
    commits = _commits(seeded)
    outcomes = EventApplier(seeded.database, clock, grouped=grouped).apply_batch()
    assert len(commits) == 1
    assert [o.status for o in outcomes] == ["applied"] * 5
    rows = _rows(seeded)
    assert all(r.status == "applied" and r.attempts == 1 for r in rows.values())
    assert _subscription_status(seeded) == "unpaid"  # the last of the four, applied in order
    with seeded.database.session() as session:
        invoice = session.scalars(select(Invoice)).one()
    assert invoice.amount_due_minor == 4000


def test_a_late_event_in_the_same_batch_is_ignored_with_its_reason(
    seeded: Seeded, grouped: bool
) -> None:
    _subscription(seeded, "newer", "unpaid", "2024-03-10T11:00:00+0000")
    _subscription(seeded, "older", "live", "2024-03-10T09:00:00+0000")
    outcomes = EventApplier(seeded.database, clock, grouped=grouped).apply_batch()
    assert [o.status for o in outcomes] == ["applied", "ignored"]
    assert outcomes[1].reason is not None
    assert "newer in the workspace" in outcomes[1].reason
    assert _subscription_status(seeded) == "unpaid"
    rows = _rows(seeded)
    assert (rows["older"].status, rows["older"].reason) == ("ignored", outcomes[1].reason)


def test_a_failing_event_rolls_back_alone_and_its_neighbours_stay_applied(
    seeded: Seeded, grouped: bool
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
    outcomes = EventApplier(seeded.database, clock, grouped=grouped).apply_batch()
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
    seeded: Seeded, grouped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = zoho_normalise.subscription_record

    def flaky(payload: Any, currency: str | None = None) -> Any:
        if isinstance(payload, dict) and payload.get("status") == "trial":
            raise RuntimeError("disk on fire")
        return real(payload, currency)

    monkeypatch.setattr(zoho_normalise, "subscription_record", flaky)
    _subscription(seeded, "ok1", "unpaid", "2024-03-10T10:00:00+0000")
    _subscription(seeded, "boom", "trial", "2024-03-10T10:01:00+0000")
    _invoice(seeded, "ok2", "partially_paid", 40.0, "2024-03-10T10:02:00+0000")
    outcomes = EventApplier(seeded.database, clock, grouped=grouped).apply_batch()
    assert [o.status for o in outcomes] == ["applied", "failed", "applied"]
    assert outcomes[1].reason is not None
    assert "failed unexpectedly (RuntimeError)" in outcomes[1].reason
    assert "disk on fire" not in outcomes[1].reason
    assert _subscription_status(seeded) == "unpaid"
    with seeded.database.session() as session:
        invoice = session.scalars(select(Invoice)).one()
    assert invoice.amount_due_minor == 4000


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


def test_two_payments_on_one_invoice_in_a_batch_both_count(seeded: Seeded, grouped: bool) -> None:
    for k, amount in enumerate([50.0, 40.0]):
        payment = {
            "payment_id": f"P{k}",
            "date": "2024-03-10",
            "invoices": [{"invoice_id": INVOICE_ID, "amount_applied": amount}],
        }
        _store(
            seeded, f"p{k}", "payment_thankyou", {"payment": payment}, f"2024-03-10T10:0{k}:00+0000"
        )
    outcomes = EventApplier(seeded.database, clock, grouped=grouped).apply_batch()
    assert [o.status for o in outcomes] == ["applied", "applied"]
    with seeded.database.session() as session:
        invoice = session.scalars(select(Invoice)).one()
    assert (invoice.amount_due_minor, invoice.status) == (0, "paid")  # 90 - 50 - 40


def _statements(seeded: Seeded) -> list[int]:
    """Counts the statements sent to the workspace from now on."""
    sent: list[int] = []
    event.listen(seeded.database.engine, "before_cursor_execute", lambda *_args: sent.append(1))
    return sent


def test_a_run_of_updates_is_written_with_one_write_per_stream(seeded: Seeded) -> None:
    for k in range(20):
        _subscription(
            seeded, f"u{k:02d}", "unpaid" if k % 2 else "live", f"2024-03-10T10:{k:02d}:00+0000"
        )
        _invoice(seeded, f"v{k:02d}", "partially_paid", 80.0 - k, f"2024-03-10T10:{k:02d}:30+0000")
    sent = _statements(seeded)
    outcomes = EventApplier(seeded.database, clock).apply_batch()
    assert [o.status for o in outcomes] == ["applied"] * 40
    assert len(sent) < 30  # event by event this takes hundreds of statements
    assert _subscription_status(seeded) == "unpaid"
    with seeded.database.session() as session:
        invoice = session.scalars(select(Invoice)).one()
        rows = list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))
    assert invoice.amount_due_minor == 6100
    assert {(r.status, r.attempts) for r in rows} == {("applied", 1)}
    assert rows[0].changes == {"subscriptions": [f"updated {SUBSCRIPTION_ID} (active)"]}
    assert rows[0].event_type == "subscription_renewed"
    assert rows[0].event_time is not None


def test_an_event_that_needs_its_own_path_keeps_the_order(seeded: Seeded) -> None:
    _subscription(seeded, "first", "unpaid", "2024-03-10T10:00:00+0000")
    _store(
        seeded,
        "middle",
        "subscription_upgraded",
        {
            "subscription": {
                "subscription_id": SUBSCRIPTION_ID,
                "status": "live",
                "plan": {"plan_code": "business", "name": "Business"},
            },
            # a new invoice: creating a record takes the event's own savepoint
            "invoice": {**INVOICE_RAW, "invoice_id": "NEW1", "invoice_number": "INV-9"},
        },
        "2024-03-10T10:01:00+0000",
    )
    _subscription(seeded, "last", "non_renewing", "2024-03-10T10:02:00+0000")
    outcomes = EventApplier(seeded.database, clock).apply_batch()
    assert [o.status for o in outcomes] == ["applied"] * 3
    with seeded.database.session() as session:
        sub = session.scalars(select(Subscription)).one()
        numbers = sorted(n or "" for n in session.scalars(select(Invoice.number)))
    # "last" merged over what "middle" wrote, not over what the group had read before it
    assert (sub.status, sub.plan_name) == ("non_renewing", "Business")
    assert numbers == ["INV-000211", "INV-9"]
    assert _rows(seeded)["middle"].changes["invoices"] == ["created NEW1 (open)"]


def test_customer_updates_are_grouped_with_their_primary_contact(seeded: Seeded) -> None:
    for k in range(10):
        _store(
            seeded,
            f"cu{k}",
            "subscription_unpaid",
            {
                "customer": {"customer_id": CUSTOMER_ID, "email": f"billing{k}@harbor.example"},
                "subscription": {"subscription_id": SUBSCRIPTION_ID, "status": "unpaid"},
            },
            f"2024-03-10T10:0{k}:00+0000",
        )
    sent = _statements(seeded)
    outcomes = EventApplier(seeded.database, clock).apply_batch()
    assert [o.status for o in outcomes] == ["applied"] * 10
    assert len(sent) < 30
    with seeded.database.session() as session:
        source_email = session.scalars(select(AccountSource.email)).one()
        user_email = session.scalars(select(User.email)).one()
        first = session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)).first()
    assert source_email == user_email == "billing9@harbor.example"
    assert first is not None
    assert set(first.changes) == {"accounts", "users", "subscriptions"}


def test_a_group_whose_write_goes_wrong_is_applied_event_by_event(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mismatch(_self: Group, _session: Any) -> Any:
        raise GroupWriteMismatch

    monkeypatch.setattr(Group, "write", mismatch)
    for k in range(3):
        _subscription(seeded, f"m{k}", "unpaid", f"2024-03-10T10:0{k}:00+0000")
    commits = _commits(seeded)
    outcomes = EventApplier(seeded.database, clock).apply_batch()
    assert len(commits) == 1
    assert [o.status for o in outcomes] == ["applied"] * 3
    assert {(r.status, r.attempts) for r in _rows(seeded).values()} == {("applied", 1)}


def test_an_event_is_committed_to_disk_before_it_is_acknowledged(seeded: Seeded) -> None:
    sent: list[str] = []
    event.listen(
        seeded.database.engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_args: sent.append(" ".join(statement.split()[:3])),
    )
    _subscription(seeded, "disk", "unpaid", "2024-03-10T10:00:00+0000")
    assert "INSERT INTO webhook_events" in sent
    if seeded.database.dialect == "sqlite":  # WAL with synchronous=NORMAL is not enough
        assert sent[0] == "PRAGMA synchronous=FULL"
        assert sent[-1] == "PRAGMA synchronous=NORMAL"
        with seeded.database.engine.connect() as connection:
            level = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        assert level == 1  # pooled connections are back to NORMAL afterwards


def test_the_applier_rests_while_events_arrive_on_any_database() -> None:
    waits: list[float | None] = []

    class Stop:
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            return False

    turns = WriteTurns(enabled=False)  # PostgreSQL: no turns at the lock, but pacing
    turns.pace(0.01, Stop())
    assert waits == []  # nothing stored lately: full speed
    with turns.urgent():
        pass
    turns.pace(0.01, Stop())
    assert waits == [BURST_REST]


def test_batches_are_short_while_events_arrive(seeded: Seeded) -> None:
    for k in range(25):
        _subscription(seeded, f"b{k:02d}", "unpaid", f"2024-03-10T10:{k:02d}:00+0000")
    turns = WriteTurns(enabled=seeded.database.dialect == "sqlite", busy_window=600.0)
    with turns.urgent():  # the receiver just stored something
        pass
    assert len(EventApplier(seeded.database, clock, turns=turns).apply_batch()) == BUSY_BATCH
