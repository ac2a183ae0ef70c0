"""Benchmark 1: initial sync of the Chargebee simulator over loopback into SQLite, and the
same data through Singer's tap-chargebee from PyPI.

Usage::

    .venv/bin/python bench/sync_initial.py [--size 125000] [--tap-size 20000]
        [--tap-venv /tmp/billbridge-tap-chargebee] [--no-tap] [--postgres URL]

``--size`` is the simulator's customer count across both Chargebee sites; the synced
site ``acme`` holds 80 %, so the default 125,000 gives the issue's 100,000 customers,
150,000 subscriptions and 500,000 invoices (of which the simulator's live ones are
listed). The simulator runs in its own process, so the peak RSS printed is the sync's.

tap-chargebee is installed from PyPI into ``--tap-venv`` (created on first use) and run
unchanged: a ``sitecustomize`` on its ``PYTHONPATH`` sends its requests to the simulator
and removes its client-side limiter (see ``bench/sync_common.py``); its records go to
/dev/null. It reads about 280 records/s, so by default it runs on a smaller simulator
(``--tap-size``) — with Billbridge on that same data too — instead of the half hour the
full size would take; ``--tap-size`` equal to ``--size`` compares at full size.

``--postgres postgresql+psycopg://user@127.0.0.1:5432/any`` adds a row for the same sync
into a new database on that server (a team's shared workspace), dropped afterwards.

Columns: source records (customers, subscriptions, invoices and plans delivered; Billbridge
also writes one user per customer and contact, counted under "rows written"), wall
seconds, source records per second, CPU seconds of the syncing process, API calls
against the minimum (⌈records ÷ 100⌉ per list, Chargebee's largest page) and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_common import (
    SandboxProcess,
    TapChargebee,
    peak_rss_mb,
    scratch_postgres,
    table,
    workspace,
)

from desktop.storage import models
from desktop.sync.engine import RunSummary


@dataclass
class Row:
    """One line of the result table."""

    tool: str
    customers: int
    records: int
    rows_written: int
    seconds: float
    cpu_seconds: float
    api_calls: int
    minimum_calls: int
    peak_rss_mb: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def cells(self) -> tuple[str, ...]:
        return (
            self.tool,
            f"{self.customers:,}",
            f"{self.records:,}",
            f"{self.rows_written:,}" if self.rows_written else "-",
            f"{self.seconds:,.1f}",
            f"{self.rate:,.0f}",
            f"{self.cpu_seconds:,.1f}",
            f"{self.records / self.cpu_seconds:,.0f}" if self.cpu_seconds else "-",
            f"{self.api_calls:,} / {self.minimum_calls:,}",
            f"{self.peak_rss_mb:,.0f}",
            self.note,
        )


HEADER = (
    "tool", "customers", "source records", "rows written", "seconds", "records/s",
    "CPU s", "records/CPU-s", "API calls / min", "peak RSS MB", "",
)  # fmt: skip


def _pages(count: int) -> int:
    return -(-count // 100)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def billbridge(size: int, folder: Path, server: str | None = None) -> Row:
    """Runs Billbridge's initial sync against a fresh simulator of ``size`` customers,
    into SQLite in ``folder`` or, with ``server``, a new database on that PostgreSQL."""
    if server is not None:
        with scratch_postgres(server) as url:
            return _billbridge(size, url, "into PostgreSQL")
    return _billbridge(size, folder / f"bench-{size}.sqlite3", "into SQLite")


def _billbridge(size: int, target: Path | str, note: str) -> Row:
    sandbox = SandboxProcess(size)
    try:
        engine = workspace(target, sandbox, rate_limit="none")
        cpu = _cpu()
        started = time.perf_counter()
        summary: RunSummary = engine.run("Acme", trigger="cli")
        seconds = time.perf_counter() - started
        cpu = _cpu() - cpu
        counts = _stored(engine)
        engine.database.close()
    finally:
        sandbox.stop()
    if summary.status != "succeeded":
        raise RuntimeError(f"the sync ended {summary.status}: {summary.message}")
    records = counts["accounts"] + counts["subscriptions"] + counts["invoices"] + counts["plans"]
    # /configurations, then each list once (accounts and users share /customers)
    minimum = 1 + sum(_pages(counts[k]) for k in ("accounts", "subscriptions", "invoices", "plans"))
    return Row(
        "Billbridge",
        counts["accounts"],
        records,
        summary.created,
        seconds,
        cpu,
        summary.api_calls,
        minimum,
        peak_rss_mb(),
        note,
    )


def _stored(engine: object) -> dict[str, int]:
    from sqlalchemy import func, select

    database = engine.database  # type: ignore[attr-defined]
    tables = {
        "accounts": models.AccountSource,
        "subscriptions": models.Subscription,
        "invoices": models.Invoice,
        "plans": models.Plan,
        "users": models.User,
    }
    with database.session() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in tables.items()
        }


def tap(size: int, folder: Path, venv: Path) -> Row:
    """Runs tap-chargebee against a fresh simulator of ``size`` customers."""
    runner = TapChargebee(venv, Path(tempfile.mkdtemp(prefix="billbridge-tap-")))
    runner.install()
    sandbox = SandboxProcess(size)
    try:
        result = runner.run(sandbox)
    finally:
        sandbox.stop()
    print(f"tap-chargebee's log: {runner.work / 'tap.log'}", file=sys.stderr)
    if result.exit_code != 0:
        raise RuntimeError(f"tap-chargebee exited with {result.exit_code}; see {runner.work}")
    minimum = 1 + sum(_pages(n) for n in result.records.values())
    return Row(
        "tap-chargebee",
        result.records.get("customers", 0),
        sum(result.records.values()),
        0,
        result.seconds,
        result.cpu_seconds,
        result.requests,
        minimum,
        result.peak_rss_mb,
        "to /dev/null",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=125_000)
    parser.add_argument("--tap-size", type=int, default=20_000)
    parser.add_argument("--tap-venv", type=Path, default=Path("/tmp/billbridge-tap-chargebee"))
    parser.add_argument("--no-tap", action="store_true", help="only Billbridge")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also sync into a new database on this PostgreSQL server (dropped after)",
    )
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if not args.no_tap:
            small = billbridge(args.tap_size, folder)
            rows.append(small)
            other = tap(args.tap_size, folder, args.tap_venv)
            rows.append(other)
        if args.no_tap or args.size != args.tap_size:
            rows.append(billbridge(args.size, folder))
        if args.postgres:
            rows.append(billbridge(args.size, folder, args.postgres))
    print(table(HEADER, [r.cells() for r in rows]))
    if not args.no_tap:
        ours, theirs = rows[0], rows[1]
        per_cpu = (ours.records / ours.cpu_seconds, theirs.records / theirs.cpu_seconds)
        print(
            f"\nSame data ({args.tap_size:,} simulator customers): Billbridge "
            f"{ours.rate:,.0f} records/s, tap-chargebee {theirs.rate:,.0f} records/s — "
            f"ratio {ours.rate / theirs.rate:.1f}× (target ≥ 2×); per CPU second "
            f"{per_cpu[0]:,.0f} vs {per_cpu[1]:,.0f} — {per_cpu[0] / per_cpu[1]:.1f}× "
            "(a ratio other load on the machine does not skew)."
        )
        if rows[1].records < rows[0].records:
            print(
                f"tap-chargebee delivered {rows[0].records - rows[1].records:,} fewer records: "
                "it filters every list by updated_at, so records without one never come."
            )
    print(
        "Peak RSS is the process's maximum; the Billbridge rows run in this process one "
        "after the other, so a later row's RSS is at least an earlier one's."
    )


if __name__ == "__main__":
    main()
