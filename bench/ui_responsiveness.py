"""How long the window's main thread stalls while a big sync runs in the background.

Serves a sandbox Chargebee site of ``--accounts`` customers on 127.0.0.1 (in a child
process by default, so its work is not counted against the window), then for each sync
mode and activity asked for: builds a fresh workspace, opens the real main window
(offscreen unless QT_QPA_PLATFORM says otherwise) and clicks Sync Now on the Connections
page. A ``--heartbeat-ms`` QTimer measures every gap between its ticks on the main thread
while the sync runs; with ``scroll`` activity the bench also acts like a person: every
0.5 s it scrolls the Accounts table somewhere and refreshes the page.

Sync modes: ``in-process`` runs the engine on a job-runner thread of the app (as before);
``subprocess`` runs it in a child process driven by the same job (what the app does).

Prints one table, one column per run: worst stall, p99, stalls over 50 ms (target: the
worst under 50 ms), sync wall time. The client-side rate limit is off (``rate_limit:
none``) so the sync runs as fast as the machine allows: the worst case for the window.

Usage::

    .venv/bin/python bench/ui_responsiveness.py --accounts 100000
    .venv/bin/python bench/ui_responsiveness.py --accounts 5000 --mode both --activity both
    .venv/bin/python bench/ui_responsiveness.py --accounts 5000 --mode in-process --sample

``--sample`` also prints where the main thread was (its Python stack) during stalls.

As in the app: True/False are guarded against PySide6 6.12's ``emit()`` reference leak
(:mod:`desktop.views.qt_workarounds`; without it a long scrolling run aborts), the
window's start-up objects are frozen out of the garbage collector
(:func:`desktop.app.freeze_start_up_objects`), worker threads hand the GIL back to the
window's thread after 1 ms (:func:`desktop.app.prefer_the_window_thread`), the app's
job and read-loader threads run at nice +5 (:data:`desktop.views.jobs.WORKER_NICENESS`),
and the sync's child process lowers its CPU priority (``nice +10``,
:data:`desktop.sync.subprocess_runner.CHILD_NICENESS`). The sandbox child is niced as
well (+10): it stands in for a vendor's servers, which do not share the user's cores.
The table's header says so, and the machine's load average. The breakdown of the stalls
over 50 ms ("waiting for a CPU") tells how much of them the machine's other work caused.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.app import (  # noqa: E402
    build_services,
    build_window,
    freeze_start_up_objects,
    prefer_the_window_thread,
)
from desktop.sandbox.credentials import CHARGEBEE_KEYS  # noqa: E402
from desktop.sandbox.facade import Sandbox  # noqa: E402
from desktop.secrets import MemorySecretStore  # noqa: E402
from desktop.storage.database import open_database  # noqa: E402
from desktop.sync.connections import ConnectionService  # noqa: E402
from desktop.sync.engine import SyncEngine  # noqa: E402
from desktop.sync.subprocess_runner import CHILD_NICENESS  # noqa: E402
from desktop.views.accounts import AccountsPage  # noqa: E402
from desktop.views.connections import ConnectionsPage  # noqa: E402
from desktop.views.connections_actions import EngineActions  # noqa: E402
from desktop.views.jobs import WORKER_NICENESS  # noqa: E402
from desktop.views.qt_workarounds import guard_signal_emit_refcount  # noqa: E402

MODES = ("in-process", "subprocess")
#: How much the sandbox child lowers its CPU priority (it stands in for remote servers).
SANDBOX_NICENESS = 10
ACTIVITIES = ("idle", "scroll")


# ---------------------------------------------------------------------- sandbox


def _free_port_base() -> int:
    """Four consecutive free loopback ports (one per sandbox mount)."""
    for base in range(21_000, 60_000, 7):
        sockets: list[socket.socket] = []
        try:
            for offset in range(4):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


class SandboxChild:
    """``billbridge sandbox`` in a child process on loopback."""

    def __init__(self, size: int) -> None:
        self.port_base = _free_port_base()
        # Niced: it stands in for a vendor's servers, which do not share our cores.
        command = [
            "nice", "-n", str(SANDBOX_NICENESS), sys.executable, "-m", "desktop", "sandbox",
            "--size", str(size), "--seed", "11", "--vendors", "chargebee",
            "--port-base", str(self.port_base),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"the sandbox stopped: {error}")
            try:
                with socket.create_connection(("127.0.0.1", self.port_base), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the sandbox did not start")

    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port_base}/chargebee/acme/api/v2"

    def stop(self) -> None:
        """Ctrl-C (what the command handles), then SIGKILL if it does not stop."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class SandboxThreads:
    """The sandbox's servers on threads of this process (counts their GIL use too)."""

    def __init__(self, size: int) -> None:
        self.sandbox = Sandbox(size=size, seed=11, vendors=("chargebee",))
        self.sandbox.start()

    def base_url(self) -> str:
        return self.sandbox.base_url("chargebee", "acme")

    def stop(self) -> None:
        self.sandbox.stop()


