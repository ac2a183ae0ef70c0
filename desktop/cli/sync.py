"""``billbridge sync|fetch|export|runs|errors``: headless syncs for cron and systemd."""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any, TextIO

from sqlalchemy import Select, select

from desktop.cli.connections import secret_from_env
from desktop.cli.context import CliContext
from desktop.errors import BillbridgeError, ConfigurationError
from desktop.health.after_sync import after_sync_hook
from desktop.jobs import Cancelled, CancelToken, JobContext, Progress
from desktop.storage import models
from desktop.sync.engine import RunSummary, SyncEngine
from desktop.sync.locks import this_host
from desktop.sync.registry import BILLING_KINDS, CRM_KINDS

EXPORTS = ("accounts", "users", "subscriptions", "invoices")

SYNC_EXIT_HELP = """\
exit status:
  0    the run succeeded
  1    the run finished but some records failed (listed by 'billbridge errors')
  2    the connection failed (unreachable, key refused, another run holds it, …)
  130  cancelled with Ctrl-C"""


def register(subparsers: Any) -> None:
    """Adds the ``sync``, ``fetch``, ``export``, ``runs`` and ``errors`` commands."""
    sync = subparsers.add_parser(
        "sync",
        help="sync one billing connection, or all",
        description=(
            "Reads what changed since the last run (everything with --full) and writes it\n"
            "to the workspace, with a progress bar on a terminal and a one-line summary.\n"
            "Ctrl-C or SIGTERM cancels after the current request; a second one stops at\n"
            "once. "
            "What was written is kept either way."
        ),
        epilog=SYNC_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sync.add_argument("name", nargs="?", help="the connection's name")
    sync.add_argument(
        "--all", action="store_true", help="sync every billing connection that is not disabled"
    )
    sync.add_argument(
        "--full",
        action="store_true",
        help="read everything and reconcile (records gone from the source are marked deleted)",
    )
    sync.add_argument("--secret-env", metavar="VAR", help="read the secret from VAR (not stored)")
    sync.set_defaults(handler=run_sync)

    fetch = subparsers.add_parser(
        "fetch",
        help="refresh one account by its source id",
        description="Reads one account with its users, subscriptions and invoices now.",
        epilog=SYNC_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument("name", help="the connection's name")
    fetch.add_argument("source_id", help="the account's id in the source (its customer id)")
    fetch.add_argument("--secret-env", metavar="VAR", help="read the secret from VAR (not stored)")
    fetch.set_defaults(handler=run_fetch)

    export = subparsers.add_parser(
        "export",
        help="export synced records as CSV or JSON lines",
        description=(
            "Writes synced records to standard output (or --output FILE), one row each "
            "with its connection, source id and normalised fields: money in minor units "
            "(cents) with its currency, times in ISO 8601 UTC."
        ),
    )
    export.add_argument("what", choices=EXPORTS, help="which records")
    export.add_argument(
        "--format", choices=("csv", "jsonl"), default="csv", help="csv (default) or JSON lines"
    )
    export.add_argument("--connection", metavar="NAME", help="only this connection's records")
    export.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write to FILE instead (replaced only once the whole export is written)",
    )
    export.set_defaults(handler=run_export)

    runs = subparsers.add_parser("runs", help="list sync runs (the import history)")
    runs.add_argument("name", nargs="?", help="only this connection's runs")
    runs.set_defaults(handler=run_runs)

    errors = subparsers.add_parser("errors", help="list records that failed to sync")
    errors.add_argument("name", nargs="?", help="only this connection's errors")
    errors.set_defaults(handler=run_errors)


# ---------------------------------------------------------------------- progress


class ProgressBar:
    """A one-line progress bar on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.enabled = stream.isatty()
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        width = 30
        if progress.total:
            filled = min(width, int(width * progress.done / max(progress.total, 1)))
            bar = "#" * filled + "." * (width - filled)
            count = f"{progress.done:,}/{progress.total:,}"
        else:
            spin = int(now * 4) % width
            bar = "." * spin + "#" + "." * (width - spin - 1)
            count = f"{progress.done:,}"
        # the health step after a sync reports on the same meter: its count restarts at 0
        rate = f" {progress.rate:,.0f}/s" if progress.rate and progress.rate > 0 else ""
        self.stream.write(f"\r{self.label} [{bar}] {count}{rate}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        """Clears the line."""
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _cancel_on_signals(token: CancelToken) -> dict[int, Any]:
    """Ctrl-C (or SIGTERM) cancels cooperatively at the next page; returns the old handlers.

    A second Ctrl-C (or SIGTERM) stops at once (a request the source is slow to answer is
    not waited for); :func:`_run_one` then records the run as cancelled. SIGTERM is what
    ``timeout``, systemd and container runtimes send to stop a scheduled sync.
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        if signum == signal.SIGINT:
            notice = "cancelling after the current request; press Ctrl-C again to stop at once"
        else:
            notice = "stopping (SIGTERM) after the current request; a second SIGTERM stops at once"
        print(f"\nbillbridge: {notice}.", file=sys.stderr)

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread
            break
    return previous


def _close_stopped_run(context: CliContext, name: str) -> None:
    """Records this process's run of ``name`` as cancelled after a second Ctrl-C.

    The engine closes a run it cancels itself; one stopped at once by ``KeyboardInterrupt``
    would otherwise stay "running" until a later run finds it. Every page it wrote was
    committed in its own transaction, so what it wrote is consistent and kept.
    """
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a third Ctrl-C waits for this
    previous_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with context.database().transaction() as session:
            runs = session.scalars(
                select(models.SyncRun)
                .join(models.Connection, models.Connection.id == models.SyncRun.connection_id)
                .where(
                    models.Connection.name == name,
                    models.SyncRun.status == models.RunStatus.RUNNING.value,
                    models.SyncRun.owner == f"{this_host()}:{os.getpid()}",
                )
            ).all()
            for run in runs:
                run.status = models.RunStatus.CANCELLED.value
                run.finished_at = context.clock()
                run.message = "Stopped at once by a second Ctrl-C; what was written is kept."
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)


