"""Bulk upserts (desktop.sync.bulk) store exactly what the ORM would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text

from desktop.storage import models
from desktop.storage.database import Database
from desktop.sync.bulk import BulkStatements
from desktop.sync.identity import IdentityRule
from desktop.sync.records import (
    AccountRecord,
    InvoiceRecord,
    Record,
    Stream,
    SubscriptionRecord,
    UserRecord,
)
from desktop.sync.writer import STREAM_TABLES, PageWriter, WriteContext

INVOICES = STREAM_TABLES[Stream.INVOICES]
PLUS_TWO = timezone(timedelta(hours=2))


def _connection(database: Database, name: str) -> int:
    with database.transaction() as session:
        row = models.Connection(name=name, kind="chargebee", settings={})
        session.add(row)
        session.flush()
        return row.id


def _values(connection_id: int, source_id: str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "connection_id": connection_id,
        "source_id": source_id,
        "source_created_at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "source_updated_at": datetime(
            2024, 1, 2, 5, 4, 5, 123, tzinfo=timezone(timedelta(hours=2))
        ),
        "deleted_at": None,
        "raw": {"id": source_id, "total": 1200, "nested": {"ü": [1, 2]}},
        "synced_at": datetime(2025, 6, 7, 8, 9, 10, 999_999, tzinfo=UTC),
        "status": "paid",
        "currency": "EUR",
        "total_minor": 1200,
        "amount_due_minor": 0,
        "amount_paid_minor": 1200,
        "issued_on": date(2024, 1, 2),
        "due_on": None,
        "paid_at": datetime(2024, 1, 3, tzinfo=UTC),
    }
    values.update(changes)
    return values


def _stored_text(database: Database, connection_id: int) -> tuple[Any, ...]:
    with database.engine.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT CAST(source_created_at AS TEXT), CAST(source_updated_at AS TEXT), "
                    "CAST(synced_at AS TEXT), CAST(issued_on AS TEXT), CAST(paid_at AS TEXT), "
                    "due_on, total_minor FROM invoices WHERE connection_id = :c"
                ),
                {"c": connection_id},
            ).one()
        )


def test_bulk_rows_are_stored_like_orm_rows(database: Database) -> None:
    orm_id = _connection(database, "orm")
    bulk_id = _connection(database, "bulk")
    with database.transaction() as session:
        session.add(models.Invoice(**_values(orm_id, "inv_1")))
    with database.engine.begin() as conn:
        BulkStatements().insert(conn, INVOICES, [_values(bulk_id, "inv_1")])
    if database.dialect == "sqlite":  # the text SQLite compares in `synced_at < started`
        assert _stored_text(database, bulk_id) == _stored_text(database, orm_id)
    with database.session() as session:
        orm, bulk = (
            session.scalars(select(models.Invoice).where(models.Invoice.connection_id == cid)).one()
            for cid in (orm_id, bulk_id)
        )
        for column in models.Invoice.__table__.columns:
            if column.name not in ("id", "connection_id"):
                assert getattr(bulk, column.name) == getattr(orm, column.name), column.name
        assert bulk.source_updated_at == datetime(2024, 1, 2, 3, 4, 5, 123, tzinfo=UTC)
        assert bulk.source_updated_at.tzinfo is not None


def test_upsert_overwrites_and_insert_only_keeps(database: Database) -> None:
    cid = _connection(database, "c")
    bulk = BulkStatements()
    with database.engine.begin() as conn:
        bulk.insert(conn, INVOICES, [_values(cid, "a"), _values(cid, "b")])
    with database.engine.begin() as conn:
        bulk.insert(conn, INVOICES, [_values(cid, "a", status="void", raw={"v": 2})])
        bulk.insert(conn, INVOICES, [_values(cid, "b", status="void")], update=False)
    with database.session() as session:
        rows = {
            i.source_id: i
            for i in session.scalars(
                select(models.Invoice).where(models.Invoice.connection_id == cid)
            )
        }
    assert (rows["a"].status, rows["a"].raw) == ("void", {"v": 2})
    assert rows["b"].status == "paid"
    assert len(rows) == 2


def test_naive_timestamps_are_refused(database: Database) -> None:
    cid = _connection(database, "c")
    with pytest.raises(Exception, match="timezone-aware"), database.engine.begin() as conn:
        BulkStatements().insert(conn, INVOICES, [_values(cid, "a", synced_at=datetime(2024, 1, 1))])


def test_rows_written_before_their_account_are_linked_by_the_accounts_page(
    database: Database,
) -> None:
    cid = _connection(database, "early")
    writer = PageWriter(
        WriteContext(connection_id=cid, run_id=None, identity=IdentityRule(), import_only=False)
    )
    now = datetime(2025, 1, 1, tzinfo=UTC)
    early: list[tuple[Stream, list[Record]]] = [
        (Stream.USERS, [UserRecord("customer:c1", "c1"), UserRecord("customer:c2", "c2")]),
        (Stream.SUBSCRIPTIONS, [SubscriptionRecord("s1", "c1", "active")]),
        (Stream.INVOICES, [InvoiceRecord("i1", "c1", "paid"), InvoiceRecord("i2", "c2", "paid")]),
    ]
    for stream, records in early:
        with database.engine.begin() as conn:
            writer.write_page(conn, stream, records, [], {"page": 1}, now=now)
    # The page that brings customer c1 links c1's rows in its own transaction; c2 waits.
    with database.engine.begin() as conn:
        writer.write_page(conn, Stream.ACCOUNTS, [AccountRecord("c1", name="C1")], [], {}, now=now)
        assert writer.link_accounts(conn) == 3
    with database.session() as session:
        account = session.scalars(select(models.AccountSource.account_id)).one()
        for model in (models.User, models.Subscription, models.Invoice):
            links = dict(
                session.execute(
                    select(model.customer_source_id, model.account_id).where(
                        model.connection_id == cid
                    )
                ).all()
            )
            assert links["c1"] == account, model.__name__
            assert links.get("c2") is None, model.__name__


def test_tables_a_run_grows_on_postgresql_are_analysed_as_they_grow(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Statistics of a table filled by the run itself keep lookups on their indexes.
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL only (SQLite needs no statistics to use an index)")
    from desktop.sync import bulk as bulk_module

    monkeypatch.setattr(bulk_module, "ANALYSE_AFTER", 20)
    cid = _connection(database, "c")

    def estimated_rows() -> float:
        with database.engine.connect() as conn:
            return float(
                conn.execute(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'invoices'")
                ).scalar_one()
            )

    assert estimated_rows() <= 0  # never analysed
    bulk = BulkStatements()
    for page in range(8):
        with database.engine.begin() as conn:
            rows = [_values(cid, f"inv_{page}_{n}") for n in range(10)]
            bulk.insert(conn, INVOICES, rows)
    # analysed at 20 rows, then at each doubling: 40 and 80
    assert bulk.analysed == ["invoices", "invoices", "invoices"]
    assert estimated_rows() == 80
