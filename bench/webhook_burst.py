"""Benchmark: a burst of Zoho Billing webhook events against ``billbridge serve`` on loopback.

Phase 1 (**burst**): ``billbridge serve`` runs as its own process on a fresh workspace
(SQLite by default, or ``--db``) with one Zoho Billing connection, ``--records``
subscriptions and invoices, and one receiver. A bounded load generator (threads, one
keep-alive ``httpx.Client`` each, 127.0.0.1 only) sends ``--rate`` events per second for
``--seconds`` seconds on a fixed schedule: mostly new events of every family, with
duplicates (re-sent event ids) and malformed bodies (bad JSON, unknown shapes) mixed in.
It then waits until every stored event is applied and checks:

* none lost — every event id answered 200 is stored, once;
* none applied twice — every stored event was claimed exactly once (``attempts == 1``);
* duplicates acknowledged (200) and counted on the original; malformed ones answered 400
  and stored as ``rejected``;
* response times (p50/p99/max) measured from each request's send, and how late the
  generator sent against its schedule (if it lagged, the offered rate was lower).

Phase 2 (**kill**): a new ``serve`` process on the same workspace takes another burst and
is killed with SIGKILL in the middle of it. Every event answered 200 before the kill must
be in the workspace; a restarted service then applies what was waiting, each once.

Usage::

    .venv/bin/python bench/webhook_burst.py [--rate 1000] [--seconds 10] [--db URL]
        [--clients 48] [--duplicates 0.05] [--malformed 0.02] [--kill-after 2.0]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from desktop.secrets import MemorySecretStore  # noqa: E402
from desktop.storage.database import Database, open_database  # noqa: E402
from desktop.storage.models import (  # noqa: E402
    Account,
    AccountSource,
    Connection,
    Invoice,
    Subscription,
    WebhookEvent,
)
from desktop.webhooks.auth import authorization_header, token_env_name  # noqa: E402
from desktop.webhooks.receivers import create_receiver  # noqa: E402

RECEIVER = "bench"
PATH = f"/webhooks/zoho-billing/{RECEIVER}"
START = datetime(2026, 1, 1, tzinfo=UTC)


# ------------------------------------------------------------------------- workspace


def seed(database: Database, records: int) -> int:
    """A Zoho Billing connection with ``records`` customers, subscriptions and invoices."""
    with database.transaction() as session:
        connection = Connection(name="Bench Zoho", kind="zoho-billing", settings={"org_id": "1"})
        session.add(connection)
        session.flush()
        for k in range(records):
            account = Account(identifier=f"C{k}", name=f"Customer {k}", currency="EUR")
            session.add(account)
            session.flush()
            session.add(
                AccountSource(
                    connection_id=connection.id,
                    source_id=f"C{k}",
                    account_id=account.id,
                    identifier=f"C{k}",
                    name=f"Customer {k}",
                    raw={"customer_id": f"C{k}", "display_name": f"Customer {k}"},
                )
            )
            session.add(
                Subscription(
                    connection_id=connection.id,
                    source_id=f"S{k}",
                    account_id=account.id,
                    customer_source_id=f"C{k}",
                    status="active",
                    plan_code="team",
                    plan_name="Team",
                    currency="EUR",
                    amount_minor=9000,
                    mrr_minor=9000,
                    raw={
                        "subscription_id": f"S{k}",
                        "customer_id": f"C{k}",
                        "status": "live",
                        "amount": 90,
                        "currency_code": "EUR",
                        "interval": 1,
                        "interval_unit": "months",
                        "plan": {"plan_code": "team", "name": "Team", "quantity": 1},
                    },
                )
            )
            session.add(
                Invoice(
                    connection_id=connection.id,
                    source_id=f"I{k}",
                    account_id=account.id,
                    customer_source_id=f"C{k}",
                    status="open",
                    currency="EUR",
                    total_minor=9000,
                    amount_due_minor=9000,
                    due_on=date(2026, 12, 31),
                    raw={
                        "invoice_id": f"I{k}",
                        "customer_id": f"C{k}",
                        "invoice_number": f"INV-{k:06d}",
                        "status": "sent",
                        "total": 90,
                        "balance": 90,
                        "currency_code": "EUR",
                        "due_date": "2026-12-31",
                    },
                )
            )
        return connection.id


# ------------------------------------------------------------------------------ load


@dataclass
class Planned:
    """One request of the schedule."""

    kind: str  # new, duplicate, malformed
    event_id: str | None
    body: bytes


def event_document(number: int, records: int) -> dict[str, Any]:
    """A well-formed event of one of the families, on one of the seeded records."""
    k = number % records
    when = (START + timedelta(milliseconds=number)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    family = number % 5
    if family == 0:
        data: dict[str, Any] = {"subscription": {"subscription_id": f"S{k}", "status": "live"}}
        kind = "subscription_renewed"
    elif family == 1:
        data = {
            "subscription": {
                "subscription_id": f"S{k}",
                "status": "live",
                "amount": 120,
                "plan": {"plan_code": "business", "name": "Business"},
            }
        }
        kind = "subscription_upgraded"
    elif family == 2:
        data = {"invoice": {"invoice_id": f"I{k}", "status": "partially_paid", "balance": 40}}
        kind = "invoice_updated"
    elif family == 3:
        data = {
            "payment": {
                "payment_id": f"P{number}",
                "date": "2026-01-02",
                "invoices": [{"invoice_id": f"I{k}", "balance_amount": 0}],
            }
        }
        kind = "payment_thankyou"
    else:
        data = {
            "customer": {"customer_id": f"C{k}", "email": f"billing{number}@c{k}.example"},
            "subscription": {"subscription_id": f"S{k}", "status": "unpaid"},
        }
        kind = "subscription_unpaid"
    return {"event_id": f"ev-{number}", "event_type": kind, "event_time": when, "data": data}


def plan(total: int, records: int, duplicates: float, malformed: float, seed: int) -> list[Planned]:
    """The schedule: new events with duplicates and malformed bodies mixed in."""
    rng = random.Random(seed)
    planned: list[Planned] = []
    sent: list[Planned] = []
    number = 0
    for _ in range(total):
        roll = rng.random()
        if roll < malformed:
            if rng.random() < 0.5:
                body = b'{"event_id": "broken", "event_type": '
            else:
                body = json.dumps({"event_id": f"odd-{number}", "event_type": "mystery"}).encode()
            planned.append(Planned("malformed", None, body))
        elif roll < malformed + duplicates and sent:
            original = sent[max(0, len(sent) - 1 - rng.randrange(min(len(sent), 200)))]
            planned.append(Planned("duplicate", original.event_id, original.body))
        else:
            document = event_document(number, records)
            item = Planned("new", document["event_id"], json.dumps(document).encode())
            number += 1
            planned.append(item)
            sent.append(item)
    return planned


@dataclass
class Result:
    """What happened to one planned request."""

    index: int
    kind: str
    event_id: str | None
    status: int | None  # None: no answer (connection failed)
    latency: float | None
    lag: float


@dataclass
class LoadReport:
    results: list[Result] = field(default_factory=list)
    elapsed: float = 0.0


def send(
    base: str,
    header: str,
    planned: list[Planned],
    rate: float,
    clients: int,
    stop: threading.Event | None = None,
) -> LoadReport:
    """Sends ``planned`` at ``rate`` per second from ``clients`` threads (open loop).

    Each thread keeps one ``httpx.Client`` connection alive.
    """
    counter = itertools.count()
    lock = threading.Lock()
    report = LoadReport()
    start = time.perf_counter() + 0.2
    headers = {"Authorization": header, "Content-Type": "application/json"}

    def worker() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=base, headers=headers, timeout=10.0, limits=limits) as client:
            while True:
                with lock:
                    index = next(counter)
                if index >= len(planned) or (stop is not None and stop.is_set()):
                    return
                due = start + index / rate
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                item = planned[index]
                sent_at = time.perf_counter()
                try:
                    response = client.post(PATH, content=item.body)
                    status: int | None = response.status_code
                    latency: float | None = time.perf_counter() - sent_at
                except httpx.HTTPError:
                    status, latency = None, None
                with lock:
                    report.results.append(
                        Result(index, item.kind, item.event_id, status, latency, sent_at - due)
                    )

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.elapsed = time.perf_counter() - start
    return report


def send_lean(
    base: str,
    header: str,
    planned: list[Planned],
    rate: float,
    clients: int,
    stop: threading.Event | None = None,
) -> LoadReport:
    """Like :func:`send`, from one asyncio loop writing HTTP/1.1 on ``clients`` keep-alive
    connections: a tenth of httpx's CPU per request, so on a 2-core machine the generator
    is not what limits the rate."""
    host, port = base.removeprefix("http://").split(":")
    report = LoadReport()

    def request(body: bytes) -> bytes:
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {header}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body

    async def connection(k: int, start: float) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        for index in range(k, len(planned), clients):
            if stop is not None and stop.is_set():
                return
            due = start + index / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            item = planned[index]
            sent_at = time.perf_counter()
            status: int | None = None
            latency: float | None = None
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, int(port))
                assert reader is not None
                writer.write(request(item.body))
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ")[1])
                length = next(
                    int(line.split(":", 1)[1])
                    for line in lines
                    if line.lower().startswith("content-length:")
                )
                await reader.readexactly(length)
                latency = time.perf_counter() - sent_at
                if any(line.lower() == "connection: close" for line in lines):
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                status, latency = None, None
                if writer is not None:
                    writer.close()
                writer = None
            report.results.append(
                Result(index, item.kind, item.event_id, status, latency, sent_at - due)
            )
        if writer is not None:
            writer.close()

    async def run() -> None:
        start = time.perf_counter() + 0.2
        await asyncio.gather(*(connection(k, start) for k in range(clients)))
        report.elapsed = time.perf_counter() - start

    asyncio.run(run())
    return report


# --------------------------------------------------------------------------- service


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_serve(url: str, token: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``billbridge serve`` in its own process, with the receiver token in its environment."""
    env = {**os.environ, token_env_name(RECEIVER): token, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--db", url, "serve", "--port", str(port),
         "--no-schedules"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"billbridge serve exited early; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("billbridge serve did not start within 60 s")


def wait_applied(database: Database, timeout: float) -> float:
    """Waits until no stored event waits to be applied; returns the seconds it took."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        with database.session() as session:
            waiting = session.scalar(
                select(func.count())
                .select_from(WebhookEvent)
                .where(WebhookEvent.status == "received")
            )
        if not waiting:
            return time.perf_counter() - start
        time.sleep(0.25)
    raise SystemExit(f"events were still waiting to be applied after {timeout:.0f} s")


def stored(database: Database) -> dict[str, tuple[str, int, int]]:
    """Stored events by event id: (status, deliveries, attempts)."""
    with database.session() as session:
        rows = session.execute(
            select(
                WebhookEvent.event_id,
                WebhookEvent.status,
                WebhookEvent.deliveries,
                WebhookEvent.attempts,
            ).where(WebhookEvent.event_id.is_not(None))
        ).all()
    return {str(e): (s, d, a) for e, s, d, a in rows}


def waiting_count(database: Database) -> int:
    """How many stored events wait to be applied."""
    with database.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(WebhookEvent)
                .where(WebhookEvent.status == "received")
            )
            or 0
        )


def applied_count(database: Database) -> int:
    """How many stored events were applied (or found to change nothing)."""
    with database.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(WebhookEvent)
                .where(WebhookEvent.status.in_(("applied", "ignored")))
            )
            or 0
        )


def rejected_count(database: Database) -> int:
    with database.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(WebhookEvent)
                .where(WebhookEvent.status == "rejected")
            )
            or 0
        )


# -------------------------------------------------------------------------- checking


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(value: float) -> str:
    return f"{value * 1000:7.1f}"


def latency_rows(results: list[Result]) -> list[tuple[str, int, str, str, str, str]]:
    rows = []
    for kind in ("new", "duplicate", "malformed", "all"):
        chosen = [r for r in results if kind in ("all", r.kind) and r.latency is not None]
        latencies = [r.latency for r in chosen if r.latency is not None]
        if latencies:
            rows.append(
                (
                    kind,
                    len(latencies),
                    ms(statistics.median(latencies)),
                    ms(percentile(latencies, 0.95)),
                    ms(percentile(latencies, 0.99)),
                    ms(max(latencies)),
                )
            )
    return rows


def check_burst(database: Database, report: LoadReport, before_rejected: int) -> list[str]:
    """The burst's verdicts, one line each (``FAIL`` lines mean a broken promise)."""
    lines: list[str] = []
    results = report.results
    acked = {r.event_id for r in results if r.status == 200 and r.event_id}
    statuses = Counter((r.kind, r.status) for r in results)
    rows = stored(database)
    lost = sorted(acked - set(rows))
    twice = sorted(e for e, (_s, _d, a) in rows.items() if a > 1)
    not_applied = sorted(e for e in acked if e in rows and rows[e][0] not in ("applied", "ignored"))
    deliveries = Counter(r.event_id for r in results if r.status == 200 and r.event_id)
    miscounted = sorted(e for e, n in deliveries.items() if e in rows and rows[e][1] != n)
    malformed_sent = sum(1 for r in results if r.kind == "malformed")
    malformed_400 = statuses[("malformed", 400)]
    rejected = rejected_count(database) - before_rejected
    unanswered = sum(1 for r in results if r.status is None)
    other = sum(
        n for (kind, status), n in statuses.items()
        if status is not None and not (status == 200 and kind != "malformed")
        and not (status == 400 and kind == "malformed")
    )  # fmt: skip

    def verdict(ok: bool, text: str) -> None:
        lines.append(f"{'ok  ' if ok else 'FAIL'}  {text}")

    verdict(not lost, f"none lost: {len(acked):,} acknowledged event ids, {len(lost)} missing")
    verdict(not twice, f"none applied twice: {len(twice)} events claimed more than once")
    verdict(not not_applied, f"all applied: {len(not_applied)} acknowledged but not applied")
    verdict(
        not miscounted,
        f"duplicates acknowledged and counted: {statuses[('duplicate', 200)]:,} answered 200, "
        f"{len(miscounted)} miscounted",
    )
    verdict(
        malformed_400 == malformed_sent == rejected,
        f"malformed: {malformed_sent:,} sent, {malformed_400:,} answered 400, "
        f"{rejected:,} stored as rejected",
    )
    verdict(unanswered == 0 and other == 0, f"{unanswered} unanswered, {other} unexpected answers")
    return lines


# ------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the burst")
    parser.add_argument("--db", help="workspace URL (default: a temporary SQLite file)")
    parser.add_argument("--records", type=int, default=500, help="seeded subscriptions")
    parser.add_argument("--clients", type=int, default=64, help="keep-alive connections")
    parser.add_argument(
        "--client",
        choices=("lean", "httpx"),
        default="lean",
        help="load generator: one asyncio loop writing HTTP/1.1 (default), or httpx threads",
    )
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--malformed", type=float, default=0.02)
    parser.add_argument("--kill-after", type=float, default=2.0, help="seconds into phase 2")
    parser.add_argument("--no-kill", action="store_true", help="skip the SIGKILL phase")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="webhook-burst-"))
    url = args.db or f"sqlite:///{folder / 'workspace.sqlite3'}"
    database = open_database(url)
    with database.session() as session:
        if session.scalar(select(func.count()).select_from(WebhookEvent)):
            raise SystemExit("Use an empty workspace for the benchmark.")
    seed(database, args.records)
    secrets = MemorySecretStore()
    _info, token = create_receiver(
        database, secrets, name=RECEIVER, connection_name="Bench Zoho", keep_token=False
    )
    header = authorization_header(RECEIVER, token)
    log = folder / "serve.log"
    total = int(args.rate * args.seconds)
    print(f"Workspace: {database.display}  ({database.dialect}); serve log: {log}")
    print(f"Phase 1: {total:,} requests at {args.rate:,.0f}/s for {args.seconds:g} s, "
          f"{args.clients} keep-alive clients, {args.duplicates:.0%} duplicates, "
          f"{args.malformed:.0%} malformed")  # fmt: skip

    sender = send_lean if args.client == "lean" else send
    port = free_port()
    serve = start_serve(url, token, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        planned = plan(total, args.records, args.duplicates, args.malformed, seed=1)
        generator_cpu = time.process_time()
        report = sender(base, header, planned, args.rate, args.clients)
        generator_cpu = time.process_time() - generator_cpu
        waiting_after = waiting_count(database)
        applied_during = applied_count(database)
        drain = wait_applied(database, timeout=600)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    results = report.results
    answered = [r for r in results if r.status is not None]
    achieved = len(answered) / report.elapsed if report.elapsed else 0.0
    lags = [r.lag for r in results]
    print()
    print(f"{'requests':<10} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, count, p50, p95, p99, top in latency_rows(results):
        print(f"{kind:<10} {count:>7,} {p50:>8} {p95:>8} {p99:>8} {top:>8}")
    acked = {r.event_id for r in results if r.status == 200 and r.event_id}
    rows = stored(database)
    print()
    print(f"{'sent':<34} {len(results):>9,}")
    print(
        f"{'answered':<34} {len(answered):>9,}  ({achieved:,.0f} req/s achieved over "
        f"{report.elapsed:.1f} s; generator lag p99 {ms(percentile(lags, 0.99)).strip()} ms)"
    )
    print(
        f"{'load generator CPU':<34} {1000 * generator_cpu / max(len(results), 1):>9.2f}  "
        "ms per request (one asyncio loop, raw HTTP/1.1 keep-alive)"
    )
    print(
        f"{'acknowledged (200)':<34} {sum(r.status == 200 for r in results):>9,}  "
        f"({len(acked):,} distinct event ids)"
    )
    malformed_400 = sum(r.kind == "malformed" and r.status == 400 for r in results)
    malformed_sent = sum(r.kind == "malformed" for r in results)
    print(f"{'malformed answered 400':<34} {malformed_400:>9,}  of {malformed_sent:,} sent")
    print(f"{'lost (acknowledged, not stored)':<34} {len(acked - set(rows)):>9,}")
    print(f"{'applied twice':<34} {sum(1 for _s, _d, a in rows.values() if a > 1):>9,}")
    drain_rate = waiting_after / drain if drain > 0 else float("inf")
    print(
        f"{'applied during the burst':<34} {applied_during:>9,}  (the applier yields to "
        "storing while events arrive)"
    )
    print(
        f"{'apply throughput after the burst':<34} {drain_rate:>9,.0f}  events/s "
        f"({waiting_after:,} waiting, applied in {drain:.1f} s)"
    )
    print(f"serve stopped with exit code {serve.returncode}")  # fmt: skip
    lines = check_burst(database, report, 0)
    print("\n".join(lines))
    failed = any(line.startswith("FAIL") for line in lines)

    if not args.no_kill:
        print()
        kill_total = int(args.rate * max(args.kill_after * 2, 1.0))
        print(f"Phase 2: {kill_total:,} requests at {args.rate:,.0f}/s; SIGKILL after "
              f"{args.kill_after:g} s")  # fmt: skip
        before_rejected = rejected_count(database)
        serve = start_serve(url, token, port, log)
        stop = threading.Event()
        planned = [
            Planned("new", f"k-{p.event_id}", p.body.replace(b'"ev-', b'"k-ev-'))
            if p.kind == "new"
            else p
            for p in plan(kill_total, args.records, 0.0, args.malformed, seed=2)
        ]

        def killer() -> None:
            time.sleep(args.kill_after + 0.2)
            serve.send_signal(signal.SIGKILL)

        threading.Thread(target=killer, daemon=True).start()
        report = sender(base, header, planned, args.rate, args.clients, stop)
        serve.wait(30)
        acked = {r.event_id for r in report.results if r.status == 200 and r.event_id}
        unanswered = sum(1 for r in report.results if r.status is None)
        rows = stored(database)
        lost = sorted(acked - set(rows))
        waiting = sum(1 for e in acked if rows.get(e, ("",))[0] == "received")
        print(f"killed with SIGKILL (exit {serve.returncode}); {len(acked):,} answered 200 "
              f"before, {unanswered:,} got no answer; {waiting:,} acknowledged events were "
              "waiting to be applied")  # fmt: skip
        verdict = "ok  " if not lost else "FAIL"
        print(f"{verdict}  no acknowledged event lost: {len(lost)} missing after the kill")
        serve = start_serve(url, token, port, log)
        try:
            drain = wait_applied(database, timeout=600)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
        rows = stored(database)
        twice = [e for e, (_s, _d, a) in rows.items() if a > 1]
        unapplied = [e for e in acked if rows[e][0] not in ("applied", "ignored")]
        ok = not twice and not unapplied
        print(f"{'ok  ' if ok else 'FAIL'}  after restart: applied the rest in {drain:.1f} s, "
              f"{len(unapplied)} not applied, {len(twice)} applied twice")  # fmt: skip
        failed = failed or bool(lost) or not ok
        _ = before_rejected
    database.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
