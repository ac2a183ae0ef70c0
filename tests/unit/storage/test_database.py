"""The workspace database: migrations, types, invariants and clear refusals."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from desktop.errors import WorkspaceError
from desktop.storage.database import Database, open_database
from desktop.storage.guards import IdentifierChangedError
from desktop.storage.migrate import current_revision, head_revision
from desktop.storage.models import (
    Account,
    AccountSource,
    Connection,
    Invoice,
    Subscription,
)


def _connection(session: object, name: str = "Acme Chargebee") -> Connection:
    connection = Connection(name=name, kind="chargebee", settings={"site": "acme"})
    session.add(connection)  # type: ignore[attr-defined]
    session.flush()  # type: ignore[attr-defined]
    return connection


def test_open_migrates_to_head(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    assert {"connections", "accounts", "users", "plans", "subscriptions", "invoices"} <= tables
    assert {"sync_runs", "sync_errors", "sync_cursors", "sync_locks"} <= tables
    assert current_revision(database.engine) == head_revision()


def test_reopening_is_idempotent(database_url: str) -> None:
    open_database(database_url).close()
    again = open_database(database_url)
    assert current_revision(again.engine) == head_revision()
    again.close()


def test_sqlite_uses_wal_and_foreign_keys(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.close()


def test_money_and_time_round_trip(database: Database) -> None:
    berlin = timezone(timedelta(hours=1))
    with database.transaction() as session:
        connection = _connection(session)
        session.add(
            Invoice(
                connection_id=connection.id,
                source_id="INV-1",
                status="paid",
                currency="JPY",
                total_minor=123_456_789_012,
                amount_paid_minor=123_456_789_012,
                issued_on=date(2026, 1, 31),
                paid_at=datetime(2026, 2, 1, 10, 0, tzinfo=berlin),
                raw={"unknown_field": {"nested": [1, 2, 3]}},
            )
        )
    with database.session() as session:
        invoice = session.scalars(select(Invoice)).one()
        assert invoice.total_minor == 123_456_789_012
        assert isinstance(invoice.total_minor, int)
        assert invoice.paid_at == datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
        assert invoice.paid_at is not None
        assert invoice.paid_at.tzinfo is not None
        assert invoice.raw == {"unknown_field": {"nested": [1, 2, 3]}}


def test_naive_timestamps_are_refused(database: Database) -> None:
    with pytest.raises(Exception, match="timezone-aware"), database.transaction() as session:
        connection = _connection(session)
        session.add(
            Subscription(
                connection_id=connection.id,
                source_id="sub-1",
                status="active",
                started_at=datetime(2026, 1, 1),
            )
        )


def test_source_id_is_unique_per_connection(database: Database) -> None:
    with database.transaction() as session:
        first = _connection(session, "One")
        second = _connection(session, "Two")
        for connection in (first, second):
            session.add(Subscription(connection_id=connection.id, source_id="s1", status="active"))
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.add(Subscription(connection_id=first.id, source_id="s1", status="active"))


def test_account_identifier_is_immutable(database: Database) -> None:
    with database.transaction() as session:
        connection = _connection(session)
        account = Account(identifier="tenant-1", name="Harbor")
        account.sources.append(
            AccountSource(connection_id=connection.id, source_id="c1", identifier="tenant-1")
        )
        session.add(account)
    with pytest.raises(IdentifierChangedError, match="immutable"), database.transaction() as s:
        stored = s.scalars(select(Account)).one()
        stored.identifier = "tenant-2"
    with database.session() as session:
        assert session.scalars(select(Account.identifier)).all() == ["tenant-1"]


def test_newer_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    open_database(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    before = path.read_bytes()
    with pytest.raises(WorkspaceError, match="newer version of Billbridge"):
        open_database(f"sqlite:///{path}")
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("not a url at all", "is not a database URL"),
        ("nosuchdb://x/y", "does not know the database kind"),
        ("sqlite:////no/such/folder/w.sqlite3", "does not exist"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot open the workspace database"),
    ],
)
def test_bad_urls_get_one_sentence(url: str, phrase: str) -> None:
    with pytest.raises(WorkspaceError, match=phrase) as caught:
        open_database(url)
    assert "Traceback" not in str(caught.value)


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(WorkspaceError, match="cannot open the workspace database"):
        open_database(f"sqlite:///{path}")
    assert path.read_text().startswith("these are my notes")


def test_password_never_in_display(tmp_path: Path) -> None:
    from desktop.storage.database import display_url

    shown = display_url("postgresql+psycopg://admin:s3cr3t-pw@db.internal/billing")
    assert "s3cr3t-pw" not in shown
    assert "db.internal" in shown


def test_transaction_rolls_back_on_error(database: Database) -> None:
    with pytest.raises(RuntimeError), database.transaction() as session:
        _connection(session)
        raise RuntimeError("boom")
    with database.session() as session:
        assert session.execute(text("SELECT COUNT(*) FROM connections")).scalar() == 0
