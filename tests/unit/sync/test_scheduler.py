"""The billing scheduler: 00:00 UTC daily runs, one-time imports, retries (injected clock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from desktop.jobs import CancelToken
from desktop.sandbox.facade import Sandbox
from desktop.secrets import KeyringSecretStore
from desktop.serve.schedules import billing_schedule
from desktop.storage import models
from desktop.storage.database import Database, open_database
from desktop.sync.scheduler import DueRun, SyncScheduler, last_midnight
from tests.unit.sync.engine_support import add_chargebee, fast_engine

ADDED = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Database]:
    """The scheduler's rules do not depend on the backend: one test runs on both."""
    db = open_database(sqlite_url)
    yield db
    db.close()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(size=40, seed=5) as sb:
        yield sb


def _add(database: Database, sandbox: Sandbox, name: str, **settings: Any) -> None:
    add_chargebee(database, sandbox, name=name, **settings)
    with database.transaction() as session:
        session.execute(
            update(models.Connection).where(models.Connection.name == name).values(created_at=ADDED)
        )


def _scheduler(database: Database, sandbox: Sandbox, clock: Clock) -> SyncScheduler:
    engine = fast_engine(database, sandbox, clock=clock)
    return SyncScheduler(database, KeyringSecretStore(), clock, engine=engine)


def _runs(database: Database, name: str) -> list[models.SyncRun]:
    with database.session() as session:
        return list(
            session.scalars(
                select(models.SyncRun)
                .join(models.Connection, models.Connection.id == models.SyncRun.connection_id)
                .where(models.Connection.name == name)
                .order_by(models.SyncRun.id)
            )
        )


def test_daily_runs_at_midnight_utc_and_not_again_that_day(
    database: Database, sandbox: Sandbox
) -> None:
    _add(database, sandbox, "Acme")
    clock = Clock(ADDED + timedelta(minutes=1))
    scheduler = _scheduler(database, sandbox, clock)
    assert scheduler.due() == []
    midnight = datetime(2025, 3, 2, tzinfo=UTC)
    assert scheduler.next_run_at("Acme") == midnight

    clock.now = midnight + timedelta(seconds=30)
    assert scheduler.due() == [DueRun("Acme", "daily")]
    outcomes = scheduler.run_due()
    assert [o.summary.status for o in outcomes if o.summary] == ["succeeded"]
    (run,) = _runs(database, "Acme")
    assert (run.trigger, run.started_at) == ("scheduled", clock.now)

    clock.now = midnight + timedelta(hours=23, minutes=59)
    assert scheduler.run_due() == []
    assert scheduler.next_run_at("Acme") == midnight + timedelta(days=1)
    clock.now = midnight + timedelta(days=1)
    assert [o.name for o in scheduler.run_due()] == ["Acme"]


def test_a_manual_run_does_not_replace_the_nightly_one(
    sqlite_db: Database, sandbox: Sandbox
) -> None:
    _add(sqlite_db, sandbox, "Acme")
    clock = Clock(datetime(2025, 3, 1, 23, 50, tzinfo=UTC))
    scheduler = _scheduler(sqlite_db, sandbox, clock)
    scheduler.engine().run("Acme", trigger="manual")
    clock.now = datetime(2025, 3, 2, 0, 1, tzinfo=UTC)
    assert scheduler.due() == [DueRun("Acme", "daily")]


def test_missed_midnights_are_caught_up_once(sqlite_db: Database, sandbox: Sandbox) -> None:
    _add(sqlite_db, sandbox, "Acme")
    clock = Clock(datetime(2025, 3, 5, 9, 30, tzinfo=UTC))  # closed for four nights
    scheduler = _scheduler(sqlite_db, sandbox, clock)
    assert len(scheduler.run_due()) == 1
    clock.now += timedelta(minutes=1)
    assert scheduler.run_due() == []
    assert scheduler.next_run_at("Acme") == datetime(2025, 3, 6, tzinfo=UTC)


def test_import_only_runs_once_and_never_again(sqlite_db: Database, sandbox: Sandbox) -> None:
    _add(sqlite_db, sandbox, "Once", mode="import-only")
    clock = Clock(ADDED + timedelta(minutes=1))
    scheduler = _scheduler(sqlite_db, sandbox, clock)
    assert scheduler.due() == [DueRun("Once", "import")]
    assert scheduler.run_due()[0].summary is not None
    for later in (timedelta(minutes=1), timedelta(days=1), timedelta(days=30)):
        clock.now = ADDED + later
        assert scheduler.due() == []
    assert scheduler.next_run_at("Once") is None