def _engine(context: CliContext) -> SyncEngine:
    database = context.database()
    return SyncEngine(
        database,
        context.secrets(),
        context.clock,
        after_run=after_sync_hook(database, context.clock),
    )


def _run_one(
    engine: SyncEngine,
    name: str,
    *,
    full: bool,
    secret: str | None,
    context: CliContext,
    source_id: str | None = None,
) -> tuple[int, RunSummary | None]:
    """Syncs ``name`` (or fetches its account ``source_id``) with Ctrl-C/SIGTERM handling."""

    def start(job: JobContext) -> RunSummary:
        if source_id is None:
            return engine.run(name, full=full, trigger="cli", context=job, secret_override=secret)
        return engine.fetch_account(
            name, source_id, trigger="cli", context=job, secret_override=secret
        )

    return run_guarded(name, context, start)


def run_guarded(
    name: str, context: CliContext, start: Callable[[JobContext], RunSummary]
) -> tuple[int, RunSummary | None]:
    """Runs ``start`` (a sync or fetch of ``name``) with a progress bar and signal handling.

    Prints the summary line (or the failure as one sentence) and returns the exit code
    with the summary: Ctrl-C or SIGTERM cancels after the current request, a second one
    stops at once and the run is recorded as cancelled (exit 130).
    """
    token = CancelToken()
    bar = ProgressBar(sys.stderr, name)
    previous = _cancel_on_signals(token)
    try:
        summary = start(JobContext(progress_callback=bar, cancel=token))
    except Cancelled:
        bar.close()
        print(f"{name}: cancelled; what was written is kept.", file=context.out)
        return 130, None
    except KeyboardInterrupt:
        bar.close()
        _close_stopped_run(context, name)
        print(f"{name}: stopped at once; what was written is kept.", file=context.out)
        return 130, None
    except BillbridgeError as error:
        bar.close()
        print(f"billbridge: {error}", file=sys.stderr)
        return 2, None
    finally:
        for signum, old_handler in previous.items():
            signal.signal(signum, old_handler)
    bar.close()
    print(summary.line(), file=context.out)
    return summary.exit_code, summary