# ---------------------------------------------------------------------- one run


@dataclass
class Result:
    """What one run measured."""

    label: str
    stalls: list[float] = field(default_factory=list)
    #: For each stall over 50 ms: (stall, ms on a CPU, ms waiting for a CPU) in its gap.
    long_stalls: list[tuple[float, float, float]] = field(default_factory=list)
    seconds: float = 0.0
    outcome: str = "did not finish"
    samples: collections.Counter[str] = field(default_factory=collections.Counter)

    def rows(self) -> dict[str, str]:
        stalls = sorted(self.stalls)
        if not stalls:
            return {"result": self.outcome}
        p99 = stalls[max(0, int(len(stalls) * 0.99) - 1)]
        fetched = _fetched(self.outcome)
        return {
            "sync wall time": f"{self.seconds:.1f} s",
            "records/s": f"{fetched / self.seconds:,.0f}" if fetched and self.seconds else "-",
            "heartbeats": f"{len(stalls):,}",
            "median stall": f"{stalls[len(stalls) // 2]:.1f} ms",
            "p99 stall": f"{p99:.1f} ms",
            "worst stall": f"{stalls[-1]:.1f} ms",
            "stalls > 16 ms": f"{sum(1 for s in stalls if s > 16):,}",
            "stalls > 50 ms": f"{sum(1 for s in stalls if s > 50):,}",
            **self._breakdown(),
            "result": self.outcome.split(" — ")[-1][:34],
        }

    def _breakdown(self) -> dict[str, str]:
        """Where the main thread's time went during the stalls over 50 ms."""
        if not self.long_stalls:
            return {}
        total = sum(s for s, _c, _w in self.long_stalls)
        cpu = sum(c for _s, c, _w in self.long_stalls)
        waiting = sum(w for _s, _c, w in self.long_stalls)
        blocked = max(0.0, total - cpu - waiting)
        return {
            "  in those: on a CPU": f"{100 * cpu / total:.0f} %",
            "  waiting for a CPU": f"{100 * waiting / total:.0f} %",
            "  blocked (GIL, I/O)": f"{100 * blocked / total:.0f} %",
        }


def _fetched(line: str) -> int:
    found = re.search(r"([\d,]+) fetched", line)
    return int(found.group(1).replace(",", "")) if found else 0