def test_paused_disabled_and_crm_connections_never_run(
    sqlite_db: Database, sandbox: Sandbox
) -> None:
    for name in ("Paused", "Disabled", "Crm"):
        _add(sqlite_db, sandbox, name)
    with sqlite_db.transaction() as session:
        for name, values in (
            ("Paused", {"status": "paused"}),
            ("Disabled", {"status": "disabled"}),
            ("Crm", {"kind": "zoho-crm"}),
        ):
            session.execute(
                update(models.Connection).where(models.Connection.name == name).values(**values)
            )
    clock = Clock(ADDED + timedelta(days=3))
    scheduler = _scheduler(sqlite_db, sandbox, clock)
    assert scheduler.due() == []
    assert scheduler.run_due() == []
    assert scheduler.next_run_at("Paused") is None


def test_an_incomplete_run_is_retried_an_hour_later(sqlite_db: Database, sandbox: Sandbox) -> None:
    _add(sqlite_db, sandbox, "Acme")
    midnight = datetime(2025, 3, 2, tzinfo=UTC)
    clock = Clock(midnight + timedelta(seconds=5))
    scheduler = _scheduler(sqlite_db, sandbox, clock)
    sandbox.set_faults("chargebee:expired=always")
    (outcome,) = scheduler.run_due()
    assert outcome.summary is None
    assert "re-authorise" in outcome.skipped
    assert _runs(sqlite_db, "Acme")[-1].status == "failed"
    clock.now = midnight + timedelta(minutes=59)
    assert scheduler.due() == []
    sandbox.set_faults("")
    clock.now = midnight + timedelta(hours=1, seconds=5)
    assert scheduler.due() == [DueRun("Acme", "retry")]
    assert scheduler.run_due()[0].summary is not None
    clock.now += timedelta(hours=2)
    assert scheduler.due() == []


def test_a_run_that_cannot_start_is_not_retried_every_tick(
    sqlite_db: Database, sandbox: Sandbox
) -> None:
    _add(sqlite_db, sandbox, "Acme")
    with sqlite_db.transaction() as session:  # the key is gone from the keychain
        ref = session.scalars(select(models.Connection.secret_ref)).one()
    KeyringSecretStore().delete(ref)
    clock = Clock(datetime(2025, 3, 2, 0, 0, 10, tzinfo=UTC))
    scheduler = _scheduler(sqlite_db, sandbox, clock)
    (outcome,) = scheduler.run_due()
    assert "No key is stored" in outcome.skipped
    clock.now += timedelta(minutes=1)
    assert scheduler.run_due() == []
    clock.now += timedelta(hours=1)
    assert len(scheduler.run_due()) == 1


def test_a_busy_connection_is_skipped_with_the_reason(
    sqlite_db: Database, sandbox: Sandbox
) -> None:
    _add(sqlite_db, sandbox, "Acme")
    clock = Clock(datetime(2025, 3, 2, 0, 0, 10, tzinfo=UTC))
    scheduler = _scheduler(sqlite_db, sandbox, clock)
    with sqlite_db.session() as session:
        cid = session.scalars(select(models.Connection.id)).one()
    held = scheduler.engine().locks.acquire(cid, "manual", heartbeat_seconds=None)
    try:
        (outcome,) = scheduler.run_due()
        assert "A manual sync of Acme is running" in outcome.skipped
    finally:
        held.release()
    assert [o.summary is not None for o in scheduler.run_due()] == [True]


def test_serve_finds_the_billing_schedule(sqlite_db: Database) -> None:
    schedule = billing_schedule(sqlite_db, KeyringSecretStore(), lambda: ADDED, CancelToken())
    assert schedule is not None
    assert "00:00 UTC" in schedule.name
    assert schedule.run_due(ADDED) == []


def test_last_midnight() -> None:
    assert last_midnight(datetime(2025, 1, 1, 23, 59, tzinfo=UTC)) == datetime(
        2025, 1, 1, tzinfo=UTC
    )
    assert last_midnight(datetime(2025, 1, 1, tzinfo=UTC)) == datetime(2025, 1, 1, tzinfo=UTC)
