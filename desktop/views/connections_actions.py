"""What the pages ask of the sync engine, as plain functions the job runner can run (Qt-free).

The composition root builds one :class:`EngineActions` around the workspace's
:class:`~desktop.sync.engine.SyncEngine` and hands its bound methods to the pages, which
run them on the job runner; the pages never import the engine themselves.

Sync Now, Fetch this account and Retry run the engine in a child process
(:mod:`desktop.sync.subprocess_runner`) whenever they can: on a thread of the app the
engine's Python work competes with the window for the GIL and the window stalls. The job
function simply drives the child, forwarding its progress and the Cancel button, so the
job runner stays the one entry point. They run in-process when the workspace is an
in-memory SQLite, or when the engine was given its own HTTP client or transport (tests
with the in-process sandbox), which a child process could not use.
"""

from __future__ import annotations

from desktop.jobs import JobContext
from desktop.storage.database import Database
from desktop.storage.repositories.connection_overview import (
    ErrorItem,
    account_source_for_error,
    resolve_error,
)
from desktop.sync.engine import RunSummary, SyncEngine
from desktop.sync.subprocess_runner import SubprocessSyncRunner, runs_out_of_process
from desktop.timeutil import Clock, utc_now


def child_process_possible(engine: SyncEngine, database: Database) -> bool:
    """Whether a child process would sync exactly like ``engine`` (same workspace, network).

    An engine built with an HTTP or transport factory (the in-process sandbox of tests)
    reaches sources a child process cannot, so it keeps running in this process.
    """
    custom_http = (
        getattr(engine, "_http_factory", None) is not None
        or getattr(engine, "_transport_factory", None) is not None
    )
    return runs_out_of_process(database) and not custom_http


class EngineActions:
    """Sync Now, Fetch this account and Retry, on top of one engine.

    Args:
        engine: the workspace's sync engine (its lock table tells who runs).
        database: the workspace (to find a retried record's account and resolve it).
        clock: the clock for ``resolved_at``.
        out_of_process: run the engine in a child process; ``None`` decides by
            :func:`child_process_possible`.

    Attributes:
        runner: the child-process runner, or ``None`` when work runs in this process.
    """

    def __init__(
        self,
        engine: SyncEngine,
        database: Database,
        clock: Clock = utc_now,
        *,
        out_of_process: bool | None = None,
    ) -> None:
        self.engine = engine
        self.database = database
        self.clock = clock
        if out_of_process is None:
            out_of_process = child_process_possible(engine, database)
        self.runner = (
            SubprocessSyncRunner(
                engine.database,
                engine.secrets,
                # the child mirrors the engine's after-run hook (health and alerts)
                after_run=getattr(engine, "_after_run", None) is not None,
            )
            if out_of_process
            else None
        )

    def sync(self, connection_id: int, context: JobContext, *, full: bool = False) -> RunSummary:
        """Runs a manual sync of one connection (raises ``SyncBusy`` if one is running)."""
        if self.runner is not None:
            return self.runner.run(connection_id, full=full, trigger="manual", context=context)
        return self.engine.run(connection_id, full=full, trigger="manual", context=context)

    def fetch_account(self, connection_id: int, source_id: str, context: JobContext) -> str:
        """Reads one account again with its users, subscriptions and invoices."""
        return _fetched(self._fetch(connection_id, source_id, context))

    def retry_error(self, error: ErrorItem, context: JobContext) -> str:
        """Re-fetches the account of a failed record; resolves the error if that works."""
        with self.database.session() as session:
            connection_id, source_id = account_source_for_error(session, error.id)
        summary = self._fetch(connection_id, source_id, context)
        if summary.errors:
            return _fetched(summary) + " The record still fails; see its new sync error."
        with self.database.transaction() as session:
            resolve_error(session, error.id, self.clock())
        return _fetched(summary) + " The error is resolved."

    def _fetch(self, connection_id: int, source_id: str, context: JobContext) -> RunSummary:
        if self.runner is not None:
            return self.runner.fetch_account(connection_id, source_id, context=context)
        return self.engine.fetch_account(connection_id, source_id, context=context)


def _fetched(summary: RunSummary) -> str:
    return (
        f"Fetched from {summary.connection}: {summary.fetched:,} records read, "
        f"{summary.created:,} created, {summary.updated:,} updated"
        + (f", {summary.errors:,} failed" if summary.errors else "")
        + "."
    )
