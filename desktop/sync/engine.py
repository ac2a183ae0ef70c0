"""The sync engine: runs a connection's connector and writes what it reads.

Usage (from a worker thread, the CLI or a test — never from a running event loop)::

    engine = SyncEngine(database, secrets)
    summary = engine.run("Acme", full=False, trigger="manual", context=JobContext(...))
    summary = engine.fetch_account("Acme", "cus_123", context=...)

How a run goes:

1. the connection's lock is taken (:mod:`desktop.sync.locks`; a second run is refused with
   :class:`~desktop.sync.locks.SyncBusy` naming the holder) and runs left ``running`` by a
   killed process are closed as ``interrupted``;
2. a Sync run row is created; the connector is built with the connection's secret (from
   the keychain, or ``secret_override`` read at run time and stored nowhere) and a
   :class:`~desktop.sync.http.ReadOnlyClient` whose rate budget all streams share;
3. every stream is read concurrently from its committed cursor; one writer thread
   commits each page — rows, Sync errors, run counters and the stream's cursor — in one
   transaction (:mod:`desktop.sync.writer`) while the stream fetches its next page;
4. cancel is checked between pages (data written so far is consistent; the run is
   ``cancelled`` and :class:`~desktop.jobs.Cancelled` is raised);
5. at the end, pending accounts whose identifier is now known are imported and the run
   is closed as ``succeeded``, ``partial`` (some records failed: see its Sync errors) or
   ``failed``. Rows written before their account existed are linked in the transaction
   that creates the account's source (page by page, through an index), never by one
   long transaction over every row at the end.

A stream whose full pass (``full=True``) was interrupted is finished as a full pass by
the next run, whatever it asks for, so its reconciliation is never lost. A full pass
reconciles (marks rows it did not see as deleted) only the streams whose full pass is
complete: see :func:`reconciles`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Connection as DbConnection
from sqlalchemy import select, update

from desktop.errors import BillbridgeError, NotFoundError
from desktop.jobs import Cancelled, CancelToken, JobContext
from desktop.secrets import SecretStore
from desktop.storage.database import Database
from desktop.storage.models import (
    AccountSource,
    Connection,
    ConnectionStatus,
    RunStatus,
    SyncCursor,
    SyncMode,
    SyncRun,
)
from desktop.sync.base import (
    ConnectionConfig,
    Connector,
    Page,
    RecordNotFound,
    SourceHttp,
    SyncFailure,
)
from desktop.sync.http import ReadOnlyClient, VendorPolicy, policy_for
from desktop.sync.identity import IdentityRule
from desktop.sync.locks import HeldLock, LockHolder, SyncLocks, this_host
from desktop.sync.records import Record, Stream
from desktop.sync.registry import connector_factory
from desktop.sync.writer import RUNS, PageCounts, PageWriter, WriteContext, marker_key
from desktop.timeutil import Clock, utc_now

log = logging.getLogger(__name__)

#: SQLite write-ahead-log pages between checkpoints while a sync writes (about 80 MB)
WRITER_CHECKPOINT_PAGES = 20_000

#: Builds the transport for a connection (tests: the sandbox's MockTransport).
TransportFactory = Callable[[Connection], httpx.AsyncBaseTransport | None]
#: Builds the whole client for a connection (policy and cancel token given).
HttpFactory = Callable[[Connection, VendorPolicy, CancelToken], ReadOnlyClient]
#: Called after each run that finished (succeeded or partial), outside the lock, with the
#: run's summary and its job context (for example: recompute health, evaluate alerts).
AfterRun = Callable[["RunSummary", JobContext], None]


@dataclass
class RunSummary:
    """What a run did (also stored as its Sync run row).

    Attributes:
        run_id: the Sync run's id.
        connection: the connection's name.
        kind: ``incremental``, ``full`` or ``fetch``.
        status: a :class:`~desktop.storage.models.RunStatus` value.
        fetched: records read from the source.
        created / updated / deleted: rows changed in the workspace.
        errors: records that failed (Sync errors).
        api_calls: requests sent to the source.
        pending: customers waiting for an account identifier.
        message: one sentence about the outcome.
        details: per-stream facts (reconciliation findings of a full pass …).
    """

    run_id: int
    connection: str
    kind: str
    status: str
    fetched: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    errors: int = 0
    api_calls: int = 0
    pending: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 succeeded, 1 some records failed, 2 failed, 130 cancelled."""
        return {
            RunStatus.SUCCEEDED.value: 0,
            RunStatus.PARTIAL.value: 1,
            RunStatus.CANCELLED.value: 130,
        }.get(self.status, 2)

    def line(self) -> str:
        """A one-line summary for the CLI and notifications."""
        seconds = (
            (self.finished_at - self.started_at).total_seconds()
            if self.finished_at and self.started_at
            else 0.0
        )
        text = (
            f"{self.connection}: {self.status} — {self.fetched:,} fetched, "
            f"{self.created:,} created, {self.updated:,} updated, {self.deleted:,} deleted, "
            f"{self.errors:,} errors, {self.api_calls:,} API calls in {seconds:.1f} s"
        )
        if self.pending:
            text += f"; {self.pending:,} customers wait for an account identifier"
        return text + "."


