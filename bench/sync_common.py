"""Shared pieces of the sync benchmarks (not a benchmark itself).

* :class:`SandboxProcess` — ``billbridge sandbox`` in its own process on 127.0.0.1, so the
  peak RSS a benchmark prints is the sync's own and the simulator gets its own core;
* :func:`workspace` — a fresh SQLite workspace with one Chargebee connection;
* :func:`table` and :func:`peak_rss_mb` — the printed figures;
* :class:`TapChargebee` — Singer's ``tap-chargebee`` from PyPI in a throwaway venv,
  redirected to the simulator by a ``sitecustomize`` (the tap itself is not changed).
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from desktop.sandbox.credentials import CHARGEBEE_KEYS  # noqa: E402
from desktop.secrets import MemorySecretStore  # noqa: E402
from desktop.storage.database import open_database  # noqa: E402
from desktop.sync.connections import ConnectionService  # noqa: E402
from desktop.sync.engine import SyncEngine  # noqa: E402

#: The PyPI release the comparison was written against.
TAP_VERSION = "1.7.1"


def free_port_base(count: int = 4) -> int:
    """``count`` consecutive free ports on 127.0.0.1 (one per sandbox mount)."""
    for base in range(20_000, 60_000, 7):
        sockets: list[socket.socket] = []
        try:
            for offset in range(count):
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


class SandboxProcess:
    """``billbridge sandbox`` (Chargebee only) in a child process, on loopback.

    Args:
        size: customers across both Chargebee sites (``acme`` holds 80 %).
        rate_limit: the simulator's budget, e.g. ``"100/60"`` (``None``: unlimited).
    """

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
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"the sandbox stopped: {error}")
            try:
                with socket.create_connection(("127.0.0.1", self.port_base), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the sandbox did not start")

    @property
    def origin(self) -> str:
        """The Chargebee mount's origin."""
        return f"http://127.0.0.1:{self.port_base}"

    def base_url(self, site: str = "acme") -> str:
        """A site's Chargebee API base URL."""
        return f"{self.origin}/chargebee/{site}/api/v2"

    def admin(self, path: str, body: Any = None) -> Any:
        """Calls the sandbox's admin API (``/_sandbox/...``)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.origin}/_sandbox/{path}",
            data=data,
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    def truth_count(self, kind: str, site: str = "acme") -> int:
        """Live records of a kind on a site, as the simulator holds them."""
        answer = self.admin(f"truth?vendor=chargebee&kind={kind}&site={site}")
        ids = answer.get("ids") if isinstance(answer, dict) else answer
        return len(ids or [])

    def stop(self) -> None:
        """Stops the simulator."""
        self.process.terminate()
        self.process.wait(timeout=30)


def workspace(path: Path | str, sandbox: SandboxProcess, **settings: object) -> SyncEngine:
    """A fresh workspace with the ``Acme`` Chargebee connection: SQLite at ``path``, or
    the database URL ``path`` (empty, see :func:`scratch_postgres`)."""
    url = path if isinstance(path, str) else f"sqlite:///{path}"
    database = open_database(url)
    secrets = MemorySecretStore()
    ConnectionService(database, secrets).add(
        name="Acme",
        kind="chargebee",
        settings={"site": "acme", "base_url": sandbox.base_url(), **settings},
        secret=CHARGEBEE_KEYS["acme"],
    )
    return SyncEngine(database, secrets)


@contextmanager
def scratch_postgres(server_url: str) -> Iterator[str]:
    """A new empty database on the PostgreSQL server of ``server_url``, dropped after."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    name = f"billbridge_bench_{os.getpid()}_{int(time.time())}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """A plain text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            str(v).ljust(widths[i]) if i == 0 else str(v).rjust(widths[i])
            for i, v in enumerate(row)
        ]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------ tap-chargebee

SITECUSTOMIZE = textwrap.dedent(
    '''\
    """Benchmark only: send tap-chargebee to the loopback simulator, without its limiter."""
    import os
    import re

    import singer.utils

    # tap_chargebee.client decorates make_request with ratelimit(100, 60) at import time.
    singer.utils.ratelimit = lambda limit, every: (lambda func: func)

    import requests.adapters

    _TARGET = os.environ["BILLBRIDGE_TAP_TARGET"]
    _PATTERN = re.compile(r"^https://([a-z0-9-]+)[.]chargebee[.]com/")
    _send = requests.adapters.HTTPAdapter.send


    def _redirected(self, request, *args, **kwargs):
        request.url = _PATTERN.sub(lambda m: f"{_TARGET}/{m.group(1)}/", request.url)
        return _send(self, request, *args, **kwargs)


    requests.adapters.HTTPAdapter.send = _redirected

    # The simulator, like Chargebee, omits absent values, and some records have no
    # updated_at; the tap crashes on the first one (datetime.fromtimestamp(None)). To
    # measure it at all, parsed answers get updated_at = created_at where it is missing
    # (a loop over 100 parsed dicts per page: nothing next to the tap's own work).
    import requests.models

    _json = requests.models.Response.json


    def _filled(self, *args, **kwargs):
        data = _json(self, *args, **kwargs)
        for entry in data.get("list", ()) if isinstance(data, dict) else ():
            for record in entry.values():
                if isinstance(record, dict) and record.get("updated_at") is None:
                    record["updated_at"] = record.get("created_at") or 0
        return data


    requests.models.Response.json = _filled
    '''
)

#: The tap's streams holding the same data Billbridge syncs (plans, customers and the
#: users on them, subscriptions, invoices).
TAP_STREAMS = ("item_prices", "customers", "subscriptions", "invoices")


@dataclass
class TapResult:
    """What one tap run did."""

    records: dict[str, int]
    requests: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    exit_code: int


class TapChargebee:
    """tap-chargebee in its own venv, pointed at a :class:`SandboxProcess`.

    Args:
        venv: the venv folder (created and filled from PyPI when it has no tap yet).
        work: a folder for its config, catalog, sitecustomize and log.
    """

    def __init__(self, venv: Path, work: Path) -> None:
        self.venv = venv
        self.work = work
        self.python = venv / "bin" / "python"

    def install(self) -> None:
        """Creates the venv and installs tap-chargebee from PyPI, unless already there."""
        if (self.venv / "bin" / "tap-chargebee").exists():
            return
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        subprocess.run(
            [str(self.python), "-m", "pip", "install", "-q", f"tap-chargebee=={TAP_VERSION}"],
            check=True,
        )

    def _env(self, sandbox: SandboxProcess) -> dict[str, str]:
        (self.work / "sitecustomize.py").write_text(SITECUSTOMIZE)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONPATH"] = str(self.work)
        env["BILLBRIDGE_TAP_TARGET"] = f"{sandbox.origin}/chargebee"
        return env

    def run(self, sandbox: SandboxProcess, site: str = "acme") -> TapResult:
        """Discovers, selects :data:`TAP_STREAMS` and syncs; records go to /dev/null."""
        self.work.mkdir(parents=True, exist_ok=True)
        config = self.work / "config.json"
        config.write_text(
            json.dumps(
                {
                    "api_key": CHARGEBEE_KEYS[site],
                    "site": site,
                    "start_date": "2000-01-01T00:00:00Z",
                }
            )
        )
        env = self._env(sandbox)
        tap = str(self.venv / "bin" / "tap-chargebee")
        found = subprocess.run(
            [tap, "--config", str(config), "--discover"],
            env=env,
            capture_output=True,
            check=True,
        )
        catalog = json.loads(found.stdout)
        for entry in catalog["streams"]:
            if entry["tap_stream_id"] in TAP_STREAMS:
                for item in entry["metadata"]:
                    if item["breadcrumb"] == []:
                        item["metadata"]["selected"] = True
        catalog["streams"] = [s for s in catalog["streams"] if s["tap_stream_id"] in TAP_STREAMS]
        (self.work / "catalog.json").write_text(json.dumps(catalog))
        log = self.work / "tap.log"
        started = time.perf_counter()
        with open(os.devnull, "wb") as sink, open(log, "wb") as errors:
            child = subprocess.Popen(
                [tap, "--config", str(config), "--catalog", str(self.work / "catalog.json")],
                env=env,
                stdout=sink,
                stderr=errors,
            )
            _pid, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        text = log.read_text(errors="replace")
        # singer's record counters log what they counted since their last report
        records: dict[str, int] = {}
        for line in text.splitlines():
            if "METRIC:" in line and '"record_count"' in line:
                metric = json.loads(line.split("METRIC:", 1)[1])
                stream = metric["tags"].get("endpoint", "?")
                records[stream] = records.get(stream, 0) + int(metric["value"])
        return TapResult(
            records=records,
            requests=text.count("Making GET request"),
            seconds=seconds,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            peak_rss_mb=usage.ru_maxrss / 1024,
            exit_code=child.returncode,
        )
