"""Benchmark 2: a no-change incremental run with 100,000 accounts stored.

Usage::

    .venv/bin/python bench/sync_incremental.py [--size 125000]

Starts the Chargebee simulator in its own process (``--size`` customers across both
sites; the synced ``acme`` site holds 80 %, so 125,000 stores 100,000 accounts), runs the
initial sync into a fresh SQLite workspace, then runs again with nothing changed at the
source and prints, per stream, the requests the simulator answered and the records read,
with the run's wall time. Targets: one request per stream, under 1 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import func, select
from sync_common import SandboxProcess, table, workspace

from desktop.storage import models

#: The Chargebee lists and the streams that read them (accounts and users share one
#: /customers answer per page).
LISTS = {
    "item_prices": "plans",
    "customers": "accounts, users",
    "subscriptions": "subscriptions",
    "invoices": "invoices",
}
STREAMS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=125_000)
    args = parser.parse_args()
    sandbox = SandboxProcess(args.size)
    try:
        with tempfile.TemporaryDirectory() as folder:
            engine = workspace(Path(folder) / "bench.sqlite3", sandbox, rate_limit="none")
            started = time.perf_counter()
            initial = engine.run("Acme", trigger="cli")
            initial_seconds = time.perf_counter() - started
            with engine.database.session() as session:
                accounts = session.scalar(select(func.count()).select_from(models.AccountSource))
            sandbox.admin("log/clear", {})
            started = time.perf_counter()
            again = engine.run("Acme", trigger="cli")
            seconds = time.perf_counter() - started
            log = sandbox.admin("log?vendor=chargebee")["requests"]
            engine.database.close()
    finally:
        sandbox.stop()
    paths = Counter(entry["path"].rsplit("/", 1)[-1] for entry in log)
    rows = [(f"/{path}", streams, f"{paths[path]:g}") for path, streams in LISTS.items()]
    rows.append(("/configurations", "(plans: catalog version)", f"{paths['configurations']:g}"))
    other = sum(paths.values()) - sum(paths[p] for p in (*LISTS, "configurations"))
    rows.append(("(other)", "-", f"{other:g}"))
    print(
        f"Initial sync: {initial.fetched:,} records, {accounts:,} accounts stored, "
        f"{initial_seconds:,.1f} s ({initial.status}).\n"
    )
    print(table(("list", "streams", "requests"), rows))
    print()
    print(
        table(
            ("no-change run", "value", "target"),
            [
                ("status", again.status, "succeeded"),
                ("records read", f"{again.fetched:,}", "-"),
                ("rows changed", f"{again.created + again.updated + again.deleted:,}", "0"),
                ("API calls", f"{again.api_calls:,}", f"≤ {STREAMS} (one per stream)"),
                ("seconds", f"{seconds:.2f}", "< 1"),
            ],
        )
    )


if __name__ == "__main__":
    main()