def run_sync(args: argparse.Namespace, context: CliContext) -> int:
    """Syncs one connection or all; exit 0 ok, 1 records failed, 2 connection failure."""
    if bool(args.name) == bool(args.all):
        print("billbridge: give a connection name or --all (not both).", file=sys.stderr)
        return 2
    secret = secret_from_env(args.secret_env)
    engine = _engine(context)
    if args.name:
        row = engine.connection(args.name)  # a clear "no such connection" before anything else
        if row.kind in CRM_KINDS:
            from desktop.cli.crm import run_sync as run_crm_sync

            return run_crm_sync(args.name, full=args.full, secret=secret, context=context)
        return _run_one(engine, args.name, full=args.full, secret=secret, context=context)[0]
    with context.database().session() as session:
        names = session.scalars(
            select(models.Connection.name)
            .where(
                models.Connection.kind.in_(BILLING_KINDS),
                models.Connection.status != models.ConnectionStatus.DISABLED.value,
            )
            .order_by(models.Connection.name)
        ).all()
    if not names:
        print("No billing connections to sync.", file=context.out)
        return 0
    worst = 0
    for name in names:
        code, _ = _run_one(engine, name, full=args.full, secret=secret, context=context)
        if code == 130:
            return 130
        worst = max(worst, code)
    return worst


def run_fetch(args: argparse.Namespace, context: CliContext) -> int:
    """Refreshes one account by source id."""
    secret = secret_from_env(args.secret_env)
    return _run_one(
        _engine(context),
        args.name,
        full=False,
        secret=secret,
        context=context,
        source_id=args.source_id,
    )[0]


# ---------------------------------------------------------------------- export


def _value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": (
        "account_identifier", "customer_source_id", "first_name", "last_name", "email",
        "phone", "is_primary",
    ),
    "subscriptions": (
        "account_identifier", "customer_source_id", "number", "status", "plan_code",
        "plan_name", "quantity", "amount_minor", "mrr_minor", "currency", "interval_unit",
        "interval_count", "started_at", "trial_ends_at", "current_term_ends_at",
        "next_billing_at", "cancelled_at",
    ),
    "invoices": (
        "account_identifier", "customer_source_id", "subscription_source_id", "number",
        "status", "total_minor", "amount_due_minor", "amount_paid_minor", "currency",
        "issued_on", "due_on", "paid_at",
    ),
}  # fmt: skip
_COMMON_TAIL = ("source_created_at", "source_updated_at", "deleted_at", "synced_at")


def _export_query(what: str, connection_id: int | None) -> tuple[tuple[str, ...], Any]:
    conn = models.Connection
    if what == "accounts":
        src, acc = models.AccountSource, models.Account
        columns = (
            "connection", "source_id", "identifier", "name", "email", "company", "phone",
            "currency", *_COMMON_TAIL,
        )  # fmt: skip
        query: Any = (
            select(
                conn.name,
                src.source_id,
                src.identifier,
                src.name,
                src.email,
                src.company,
                acc.phone,
                acc.currency,
                src.source_created_at,
                src.source_updated_at,
                src.deleted_at,
                src.synced_at,
            )
            .join(conn, conn.id == src.connection_id)
            .join(acc, acc.id == src.account_id)
            .order_by(conn.name, src.source_id)
        )
        if connection_id is not None:
            query = query.where(src.connection_id == connection_id)
        return columns, query
    model: Any = {
        "users": models.User,
        "subscriptions": models.Subscription,
        "invoices": models.Invoice,
    }[what]
    fields = _COLUMNS[what]
    selected: list[Any] = [conn.name, model.source_id]
    for name in fields:
        if name == "account_identifier":
            selected.append(models.Account.identifier)
        else:
            selected.append(getattr(model, name))
    selected += [getattr(model, name) for name in _COMMON_TAIL]
    query = (
        select(*selected)
        .join(conn, conn.id == model.connection_id)
        .outerjoin(models.Account, models.Account.id == model.account_id)
        .order_by(conn.name, model.source_id)
    )
    if connection_id is not None:
        query = query.where(model.connection_id == connection_id)
    return ("connection", "source_id", *fields, *_COMMON_TAIL), query


