"""Storage writes of the sync engine: one page of one stream in one transaction.

Everything a page changes — its rows, its Sync errors, the run's counters and the
stream's cursor — commits together (:meth:`PageWriter.write_page`), so a run killed at
any moment leaves either the whole page or none of it, and the next run resumes from the
cursor that matches the rows. Writes are bulk Core upserts (``INSERT … ON CONFLICT``,
SQLite and PostgreSQL dialects) per page, with one query to learn which rows exist and
one to resolve account ids — never an ORM object per row.

Modes:

* **daily**: records are upserted; an account's synced attributes (name, e-mail,
  company, phone, currency) are overwritten and its manual edits of them are removed;
* **import-only**: only records new to the workspace are inserted; existing rows and
  manual edits are left as they are (deletions are not applied either).

Reconciliation: a stream read in full (``--full``, or finishing a full pass that was
interrupted) records in a marker cursor (``"<stream>~full"``) when its pass started.
Every row the pass delivers gets ``synced_at`` at or after that moment, so when the pass
ends, rows of the connection still older than it are missing at the source: they are
marked deleted in the same transaction as the last page. The marker also counts what the
pass found that the workspace did not have — what an incremental run would have missed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection as DbConnection
from sqlalchemy import String, Table, and_, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from desktop.storage import models
from desktop.sync.bulk import BulkStatements
from desktop.sync.identity import IdentityRule, identifier_changed_reason
from desktop.sync.records import (
    AccountRecord,
    InvoiceRecord,
    PlanRecord,
    Record,
    RecordProblem,
    Stream,
    SubscriptionRecord,
    UserRecord,
)
from desktop.timeutil import parse_timestamp

log = logging.getLogger(__name__)

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
class _Problem:
    stream: str
    source_id: str | None
    reason: str
    payload: dict[str, Any] | None = None


@dataclass
class _Result:
    counts: PageCounts = field(default_factory=PageCounts)
    problems: list[_Problem] = field(default_factory=list)
    new_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    seen_existing: list[int] = field(default_factory=list)


# ------------------------------------------------------------------ helpers


def _limits(table: Table) -> dict[str, int]:
    return {
        column.name: column.type.length
        for column in table.columns
        if isinstance(column.type, String) and column.type.length
    }


_LIMITS: Final[dict[str, dict[str, int]]] = {
    t.name: _limits(t) for t in (ACCOUNTS, SOURCES, *STREAM_TABLES.values())
}


def _fit(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """Truncates strings to their column's length (PostgreSQL enforces it)."""
    for name, limit in _LIMITS[table.name].items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > limit:
            row[name] = value[:limit]
    return row


def _currency(value: str | None) -> str | None:
    if not value:
        return None
    text = value.strip().upper()
    return text if len(text) == 3 else None


def compact(raw: dict[str, Any]) -> dict[str, Any]:
    """The raw payload without null fields (they say nothing the schema does not)."""
    return {k: v for k, v in raw.items() if v is not None}


def _insert(conn: DbConnection, table: Table) -> Any:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
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


# ------------------------------------------------------------------ the writer


