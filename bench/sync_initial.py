"""Benchmark 1: initial sync of the Chargebee simulator over loopback into SQLite.

Usage::

    .venv/bin/python bench/sync_initial.py [--size 100000] [--rate-limit none]

``--size`` is the sandbox's customer count across both Chargebee sites (the ``acme`` site
holds about half, with ~1.5 subscriptions and ~5 invoices per customer). The sandbox
runs in a separate process (``billbridge sandbox``), so the peak RSS printed is the
sync's own. Prints records/s, API calls against the minimum (records ÷ 100, Chargebee's
largest page) and peak RSS.

Not done yet: the tap-chargebee comparison (see the closing note of issue 4).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.sandbox.credentials import CHARGEBEE_KEYS  # noqa: E402
from desktop.secrets import MemorySecretStore  # noqa: E402
from desktop.storage.database import open_database  # noqa: E402
from desktop.sync.connections import ConnectionService  # noqa: E402
from desktop.sync.engine import RunSummary, SyncEngine  # noqa: E402


def free_port_base() -> int:
    """Four consecutive free ports (one per sandbox mount)."""
    for base in range(20_000, 60_000, 7):
        try:
            sockets = []
            for offset in range(4):
                s = socket.socket()
                s.bind(("127.0.0.1", base + offset))
                sockets.append(s)
            for s in sockets:
                s.close()
            return base
        except OSError:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


class SandboxProcess:
    """``billbridge sandbox`` in a child process, on loopback."""

    def __init__(self, size: int, rate_limit: str | None = None) -> None:
        self.port_base = free_port_base()
        command = [
            sys.executable, "-m", "desktop", "sandbox", "--size", str(size),
            "--vendors", "chargebee", "--port-base", str(self.port_base),
        ]  # fmt: skip
        if rate_limit:
            command += ["--rate-limit", f"chargebee={rate_limit}"]
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    self.process.stderr.read().decode() if self.process.stderr else ""
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port_base), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the sandbox did not start")

    def base_url(self, site: str = "acme") -> str:
        return f"http://127.0.0.1:{self.port_base}/chargebee/{site}/api/v2"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def setup(folder: Path, sandbox: SandboxProcess, **settings: object) -> SyncEngine:
    """A fresh SQLite workspace with the Chargebee connection; returns an engine."""
    database = open_database(f"sqlite:///{folder / 'bench.sqlite3'}")
    secrets = MemorySecretStore()
    ConnectionService(database, secrets).add(
        name="Acme",
        kind="chargebee",
        settings={"site": "acme", "base_url": sandbox.base_url(), **settings},
        secret=CHARGEBEE_KEYS["acme"],
    )
    return SyncEngine(database, secrets)


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--rate-limit", default="none", help="client budget (none = off)")
    parser.add_argument("--concurrency", type=int, default=5)
    args = parser.parse_args()
    sandbox = SandboxProcess(args.size)
    try:
        with tempfile.TemporaryDirectory() as folder:
            engine = setup(
                Path(folder),
                sandbox,
                rate_limit=args.rate_limit,
                concurrency=args.concurrency,
            )
            started = time.perf_counter()
            summary: RunSummary = engine.run("Acme", trigger="cli")
            seconds = time.perf_counter() - started
            size = os.path.getsize(Path(folder) / "bench.sqlite3")
            engine.database.close()
    finally:
        sandbox.stop()
    minimum = sum(-(-n // 100) for n in _stream_counts(summary))
    print(
        table(
            [
                ("sandbox customers (both sites)", f"{args.size:,}"),
                ("records fetched", f"{summary.fetched:,}"),
                ("rows created", f"{summary.created:,}"),
                ("seconds", f"{seconds:.1f}"),
                ("records/s", f"{summary.fetched / seconds:,.0f}"),
                ("API calls", f"{summary.api_calls:,}"),
                ("API calls minimum (per stream ⌈records/100⌉)", f"{minimum:,}"),
                ("peak RSS (MB)", f"{peak_rss_mb():,.0f}"),
                ("SQLite file (MB)", f"{size / 2**20:,.0f}"),
                ("status", summary.status),
            ]
        )
    )


def _stream_counts(summary: RunSummary) -> list[int]:
    """Records per stream are not stored per run; approximate the minimum from totals."""
    return [summary.fetched]


if __name__ == "__main__":
    main()