@dataclass
class _RunState:
    """Mutable per-run bookkeeping shared by the stream tasks."""

    connection: Connection
    run_id: int
    writer: PageWriter
    http: SourceHttp
    context: JobContext
    lock: HeldLock
    full: bool
    pool: ThreadPoolExecutor
    totals: dict[str, int | None] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    counts: PageCounts = field(default_factory=PageCounts)
    #: the writer thread's database connection for pages (opened on the first page)
    conn: DbConnection | None = None


class SyncEngine:
    """Runs syncs of billing connections into a workspace.

    Args:
        database: the workspace.
        secrets: where connection secrets are read.
        clock: the clock (run times, ``synced_at``).
        transport_factory: builds each connection's httpx transport (default: network).
        http_factory: builds the whole read-only client instead (wins over the above).
        locks: the lock manager (default: one on ``database``).
        heartbeat_seconds: how often a held lock's heartbeat is refreshed.
        after_run: called after every finished run (see :data:`AfterRun`); an error in
            it is logged and never fails the run.
    """

    def __init__(
        self,
        database: Database,
        secrets: SecretStore,
        clock: Clock = utc_now,
        *,
        transport_factory: TransportFactory | None = None,
        http_factory: HttpFactory | None = None,
        locks: SyncLocks | None = None,
        heartbeat_seconds: float | None = 10.0,
        after_run: AfterRun | None = None,
    ) -> None:
        self.database = database
        self.secrets = secrets
        self.clock = clock
        self._transport_factory = transport_factory
        self._http_factory = http_factory
        self.locks = locks or SyncLocks(database, clock)
        self._heartbeat = heartbeat_seconds
        self._after_run = after_run

    # ------------------------------------------------------------------ queries

    def running(self) -> list[LockHolder]:
        """Runs in progress on this workspace (any process, any machine)."""
        return self.locks.holders()

    def connection(self, name_or_id: str | int) -> Connection:
        """The connection called ``name_or_id`` (or with that id).

        Raises:
            NotFoundError: when there is none.
        """
        with self.database.session() as session:
            found: Connection | None = None
            if isinstance(name_or_id, int) or str(name_or_id).isdigit():
                found = session.get(Connection, int(name_or_id))
            if found is None:
                found = session.scalars(
                    select(Connection).where(Connection.name == str(name_or_id))
                ).first()
            if found is None:
                raise NotFoundError(f"There is no connection called {name_or_id!r}.")
            session.expunge(found)
            return found

    # ------------------------------------------------------------------ run

    def run(
        self,
        connection: str | int,
        *,
        full: bool = False,
        trigger: str = "manual",
        context: JobContext | None = None,
        secret_override: str | None = None,
    ) -> RunSummary:
        """Syncs one connection (see the module docstring).

        Returns:
            The run's summary; ``status`` is ``succeeded`` or ``partial``.

        Raises:
            SyncBusy: another run of this connection is in progress.
            Cancelled: cancel was asked for (the run is recorded as cancelled).
            SyncFailure: a connection-level failure (the run is recorded as failed).
        """
        return self._execute(
            connection,
            kind="full" if full else "incremental",
            trigger=trigger,
            context=context,
            secret_override=secret_override,
            body=lambda state, connector: self._sync_streams(state, connector),
        )

    def fetch_account(
        self,
        connection: str | int,
        source_id: str,
        *,
        trigger: str = "fetch",
        context: JobContext | None = None,
        secret_override: str | None = None,
    ) -> RunSummary:
        """Refreshes one account with its users, subscriptions and invoices.

        Raises:
            NotFoundError: the source has no such account (a stored copy is marked
                deleted first).
        """
        return self._execute(
            connection,
            kind="fetch",
            trigger=trigger,
            context=context,
            secret_override=secret_override,
            body=lambda state, connector: self._fetch_one(state, connector, source_id),
        )

    # ------------------------------------------------------------------ internals

    def _execute(
        self,
        connection: str | int,
        *,
        kind: str,
        trigger: str,
        context: JobContext | None,
        secret_override: str | None,
        body: Callable[[_RunState, Connector], Any],
    ) -> RunSummary:
        context = context or JobContext()
        row = self.connection(connection)
        if row.status == ConnectionStatus.DISABLED.value:
            raise SyncFailure(f"The connection {row.name} is disabled; enable it to sync.")
        factory = connector_factory(row.kind)
        secret = (
            secret_override if secret_override is not None else self.secrets.read(row.secret_ref)
        )
        if not secret:
            raise SyncFailure(
                f"No key is stored for {row.name}; store one with Update credentials on the "
                f"Connections page or 'billbridge connection credentials {row.name} "
                "--secret-env VAR', or pass it at run time with --secret-env."
            )
        identity = IdentityRule.from_settings(dict(row.settings or {}))
        lock = self.locks.acquire(row.id, trigger, heartbeat_seconds=self._heartbeat)
        try:
            run_id = self._open_run(row, kind, trigger, lock)
            lock.set_run(run_id)
            writer = PageWriter(
                WriteContext(
                    connection_id=row.id,
                    run_id=run_id,
                    identity=identity,
                    import_only=row.mode == SyncMode.IMPORT_ONLY.value,
                    kind=row.kind,
                )
            )
            try:
                asyncio.run(
                    self._async_main(
                        row, run_id, writer, context, lock, kind, secret, factory, body
                    )
                )
            except Cancelled:
                self._close_run(run_id, RunStatus.CANCELLED, "Cancelled; what was written is kept.")
                raise
            except BillbridgeError as error:
                self._close_run(run_id, RunStatus.FAILED, str(error))
                raise
            except Exception as error:
                log.exception("The sync of %s failed unexpectedly.", row.name)
                message = (
                    f"The sync of {row.name} stopped on an unexpected error "
                    f"({type(error).__name__}); what was written is kept. See the log."
                )
                self._close_run(run_id, RunStatus.FAILED, message)
                raise SyncFailure(message) from None
            summary = self._summary(run_id, row.name)
        finally:
            lock.release()
        if self._after_run is not None:
            try:
                self._after_run(summary, context)
            except Exception:
                log.exception("The after-run hook failed after the sync of %s.", row.name)
        return summary

    async def _async_main(
        self,
        row: Connection,
        run_id: int,
        writer: PageWriter,
        context: JobContext,
        lock: HeldLock,
        kind: str,
        secret: str,
        factory: Any,
        body: Callable[[_RunState, Connector], Any],
    ) -> None:
        policy = policy_for(row.kind, dict(row.settings or {}))
        http = self._client(row, policy, context.cancel)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-writer")
        try:
            config = ConnectionConfig(name=row.name, kind=row.kind, settings=dict(row.settings))
            connector: Connector = factory(config, secret, http, self.clock)
            state = _RunState(
                connection=row,
                run_id=run_id,
                writer=writer,
                http=http,
                context=context,
                lock=lock,
                full=kind == "full",
                pool=pool,
            )
            try:
                await body(state, connector)
                await self._in_writer(state, self._finish, state)
            finally:
                await self._in_writer(state, self._close_writer, state)
        finally:
            await http.aclose()
            pool.shutdown(wait=True)

    def _client(self, row: Connection, policy: VendorPolicy, cancel: CancelToken) -> ReadOnlyClient:
        if self._http_factory is not None:
            return self._http_factory(row, policy, cancel)
        transport = self._transport_factory(row) if self._transport_factory else None
        return ReadOnlyClient(policy, name=row.name, transport=transport, cancel=cancel)

    @staticmethod
    async def _in_writer(state: _RunState, fn: Callable[..., Any], *args: Any) -> Any:
        """Runs ``fn`` on the run's single writer thread (all writes are serialised)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(state.pool, fn, *args)

    # ------------------------------------------------------------------ streams

    async def _sync_streams(self, state: _RunState, connector: Connector) -> None:
        cursors = await self._in_writer(state, self._load_cursors, state.connection.id)
        try:
            async with asyncio.TaskGroup() as group:
                for stream in connector.streams:
                    group.create_task(self._stream(state, connector, stream, cursors))
        except BaseExceptionGroup as group_error:
            raise _first_error(group_error) from None

    async def _stream(
        self,
        state: _RunState,
        connector: Connector,
        stream: Stream,
        cursors: dict[str, dict[str, Any]],
    ) -> None:
        cancel = state.context.cancel
        cursor = cursors.get(str(stream))
        resuming = marker_key(stream) in cursors
        full = state.full or resuming
        reconcile = full and reconciles(connector, stream)
        if reconcile and not resuming:
            # A new reconciling pass reads everything from the start: resuming a pass
            # another run began (an interrupted first sync) would leave the rows that run
            # wrote older than this pass's start, and so marked deleted at its end.
            cursor = None
        pending: asyncio.Future[Any] | None = None
        first = True
        async for page in connector.pages(stream, cursor, full=full):
            if pending is not None:
                await pending  # page N committed before page N+1 is queued
            pending = asyncio.ensure_future(
                self._in_writer(state, self._write, state, stream, page, reconcile and first)
            )
            first = False
            state.done[str(stream)] = state.done.get(str(stream), 0) + len(page.records)
            state.totals[str(stream)] = page.total
            self._report(state, stream)
            if cancel.cancelled:
                await pending
                raise Cancelled()
        if pending is not None:
            await pending

    def _writer(self, state: _RunState) -> DbConnection:
        """The run's page connection (writer thread only).

        On SQLite it checkpoints the write-ahead log every :data:`WRITER_CHECKPOINT_PAGES`
        pages instead of SQLite's 1,000: a sync commits one transaction per page, and
        copying the log into the database that often rewrote the same index pages over
        and over (about a seventh of an initial sync's time).
        """
        conn = state.conn
        if conn is None:
            conn = state.conn = self.database.engine.connect()
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
                conn.commit()
        return conn

    @staticmethod
    def _close_writer(state: _RunState) -> None:
        """Gives the page connection back with SQLite's usual checkpointing restored."""
        conn, state.conn = state.conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                conn.rollback()
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint=1000")
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                conn.commit()
        except Exception:
            log.warning("Could not restore the sync connection's checkpointing.", exc_info=True)
            conn.invalidate()
        finally:
            conn.close()

    def _write(self, state: _RunState, stream: Stream, page: Page, start_full: bool) -> None:
        now = self.clock()
        conn = self._writer(state)
        with conn.begin():
            counts = state.writer.write_page(
                conn,
                stream,
                page.records,
                page.problems,
                page.cursor,
                now=now,
                api_calls=state.http.api_calls,
                start_full=start_full,
                done=page.done,
            )
        state.counts.add(counts)

    def _report(self, state: _RunState, stream: Stream) -> None:
        done = sum(state.done.values())
        totals = list(state.totals.values())
        total = sum(t for t in totals if t) if totals and all(totals) else None
        message = f"{state.connection.name}: {stream.value} — {state.done[str(stream)]:,} read"
        state.context.progress(done, total, message)
        state.lock.publish({"done": done, "total": total, "message": message})

    def _load_cursors(self, connection_id: int) -> dict[str, dict[str, Any]]:
        with self.database.session() as session:
            rows = session.execute(
                select(SyncCursor.stream, SyncCursor.value).where(
                    SyncCursor.connection_id == connection_id
                )
            ).all()
        return {stream: dict(value or {}) for stream, value in rows}

    # ------------------------------------------------------------------ fetch one

    async def _fetch_one(self, state: _RunState, connector: Connector, source_id: str) -> None:
        try:
            bundle = await connector.fetch_account(source_id)
        except RecordNotFound:
            await self._in_writer(state, self._mark_missing, state, source_id)
            raise NotFoundError(
                f"{state.connection.name} has no account {source_id} at the source."
            ) from None
        groups: list[tuple[Stream, list[Record]]] = [
            (Stream.ACCOUNTS, [bundle.account]),
            (Stream.USERS, list(bundle.users)),
            (Stream.SUBSCRIPTIONS, list(bundle.subscriptions)),
            (Stream.INVOICES, list(bundle.invoices)),
        ]

        def write_all() -> None:
            now = self.clock()
            with self.database.engine.begin() as conn:
                for stream, records in groups:
                    counts = state.writer.write_page(
                        conn, stream, records, [], None, now=now, api_calls=state.http.api_calls
                    )
                    state.counts.add(counts)

        await self._in_writer(state, write_all)
        state.context.progress(1, 1, f"{state.connection.name}: fetched {source_id}")

    def _mark_missing(self, state: _RunState, source_id: str) -> None:
        with self.database.engine.begin() as conn:
            conn.execute(
                update(AccountSource)
                .where(
                    AccountSource.connection_id == state.connection.id,
                    AccountSource.source_id == source_id,
                    AccountSource.deleted_at.is_(None),
                )
                .values(deleted_at=self.clock())
            )

    # ------------------------------------------------------------------ run rows

    def _open_run(self, row: Connection, kind: str, trigger: str, lock: HeldLock) -> int:
        now = self.clock()
        with self.database.transaction() as session:
            stale = session.scalars(
                select(SyncRun).where(
                    SyncRun.connection_id == row.id, SyncRun.status == RunStatus.RUNNING.value
                )
            ).all()
            for run in stale:
                run.status = RunStatus.INTERRUPTED.value
                run.finished_at = now
                run.message = (
                    "The process running this sync stopped (killed or crashed); a later run "
                    "resumed from the last committed page."
                )
            run = SyncRun(
                connection_id=row.id,
                kind=kind,
                trigger=trigger,
                status=RunStatus.RUNNING.value,
                started_at=now,
                owner=f"{this_host()}:{os.getpid()}",
                details={},
            )
            session.add(run)
            session.flush()
            return run.id

    def _finish(self, state: _RunState) -> None:
        """Imports pending accounts and closes the run (one transaction)."""
        now = self.clock()
        with self.database.engine.begin() as conn:
            _imported, waiting = state.writer.resolve_pending(conn, now)
            linked = state.writer.link_accounts(conn)
            row = conn.execute(select(RUNS).where(RUNS.c.id == state.run_id)).one()
            details = dict(row.details or {})
            details.update(pending_accounts=waiting, linked=linked, api_calls=state.http.api_calls)
            status = RunStatus.PARTIAL if row.errors else RunStatus.SUCCEEDED
            message = (
                f"{row.errors:,} records failed; see 'billbridge errors {state.connection.name}'."
                if row.errors
                else "Finished."
            )
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id == state.run_id)
                .values(
                    status=status.value,
                    finished_at=now,
                    api_calls=state.http.api_calls,
                    details=details,
                    message=message,
                )
            )

    def _close_run(self, run_id: int, status: RunStatus, message: str) -> None:
        with self.database.engine.begin() as conn:
            conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(status=status.value, finished_at=self.clock(), message=message)
            )

    def _summary(self, run_id: int, name: str) -> RunSummary:
        with self.database.session() as session:
            run = session.get(SyncRun, run_id)
            assert run is not None
            details = dict(run.details or {})
            return RunSummary(
                run_id=run.id,
                connection=name,
                kind=run.kind,
                status=run.status,
                fetched=run.fetched,
                created=run.created,
                updated=run.updated,
                deleted=run.deleted,
                errors=run.errors,
                api_calls=run.api_calls,
                pending=int(details.get("pending_accounts") or 0),
                started_at=run.started_at,
                finished_at=run.finished_at,
                message=run.message or "",
                details=details,
            )


def summary_of(database: Database, run_id: int) -> RunSummary:
    """The summary of a stored run (for the UI's history)."""
    engine = SyncEngine.__new__(SyncEngine)
    engine.database = database
    with database.session() as session:
        run = session.get(SyncRun, run_id)
        if run is None:
            raise NotFoundError(f"There is no sync run {run_id}.")
        name = session.get(Connection, run.connection_id)
        label = name.name if name else str(run.connection_id)
    return engine._summary(run_id, label)


def reconciles(connector: Connector, stream: Stream) -> bool:
    """Whether a full pass of ``stream`` lists every record, so rows it did not deliver
    may be marked deleted.

    A connector whose full pass of some stream is knowingly partial (Zoho Billing lists
    contact persons only for changed customers) names the complete ones in an optional
    ``reconciled_streams`` attribute; without it every stream is reconciled.
    """
    named = getattr(connector, "reconciled_streams", None)
    return named is None or stream in named


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from concurrent streams: a sentence beats a cancel."""
    flat: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            flat.append(error)

    walk(group)
    for error in flat:
        if isinstance(error, BillbridgeError) and not isinstance(error, Cancelled):
            return error
    for error in flat:
        if isinstance(error, Cancelled):
            return error
    return flat[0] if flat else group
