"""Benchmark: pushing 10,000 customers and 10,000 subscriptions to Zoho CRM.

Seeds a temporary SQLite workspace with N billing customers (each with a primary person,
one of N/10 companies and one active subscription; bulk inserts, no billing sync), connects
the sandbox's Zoho CRM served on 127.0.0.1, saves a both-ways setup and times:

* the first sync (pull of the small sandbox CRM + push of every customer, company and
  subscription) — the write calls per module are counted from the sandbox's request log
  and must be exactly ⌈records/100⌉;
* a second sync with nothing changed — it must write nothing.

Usage::

    .venv/bin/python bench/crm_push.py [--customers N] [--keep PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from desktop.crm.report import Direction  # noqa: E402
from desktop.crm.service import CrmIntegration  # noqa: E402
from desktop.crm.settings import (  # noqa: E402
    DealStage,
    DuplicatePolicy,
    Extent,
    PushRules,
    SyncModule,
)
from desktop.sandbox import Sandbox  # noqa: E402
from desktop.sandbox.credentials import (  # noqa: E402
    ZOHO_CLIENT_ID,
    ZOHO_CLIENT_SECRET,
    zoho_user,
)
from desktop.secrets import MemorySecretStore  # noqa: E402
from desktop.storage import models  # noqa: E402
from desktop.storage.database import Database, open_database  # noqa: E402

STARTED = datetime(2025, 1, 15, tzinfo=UTC)


def seed(database: Database, customers: int) -> None:
    """N customers with a person, a company (N/10 distinct) and an active subscription."""
    with database.engine.begin() as conn:
        key = conn.execute(
            insert(models.Connection.__table__).values(  # type: ignore[arg-type]
                name="Billing",
                kind="chargebee",
                settings={"site": "bench"},
                mode="daily",
                status="active",
                secret_ref="bench",
                created_at=STARTED,
                updated_at=STARTED,
            )
        ).inserted_primary_key
        assert key is not None
        connection_id = key[0]
        companies = max(customers // 10, 1)
        conn.execute(
            insert(models.Account.__table__),  # type: ignore[arg-type]
            [
                {
                    "identifier": f"cus_{i:06d}",
                    "name": f"Person{i} Bench",
                    "email": f"person{i}@bench{i % companies}.test",
                    "company": f"Bench Company {i % companies:05d}",
                    "created_at": STARTED,
                    "updated_at": STARTED,
                }
                for i in range(customers)
            ],
        )
        rows = [
            (str(identifier), int(account_id))
            for identifier, account_id in conn.execute(
                select(models.Account.identifier, models.Account.id)
            ).all()
        ]
        conn.execute(
            insert(models.AccountSource.__table__),  # type: ignore[arg-type]
            [
                {
                    "connection_id": connection_id,
                    "source_id": identifier,
                    "account_id": account_id,
                    "identifier": identifier,
                    "raw": {},
                    "synced_at": STARTED,
                }
                for identifier, account_id in rows
            ],
        )
        conn.execute(
            insert(models.User.__table__),  # type: ignore[arg-type]
            [
                {
                    "connection_id": connection_id,
                    "source_id": f"{identifier}:primary",
                    "account_id": account_id,
                    "first_name": "Person",
                    "last_name": f"Bench{identifier[-6:]}",
                    "is_primary": True,
                    "raw": {},
                    "synced_at": STARTED,
                }
                for identifier, account_id in rows
            ],
        )
        conn.execute(
            insert(models.Subscription.__table__),  # type: ignore[arg-type]
            [
                {
                    "connection_id": connection_id,
                    "source_id": f"sub_{identifier[4:]}",
                    "account_id": account_id,
                    "customer_source_id": identifier,
                    "status": "active",
                    "currency": "USD",
                    "mrr_minor": 4_900 + int(identifier[-3:]),
                    "started_at": STARTED,
                    "raw": {},
                    "synced_at": STARTED,
                }
                for identifier, account_id in rows
            ],
        )


def writes(sandbox: Sandbox) -> Counter[str]:
    """Write calls per CRM module, from the sandbox's request log."""
    out: Counter[str] = Counter()
    for entry in sandbox.log.entries("zoho-crm"):
        if entry.method in ("POST", "PUT"):
            module = entry.path.split("/crm/v8/", 1)[1].split("/", 1)[0]
            out[module] += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--keep", help="keep the workspace at this SQLite path")
    args = parser.parse_args()
    n = args.customers
    folder = tempfile.TemporaryDirectory()
    path = Path(args.keep) if args.keep else Path(folder.name) / "bench.sqlite3"
    database = open_database(f"sqlite:///{path}")
    with Sandbox(size=200, seed=7) as sandbox:
        started = time.perf_counter()
        seed(database, n)
        seeded = time.perf_counter() - started
        crm = CrmIntegration(database, MemorySecretStore(), heartbeat_seconds=None)
        secret = json.dumps(
            {
                "client_id": ZOHO_CLIENT_ID,
                "client_secret": ZOHO_CLIENT_SECRET,
                "refresh_token": zoho_user("com").refresh_token,
            }
        )
        crm.connect(
            name="CRM",
            secret=secret,
            owner_email="jun.mori@acme.example",
            base_url=sandbox.base_url("zoho-api", "com"),
            auth_url=sandbox.base_url("zoho-accounts", "com"),
        )
        setup = crm.setup("CRM")
        setup.choose_module(SyncModule.ACCOUNTS)
        setup.choose_extent(Extent.BOTH)
        setup.choose_duplicates(DuplicatePolicy.SKIP)
        setup.choose_views({"Accounts": "All Accounts"})
        setup.set_rules(
            PushRules(
                active=DealStage("Standard", "Closed Won"),
                non_renewing=DealStage("Renewals", "Negotiation/Review"),
            )
        )
        setup.save()

        sandbox.log.clear()
        t0 = time.perf_counter()
        preview = crm.preview("CRM")
        preview_seconds = time.perf_counter() - t0
        assert sum(writes(sandbox).values()) == 0, "the dry run wrote to the CRM"

        sandbox.log.clear()
        t0 = time.perf_counter()
        first = crm.run("CRM", trigger="cli")
        first_seconds = time.perf_counter() - t0
        calls = writes(sandbox)
        module_seconds = dict(first.details.get("write_seconds") or {})

        sandbox.log.clear()
        t0 = time.perf_counter()
        second = crm.run("CRM", trigger="cli")
        second_seconds = time.perf_counter() - t0
        again = writes(sandbox)
    database.close()
    folder.cleanup()

    pushed = {m["module"]: m for m in first.details["modules"] if m["direction"] == "push"}
    print(f"Zoho CRM push, {n:,} customers ({n // 10:,} companies), {n:,} active subscriptions")
    predicted = preview.module(Direction.PUSH, "Contacts").create
    print(f"seeded in {seeded:.1f} s; dry run {preview_seconds:.1f} s "
          f"(predicts {predicted:,} contacts to create, 0 write calls)")  # fmt: skip
    print()
    print(f"{'MODULE':<9} {'RECORDS':>8} {'WRITE CALLS':>12} {'⌈N/100⌉':>8} {'SECONDS':>8} "
          f"{'RECORDS/S':>10}")  # fmt: skip
    ok = True
    for module in ("Accounts", "Contacts", "Deals"):
        done = pushed.get(module, {})
        records = int(done.get("create", 0)) + int(done.get("update", 0))
        expected = math.ceil(records / 100)
        seconds = module_seconds.get(module, 0.0)
        rate = records / seconds if seconds else float("nan")
        ok = ok and calls.get(module, 0) == expected
        print(f"{module:<9} {records:>8,} {calls.get(module, 0):>12,} {expected:>8,} "
              f"{seconds:>8.2f} {rate:>10,.0f}")  # fmt: skip
    print()
    print(f"first sync: {first.status}, {first_seconds:.1f} s in all "
          f"({first.api_calls:,} API calls incl. reads)")  # fmt: skip
    print(f"second sync, nothing changed: {second.status}, {second_seconds:.1f} s, "
          f"{sum(again.values())} write calls")  # fmt: skip
    ok = ok and sum(again.values()) == 0 and first.errors == 0
    print("OK" if ok else "FAILED: write calls differ from ⌈N/100⌉ or errors occurred")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
