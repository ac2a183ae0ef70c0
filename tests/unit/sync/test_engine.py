"""The sync engine against the in-process sandbox (Chargebee connector)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from desktop.jobs import Cancelled, CancelToken, JobContext, Progress
from desktop.sandbox.facade import Sandbox
from desktop.storage import models
from desktop.storage.database import Database
from desktop.sync.base import AuthorisationError
from desktop.sync.locks import SyncBusy, SyncLocks
from tests.unit.sync.engine_support import (
    add_chargebee,
    add_recurly,
    assert_matches_truth,
    count,
    fast_engine,
    live_ids,
)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(size=120, seed=11) as sb:
        yield sb


def test_initial_sync_equals_ground_truth_and_only_reads(
    database: Database, sandbox: Sandbox
) -> None:
    add_chargebee(database, sandbox)
    seen: list[Progress] = []
    summary = fast_engine(database, sandbox).run(
        "Acme", context=JobContext(progress_callback=seen.append)
    )
    assert summary.status == "succeeded"
    assert summary.exit_code == 0
    assert summary.api_calls == sandbox.log.count("chargebee")
    assert_matches_truth(database, sandbox)
    assert sandbox.log.methods("chargebee") <= {"GET", "HEAD"}
    assert seen
    assert seen[-1].done >= summary.created - 100
    with database.session() as session:
        run = session.scalars(select(models.SyncRun)).one()
        assert (run.status, run.kind, run.trigger) == ("succeeded", "incremental", "manual")
        assert run.created == summary.created > 0
        # every subscription and invoice is linked to its account
        assert not session.scalars(
            select(models.Subscription.id).where(models.Subscription.account_id.is_(None))
        ).all()


def test_no_change_incremental_reads_one_page_per_stream(
    database: Database, sandbox: Sandbox
) -> None:
    add_chargebee(database, sandbox)
    engine = fast_engine(database, sandbox)
    engine.run("Acme")
    sandbox.log.clear()
    again = engine.run("Acme")
    assert (again.fetched, again.created, again.updated) == (0, 0, 0)
    lists = [
        e
        for e in sandbox.log.entries("chargebee")
        if e.path.endswith(("/customers", "/subscriptions", "/invoices", "/item_prices", "/plans"))
    ]
    # one request per list: accounts and users share the /customers answer
    assert len(lists) == 4
    assert sandbox.log.count("chargebee") == 4, "no /configurations either"


def test_changes_over_time_and_deletions_arrive_incrementally(
    database: Database, sandbox: Sandbox
) -> None:
    add_chargebee(database, sandbox)
    engine = fast_engine(database, sandbox)
    engine.run("Acme")
    customer = sandbox.truth.customers("chargebee", "acme")[0].id
    gone = sandbox.truth.subscriptions("chargebee", "acme")[0].id
    sandbox.advance_clock(60)
    new_id = sandbox.mutations.create_customer("chargebee", "acme", email="new@x.example")
    sandbox.mutations.update_customer("chargebee", customer, email="changed@x.example")
    sandbox.mutations.delete("chargebee", "subscription", gone)
    summary = engine.run("Acme")
    assert summary.created >= 1
    assert summary.deleted >= 1
    assert_matches_truth(database, sandbox)
    with database.session() as session:
        emails = {
            sid: email
            for sid, email in session.execute(
                select(models.AccountSource.source_id, models.AccountSource.email)
            )
        }
    assert emails[customer] == "changed@x.example"
    assert emails[new_id] == "new@x.example"


def test_full_reconciles_and_reports_what_incremental_missed(
    database: Database, sandbox: Sandbox
) -> None:
    add_chargebee(database, sandbox)
    engine = fast_engine(database, sandbox)
    engine.run("Acme")
    # a record the source never had (as if a deletion had been missed), and one whose
    # stored copy is older than the source's
    with database.transaction() as session:
        cid = session.scalars(select(models.Connection.id)).one()
        session.add(
            models.Invoice(
                connection_id=cid, source_id="INV-GHOST", status="open", raw={}, currency="USD"
            )
        )
        session.execute(
            update(models.Subscription)
            .where(models.Subscription.connection_id == cid)
            .values(source_updated_at=datetime(2000, 1, 1, tzinfo=UTC))
        )
    summary = engine.run("Acme", full=True)
    assert summary.kind == "full"
    found = summary.details["reconciliation"]
    assert found["invoices"]["missing_at_source"] == 1
    assert found["subscriptions"]["changed"] == len(
        sandbox.truth.subscriptions("chargebee", "acme", include_deleted=True)
    )
    assert "INV-GHOST" not in live_ids(database, models.Invoice, "Acme")
    assert_matches_truth(database, sandbox)


FAULTS = [
    "chargebee:503=0.3",
    "chargebee:500=#2+5",
    "chargebee:timeout=10ms@0.2",
    "chargebee:reset=0.2",
    "chargebee:malformed=0.2",
    "chargebee:truncated=0.2",
    "chargebee:429=0.3",
    "chargebee:drift=0.5",
    "chargebee:latency=1ms,503=0.1,reset=0.1,malformed=0.1,429=0.1,timeout=5ms@0.1,drift=0.2",
]


@pytest.mark.parametrize("faults", FAULTS)
def test_fault_matrix_ends_equal_to_truth(sqlite_url: str, sandbox: Sandbox, faults: str) -> None:
    from desktop.storage.database import open_database

    database = open_database(sqlite_url)
    try:
        add_chargebee(database, sandbox)
        sandbox.set_faults(faults)
        summary = fast_engine(database, sandbox).run("Acme")
        sandbox.set_faults("")
        assert summary.status in ("succeeded", "partial")
        assert_matches_truth(database, sandbox)
        assert sandbox.log.methods("chargebee") <= {"GET", "HEAD"}
    finally:
        database.close()


def test_refused_key_fails_the_run_with_a_sentence(database: Database, sandbox: Sandbox) -> None:
    add_chargebee(database, sandbox)
    sandbox.set_faults("chargebee:expired=always")
    with pytest.raises(AuthorisationError, match="re-authorise"):
        fast_engine(database, sandbox).run("Acme")
    with database.session() as session:
        run = session.scalars(select(models.SyncRun)).one()
    assert run.status == "failed"
    assert "re-authorise" in (run.message or "")


def test_cancel_between_pages_keeps_consistent_data_and_resumes(
    database: Database, sandbox: Sandbox
) -> None:
    add_chargebee(database, sandbox)
    engine = fast_engine(database, sandbox)
    token = CancelToken()

    def progress(report: Progress) -> None:
        if report.done >= 150:
            token.cancel()

    with pytest.raises(Cancelled):
        engine.run("Acme", context=JobContext(progress_callback=progress, cancel=token))
    with database.session() as session:
        assert session.scalars(select(models.SyncRun.status)).one() == "cancelled"
    engine.run("Acme")
    assert_matches_truth(database, sandbox)


def test_interrupted_run_is_closed_by_the_next_one(database: Database, sandbox: Sandbox) -> None:
    add_chargebee(database, sandbox)
    with database.transaction() as session:
        cid = session.scalars(select(models.Connection.id)).one()
        session.add(models.SyncRun(connection_id=cid, kind="incremental", trigger="cli"))
    fast_engine(database, sandbox).run("Acme")
    with database.session() as session:
        statuses = session.scalars(select(models.SyncRun.status).order_by(models.SyncRun.id))
        assert list(statuses) == ["interrupted", "succeeded"]


def test_second_run_is_refused_naming_the_holder(database: Database, sandbox: Sandbox) -> None:
    add_chargebee(database, sandbox)
    engine = fast_engine(database, sandbox)
    cid = engine.connection("Acme").id
    held = SyncLocks(database, host="ops-box").acquire(cid, "scheduled", heartbeat_seconds=None)
    try:
        with pytest.raises(
            SyncBusy,
            match=r"A scheduled sync of Acme is running since .* UTC "
            r"on host ops-box; try again when it finishes\.",
        ):
            engine.run("Acme")
        assert [h.connection_name for h in engine.running()] == ["Acme"]
    finally:
        held.release()
    assert engine.run("Acme").status == "succeeded"


def test_stale_lock_of_a_dead_process_is_taken_over(database: Database, sandbox: Sandbox) -> None:
    add_chargebee(database, sandbox)
    engine = fast_engine(database, sandbox)
    cid = engine.connection("Acme").id
    now = datetime.now(UTC)
    with database.transaction() as session:
        session.add(
            models.SyncLock(
                connection_id=cid,
                owner=f"{engine.locks.host}:999999999#dead",
                trigger="cli",
                acquired_at=now,
                heartbeat_at=now,
            )
        )
    assert engine.run("Acme").status == "succeeded"
    # a live but silent holder on another host becomes stale once its heartbeat is old
    old = now - timedelta(hours=1)
    with database.transaction() as session:
        session.add(
            models.SyncLock(
                connection_id=cid, owner="elsewhere:1#x", trigger="cli",
                acquired_at=old, heartbeat_at=old,
            )
        )  # fmt: skip
    assert engine.run("Acme").status == "succeeded"


def test_daily_overwrites_manual_edits_import_only_keeps_them(
    database: Database, sandbox: Sandbox
) -> None:
    add_chargebee(database, sandbox, name="Daily")
    add_chargebee(database, sandbox, name="Once", site="acme-test", mode="import-only")
    engine = fast_engine(database, sandbox)
    engine.run("Daily")
    engine.run("Once")
    daily_customer = sandbox.truth.customers("chargebee", "acme")[0].id
    once_customer = sandbox.truth.customers("chargebee", "acme-test")[0].id
    with database.transaction() as session:
        for sid in (daily_customer, once_customer):
            account_id = session.scalars(
                select(models.AccountSource.account_id).where(models.AccountSource.source_id == sid)
            ).one()
            session.add(models.AccountEdit(account_id=account_id, field="email", value="me@x"))
    sandbox.advance_clock(60)
    sandbox.mutations.update_customer("chargebee", daily_customer, email="d@x.example")
    sandbox.mutations.update_customer("chargebee", once_customer, email="o@x.example")
    new_id = sandbox.mutations.create_customer("chargebee", "acme-test", email="n@x.example")
    engine.run("Daily")
    engine.run("Once")
    with database.session() as session:
        edits = session.execute(
            select(models.AccountSource.source_id, models.AccountEdit.value).join(
                models.AccountEdit,
                models.AccountEdit.account_id == models.AccountSource.account_id,
            )
        ).all()
        emails = {
            sid: email
            for sid, email in session.execute(
                select(models.AccountSource.source_id, models.AccountSource.email)
            )
        }
    assert edits == [(once_customer, "me@x")]  # daily dropped its edit, import-only kept
    assert emails[daily_customer] == "d@x.example"
    assert emails[once_customer] != "o@x.example"  # import-only does not update
    assert emails[new_id] == "n@x.example"  # ... but adds new records


def test_custom_field_identity_merges_and_refuses_changes(
    database: Database, sandbox: Sandbox
) -> None:
    rule = {"id_source": "custom-field", "id_object": "account", "id_field": "cf_tenant_id"}
    add_chargebee(database, sandbox, **rule)
    add_chargebee(database, sandbox, name="Twin", **rule)  # the same customers again
    add_recurly(database, sandbox, id_source="custom-field", id_object="account",
                id_field="tenant_id")  # fmt: skip
    engine = fast_engine(database, sandbox)
    for name in ("Acme", "Twin", "Rec"):
        engine.run(name)
    with database.session() as session:
        identifiers = set(session.scalars(select(models.AccountSource.identifier)))
        per_connection = {
            cid: n
            for cid, n in session.execute(
                select(models.AccountSource.connection_id, func.count()).group_by(
                    models.AccountSource.connection_id
                )
            )
        }
    assert count(database, models.Account) == len(identifiers)
    acme, twin = sorted(per_connection)[:2]
    assert per_connection[acme] == per_connection[twin]
    assert count(database, models.Account) <= sum(per_connection.values()) - per_connection[twin]
    customer = next(c for c in sandbox.truth.customers("chargebee", "acme"))
    sandbox.advance_clock(60)
    sandbox.mutations.update_customer("chargebee", customer.id, tenant_id="t-other")
    accounts_before = count(database, models.Account)
    summary = engine.run("Acme")
    assert summary.status == "partial"
    assert summary.exit_code == 1
    with database.session() as session:
        error = session.scalars(select(models.SyncError)).one()
    assert error.source_id == customer.id
    assert "identifier" in error.reason
    assert count(database, models.Account) == accounts_before


def test_a_sync_leaves_every_pooled_connection_checkpointing_as_usual(
    sqlite_url: str, sandbox: Sandbox
) -> None:
    """The writer checkpoints less often while it writes pages; nothing else inherits that."""
    from desktop.storage.database import open_database
    from desktop.sync.engine import WRITER_CHECKPOINT_PAGES

    database = open_database(sqlite_url)
    try:
        add_chargebee(database, sandbox)
        assert fast_engine(database, sandbox).run("Acme").status == "succeeded"
        held = [database.engine.connect() for _ in range(8)]  # every pooled one and more
        try:
            values = {c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() for c in held}
        finally:
            for conn in held:
                conn.close()
        assert values == {1000} != {WRITER_CHECKPOINT_PAGES}
        assert_matches_truth(database, sandbox)
    finally:
        database.close()
