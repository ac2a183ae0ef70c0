"""What the pages ask of the sync engine, as plain functions the job runner can run (Qt-free).

The composition root builds one :class:`EngineActions` around the workspace's
:class:`~desktop.sync.engine.SyncEngine` and hands its bound methods to the pages, which
run them on the job runner; the pages never import the engine themselves.
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
from desktop.timeutil import Clock, utc_now


class EngineActions:
    """Sync Now, Fetch this account and Retry, on top of one engine.

    Args:
        engine: the workspace's sync engine.
        database: the workspace (to find a retried record's account and resolve it).
        clock: the clock for ``resolved_at``.
    """

    def __init__(self, engine: SyncEngine, database: Database, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.database = database
        self.clock = clock

    def sync(self, connection_id: int, context: JobContext, *, full: bool = False) -> RunSummary:
        """Runs a manual sync of one connection (raises ``SyncBusy`` if one is running)."""
        return self.engine.run(connection_id, full=full, trigger="manual", context=context)

    def fetch_account(self, connection_id: int, source_id: str, context: JobContext) -> str:
        """Reads one account again with its users, subscriptions and invoices."""
        return _fetched(self.engine.fetch_account(connection_id, source_id, context=context))

    def retry_error(self, error: ErrorItem, context: JobContext) -> str:
        """Re-fetches the account of a failed record; resolves the error if that works."""
        with self.database.session() as session:
            connection_id, source_id = account_source_for_error(session, error.id)
        summary = self.engine.fetch_account(connection_id, source_id, context=context)
        if summary.errors:
            return _fetched(summary) + " The record still fails; see its new sync error."
        with self.database.transaction() as session:
            resolve_error(session, error.id, self.clock())
        return _fetched(summary) + " The error is resolved."


def _fetched(summary: RunSummary) -> str:
    return (
        f"Fetched from {summary.connection}: {summary.fetched:,} records read, "
        f"{summary.created:,} created, {summary.updated:,} updated"
        + (f", {summary.errors:,} failed" if summary.errors else "")
        + "."
    )
