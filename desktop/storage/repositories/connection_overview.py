"""What the Connections, Sync history and Sync errors pages read about connections and runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desktop.errors import NotFoundError
from desktop.storage.models import (
    AccountSource,
    Connection,
    ConnectionStatus,
    Invoice,
    RunStatus,
    Subscription,
    SyncError,
    SyncMode,
    SyncRun,
    User,
)

#: Billing connection kinds (the CRM is handled elsewhere).
BILLING_KINDS: tuple[str, ...] = ("zoho-billing", "recurly", "chargebee")


@dataclass(frozen=True)
class ConnectionChoice:
    """A connection as a filter choice."""

    id: int
    name: str
    kind: str


def connection_choices(session: Session) -> list[ConnectionChoice]:
    """Every connection by name, for filter drop-downs."""
    return [
        ConnectionChoice(row.id, row.name, row.kind)
        for row in session.execute(
            select(Connection.id, Connection.name, Connection.kind).order_by(Connection.name)
        )
    ]


@dataclass(frozen=True)
class RunSummary:
    """One sync run, as the history lists it.

    Attributes:
        id: the run's id.
        connection_id: its connection.
        connection_name: the connection's name.
        kind: ``incremental``, ``full`` or ``fetch``.
        trigger: ``manual``, ``scheduled``, ``cli`` or ``webhook``.
        status: a :class:`~desktop.storage.models.RunStatus` value.
        started_at: when it started.
        finished_at: when it ended (``None`` while running).
        fetched, created, updated, deleted, errors, api_calls: its counts.
        message: its closing sentence, if any.
    """

    id: int
    connection_id: int
    connection_name: str
    kind: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    fetched: int
    created: int
    updated: int
    deleted: int
    errors: int
    api_calls: int
    message: str | None

    @property
    def duration_seconds(self) -> float | None:
        """How long it ran, when it has ended."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def _run(row: Any) -> RunSummary:
    return RunSummary(
        id=row.id,
        connection_id=row.connection_id,
        connection_name=row.name,
        kind=row.kind,
        trigger=row.trigger,
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        fetched=row.fetched,
        created=row.created,
        updated=row.updated,
        deleted=row.deleted,
        errors=row.errors,
        api_calls=row.api_calls,
        message=row.message,
    )


def _run_select() -> Any:
    return select(
        SyncRun.id,
        SyncRun.connection_id,
        Connection.name,
        SyncRun.kind,
        SyncRun.trigger,
        SyncRun.status,
        SyncRun.started_at,
        SyncRun.finished_at,
        SyncRun.fetched,
        SyncRun.created,
        SyncRun.updated,
        SyncRun.deleted,
        SyncRun.errors,
        SyncRun.api_calls,
        SyncRun.message,
    ).join(Connection, Connection.id == SyncRun.connection_id)


def list_runs(
    session: Session, *, connection_id: int | None = None, limit: int = 1000, offset: int = 0
) -> list[RunSummary]:
    """Sync runs, newest first."""
    statement = _run_select()
    if connection_id is not None:
        statement = statement.where(SyncRun.connection_id == connection_id)
    statement = statement.order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
    return [_run(row) for row in session.execute(statement.offset(offset).limit(limit))]


def count_runs(session: Session, *, connection_id: int | None = None) -> int:
    """How many sync runs there are."""
    statement = select(func.count(SyncRun.id))
    if connection_id is not None:
        statement = statement.where(SyncRun.connection_id == connection_id)
    return int(session.scalar(statement) or 0)


@dataclass(frozen=True)
class ErrorItem:
    """One record that failed to sync.

    Attributes:
        id: the sync error's id.
        run_id: the run that met it (``None`` once that run was removed).
        connection_id, connection_name: where it came from.
        stream: ``accounts``, ``subscriptions``, …
        source_id: the record's id at the source, when known.
        reason: the sentence saying why.
        created_at: when it happened.
        resolved_at: when a retry fixed it, if one did.
    """

    id: int
    run_id: int | None
    connection_id: int
    connection_name: str
    stream: str
    source_id: str | None
    reason: str
    created_at: datetime
    resolved_at: datetime | None


def list_errors(
    session: Session,
    *,
    connection_id: int | None = None,
    stream: str | None = None,
    run_id: int | None = None,
    include_resolved: bool = True,
    limit: int = 2000,
) -> list[ErrorItem]:
    """Sync errors, newest first, optionally for one connection, stream or run."""
    statement = select(
        SyncError.id,
        SyncError.run_id,
        SyncError.connection_id,
        Connection.name,
        SyncError.stream,
        SyncError.source_id,
        SyncError.reason,
        SyncError.created_at,
        SyncError.resolved_at,
    ).join(Connection, Connection.id == SyncError.connection_id)
    if connection_id is not None:
        statement = statement.where(SyncError.connection_id == connection_id)
    if stream:
        statement = statement.where(SyncError.stream == stream)
    if run_id is not None:
        statement = statement.where(SyncError.run_id == run_id)
    if not include_resolved:
        statement = statement.where(SyncError.resolved_at.is_(None))
    statement = statement.order_by(SyncError.created_at.desc(), SyncError.id.desc()).limit(limit)
    return [
        ErrorItem(
            id=row.id,
            run_id=row.run_id,
            connection_id=row.connection_id,
            connection_name=row.name,
            stream=row.stream,
            source_id=row.source_id,
            reason=row.reason,
            created_at=row.created_at,
            resolved_at=row.resolved_at,
        )
        for row in session.execute(statement)
    ]


