"""Benchmark 3: a sync against a rate-limited simulator — no 429s, the budget used.

Usage::

    .venv/bin/python bench/sync_rate_budget.py [--budget 100/60] [--seconds 150]
        [--size 8000]

Starts the Chargebee simulator in its own process with ``--rate-limit chargebee=BUDGET``
(it counts requests in fixed windows and answers 429 past the budget), gives the
connection the same budget, and syncs a dataset far larger than the budget allows in
``--seconds``; the run is cancelled then. From the simulator's own request log it prints,
for every fixed window that lies wholly inside the run, the requests it accepted, the
429s it sent and the share of the budget used. Targets: zero 429s, at least 90 % of the
budget used in every full window. The window is configurable so a shorter run still spans
several (``--budget 100/30 --seconds 100``).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_common import SandboxProcess, table, workspace

from desktop.jobs import Cancelled, CancelToken, JobContext
from desktop.sync.http import RateBudget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="100/60", help="REQUESTS/SECONDS")
    parser.add_argument("--seconds", type=float, default=150.0, help="how long to run")
    parser.add_argument("--size", type=int, default=8_000)
    args = parser.parse_args()
    budget = RateBudget.parse(args.budget)
    if budget is None:
        parser.error("--budget needs a limit")
    sandbox = SandboxProcess(args.size, rate_limit=args.budget)
    token = CancelToken()
    outcome = "finished"
    try:
        with tempfile.TemporaryDirectory() as folder:
            engine = workspace(Path(folder) / "bench.sqlite3", sandbox, rate_limit=args.budget)
            timer = threading.Timer(args.seconds, token.cancel)
            timer.start()
            started = time.time()
            try:
                engine.run("Acme", trigger="cli", context=JobContext(cancel=token))
            except Cancelled:
                outcome = f"cancelled after {args.seconds:g} s (still had work: the budget bound)"
            finally:
                timer.cancel()
            ended = time.time()
            engine.database.close()
        log = sandbox.admin("log?vendor=chargebee")["requests"]
    finally:
        sandbox.stop()

    window = budget.window
    accepted: Counter[int] = Counter()
    refused: Counter[int] = Counter()
    for entry in log:
        index = math.floor(entry["at"] / window)
        (refused if entry["status"] == 429 else accepted)[index] += 1
    first, last = math.ceil(started / window), math.floor(ended / window)
    full = list(range(first, last))  # windows wholly inside the run
    rows = []
    for index in sorted(set(accepted) | set(refused)):
        share = accepted[index] / budget.requests
        kind = "full" if index in full else "partial"
        rows.append(
            (
                time.strftime("%H:%M:%S", time.gmtime(index * window)),
                kind,
                f"{accepted[index]:,}",
                f"{refused[index]:,}",
                f"{share:.0%}",
            )
        )
    print(f"Budget {budget.requests} requests / {window:g} s; run {outcome}.\n")
    print(table(("window (UTC)", "", "accepted", "429s", "of budget"), rows))
    used = sum(accepted[i] for i in full) / (budget.requests * len(full)) if full else 0.0
    print()
    print(
        table(
            ("result", "value", "target"),
            [
                ("429 answers", f"{sum(refused.values()):,}", "0"),
                ("budget used in full windows", f"{used:.1%}" if full else "n/a", "≥ 90%"),
                ("full windows", f"{len(full)}", "≥ 1"),
                ("requests", f"{sum(accepted.values()):,}", "-"),
            ],
        )
    )


if __name__ == "__main__":
    main()
