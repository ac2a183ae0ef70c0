"""How long the window's main thread stalls while a big sync runs in the background.

Builds a temporary workspace, serves a sandbox Chargebee site of ``--accounts`` customers on
127.0.0.1, opens the real main window (offscreen unless QT_QPA_PLATFORM says otherwise) on
the Accounts page, and runs Sync Now through the app's job runner. A 10 ms heartbeat
QTimer measures every gap between its ticks on the main thread; meanwhile the bench acts
like a person: every 0.5 s it scrolls the accounts table somewhere and refreshes the
page. It prints a table with the worst stall (target: under 50 ms).

Usage::

    .venv/bin/python bench/ui_responsiveness.py --accounts 100000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from desktop.app import build_services, build_window
from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.secrets import MemorySecretStore
from desktop.storage.database import open_database
from desktop.sync.connections import ConnectionService
from desktop.views.accounts import AccountsPage
from desktop.views.connections import ConnectionsPage


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--heartbeat-ms", type=int, default=10)
    parser.add_argument(
        "--idle", action="store_true", help="do not scroll or refresh (isolates the sync's cost)"
    )
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    folder = Path(tempfile.mkdtemp(prefix="bb-bench-"))
    database = open_database(f"sqlite:///{folder / 'w.sqlite3'}")
    secrets = MemorySecretStore()
    print(f"building a sandbox of {args.accounts:,} customers…", flush=True)
    sandbox = Sandbox(size=args.accounts, seed=11, vendors=("chargebee",))
    sandbox.start()
    ConnectionService(database, secrets).add(
        name="Bench Chargebee",
        kind="chargebee",
        settings={"site": "acme", "base_url": sandbox.base_url("chargebee", "acme")},
        secret=CHARGEBEE_KEYS["acme"],
    )
    settings = QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat)
    services = build_services(database, secrets=secrets, settings=settings)
    window = build_window(services)
    window.resize(1280, 800)
    window.show()
    accounts = next(p for p in window.pages if isinstance(p, AccountsPage))
    connections = next(p for p in window.pages if isinstance(p, ConnectionsPage))
    window.show_page("Connections")
    connections.refresh()

    gaps: list[float] = []
    last = [time.perf_counter()]
    rng = random.Random(3)
    started = [0.0]
    done: list[str] = []

    def beat() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000 - args.heartbeat_ms)
        last[0] = now

    def act() -> None:
        if window.stack.currentWidget() is not accounts:
            window.show_page("Accounts")
        total = accounts.model.rowCount()
        if total:
            accounts.table.scrollTo(accounts.model.index(rng.randrange(total), 0))
        accounts.refresh()

    def start_sync() -> None:
        card = next(iter(connections.cards.values()), None)
        if card is None:
            QTimer.singleShot(100, start_sync)
            return
        started[0] = time.perf_counter()
        card.sync_now()
        assert card.handle is not None
        card.handle.finished.connect(lambda: done.append(card.result.text()))
        card.handle.finished.connect(app.quit)

    heartbeat = QTimer()
    heartbeat.setInterval(args.heartbeat_ms)
    heartbeat.timeout.connect(beat)
    heartbeat.start()
    person = QTimer()
    person.setInterval(500)
    person.timeout.connect(act)
    if not args.idle:
        person.start()
    QTimer.singleShot(200, start_sync)
    app.exec()
    elapsed = time.perf_counter() - started[0]
    heartbeat.stop()
    person.stop()
    services.close()
    sandbox.stop()

    stalls = sorted(max(g, 0.0) for g in gaps)
    p99 = stalls[int(len(stalls) * 0.99) - 1] if stalls else 0.0
    rows = [
        ("accounts synced", f"{args.accounts:,}"),
        ("sync wall time", f"{elapsed:.1f} s"),
        ("heartbeats", f"{len(gaps):,}"),
        ("median stall", f"{statistics.median(stalls):.1f} ms" if stalls else "-"),
        ("p99 stall", f"{p99:.1f} ms"),
        ("worst stall", f"{stalls[-1]:.1f} ms" if stalls else "-"),
        ("stalls > 50 ms", f"{sum(1 for s in stalls if s > 50):,}"),
        ("result", (done[0] if done else "did not finish")[:90]),
    ]
    width = max(len(k) for k, _v in rows)
    print()
    print(f"{'measure':<{width}} | value")
    print(f"{'-' * width}-+-{'-' * 40}")
    for key, value in rows:
        print(f"{key:<{width}} | {value}")
    return 0 if stalls and stalls[-1] <= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
