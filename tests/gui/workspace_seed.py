"""Writes realistic workspace rows straight into storage, for the GUI tests and benches.

The rows look like what a sync leaves behind (connections, accounts with their sources,
users, subscriptions, invoices, sync runs and errors) so pages can be tested without
running a sync. Bulk inserts keep 100,000 accounts to a few seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from desktop.storage.database import Database
from desktop.storage.models import (
    Account,
    AccountSource,
    Connection,
    Invoice,
    Subscription,
    SyncError,
    SyncRun,
    User,
)

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
PLANS = [
    ("starter", "Starter", 2900),
    ("team", "Team", 9900),
    ("business", "Business", 29900),
    ("enterprise", "Enterprise", 99900),
]
SUB_STATUSES = ["active"] * 12 + ["trial", "non_renewing", "unpaid", "cancelled", "paused"]
INVOICE_STATUSES = ["paid"] * 8 + ["open", "overdue", "partially_paid"]
WORDS = [
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
    "Tyrell", "Cyberdyne", "Soylent", "Wonka", "Gringotts", "Monarch", "Oscorp", "Nakatomi",
]  # fmt: skip
SUFFIXES = ["Ltd", "GmbH", "Inc", "SAS", "BV", "Labs", "Group", "Studio"]


@dataclass
class Seeded:
    """What :func:`seed` wrote."""

    connection_ids: list[int] = field(default_factory=list)
    account_ids: list[int] = field(default_factory=list)
    run_ids: list[int] = field(default_factory=list)


def add_connection(
    database: Database,
    name: str,
    kind: str = "chargebee",
    *,
    mode: str = "daily",
    status: str = "active",
    settings: dict[str, Any] | None = None,
) -> int:
    """Adds one connection row and returns its id."""
    with database.transaction() as session:
        connection = Connection(
            name=name,
            kind=kind,
            mode=mode,
            status=status,
            settings=settings or {"site": name.lower().replace(" ", "-")},
            secret_hint="…7f3a",
        )
        session.add(connection)
        session.flush()
        return connection.id


def seed(
    database: Database,
    accounts: int = 50,
    *,
    connections: tuple[tuple[str, str], ...] = (("Acme Chargebee", "chargebee"),),
    runs: int = 3,
    errors_per_run: int = 2,
    seed_value: int = 7,
) -> Seeded:
    """Writes ``accounts`` accounts spread over ``connections`` with their records."""
    rng = random.Random(seed_value)
    out = Seeded()
    for name, kind in connections:
        out.connection_ids.append(add_connection(database, name, kind))
    account_rows: list[dict[str, Any]] = []
    for index in range(accounts):
        company = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(SUFFIXES)}"
        account_rows.append(
            {
                "identifier": f"tenant-{index:06d}",
                "name": company,
                "email": f"billing{index}@{company.split()[0].lower()}.example",
                "company": company,
                "phone": f"+1 555 {index % 10000:04d}",
                "currency": "USD",
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
    with database.transaction() as session:
        for start in range(0, len(account_rows), 5000):
            session.execute(insert(Account), account_rows[start : start + 5000])
    with database.session() as session:
        out.account_ids = [row[0] for row in session.execute(Account.__table__.select())]
    sources: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = []
    subs: list[dict[str, Any]] = []
    invoices: list[dict[str, Any]] = []
    for position, account_id in enumerate(out.account_ids):
        connection_id = out.connection_ids[position % len(out.connection_ids)]
        row = account_rows[position]
        source_id = f"cus_{position:06d}"
        common = {"connection_id": connection_id, "synced_at": NOW, "raw": {}}
        sources.append(
            {
                **common,
                "source_id": source_id,
                "account_id": account_id,
                "identifier": row["identifier"],
                "name": row["name"],
                "email": row["email"],
                "company": row["company"],
            }
        )
        users.append(
            {
                **common,
                "source_id": f"usr_{position:06d}",
                "account_id": account_id,
                "first_name": rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara"]),
                "last_name": rng.choice(["Lovelace", "Hopper", "Turing", "Liskov"]),
                "email": row["email"],
                "is_primary": True,
            }
        )
        for number in range(rng.choice([0, 1, 1, 1, 2])):
            code, plan, price = rng.choice(PLANS)
            status = rng.choice(SUB_STATUSES)
            subs.append(
                {
                    **common,
                    "source_id": f"sub_{position:06d}_{number}",
                    "account_id": account_id,
                    "customer_source_id": source_id,
                    "plan_code": code,
                    "plan_name": plan,
                    "status": status,
                    "quantity": 1,
                    "currency": "USD",
                    "amount_minor": price,
                    "mrr_minor": price,
                    "interval_unit": "month",
                    "interval_count": 1,
                    "started_at": NOW - timedelta(days=rng.randint(30, 700)),
                    "next_billing_at": NOW + timedelta(days=rng.randint(1, 30)),
                }
            )
            for month in range(rng.randint(1, 3)):
                inv_status = rng.choice(INVOICE_STATUSES)
                due = (
                    0 if inv_status == "paid" else price if inv_status != "partially_paid" else 900
                )
                issued = date(2026, 11, 1) - timedelta(days=30 * month)
                invoices.append(
                    {
                        **common,
                        "source_id": f"inv_{position:06d}_{number}_{month}",
                        "account_id": account_id,
                        "customer_source_id": source_id,
                        "subscription_source_id": f"sub_{position:06d}_{number}",
                        "number": f"INV-{position:06d}-{number}{month}",
                        "status": inv_status,
                        "currency": "USD",
                        "total_minor": price,
                        "amount_due_minor": due,
                        "amount_paid_minor": price - due,
                        "issued_on": issued,
                        "due_on": issued + timedelta(days=14),
                    }
                )
    with database.transaction() as session:
        for model, rows in (
            (AccountSource, sources),
            (User, users),
            (Subscription, subs),
            (Invoice, invoices),
        ):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model), rows[start : start + 5000])
    with database.transaction() as session:
        for number in range(runs):
            connection_id = out.connection_ids[number % len(out.connection_ids)]
            started = NOW - timedelta(days=runs - number)
            run = SyncRun(
                connection_id=connection_id,
                kind="full" if number == 0 else "incremental",
                trigger="scheduled" if number else "manual",
                status="partial" if errors_per_run else "succeeded",
                started_at=started,
                finished_at=started + timedelta(seconds=42 + number),
                fetched=accounts,
                created=accounts if number == 0 else 0,
                updated=0 if number == 0 else number * 3,
                errors=errors_per_run,
                api_calls=12 + number,
            )
            session.add(run)
            session.flush()
            out.run_ids.append(run.id)
            for error in range(errors_per_run):
                session.add(
                    SyncError(
                        run_id=run.id,
                        connection_id=connection_id,
                        stream="invoices" if error % 2 else "subscriptions",
                        source_id=f"rec_{number}_{error}",
                        reason="The invoice has no customer id, so it cannot be linked to an "
                        "account."
                        if error % 2
                        else "The subscription's amount is not a number ('12,5O').",
                        payload={"id": f"rec_{number}_{error}"},
                        created_at=started + timedelta(seconds=10 + error),
                    )
                )
    return out
