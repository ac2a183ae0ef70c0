"""Shared set-up for the engine tests: a sandbox, connections and a fast engine."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from desktop.jobs import CancelToken
from desktop.sandbox.credentials import CHARGEBEE_KEYS, RECURLY_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.secrets import KeyringSecretStore
from desktop.storage import models
from desktop.storage.database import Database
from desktop.sync.connections import ConnectionService
from desktop.sync.engine import SyncEngine
from desktop.sync.http import ReadOnlyClient, VendorPolicy


class VirtualTime:
    """A monotonic clock that only moves when the client sleeps: waits pass instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
        await asyncio.sleep(0)


def fast_engine(database: Database, sandbox: Sandbox, **kwargs: Any) -> SyncEngine:
    """An engine on the in-process sandbox whose waits take no time."""

    def http(row: models.Connection, policy: VendorPolicy, cancel: CancelToken) -> ReadOnlyClient:
        time = VirtualTime()
        return ReadOnlyClient(
            policy,
            name=row.name,
            transport=sandbox.transport(),
            cancel=cancel,
            sleep=time.sleep,
            monotonic=time.monotonic,
        )

    return SyncEngine(database, KeyringSecretStore(), http_factory=http, **kwargs)


def add_chargebee(
    database: Database,
    sandbox: Sandbox,
    name: str = "Acme",
    site: str = "acme",
    **settings: Any,
) -> None:
    """Adds a Chargebee connection to the sandbox site with its key in the keychain."""
    mode = settings.pop("mode", "daily")
    ConnectionService(database, KeyringSecretStore()).add(
        name=name,
        kind="chargebee",
        settings={"site": site, "base_url": sandbox.base_url("chargebee", site), **settings},
        mode=mode,
        secret=CHARGEBEE_KEYS[site],
    )


def add_recurly(database: Database, sandbox: Sandbox, name: str = "Rec", **settings: Any) -> None:
    """Adds a one-site Recurly connection to the sandbox."""
    ConnectionService(database, KeyringSecretStore()).add(
        name=name,
        kind="recurly",
        settings={"site": "acme", "base_url": sandbox.base_url("recurly", "acme"), **settings},
        secret=RECURLY_KEYS["acme"],
    )


def live_ids(database: Database, model: Any, connection: str) -> set[str]:
    """Source ids of a connection's rows that are not marked deleted."""
    source = models.AccountSource if model is models.Account else model
    with database.session() as session:
        cid = session.scalars(
            select(models.Connection.id).where(models.Connection.name == connection)
        ).one()
        return set(
            session.scalars(
                select(source.source_id).where(
                    source.connection_id == cid, source.deleted_at.is_(None)
                )
            )
        )


def count(database: Database, model: Any) -> int:
    """Rows in a table."""
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def assert_matches_truth(database: Database, sandbox: Sandbox, connection: str = "Acme") -> None:
    """The connection's live rows are exactly the sandbox's live Chargebee records."""
    truth = sandbox.truth
    expected = {
        models.Account: {c.id for c in truth.customers("chargebee", "acme")},
        models.Subscription: {s.id for s in truth.subscriptions("chargebee", "acme")},
        models.Invoice: {i.id for i in truth.invoices("chargebee", "acme")},
    }
    for model, wanted in expected.items():
        got = live_ids(database, model, connection)
        assert got == wanted, model.__name__
    for model in (models.AccountSource, models.Subscription, models.Invoice, models.User):
        with database.session() as session:
            total = session.scalar(select(func.count()).select_from(model)) or 0
            distinct = (
                session.scalar(
                    select(func.count()).select_from(
                        select(model.connection_id, model.source_id).distinct().subquery()
                    )
                )
                or 0
            )
        assert total == distinct, f"duplicates in {model.__tablename__}"