def _rows(context: CliContext, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    with context.database().session() as session:
        for row in session.execute(query.execution_options(yield_per=2000)):
            yield tuple(row)


def run_export(args: argparse.Namespace, context: CliContext) -> int:
    """Writes the records to standard output, or to ``--output`` (whole or not at all)."""
    connection_id = None
    if args.connection:
        connection_id = _engine(context).connection(args.connection).id
    columns, query = _export_query(args.what, connection_id)
    if not args.output:
        _write_records(context.out, args.format, columns, _rows(context, query))
        return 0
    target = Path(args.output).expanduser()
    if not target.parent.is_dir():
        raise ConfigurationError(
            f"Billbridge cannot write {target}: the folder {target.parent} does not exist."
        )
    if target.is_dir():
        raise ConfigurationError(f"Billbridge cannot write {target}: it is a folder.")
    try:
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", newline="", dir=target.parent, prefix=f".{target.name}.",
            delete=False,
        ) as handle:  # fmt: skip
            partial = Path(handle.name)
            try:
                count = _write_records(handle, args.format, columns, _rows(context, query))
            except BaseException:
                handle.close()
                partial.unlink(missing_ok=True)
                raise
        os.chmod(partial, _mode_for(target))
        os.replace(partial, target)
    except OSError as error:
        raise ConfigurationError(
            f"Billbridge cannot write {target} ({error.strerror or type(error).__name__})."
        ) from None
    print(f"Exported {count:,} {args.what} to {target}.", file=context.out)
    return 0


def _mode_for(target: Path) -> int:
    """The file mode ``> target`` would give: the existing file's, else 0666 less umask."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_records(
    out: IO[str], fmt: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]
) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _value(v) for v in row])
            count += 1
    else:
        for row in rows:
            record = {c: _value(v) for c, v in zip(columns, row, strict=True)}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


# ---------------------------------------------------------------------- history


def _connection_filter(context: CliContext, name: str | None) -> int | None:
    if not name:
        return None
    return _engine(context).connection(name).id


def run_runs(args: argparse.Namespace, context: CliContext) -> int:
    """Lists sync runs, newest first."""
    connection_id = _connection_filter(context, args.name)
    query = (
        select(models.SyncRun, models.Connection.name)
        .join(models.Connection, models.Connection.id == models.SyncRun.connection_id)
        .order_by(models.SyncRun.id.desc())
        .limit(200)
    )
    if connection_id is not None:
        query = query.where(models.SyncRun.connection_id == connection_id)
    out = context.out
    with context.database().session() as session:
        rows = session.execute(query).all()
        if not rows:
            print("No sync runs yet.", file=out)
            return 0
        print(
            f"{'RUN':>5} {'CONNECTION':<20} {'KIND':<11} {'TRIGGER':<9} {'STATUS':<11} "
            f"{'STARTED (UTC)':<16} {'SECONDS':>8} {'FETCHED':>9} {'CREATED':>8} "
            f"{'UPDATED':>8} {'DELETED':>8} {'ERRORS':>7} {'API':>6}",
            file=out,
        )
        for run, name in rows:
            seconds = (
                f"{(run.finished_at - run.started_at).total_seconds():.1f}"
                if run.finished_at
                else "-"
            )
            print(
                f"{run.id:>5} {name[:20]:<20} {run.kind:<11} {run.trigger:<9} {run.status:<11} "
                f"{run.started_at:%Y-%m-%d %H:%M} {seconds:>8} {run.fetched:>9,} "
                f"{run.created:>8,} {run.updated:>8,} {run.deleted:>8,} {run.errors:>7,} "
                f"{run.api_calls:>6,}",
                file=out,
            )
    return 0


def run_errors(args: argparse.Namespace, context: CliContext) -> int:
    """Lists unresolved sync errors, newest first."""
    connection_id = _connection_filter(context, args.name)
    query = (
        select(models.SyncError, models.Connection.name)
        .join(models.Connection, models.Connection.id == models.SyncError.connection_id)
        .where(models.SyncError.resolved_at.is_(None))
        .order_by(models.SyncError.id.desc())
        .limit(1000)
    )
    if connection_id is not None:
        query = query.where(models.SyncError.connection_id == connection_id)
    out = context.out
    with context.database().session() as session:
        rows = session.execute(query).all()
        if not rows:
            print("No sync errors.", file=out)
            return 0
        print(f"{'RUN':>5} {'CONNECTION':<20} {'STREAM':<14} {'SOURCE ID':<24} REASON", file=out)
        for error, name in rows:
            print(
                f"{error.run_id or '-':>5} {name[:20]:<20} {error.stream:<14} "
                f"{(error.source_id or '-')[:24]:<24} {error.reason}",
                file=out,
            )
    return 0
