"""Benchmark: the Health page on a large workspace (100k accounts, 1M invoices, SQLite).

Times, separately:

* reading the overview (:func:`desktop.views.health_data.load_overview`) — this runs on
  the job runner, never on the GUI thread;
* drawing it: handing the arrays to the five charts and the figures, then painting the
  page once (``grab()`` forces the paint) — this is what the GUI thread does (target
  < 300 ms).

Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/health_page.py [--workspace PATH]

Without ``--workspace`` a workspace is generated with ``bench/health_recompute.py``'s
generator (about two minutes) and recomputed once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.health_recompute import NOW, generate  # noqa: E402
from desktop.health import recompute_health  # noqa: E402
from desktop.storage.database import open_database  # noqa: E402
from desktop.views.health_data import load_overview  # noqa: E402
from desktop.views.health_overview import HealthOverviewView  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, help="an existing workspace to read")
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as folder:
        path = args.workspace
        if path is None:
            path = Path(folder) / "bench.sqlite3"
            generate(path, args.accounts, args.accounts * 3 // 2, args.invoices)
        database = open_database(f"sqlite:///{path}")
        clock = lambda: NOW  # noqa: E731
        if args.workspace is None:
            recompute_health(database, clock=clock)
        loads: list[float] = []
        overview = None
        for _ in range(max(1, args.repeat // 2)):
            started = time.perf_counter()
            overview = load_overview(database, clock)
            loads.append(time.perf_counter() - started)
        assert overview is not None
        view = HealthOverviewView()
        view.resize(1100, 620)
        view.show()
        app.processEvents()
        draws: list[float] = []
        paints: list[float] = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            view.show_overview(overview)
            handed = time.perf_counter()
            view.grab()  # lays out and paints every chart once
            app.processEvents()
            done = time.perf_counter()
            draws.append(done - started)
            paints.append(done - handed)
        database.close()
    print(
        f"Workspace: {path if args.workspace else 'generated'}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    print(
        f"MRR {overview.metrics.mrr_minor / 100:,.2f} {overview.currency}; "
        f"{overview.bands.days.size} band day(s); {int(overview.ageing.invoices.sum()):,} "
        "invoices due"
    )
    rows = [
        ("read the overview (job runner, off the GUI thread)", statistics.median(loads), ""),
        ("draw: figures + 5 charts + one paint (GUI thread)", statistics.median(draws), "< 300 ms"),
        ("  of which the paint", statistics.median(paints), ""),
        ("draw, worst of the runs", max(draws), "< 300 ms"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  {'median':>8}  target")
    for name, seconds, target in rows:
        print(f"{name:<{width}}  {seconds * 1000:>6.0f}ms  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
