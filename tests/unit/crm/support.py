"""Helpers of the Zoho CRM tests: connecting, configuring and seeding billing customers."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from desktop.crm.connect import client_factory
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import (
    DealStage,
    DuplicatePolicy,
    Extent,
    PushRules,
    SyncModule,
)
from desktop.crm.setup import CrmSetup
from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user
from desktop.secrets import KeyringSecretStore
from desktop.storage import models
from desktop.storage.database import Database

CRM_NAME = "CRM"
OWNER_EMAIL = "jun.mori@acme.example"
OWNER_ID = "5725767000000412001"
SECRET = json.dumps(
    {
        "client_id": ZOHO_CLIENT_ID,
        "client_secret": ZOHO_CLIENT_SECRET,
        "refresh_token": zoho_user("com").refresh_token,
    }
)


class FakeTime:
    """A monotonic clock that only moves when something sleeps (waits pass instantly)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        """The fake monotonic time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Moves the fake time instead of waiting."""
        self.now += seconds
        self.slept += seconds
        await asyncio.sleep(0)


def integration_for(
    database: Database, sandbox: Sandbox, clock: ManualClock, time: FakeTime | None = None
) -> CrmIntegration:
    """An integration on the in-process sandbox."""
    fake = time or FakeTime()
    factory = client_factory(
        clock.now, transport=sandbox.transport, sleep=fake.sleep, monotonic=fake.monotonic
    )
    return CrmIntegration(
        database, KeyringSecretStore(), clock.now, client_factory=factory, heartbeat_seconds=None
    )


def endpoint(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox's API and accounts server as connection overrides."""
    return {
        "base_url": sandbox.base_url("zoho-api", "com"),
        "auth_url": sandbox.base_url("zoho-accounts", "com"),
    }


def connect(crm: CrmIntegration, sandbox: Sandbox, **kwargs: Any) -> None:
    """Connects the sandbox CRM as ``CRM`` owned by Jun Mori."""
    values: dict[str, Any] = {"owner_email": OWNER_EMAIL, "secret": SECRET, **endpoint(sandbox)}
    values.update(kwargs)
    crm.connect(name=CRM_NAME, **values)


def configure(
    crm: CrmIntegration,
    *,
    module: SyncModule = SyncModule.ACCOUNTS,
    extent: Extent = Extent.BOTH,
    duplicates: DuplicatePolicy = DuplicatePolicy.SKIP,
    views: dict[str, str] | None = None,
    rules: PushRules | None = None,
    include_orphans: bool = False,
) -> CrmSetup:
    """Runs the five steps with sensible choices and saves them."""
    setup: CrmSetup = crm.setup(CRM_NAME)
    setup.choose_module(module, include_orphans=include_orphans)
    setup.choose_extent(extent)
    setup.choose_duplicates(duplicates)
    chosen = views or {m: f"All {m}" for m in module.crm_modules}
    setup.choose_views(chosen)
    setup.set_rules(
        rules
        or PushRules(
            active=DealStage("Standard", "Closed Won"),
            non_renewing=DealStage("Renewals", "Negotiation/Review"),
        )
    )
    setup.save()
    return setup


@dataclass
class Seeded:
    """Ids of seeded billing rows."""

    connection_id: int
    accounts: dict[str, int]
    subscriptions: dict[str, int]


def seed_billing(database: Database, customers: list[dict[str, Any]]) -> Seeded:
    """Adds a Chargebee connection with customers (and their subscriptions) as synced rows.

    Each customer dict: ``id`` (required), ``name``, ``email``, ``company``, ``first``,
    ``last`` (a primary user), ``subs``: list of ``(id, status, mrr_minor, currency)``.
    """
    accounts: dict[str, int] = {}
    subs: dict[str, int] = {}
    started = datetime(2025, 1, 15, tzinfo=UTC)
    with database.transaction() as session:
        connection = models.Connection(name="Billing", kind="chargebee", settings={"site": "acme"})
        session.add(connection)
        session.flush()
        for spec in customers:
            account = models.Account(
                identifier=spec["id"],
                name=spec.get("name"),
                email=spec.get("email"),
                company=spec.get("company"),
            )
            session.add(account)
            session.flush()
            accounts[spec["id"]] = account.id
            session.add(
                models.AccountSource(
                    connection_id=connection.id,
                    source_id=spec["id"],
                    account_id=account.id,
                    identifier=spec["id"],
                    name=spec.get("name"),
                    email=spec.get("email"),
                    company=spec.get("company"),
                )
            )
            if spec.get("last"):
                session.add(
                    models.User(
                        connection_id=connection.id,
                        source_id=f"{spec['id']}:primary",
                        account_id=account.id,
                        first_name=spec.get("first"),
                        last_name=spec["last"],
                        email=spec.get("email"),
                        is_primary=True,
                    )
                )
            for sub_id, status, mrr, currency in spec.get("subs", []):
                row = models.Subscription(
                    connection_id=connection.id,
                    source_id=sub_id,
                    account_id=account.id,
                    customer_source_id=spec["id"],
                    status=status,
                    mrr_minor=mrr,
                    currency=currency,
                    started_at=started,
                )
                session.add(row)
                session.flush()
                subs[sub_id] = row.id
        return Seeded(connection.id, accounts, subs)


def crm_writes(sandbox: Sandbox) -> int:
    """Write calls (POST/PUT) the CRM simulator answered."""
    return sum(1 for e in sandbox.log.entries("zoho-crm") if e.method in ("POST", "PUT", "DELETE"))


def crm_writes_to(sandbox: Sandbox, path_end: str) -> int:
    """Write calls to paths ending with ``path_end`` (``/Contacts/upsert``)."""
    return sum(
        1
        for e in sandbox.log.entries("zoho-crm")
        if e.method in ("POST", "PUT") and e.path.endswith(path_end)
    )


def count(database: Database, model: Any, *where: Any) -> int:
    """Rows of a table (matching ``where``)."""
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def truth_by(sim: Any, module: str, key: str) -> dict[str, list[dict[str, Any]]]:
    """The simulator's live records of a module grouped by one field."""
    out: dict[str, list[dict[str, Any]]] = {}
    for record in sim.truth(module):
        out.setdefault(str(record.get(key)), []).append(record)
    return out