def error_streams(session: Session) -> list[str]:
    """The streams that have sync errors, for the filter."""
    return [
        value
        for value in session.scalars(select(SyncError.stream).distinct().order_by(SyncError.stream))
    ]


@dataclass(frozen=True)
class ConnectionOverview:
    """A connection as the Connections page shows it.

    Attributes:
        id, name, kind, mode, status: the connection.
        settings: its (non-secret) settings.
        secret_hint: the last four characters of its key.
        accounts: how many accounts it knows.
        last_run: its newest sync run, if any.
        last_success: when its last successful (or partial) run finished.
        open_errors: its unresolved sync errors.
        next_run: when its next scheduled run is due (``None``: none scheduled).
    """

    id: int
    name: str
    kind: str
    mode: str
    status: str
    settings: dict[str, Any]
    secret_hint: str | None
    accounts: int
    last_run: RunSummary | None
    last_success: datetime | None
    open_errors: int
    next_run: datetime | None


def next_scheduled_run(mode: str, status: str, now: datetime) -> datetime | None:
    """The next 00:00 UTC for an active Daily-sync connection, else ``None``."""
    if mode != SyncMode.DAILY.value or status != ConnectionStatus.ACTIVE.value:
        return None
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(days=1)


def list_connections(
    session: Session, now: datetime, *, kinds: tuple[str, ...] = BILLING_KINDS
) -> list[ConnectionOverview]:
    """Every connection of these kinds with its latest run and counts, by name."""
    connections = list(
        session.scalars(
            select(Connection).where(Connection.kind.in_(kinds)).order_by(Connection.name)
        )
    )
    ids = [c.id for c in connections]
    if not ids:
        return []
    accounts = dict(
        session.execute(
            select(AccountSource.connection_id, func.count(AccountSource.id))
            .where(AccountSource.connection_id.in_(ids), AccountSource.deleted_at.is_(None))
            .group_by(AccountSource.connection_id)
        ).all()
    )
    errors = dict(
        session.execute(
            select(SyncError.connection_id, func.count(SyncError.id))
            .where(SyncError.connection_id.in_(ids), SyncError.resolved_at.is_(None))
            .group_by(SyncError.connection_id)
        ).all()
    )
    newest = (
        select(SyncRun.connection_id, func.max(SyncRun.id).label("run_id"))
        .where(SyncRun.connection_id.in_(ids))
        .group_by(SyncRun.connection_id)
        .subquery()
    )
    last_runs = {
        row.connection_id: _run(row)
        for row in session.execute(_run_select().join(newest, newest.c.run_id == SyncRun.id))
    }
    successes = dict(
        session.execute(
            select(SyncRun.connection_id, func.max(SyncRun.finished_at))
            .where(
                SyncRun.connection_id.in_(ids),
                SyncRun.status.in_((RunStatus.SUCCEEDED.value, RunStatus.PARTIAL.value)),
            )
            .group_by(SyncRun.connection_id)
        ).all()
    )
    return [
        ConnectionOverview(
            id=c.id,
            name=c.name,
            kind=c.kind,
            mode=c.mode,
            status=c.status,
            settings=dict(c.settings or {}),
            secret_hint=c.secret_hint,
            accounts=int(accounts.get(c.id, 0)),
            last_run=last_runs.get(c.id),
            last_success=successes.get(c.id),
            open_errors=int(errors.get(c.id, 0)),
            next_run=next_scheduled_run(c.mode, c.status, now),
        )
        for c in connections
    ]


def account_source_for_error(session: Session, error_id: int) -> tuple[int, str]:
    """Which account (connection id, source id) to fetch again to retry a sync error.

    An ``accounts`` error names the account itself; for other streams the record's stored
    copy (or, when it was never written, its payload) names its customer.

    Raises:
        NotFoundError: the error is gone, or nothing says which account the record is of.
    """
    error = session.get(SyncError, error_id)
    if error is None:
        raise NotFoundError("This sync error no longer exists.")
    if error.stream == "accounts" and error.source_id:
        return error.connection_id, error.source_id
    tables: dict[str, Any] = {"subscriptions": Subscription, "invoices": Invoice, "users": User}
    model = tables.get(error.stream)
    if model is not None and error.source_id:
        owner = session.scalar(
            select(model.customer_source_id).where(
                model.connection_id == error.connection_id, model.source_id == error.source_id
            )
        )
        if owner:
            return error.connection_id, str(owner)
    payload = error.payload or {}
    for key in ("customer_id", "customer_source_id", "account_source_id", "account_id"):
        value = payload.get(key)
        if isinstance(value, str | int) and str(value):
            return error.connection_id, str(value)
    account = payload.get("account")
    if isinstance(account, dict):
        for key in ("code", "id"):
            if account.get(key):
                return error.connection_id, str(account[key])
    raise NotFoundError(
        "Billbridge cannot tell which account this record belongs to, so it cannot fetch it "
        "alone; run a full sync of the connection instead."
    )


def resolve_error(session: Session, error_id: int, when: datetime) -> None:
    """Marks a sync error resolved (a retry fixed it). The caller commits."""
    error = session.get(SyncError, error_id)
    if error is not None and error.resolved_at is None:
        error.resolved_at = when