def _schedstat() -> tuple[float, float]:
    """This thread's (ms on a CPU, ms waiting for a CPU) so far (Linux; zeros elsewhere)."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat") as stat:
            on_cpu, waiting, _slices = stat.read().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(on_cpu) / 1e6, int(waiting) / 1e6


class MainThreadSampler:
    """Records the main thread's Python stack whenever the heartbeat is late."""

    def __init__(self, last_beat: list[float], threshold_ms: float, into: collections.Counter[str]):
        self._last = last_beat
        self._threshold = threshold_ms / 1000
        self._into = into
        self._main = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sampler", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            if time.perf_counter() - self._last[0] < self._threshold:
                continue
            frame = sys._current_frames().get(self._main)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)[-5:]
            self._into[
                " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack[::-1])
            ] += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_once(
    app: QApplication,
    base_url: str,
    mode: str,
    activity: str,
    heartbeat_ms: int,
    sample: bool,
) -> Result:
    """One sync of the whole site into a fresh workspace, with the window open."""
    result = Result(f"{mode}, {activity}")
    folder = Path(tempfile.mkdtemp(prefix="bb-ui-bench-"))
    database = open_database(f"sqlite:///{folder / 'w.sqlite3'}")
    secrets = MemorySecretStore()
    ConnectionService(database, secrets).add(
        name="Bench Chargebee",
        kind="chargebee",
        settings={"site": "acme", "base_url": base_url, "rate_limit": "none"},
        secret=CHARGEBEE_KEYS["acme"],
    )
    settings = QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat)
    services = build_services(database, secrets=secrets, settings=settings)
    window = build_window(services)
    freeze_start_up_objects()  # as run_app does
    window.resize(1280, 800)
    window.show()
    accounts = next(p for p in window.pages if isinstance(p, AccountsPage))
    connections = next(p for p in window.pages if isinstance(p, ConnectionsPage))
    actions = EngineActions(
        SyncEngine(database, secrets), database, out_of_process=mode == "subprocess"
    )
    connections.backend.sync = actions.sync
    window.show_page("Connections")
    connections.refresh()

    last = [time.perf_counter()]
    last_stat = [_schedstat()]
    started = [0.0]
    finished = [False]
    rng = random.Random(3)

    def beat() -> None:
        now = time.perf_counter()
        stat = _schedstat()
        if started[0] and not finished[0]:
            stall = max(0.0, (now - last[0]) * 1000 - heartbeat_ms)
            result.stalls.append(stall)
            if stall > 50:
                cpu = stat[0] - last_stat[0][0]
                waiting = stat[1] - last_stat[0][1]
                result.long_stalls.append((stall + heartbeat_ms, cpu, waiting))
        last[0] = now
        last_stat[0] = stat

    def act() -> None:
        if window.stack.currentWidget() is not accounts:
            window.show_page("Accounts")
        total = accounts.model.rowCount()
        if total:
            accounts.table.scrollTo(accounts.model.index(rng.randrange(total), 0))
        accounts.refresh()

    def done() -> None:
        finished[0] = True
        result.seconds = time.perf_counter() - started[0]
        card = next(iter(connections.cards.values()))
        result.outcome = card.result.text() or "did not finish"
        QTimer.singleShot(200, app.quit)

    def start_sync() -> None:
        card = next(iter(connections.cards.values()), None)
        if card is None:
            QTimer.singleShot(100, start_sync)
            return
        card.sync_now()
        assert card.handle is not None
        started[0] = time.perf_counter()
        card.handle.finished.connect(done)

    heartbeat = QTimer()
    heartbeat.setInterval(heartbeat_ms)
    heartbeat.timeout.connect(beat)
    heartbeat.start()
    person = QTimer()
    person.setInterval(500)
    person.timeout.connect(act)
    if activity == "scroll":
        person.start()
    sampler = MainThreadSampler(last, 40, result.samples) if sample else None
    QTimer.singleShot(300, start_sync)
    app.exec()
    if sampler is not None:
        sampler.stop()
    heartbeat.stop()
    person.stop()
    window.close()
    services.close()
    window.deleteLater()
    gc.unfreeze()  # the next run freezes its own window
    shutil.rmtree(folder, ignore_errors=True)
    return result


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def print_table(accounts: int, results: list[Result], sandbox: str, load_before: str) -> None:
    """One row per measure, one column per run."""
    keys: list[str] = []
    for result in results:
        keys += [k for k in result.rows() if k not in keys]
    header = ["measure", *[r.label for r in results]]
    body = [[key, *[r.rows().get(key, "-") for r in results]] for key in keys]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    print()
    print(f"UI responsiveness while syncing {accounts:,} Chargebee accounts (heartbeat stalls)")
    print(
        f"sync child niced +{CHILD_NICENESS}; sandbox "
        + (f"child niced +{SANDBOX_NICENESS}" if sandbox == "process" else "threads, not niced")
        + f"; app worker threads niced +{WORKER_NICENESS}"
        + "; start-up objects frozen out of the GC; GIL switch interval "
        + f"{sys.getswitchinterval() * 1000:g} ms"
    )
    print(f"machine: before {load_before}; after {_load()}")
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in body:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--heartbeat-ms", type=int, default=10)
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both")
    parser.add_argument("--activity", choices=(*ACTIVITIES, "both"), default="both")
    parser.add_argument(
        "--idle", action="store_true", help="same as --activity idle (kept for old commands)"
    )
    parser.add_argument(
        "--sandbox",
        choices=("process", "threads"),
        default="process",
        help="serve the sandbox from a child process (default) or threads of this one",
    )
    parser.add_argument("--sample", action="store_true", help="print the stacks seen in stalls")
    args = parser.parse_args()
    modes = MODES if args.mode == "both" else (args.mode,)
    activities = (
        ("idle",) if args.idle else ACTIVITIES if args.activity == "both" else (args.activity,)
    )

    guard_signal_emit_refcount()  # as run_app does (PySide6 6.12 emit() reference leak)
    prefer_the_window_thread()  # as run_app does
    app = QApplication(sys.argv[:1])
    load_before = _load()
    print(f"building a sandbox of {args.accounts:,} customers ({args.sandbox})…", flush=True)
    sandbox = (
        SandboxChild(args.accounts) if args.sandbox == "process" else SandboxThreads(args.accounts)
    )
    results: list[Result] = []
    try:
        for activity in activities:
            for mode in modes:
                print(f"syncing: {mode}, {activity}…", flush=True)
                result = run_once(
                    app, sandbox.base_url(), mode, activity, args.heartbeat_ms, args.sample
                )
                results.append(result)
                print(f"  {result.outcome}", flush=True)
                for stack, count in result.samples.most_common(8):
                    print(f"  {count:5d} × {stack}")
    finally:
        sandbox.stop()
    print_table(args.accounts, results, args.sandbox, load_before)
    worst = max(
        (max(r.stalls, default=0.0) for r in results if "subprocess" in r.label), default=None
    )
    return 0 if worst is not None and worst <= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
