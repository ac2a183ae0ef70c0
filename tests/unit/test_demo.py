"""The demo workspace: the sandbox on loopback with one synced connection per vendor."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from desktop.demo import start_demo
from desktop.health.settings import load_currency_settings
from desktop.jobs import JobContext
from desktop.secrets import MemorySecretStore
from desktop.storage.database import open_database
from desktop.storage.models import Account, AccountSource, Connection
from desktop.sync.connections import ConnectionService
from desktop.sync.engine import SyncEngine


def test_demo_connections_sync_and_merge_accounts(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    secrets = MemorySecretStore()
    demo = start_demo(database, secrets, size=120)
    try:
        assert demo.sandbox.serving
        names = demo.connections
        assert {c.kind for c in ConnectionService(database, secrets).list()} == {
            "chargebee",
            "recurly",
            "zoho-billing",
        }
        engine = SyncEngine(database, secrets)
        for name in names:
            summary = engine.run(name, context=JobContext())
            assert summary.status in ("succeeded", "partial"), summary.line()
        billing_methods = {
            method
            for vendor in ("chargebee", "recurly", "zoho-billing")
            for method in demo.sandbox.log.methods(vendor)
        }
        assert billing_methods <= {"GET", "HEAD"}
        with database.session() as session:
            accounts = session.scalar(select(func.count()).select_from(Account))
            sources = session.scalar(select(func.count()).select_from(AccountSource))
            assert accounts
            assert sources
            # Customers present on two billing systems share a tenant id: one Account each.
            assert accounts < sources
            assert all(row.secret_hint for row in session.scalars(select(Connection)).all()), (
                "every demo connection has its in-memory key"
            )
            currency = load_currency_settings(session)
            assert currency.reporting == "USD"
            assert currency.rate("EUR") is not None
    finally:
        demo.stop()
        database.close()


def test_restarting_the_demo_keeps_data_and_refreshes_urls(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    first = start_demo(database, MemorySecretStore(), size=50)
    first_urls = {
        c.name: c.settings["base_url"]
        for c in ConnectionService(database, MemorySecretStore()).list()
    }
    first.stop()
    secrets = MemorySecretStore()
    second = start_demo(database, secrets, size=50)
    try:
        infos = ConnectionService(database, secrets).list()
        assert len(infos) == 3
        assert {c.name: c.settings["base_url"] for c in infos} != first_urls
        assert all(ConnectionService(database, secrets).read_secret(c.id) for c in infos)
    finally:
        second.stop()
        database.close()
