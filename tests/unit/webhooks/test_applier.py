"""Exactly-once application, failures recorded whole, replay, and the group-commit writer."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop.errors import BillbridgeError, NotFoundError
from desktop.storage.models import Subscription, WebhookEvent
from desktop.webhooks.applier import EventApplier
from desktop.webhooks.store import EventWriter, Incoming, write_events
from tests.unit.webhooks.webhook_seed import SUBSCRIPTION_ID, Seeded, clock, event_body

ROOT = Path(__file__).resolve().parents[3]


def _incoming(seeded: Seeded, event_id: str, status: str = "live") -> Incoming:
    body = event_body(
        event_id,
        "subscription_renewed",
        {"subscription": {"subscription_id": SUBSCRIPTION_ID, "status": status}},
    )
    return Incoming(seeded.connection_id, None, body.decode(), event_id=event_id)


def _events(seeded: Seeded) -> list[WebhookEvent]:
    with seeded.database.session() as session:
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def test_duplicates_in_one_batch_and_across_batches_store_one_row(seeded: Seeded) -> None:
    first = write_events(
        seeded.database,
        [_incoming(seeded, "a"), _incoming(seeded, "a"), _incoming(seeded, "b")],
        clock,
    )
    assert [r.duplicate for r in first] == [False, True, False]
    assert first[0].id == first[1].id
    again = write_events(seeded.database, [_incoming(seeded, "a")], clock)
    assert again[0].duplicate
    assert again[0].id == first[0].id
    rows = _events(seeded)
    assert [(r.event_id, r.deliveries) for r in rows] == [("a", 3), ("b", 1)]


def test_writer_thread_answers_each_caller_after_commit(seeded: Seeded) -> None:
    woken = threading.Event()
    writer = EventWriter(seeded.database, clock, on_stored=woken.set)
    writer.start()
    try:
        results = []
        threads = [
            threading.Thread(
                target=lambda k=k: results.append(writer.store(_incoming(seeded, f"t{k % 5}")))
            )
            for k in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        writer.stop()
    assert len(results) == 20
    assert sum(not r.duplicate for r in results) == 5
    assert woken.is_set()
    assert sorted(r.deliveries for r in _events(seeded)) == [4, 4, 4, 4, 4]


def test_an_event_is_applied_once_however_often_it_is_asked(seeded: Seeded) -> None:
    write_events(seeded.database, [_incoming(seeded, "once")], clock)
    applier = EventApplier(seeded.database, clock)
    assert [o.status for o in applier.apply_pending()] == ["applied"]
    assert applier.apply_pending() == []
    (row,) = _events(seeded)
    assert skipped_status(applier, row.id) == "skipped"
    assert _events(seeded)[0].attempts == 1


def skipped_status(applier: EventApplier, event_row_id: int) -> str:
    return applier.apply_one(event_row_id).status


def test_concurrent_appliers_never_apply_an_event_twice(seeded: Seeded) -> None:
    write_events(seeded.database, [_incoming(seeded, f"c{k}") for k in range(40)], clock)
    calls: list[int] = []
    appliers = [
        EventApplier(seeded.database, clock, after_apply=lambda: calls.append(1)) for _ in range(3)
    ]
    threads = [threading.Thread(target=applier.apply_pending) for applier in appliers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = _events(seeded)
    assert {r.status for r in rows} == {"applied"}
    assert [r.attempts for r in rows] == [1] * 40
    assert 1 <= len(calls) <= 3  # alerts run once per applier run, not once per event


def test_two_processes_on_one_database_apply_each_event_once(seeded: Seeded) -> None:
    write_events(seeded.database, [_incoming(seeded, f"p{k}") for k in range(60)], clock)
    url = seeded.database.url.render_as_string(hide_password=False)
    script = (
        "import sys\n"
        "from desktop.storage.database import open_database\n"
        "from desktop.webhooks.applier import EventApplier\n"
        "from desktop.timeutil import utc_now\n"
        "db = open_database(sys.argv[1])\n"
        "outcomes = EventApplier(db, utc_now, batch=5).apply_pending()\n"
        "print(sum(o.status == 'applied' for o in outcomes))\n"
        "db.close()\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    applied = 0
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        applied += int(out.strip())
    rows = _events(seeded)
    assert applied == 60
    assert all(r.status == "applied" and r.attempts == 1 for r in rows)


def test_failure_is_recorded_then_replayed_after_the_cause_is_fixed(seeded: Seeded) -> None:
    write_events(seeded.database, [_incoming(seeded, "z", status="zombie")], clock)
    applier = EventApplier(seeded.database, clock)
    (outcome,) = applier.apply_pending()
    assert outcome.status == "failed"
    with seeded.database.transaction() as session:
        event = session.scalars(select(WebhookEvent)).one()
        event.body = event.body.replace("zombie", "cancelled")  # as if a newer build knew it
    replayed = applier.replay(outcome.id)
    assert replayed.status == "applied"
    (row,) = _events(seeded)
    assert (row.status, row.reason, row.attempts) == ("applied", None, 2)
    with seeded.database.session() as session:
        sub = session.scalars(select(Subscription)).one()
    assert sub.status == "cancelled"


def test_replay_of_an_applied_event_applies_it_again(seeded: Seeded) -> None:
    write_events(seeded.database, [_incoming(seeded, "r")], clock)
    applier = EventApplier(seeded.database, clock)
    (outcome,) = applier.apply_pending()
    assert applier.replay(outcome.id).status == "applied"
    assert _events(seeded)[0].attempts == 2


def test_replay_of_a_rejected_body_rejects_it_again(seeded: Seeded) -> None:
    (stored,) = write_events(
        seeded.database,
        [Incoming(seeded.connection_id, None, "{nope", status="rejected", reason="bad")],
        clock,
    )
    outcome = EventApplier(seeded.database, clock).replay(stored.id)
    assert outcome.status == "rejected"
    assert outcome.reason is not None
    assert "not valid JSON" in outcome.reason


def test_replay_refuses_unknown_and_waiting_events(seeded: Seeded) -> None:
    applier = EventApplier(seeded.database, clock)
    with pytest.raises(NotFoundError):
        applier.replay(999)
    (stored,) = write_events(seeded.database, [_incoming(seeded, "w")], clock)
    with pytest.raises(BillbridgeError, match="waiting to be applied"):
        applier.replay(stored.id)


def test_alert_hook_failure_does_not_stop_events(seeded: Seeded) -> None:
    def broken() -> None:
        raise RuntimeError("health core down")

    write_events(seeded.database, [_incoming(seeded, "h")], clock)
    outcomes = EventApplier(seeded.database, clock, after_apply=broken).apply_pending()
    assert [o.status for o in outcomes] == ["applied"]


def test_background_applier_applies_on_wake(seeded: Seeded) -> None:
    applied = threading.Event()
    applier = EventApplier(seeded.database, clock, after_apply=applied.set, poll_seconds=30)
    applier.start()
    try:
        write_events(seeded.database, [_incoming(seeded, "bg")], clock)
        applier.wake()
        assert applied.wait(10)
    finally:
        applier.stop()
    assert _events(seeded)[0].status == "applied"


def test_event_of_a_disabled_connection_fails_with_the_fix(seeded: Seeded) -> None:
    from desktop.storage.models import Connection

    with seeded.database.transaction() as session:
        connection = session.get(Connection, seeded.connection_id)
        assert connection is not None
        connection.status = "disabled"
    write_events(seeded.database, [_incoming(seeded, "off")], clock)
    (outcome,) = EventApplier(seeded.database, clock).apply_pending()
    assert outcome.status == "failed"
    assert outcome.reason == (
        "The connection Acme Zoho is disabled; enable it and replay the event."
    )
