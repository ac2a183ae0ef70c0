"""What the sync writer's modules share: tables, counters, the write context, helpers.

See :mod:`desktop.sync.writer` for how a page is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection as DbConnection
from sqlalchemy import String, Table
from sqlalchemy.dialects import postgresql, sqlite

from desktop.storage import models
from desktop.sync.identity import IdentityRule
from desktop.sync.records import (
    AccountRecord,
    Stream,
)
from desktop.timeutil import parse_timestamp

ACCOUNTS: Final[Table] = models.Account.__table__  # type: ignore[assignment]
SOURCES: Final[Table] = models.AccountSource.__table__  # type: ignore[assignment]
EDITS: Final[Table] = models.AccountEdit.__table__  # type: ignore[assignment]
PENDING: Final[Table] = models.PendingAccount.__table__  # type: ignore[assignment]
CURSORS: Final[Table] = models.SyncCursor.__table__  # type: ignore[assignment]
RUNS: Final[Table] = models.SyncRun.__table__  # type: ignore[assignment]
ERRORS: Final[Table] = models.SyncError.__table__  # type: ignore[assignment]

#: The table each stream (other than accounts) is written to.
STREAM_TABLES: Final[dict[Stream, Table]] = {
    Stream.PLANS: models.Plan.__table__,  # type: ignore[dict-item]
    Stream.USERS: models.User.__table__,  # type: ignore[dict-item]
    Stream.SUBSCRIPTIONS: models.Subscription.__table__,  # type: ignore[dict-item]
    Stream.INVOICES: models.Invoice.__table__,  # type: ignore[dict-item]
}
#: Account attributes a sync owns (daily mode overwrites manual edits of these).
SYNCED_ACCOUNT_FIELDS: Final[tuple[str, ...]] = ("name", "email", "company", "phone", "currency")
#: How many source ids a full pass lists as examples of what incremental runs missed.
MISSED_SAMPLES: Final[int] = 20


def marker_key(stream: Stream | str) -> str:
    """The cursor row that marks a full (reconciling) pass of ``stream`` in progress."""
    return f"{stream}~full"


@dataclass
class PageCounts:
    """What one write did (added to the run's counters in the same transaction)."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    errors: int = 0
    pending: int = 0

    def add(self, other: PageCounts) -> None:
        """Adds ``other`` into this one."""
        for name in ("fetched", "created", "updated", "deleted", "errors", "pending"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class WriteContext:
    """What every write of one run needs.

    Attributes:
        connection_id: the connection written.
        run_id: its Sync run (counters and errors go there).
        identity: where account identifiers come from.
        import_only: whether only new records are added.
        kind: the connection kind (for messages).
    """

    connection_id: int
    run_id: int | None
    identity: IdentityRule
    import_only: bool
    kind: str = "billing"


@dataclass
class Problem:
    stream: str
    source_id: str | None
    reason: str
    payload: dict[str, Any] | None = None


@dataclass
class Result:
    counts: PageCounts = field(default_factory=PageCounts)
    problems: list[Problem] = field(default_factory=list)
    new_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    seen_existing: list[int] = field(default_factory=list)


# ------------------------------------------------------------------ helpers


def limits(table: Table) -> dict[str, int]:
    return {
        column.name: column.type.length
        for column in table.columns
        if isinstance(column.type, String) and column.type.length
    }


LIMITS: Final[dict[str, dict[str, int]]] = {
    t.name: limits(t) for t in (ACCOUNTS, SOURCES, *STREAM_TABLES.values())
}


def fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Truncates strings to their column's length (PostgreSQL enforces it)."""
    for name, limit in LIMITS[table.name].items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > limit:
            row[name] = value[:limit]
    return row


def currency_code(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip().upper()
    return text if len(text) == 3 else None


def compact(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw payload without null fields (they say nothing the schema does not)."""
    return {k: v for k, v in raw.items() if v is not None}


def insert_statement(conn: DbConnection, table: Table) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def record_to_json(record: AccountRecord) -> dict[str, Any]:
    """An account record as JSON (for parking a pending account)."""
    data = dataclasses.asdict(record)
    for key in ("created_at", "updated_at"):
        value = data.get(key)
        data[key] = value.isoformat() if isinstance(value, datetime) else None
    return data


def record_from_json(data: dict[str, Any]) -> AccountRecord:
    """The inverse of :func:`record_to_json`."""
    names = {f.name for f in dataclasses.fields(AccountRecord)}
    values = {k: v for k, v in data.items() if k in names}
    values["created_at"] = parse_timestamp(values.get("created_at"))
    values["updated_at"] = parse_timestamp(values.get("updated_at"))
    return AccountRecord(**values)


def fit_bound(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """:func:`fit` for ``b_<column>`` bound parameter names."""
    limits = LIMITS[table.name]
    for key, value in values.items():
        limit = limits.get(key.removeprefix("b_"))
        if limit and isinstance(value, str) and len(value) > limit:
            values[key] = value[:limit]
    return values