class PageWriter:
    """Writes pages for one run; use from one thread (the engine's writer thread).

    Args:
        context: the run's write context.
    """

    def __init__(self, context: WriteContext) -> None:
        self.ctx = context
        self._bulk = BulkStatements()
        self._linked = 0

    # -------------------------------------------------------------- page

    def write_page(
        self,
        conn: DbConnection,
        stream: Stream,
        records: Sequence[Record],
        problems: Sequence[RecordProblem],
        cursor: dict[str, Any] | None,
        *,
        now: datetime,
        api_calls: int | None = None,
        start_full: bool = False,
        done: bool = False,
    ) -> PageCounts:
        """Writes one page, its problems, the run counters and the cursor (caller commits).

        Args:
            conn: a connection inside the page's transaction.
            stream: the stream.
            records: the page's normalised records.
            problems: records that could not be normalised.
            cursor: the connector's cursor after this page (``None``: leave it alone).
            now: the write time (``synced_at``).
            api_calls: the run's API calls so far (stored on the run).
            start_full: this page belongs to a full pass (create its marker if missing).
            done: this page ends the stream's pass (reconcile if it was a full one).
        """
        marker = self._marker(conn, stream) if start_full or done else None
        if start_full and marker is None:
            marker = {"started": now.isoformat(), "new": 0, "changed": 0, "sample": []}
        reconciling = marker is not None
        unique: dict[str, Record] = {}
        for record in records:
            unique[record.source_id] = record
        batch = list(unique.values())
        if stream is Stream.ACCOUNTS:
            result = self._accounts(conn, batch, now, reconciling)  # type: ignore[arg-type]
        else:
            result = self._rows(conn, stream, batch, now, reconciling)
        result.counts.fetched = len(records) + len(problems)
        for problem in problems:
            result.problems.append(
                _Problem(str(problem.stream), problem.source_id, problem.reason, problem.payload)
            )
        if marker is not None:
            marker["new"] = int(marker.get("new", 0)) + len(result.new_ids)
            marker["changed"] = int(marker.get("changed", 0)) + len(result.changed_ids)
            sample = list(marker.get("sample", []))
            room = MISSED_SAMPLES - len(sample)
            if room > 0:
                sample.extend((result.new_ids + result.changed_ids)[:room])
            marker["sample"] = sample
        if done and marker is not None:
            started = parse_timestamp(marker.get("started")) or now
            result.counts.deleted += self._reconcile(conn, stream, started, now)
            self._finish_marker(conn, stream, marker, result.counts.deleted)
        elif marker is not None:
            self._save_cursor(conn, marker_key(stream), marker, now)
        self._save_errors(conn, result.problems, now)
        result.counts.errors = len(result.problems)
        if cursor is not None:
            self._save_cursor(conn, str(stream), cursor, now)
        self._bump_run(conn, result.counts, api_calls)
        return result.counts

    # -------------------------------------------------------------- accounts

    def _accounts(
        self,
        conn: DbConnection,
        records: list[AccountRecord],
        now: datetime,
        reconciling: bool,
    ) -> _Result:
        result = _Result()
        if not records:
            return result
        cid = self.ctx.connection_id
        rule = self.ctx.identity
        ids = [r.source_id for r in records]
        existing: dict[str, Any] = {}
        for chunk in _chunks(ids):
            for row in conn.execute(
                select(
                    SOURCES.c.id,
                    SOURCES.c.source_id,
                    SOURCES.c.account_id,
                    SOURCES.c.identifier,
                    SOURCES.c.deleted_at,
                    SOURCES.c.source_updated_at,
                ).where(SOURCES.c.connection_id == cid, SOURCES.c.source_id.in_(chunk))
            ):
                existing[row.source_id] = row
        held = self.subscription_identifiers(conn, [i for i in ids if i not in existing])
        updates: list[dict[str, Any]] = []
        touched_accounts: list[dict[str, Any]] = []
        new_sources: list[tuple[AccountRecord, str]] = []
        parked: list[AccountRecord] = []
        for record in records:
            current = existing.get(record.source_id)
            if rule.held_by_subscription:
                identifier = held.get(record.source_id)
            else:
                identifier = rule.account_identifier(record)
            if current is not None:
                if not rule.held_by_subscription and identifier != current.identifier:
                    result.problems.append(
                        _Problem(
                            str(Stream.ACCOUNTS),
                            record.source_id,
                            identifier_changed_reason(
                                "customer", record.source_id, current.identifier, identifier
                            ),
                        )
                    )
                    result.seen_existing.append(current.id)
                    continue
                if self.ctx.import_only:
                    result.seen_existing.append(current.id)
                    continue
                if self._changed(current, record):
                    result.changed_ids.append(record.source_id)
                deleted_at = (current.deleted_at or now) if record.deleted else None
                if record.deleted and current.deleted_at is None:
                    result.counts.deleted += 1
                else:
                    result.counts.updated += 1
                updates.append(
                    {
                        "b_id": current.id,
                        "b_name": record.name,
                        "b_email": record.email,
                        "b_company": record.company,
                        "b_created": record.created_at,
                        "b_updated": record.updated_at,
                        "b_deleted": deleted_at,
                        "b_raw": compact(record.raw),
                        "b_synced": now,
                    }
                )
                if not record.deleted:
                    touched_accounts.append(self._account_values(current.account_id, record))
            elif identifier is None:
                if not record.deleted:
                    parked.append(record)
            else:
                new_sources.append((record, identifier))
        if updates:
            conn.execute(
                update(SOURCES)
                .where(SOURCES.c.id == bindparam("b_id"))
                .values(
                    name=bindparam("b_name", type_=SOURCES.c.name.type),
                    email=bindparam("b_email", type_=SOURCES.c.email.type),
                    company=bindparam("b_company", type_=SOURCES.c.company.type),
                    source_created_at=bindparam(
                        "b_created", type_=SOURCES.c.source_created_at.type
                    ),
                    source_updated_at=bindparam(
                        "b_updated", type_=SOURCES.c.source_updated_at.type
                    ),
                    deleted_at=bindparam("b_deleted", type_=SOURCES.c.deleted_at.type),
                    raw=bindparam("b_raw", type_=SOURCES.c.raw.type),
                    synced_at=bindparam("b_synced", type_=SOURCES.c.synced_at.type),
                ),
                [_fit_bound(SOURCES, u) for u in updates],
            )
        if new_sources:
            created, merged = self._create_sources(conn, new_sources, now)
            result.counts.created += len(new_sources)
            result.new_ids.extend(r.source_id for r, _ in new_sources)
            if not self.ctx.import_only:
                touched_accounts.extend(merged)
            del created
        if touched_accounts:
            self._overwrite_accounts(conn, touched_accounts, now)
        if parked:
            self._park(conn, parked, now)
            result.counts.pending += len(parked)
        if reconciling and result.seen_existing:
            self._touch(conn, SOURCES, result.seen_existing, now)
        return result

    @staticmethod
    def _changed(current: Any, record: Record) -> bool:
        if bool(current.deleted_at) != bool(record.deleted):
            return True
        old, new = current.source_updated_at, record.updated_at
        return new is not None and old is not None and new > old

    @staticmethod
    def _account_values(account_id: int, record: AccountRecord) -> dict[str, Any]:
        return {
            "b_id": account_id,
            "b_name": record.name,
            "b_email": record.email,
            "b_company": record.company,
            "b_phone": record.phone,
            "b_currency": _currency(record.currency),
        }

    def _create_sources(
        self, conn: DbConnection, new: list[tuple[AccountRecord, str]], now: datetime
    ) -> tuple[list[int], list[dict[str, Any]]]:
        """Creates AccountSources (and Accounts for unseen identifiers).

        Returns:
            The new Account ids, and the attribute updates for accounts that already
            existed (another connection's, merged by identifier).
        """
        identifiers = sorted({identifier for _, identifier in new})
        found: dict[str, int] = {}
        for chunk in _chunks(identifiers):
            for row in conn.execute(
                select(ACCOUNTS.c.id, ACCOUNTS.c.identifier).where(ACCOUNTS.c.identifier.in_(chunk))
            ):
                found[row.identifier] = row.id
        merged: list[dict[str, Any]] = []
        to_create: dict[str, AccountRecord] = {}
        for record, identifier in new:
            if identifier in found:
                merged.append(self._account_values(found[identifier], record))
            else:
                to_create.setdefault(identifier, record)
        if to_create:
            rows = [
                _fit(
                    ACCOUNTS,
                    {
                        "identifier": identifier,
                        "name": record.name,
                        "email": record.email,
                        "company": record.company,
                        "phone": record.phone,
                        "currency": _currency(record.currency),
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                for identifier, record in to_create.items()
            ]
            self._bulk.insert(conn, ACCOUNTS, rows, key=("identifier",), update=False)
            for chunk in _chunks(list(to_create)):
                for row in conn.execute(
                    select(ACCOUNTS.c.id, ACCOUNTS.c.identifier).where(
                        ACCOUNTS.c.identifier.in_(chunk)
                    )
                ):
                    found[row.identifier] = row.id
        source_rows = [
            _fit(
                SOURCES,
                {
                    "connection_id": self.ctx.connection_id,
                    "source_id": record.source_id,
                    "account_id": found[identifier],
                    "identifier": identifier,
                    "name": record.name,
                    "email": record.email,
                    "company": record.company,
                    "source_created_at": record.created_at,
                    "source_updated_at": record.updated_at,
                    "deleted_at": now if record.deleted else None,
                    "raw": compact(record.raw),
                    "synced_at": now,
                },
            )
            for record, identifier in new
        ]
        self._bulk.insert(conn, SOURCES, source_rows, update=False)
        ids = [r.source_id for r, _ in new]
        self._linked += self._link(conn, ids)
        for chunk in _chunks(ids):
            conn.execute(
                delete(PENDING).where(
                    PENDING.c.connection_id == self.ctx.connection_id,
                    PENDING.c.source_id.in_(chunk),
                )
            )
        return [found[i] for i in to_create], merged

    def _overwrite_accounts(
        self, conn: DbConnection, values: list[dict[str, Any]], now: datetime
    ) -> None:
        """Daily mode: synced attributes win; manual edits of them are dropped."""
        if self.ctx.import_only:
            return
        latest: dict[int, dict[str, Any]] = {}
        for value in values:
            latest[value["b_id"]] = {**value, "b_now": now}
        conn.execute(
            update(ACCOUNTS)
            .where(ACCOUNTS.c.id == bindparam("b_id"))
            .values(
                {
                    name: func.coalesce(
                        bindparam(f"b_{name}", type_=ACCOUNTS.c[name].type), ACCOUNTS.c[name]
                    )
                    for name in SYNCED_ACCOUNT_FIELDS
                }
                | {"updated_at": bindparam("b_now", type_=ACCOUNTS.c.updated_at.type)}
            ),
            [_fit_bound(ACCOUNTS, v) for v in latest.values()],
        )
        for chunk in _chunks(list(latest)):
            conn.execute(
                delete(EDITS).where(
                    EDITS.c.account_id.in_(chunk), EDITS.c.field.in_(SYNCED_ACCOUNT_FIELDS)
                )
            )

    def _park(self, conn: DbConnection, records: list[AccountRecord], now: datetime) -> None:
        rows = [
            {
                "connection_id": self.ctx.connection_id,
                "source_id": r.source_id,
                "record": record_to_json(r),
                "first_seen_at": now,
                "updated_at": now,
            }
            for r in records
        ]
        statement = _insert(conn, PENDING)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["connection_id", "source_id"],
                set_={"record": statement.excluded.record, "updated_at": now},
            ),
            rows,
        )

    def subscription_identifiers(
        self, conn: DbConnection, customer_ids: Sequence[str]
    ) -> dict[str, str]:
        """For subscription-held identifiers: customer source id → identifier.

        The oldest subscription carrying a value wins (earliest start, then creation,
        then source id), so the choice never changes as newer subscriptions arrive.
        """
        if not self.ctx.identity.held_by_subscription or not customer_ids:
            return {}
        table = STREAM_TABLES[Stream.SUBSCRIPTIONS]
        found: dict[str, str] = {}
        for chunk in _chunks(list(customer_ids)):
            rows = conn.execute(
                select(table.c.customer_source_id, table.c.account_identifier)
                .where(
                    table.c.connection_id == self.ctx.connection_id,
                    table.c.customer_source_id.in_(chunk),
                    table.c.account_identifier.is_not(None),
                )
                .order_by(
                    table.c.customer_source_id,
                    table.c.started_at.is_(None),
                    table.c.started_at,
                    table.c.source_created_at,
                    table.c.source_id,
                )
            )
            for row in rows:
                found.setdefault(row.customer_source_id, row.account_identifier)
        return found

    # -------------------------------------------------------------- other streams

    def _rows(
        self,
        conn: DbConnection,
        stream: Stream,
        records: list[Record],
        now: datetime,
        reconciling: bool,
    ) -> _Result:
        result = _Result()
        if not records:
            return result
        table = STREAM_TABLES[stream]
        cid = self.ctx.connection_id
        ids = [r.source_id for r in records]
        columns = [table.c.id, table.c.source_id, table.c.source_updated_at, table.c.deleted_at]
        if stream is Stream.SUBSCRIPTIONS:
            columns.append(table.c.account_identifier)
        existing: dict[str, Any] = {}
        for chunk in _chunks(ids):
            for row in conn.execute(
                select(*columns).where(table.c.connection_id == cid, table.c.source_id.in_(chunk))
            ):
                existing[row.source_id] = row
        owners = sorted(
            {owner for r in records if (owner := getattr(r, "account_source_id", None)) is not None}
        )
        account_ids: dict[str, int] = {}
        account_identifiers: dict[str, str] = {}
        for chunk in _chunks(owners):
            for row in conn.execute(
                select(SOURCES.c.source_id, SOURCES.c.account_id, SOURCES.c.identifier).where(
                    SOURCES.c.connection_id == cid, SOURCES.c.source_id.in_(chunk)
                )
            ):
                account_ids[row.source_id] = row.account_id
                account_identifiers[row.source_id] = row.identifier
        held = self.ctx.identity.held_by_subscription
        rows: list[dict[str, Any]] = []
        for record in records:
            current = existing.get(record.source_id)
            values = self._values(stream, record, now, account_ids)
            if held and isinstance(record, SubscriptionRecord):
                carried = values.get("account_identifier")
                settled = account_identifiers.get(record.account_source_id or "")
                if carried is not None and settled is not None and carried != settled:
                    result.problems.append(
                        _Problem(
                            str(stream),
                            record.source_id,
                            f"The subscription {record.source_id} carries the account "
                            f"identifier {carried!r}, but its customer is already identified "
                            f"as {settled!r} (by its oldest subscription); the account keeps "
                            f"{settled!r}.",
                        )
                    )
            if current is not None:
                if stream is Stream.SUBSCRIPTIONS and self._identifier_moved(current, values):
                    result.problems.append(
                        _Problem(
                            str(stream),
                            record.source_id,
                            identifier_changed_reason(
                                "subscription",
                                record.source_id,
                                current.account_identifier,
                                values.get("account_identifier"),
                            ),
                        )
                    )
                    result.seen_existing.append(current.id)
                    continue
                if self.ctx.import_only:
                    result.seen_existing.append(current.id)
                    continue
                if self._changed(current, record):
                    result.changed_ids.append(record.source_id)
                if record.deleted:
                    values["deleted_at"] = current.deleted_at or now
                    if current.deleted_at is None:
                        result.counts.deleted += 1
                    else:
                        result.counts.updated += 1
                else:
                    result.counts.updated += 1
            else:
                result.counts.created += 1
                result.new_ids.append(record.source_id)
            rows.append(_fit(table, values))
        if rows:
            self._bulk.insert(conn, table, rows, update=not self.ctx.import_only)
        if reconciling and result.seen_existing:
            self._touch(conn, table, result.seen_existing, now)
        return result

    @staticmethod
    def _identifier_moved(current: Any, values: dict[str, Any]) -> bool:
        old = current.account_identifier
        return old is not None and values.get("account_identifier") != old

    def _values(
        self, stream: Stream, record: Record, now: datetime, account_ids: dict[str, int]
    ) -> dict[str, Any]:
        values: dict[str, Any] = {
            "connection_id": self.ctx.connection_id,
            "source_id": record.source_id,
            "source_created_at": getattr(record, "created_at", None),
            "source_updated_at": record.updated_at,
            "deleted_at": now if record.deleted else None,
            "raw": compact(record.raw),
            "synced_at": now,
        }
        if isinstance(record, PlanRecord):
            values.update(
                code=record.code,
                name=record.name,
                interval_unit=record.interval_unit,
                interval_count=record.interval_count,
                price_minor=record.price_minor,
                currency=_currency(record.currency),
                status=record.status,
            )
        elif isinstance(record, UserRecord):
            values.update(
                account_id=account_ids.get(record.account_source_id or ""),
                customer_source_id=record.account_source_id,
                first_name=record.first_name,
                last_name=record.last_name,
                email=record.email,
                phone=record.phone,
                is_primary=bool(record.is_primary),
            )
        elif isinstance(record, SubscriptionRecord):
            values.update(
                account_id=account_ids.get(record.account_source_id or ""),
                customer_source_id=record.account_source_id,
                number=record.number,
                plan_code=record.plan_code,
                plan_name=record.plan_name,
                status=record.status,
                quantity=record.quantity,
                currency=_currency(record.currency),
                amount_minor=record.amount_minor,
                mrr_minor=record.mrr_minor or 0,
                interval_unit=record.interval_unit,
                interval_count=record.interval_count,
                started_at=record.started_at,
                trial_ends_at=record.trial_ends_at,
                current_term_ends_at=record.current_term_ends_at,
                next_billing_at=record.next_billing_at,
                cancelled_at=record.cancelled_at,
                has_payment_method=record.has_payment_method,
                account_identifier=self.ctx.identity.subscription_identifier(record),
            )
        elif isinstance(record, InvoiceRecord):
            values.update(
                account_id=account_ids.get(record.account_source_id or ""),
                customer_source_id=record.account_source_id,
                subscription_source_id=record.subscription_source_id,
                number=record.number,
                status=record.status,
                currency=_currency(record.currency),
                total_minor=record.total_minor or 0,
                amount_due_minor=record.amount_due_minor or 0,
                amount_paid_minor=record.amount_paid_minor or 0,
                issued_on=record.issued_on,
                due_on=record.due_on,
                paid_at=record.paid_at,
            )
        return values

    # -------------------------------------------------------------- bookkeeping

    def _touch(self, conn: DbConnection, table: Table, ids: list[int], now: datetime) -> None:
        for chunk in _chunks(ids):
            conn.execute(update(table).where(table.c.id.in_(chunk)).values(synced_at=now))

    def _marker(self, conn: DbConnection, stream: Stream) -> dict[str, Any] | None:
        value = conn.execute(
            select(CURSORS.c.value).where(
                CURSORS.c.connection_id == self.ctx.connection_id,
                CURSORS.c.stream == marker_key(stream),
            )
        ).scalar_one_or_none()
        return dict(value) if isinstance(value, dict) else None

    def _reconcile(
        self, conn: DbConnection, stream: Stream, started: datetime, now: datetime
    ) -> int:
        """Marks rows the finished full pass did not see as deleted; returns how many."""
        if self.ctx.import_only:
            return 0
        table = SOURCES if stream is Stream.ACCOUNTS else STREAM_TABLES[stream]
        result = conn.execute(
            update(table)
            .where(
                and_(
                    table.c.connection_id == self.ctx.connection_id,
                    table.c.deleted_at.is_(None),
                    table.c.synced_at < started,
                )
            )
            .values(deleted_at=now)
        )
        return int(result.rowcount or 0)

    def _finish_marker(
        self, conn: DbConnection, stream: Stream, marker: dict[str, Any], deleted: int
    ) -> None:
        conn.execute(
            delete(CURSORS).where(
                CURSORS.c.connection_id == self.ctx.connection_id,
                CURSORS.c.stream == marker_key(stream),
            )
        )
        if self.ctx.run_id is None:
            return
        details = conn.execute(
            select(RUNS.c.details).where(RUNS.c.id == self.ctx.run_id)
        ).scalar_one_or_none()
        details = dict(details or {})
        missed = dict(details.get("reconciliation") or {})
        missed[str(stream)] = {
            "new": int(marker.get("new", 0)),
            "changed": int(marker.get("changed", 0)),
            "missing_at_source": deleted,
            "sample": list(marker.get("sample", [])),
            "pass_started": marker.get("started"),
        }
        details["reconciliation"] = missed
        conn.execute(update(RUNS).where(RUNS.c.id == self.ctx.run_id).values(details=details))

    def _save_cursor(
        self, conn: DbConnection, key: str, value: dict[str, Any], now: datetime
    ) -> None:
        self._bulk.insert(
            conn,
            CURSORS,
            [
                {
                    "connection_id": self.ctx.connection_id,
                    "stream": key,
                    "value": value,
                    "updated_at": now,
                }
            ],
            key=("connection_id", "stream"),
            update=("value", "updated_at"),
        )

    def _save_errors(self, conn: DbConnection, problems: list[_Problem], now: datetime) -> None:
        if not problems:
            return
        conn.execute(
            ERRORS.insert(),
            [
                {
                    "run_id": self.ctx.run_id,
                    "connection_id": self.ctx.connection_id,
                    "stream": p.stream,
                    "source_id": (p.source_id or None) and p.source_id[:255],
                    "reason": p.reason,
                    "payload": compact(p.payload) if p.payload else None,
                    "created_at": now,
                }
                for p in problems
            ],
        )

    def _bump_run(self, conn: DbConnection, counts: PageCounts, api_calls: int | None) -> None:
        if self.ctx.run_id is None:
            return
        values: dict[str, Any] = {
            "fetched": RUNS.c.fetched + counts.fetched,
            "created": RUNS.c.created + counts.created,
            "updated": RUNS.c.updated + counts.updated,
            "deleted": RUNS.c.deleted + counts.deleted,
            "errors": RUNS.c.errors + counts.errors,
        }
        if api_calls is not None:
            values["api_calls"] = api_calls
        conn.execute(update(RUNS).where(RUNS.c.id == self.ctx.run_id).values(**values))

    # -------------------------------------------------------------- end of run

    def _link(self, conn: DbConnection, source_ids: list[str]) -> int:
        """Links users, subscriptions and invoices written before their account existed.

        Called in the transaction that creates the accounts' sources, so it touches only
        rows of those customers (through the ``(connection_id, customer_source_id)``
        indexes) and no run ends with one long transaction over every row.
        """
        linked = 0
        cid = self.ctx.connection_id
        for stream in (Stream.USERS, Stream.SUBSCRIPTIONS, Stream.INVOICES):
            table = STREAM_TABLES[stream]
            owner = (
                select(SOURCES.c.account_id)
                .where(
                    SOURCES.c.connection_id == table.c.connection_id,
                    SOURCES.c.source_id == table.c.customer_source_id,
                )
                .scalar_subquery()
            )
            for chunk in _chunks(source_ids):
                result = conn.execute(
                    update(table)
                    .where(
                        table.c.connection_id == cid,
                        table.c.customer_source_id.in_(chunk),
                        table.c.account_id.is_(None),
                    )
                    .values(account_id=owner)
                )
                linked += max(int(result.rowcount or 0), 0)
        return linked

    def link_accounts(self, conn: DbConnection) -> int:
        """How many rows written before their account existed were linked since last asked.

        Rows are linked in the same transaction that creates their account's source
        (see :meth:`_link`), so this runs no query; ``conn`` is kept for callers.
        """
        del conn
        linked, self._linked = self._linked, 0
        return linked

    def resolve_pending(self, conn: DbConnection, now: datetime) -> tuple[int, int]:
        """Turns pending accounts whose identifier is now known into Accounts.

        Returns:
            How many were imported and how many still wait.
        """
        rows = conn.execute(
            select(PENDING.c.source_id, PENDING.c.record).where(
                PENDING.c.connection_id == self.ctx.connection_id
            )
        ).all()
        if not rows:
            return 0, 0
        records = {row.source_id: record_from_json(dict(row.record)) for row in rows}
        if self.ctx.identity.held_by_subscription:
            known = self.subscription_identifiers(conn, list(records))
        else:
            known = {
                sid: ident
                for sid, rec in records.items()
                if (ident := self.ctx.identity.account_identifier(rec)) is not None
            }
        ready = [(records[sid], ident) for sid, ident in known.items()]
        if ready:
            _, merged = self._create_sources(conn, ready, now)
            if merged:
                self._overwrite_accounts(conn, merged, now)
            if self.ctx.run_id is not None:
                conn.execute(
                    update(RUNS)
                    .where(RUNS.c.id == self.ctx.run_id)
                    .values(created=RUNS.c.created + len(ready))
                )
        return len(ready), len(records) - len(ready)


def _fit_bound(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """:func:`_fit` for ``b_<column>`` bound parameter names."""
    limits = _LIMITS[table.name]
    for key, value in values.items():
        limit = limits.get(key.removeprefix("b_"))
        if limit and isinstance(value, str) and len(value) > limit:
            values[key] = value[:limit]
    return values
