"""Benchmark: customer health on a large workspace (SQLite).

Generates 100,000 accounts, ~150,000 subscriptions and 1,000,000 invoices straight into a
temporary SQLite workspace (bulk inserts; no sandbox, no sync engine), then times:

* recomputing every score and the month's metrics (target < 5 s), first and steady runs;
* the current month's metrics and the 24-month movement series;
* a segment's live count and MRR (target < 200 ms);
* alert evaluation (first run raises alerts, the second finds nothing new).

Usage::

    .venv/bin/python bench/health_recompute.py [--accounts N] [--invoices N] [--keep PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from desktop.health import (  # noqa: E402
    CurrencySettings,
    count_and_mrr,
    evaluate_alerts,
    month_metrics,
    mrr_movements,
    parse_condition,
    recompute_health,
    save_currency_settings,
)
from desktop.storage.database import open_database  # noqa: E402

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

SUB_STATUSES = (
    ("active", 0.70),
    ("non_renewing", 0.05),
    ("unpaid", 0.03),
    ("trial", 0.05),
    ("cancelled", 0.12),
    ("paused", 0.02),
    ("future", 0.01),
    ("expired", 0.02),
)
INVOICE_STATUSES = (
    ("paid", 0.85),
    ("open", 0.06),
    ("overdue", 0.05),
    ("partially_paid", 0.01),
    ("void", 0.02),
    ("draft", 0.01),
)
CURRENCIES = (("USD", 0.80), ("EUR", 0.15), ("GBP", 0.045), ("CHF", 0.005))  # CHF: no rate
PLANS = ("Starter", "Growth", "Pro", "Enterprise")


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.000000")


def _choice(rng: np.random.Generator, table: tuple[tuple[str, float], ...], n: int) -> list[str]:
    names = [name for name, _ in table]
    weights = np.array([w for _, w in table])
    return list(rng.choice(names, size=n, p=weights / weights.sum()))


def generate(path: Path, accounts: int, subscriptions: int, invoices: int, seed: int = 7) -> None:
    """Creates a migrated workspace at ``path`` and bulk-inserts the data set."""
    open_database(f"sqlite:///{path}").close()
    rng = np.random.default_rng(seed)
    now_s = NOW.timestamp()
    stamp_now = _stamp(now_s)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute(
        "INSERT INTO connections (id, name, kind, settings, mode, status, secret_ref, "
        "created_at, updated_at) VALUES (1, 'Bench Chargebee', 'chargebee', '{}', 'daily', "
        "'active', 'bench', ?, ?)",
        (stamp_now, stamp_now),
    )
    account_currency = _choice(rng, CURRENCIES, accounts)
    db.executemany(
        "INSERT INTO accounts (id, identifier, name, email, currency, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (i, f"acct-{i}", f"Account {i}", f"billing{i}@example.test", cur, stamp_now, stamp_now)
            for i, cur in zip(range(1, accounts + 1), account_currency, strict=True)
        ),
    )
    db.executemany(
        "INSERT INTO account_sources (connection_id, source_id, account_id, identifier, raw, "
        "synced_at) VALUES (1, ?, ?, ?, '{}', ?)",
        ((f"cus_{i}", i, f"acct-{i}", stamp_now) for i in range(1, accounts + 1)),
    )
    sub_account = np.concatenate(
        [np.arange(1, accounts + 1), rng.integers(1, accounts + 1, subscriptions - accounts)]
    )[:subscriptions]
    status = _choice(rng, SUB_STATUSES, subscriptions)
    start = now_s - rng.uniform(0, 4 * 365 * 86400, subscriptions)
    mrr = rng.integers(10, 500, subscriptions) * 100
    yearly = rng.random(subscriptions) < 0.2
    quantity = rng.integers(1, 50, subscriptions)
    plan = rng.integers(0, len(PLANS), subscriptions)
    has_pm = rng.random(subscriptions) < 0.8
    cancel_at = start + (now_s - start) * rng.random(subscriptions)
    trial_end = now_s + rng.uniform(-5, 30, subscriptions) * 86400
    term_end = now_s + rng.uniform(1, 60, subscriptions) * 86400

    def sub_row(k: int) -> tuple[Any, ...]:
        st = status[k]
        account = int(sub_account[k])
        currency = account_currency[account - 1]
        counted = st in ("active", "non_renewing", "unpaid")
        amount = int(mrr[k]) * (12 if yearly[k] else 1)
        return (
            f"sub_{k}",
            account,
            f"cus_{account}",
            PLANS[plan[k]].lower(),
            PLANS[plan[k]],
            st,
            int(quantity[k]),
            currency,
            amount,
            int(mrr[k]) if counted else 0,
            "year" if yearly[k] else "month",
            1,
            _stamp(start[k]) if st != "future" else _stamp(now_s + 86400 * 10),
            _stamp(trial_end[k]) if st == "trial" else None,
            _stamp(term_end[k]),
            _stamp(term_end[k]) if counted else None,
            _stamp(cancel_at[k]) if st in ("cancelled", "expired") else None,
            bool(has_pm[k]),
            stamp_now,
            stamp_now,
        )

    db.executemany(
        "INSERT INTO subscriptions (connection_id, source_id, account_id, customer_source_id, "
        "plan_code, plan_name, status, quantity, currency, amount_minor, mrr_minor, "
        "interval_unit, interval_count, started_at, trial_ends_at, current_term_ends_at, "
        "next_billing_at, cancelled_at, has_payment_method, source_updated_at, raw, synced_at) "
        "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?)",
        (sub_row(k) for k in range(subscriptions)),
    )
    inv_account = rng.integers(1, accounts + 1, invoices)
    inv_status = _choice(rng, INVOICE_STATUSES, invoices)
    issued_days = rng.integers(0, 3 * 365, invoices)
    total = rng.integers(10, 2000, invoices) * 100
    today = NOW.date()

    def invoice_row(k: int) -> tuple[Any, ...]:
        st = inv_status[k]
        issued = today - timedelta(days=int(issued_days[k]))
        if st in ("open", "overdue", "partially_paid"):
            issued = today - timedelta(days=int(issued_days[k]) % 120)
        due = issued + timedelta(days=30)
        tot = int(total[k])
        paid = tot if st == "paid" else tot // 2 if st == "partially_paid" else 0
        owed = 0 if st in ("paid", "void", "draft") else tot - paid
        account = int(inv_account[k])
        return (
            f"inv_{k}",
            account,
            f"cus_{account}",
            f"sub_{account - 1}",
            f"INV-{k:07d}",
            st,
            account_currency[account - 1],
            tot,
            owed,
            paid,
            issued.isoformat(),
            due.isoformat(),
            _stamp(now_s - issued_days[k] * 86400 + 86400) if st == "paid" else None,
            stamp_now,
        )

    db.executemany(
        "INSERT INTO invoices (connection_id, source_id, account_id, customer_source_id, "
        "subscription_source_id, number, status, currency, total_minor, amount_due_minor, "
        "amount_paid_minor, issued_on, due_on, paid_at, raw, synced_at) "
        "VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?)",
        (invoice_row(k) for k in range(invoices)),
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()


def _time(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, float, Any]:
    """Median wall-clock seconds, median CPU seconds of this process, and the result."""
    walls: list[float] = []
    cpus: list[float] = []
    result: Any = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--subscriptions", type=int, default=None)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the workspace here and keep it")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args(argv)
    subscriptions = args.subscriptions or args.accounts * 3 // 2
    with tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "bench.sqlite3"
        if path.exists():
            path.unlink()
        started = time.perf_counter()
        generate(path, args.accounts, subscriptions, args.invoices)
        generated = time.perf_counter() - started
        database = open_database(f"sqlite:///{path}")
        with database.transaction() as session:
            save_currency_settings(
                session,
                CurrencySettings("USD", {"EUR": Decimal("1.08"), "GBP": Decimal("1.27")}),
            )
        clock = lambda: NOW  # noqa: E731
        rows: list[tuple[str, float, float, str, str]] = []
        wall, cpu, result = _time(lambda: recompute_health(database, clock=clock))
        rows.append(("recompute scores + month metrics (first)", wall, cpu, "< 5 s", ""))
        wall, cpu, result = _time(lambda: recompute_health(database, clock=clock), 3)
        rows.append(("recompute scores + month metrics (again)", wall, cpu, "< 5 s", ""))
        wall, cpu, metrics = _time(lambda: month_metrics(database, clock=clock), 3)
        rows.append(("month metrics alone", wall, cpu, "", ""))
        wall, cpu, _series = _time(lambda: mrr_movements(database, 24, clock=clock))
        rows.append(("24-month movement series", wall, cpu, "", ""))
        segment = parse_condition(
            {
                "all": [
                    {"field": "account.mrr", "op": "gt", "value": {"amount": "100"}},
                    {"field": "account.health_band", "op": "in", "value": ["amber", "red"]},
                    {"field": "subscription.plan_name", "op": "in", "value": ["Pro", "Growth"]},
                ]
            }
        )
        wall, cpu, preview = _time(lambda: count_and_mrr(database, segment, clock=clock), 5)
        rows.append(("segment live count + MRR (3 conditions)", wall, cpu, "< 200 ms", ""))
        simple = parse_condition({"field": "account.health_band", "op": "is", "value": "red"})
        wall, cpu, _ = _time(lambda: count_and_mrr(database, simple, clock=clock), 5)
        rows.append(("segment live count + MRR (band is red)", wall, cpu, "< 200 ms", ""))
        wall, cpu, alerts = _time(lambda: evaluate_alerts(database, clock))
        rows.append(
            ("evaluate 4 default alert rules (first)", wall, cpu, "", f"{len(alerts):,} new")
        )
        wall, cpu, again = _time(lambda: evaluate_alerts(database, clock), 3)
        rows.append(
            ("evaluate 4 default alert rules (again)", wall, cpu, "", f"{len(again):,} new")
        )
        database.close()

    print(
        f"Workspace: {args.accounts:,} accounts, {subscriptions:,} subscriptions, "
        f"{args.invoices:,} invoices (generated in {generated:.1f} s); SQLite "
        f"{sqlite3.sqlite_version}, Python {sys.version.split()[0]}"
    )
    print(
        f"Bands: {result.bands}; MRR {metrics.mrr_minor / 100:,.2f} {metrics.currency}; "
        f"segment: {preview.accounts:,} accounts"
    )
    print(f"Load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'wall':>8}  {'cpu':>8}  {'target':>8}  note")
    for name, wall, cpu, target, note in rows:
        print(f"{name:<{width}}  {wall * 1000:>6.0f}ms  {cpu * 1000:>6.0f}ms  {target:>8}  {note}")
    if args.json:
        print(json.dumps({name: [wall, cpu] for name, wall, cpu, _, _ in rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
