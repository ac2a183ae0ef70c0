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

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection as DbConnection
from sqlalchemy import and_, delete, select, update

from desktop.sync.account_writer import AccountWrites
from desktop.sync.bulk import BulkStatements
from desktop.sync.identity import identifier_changed_reason
from desktop.sync.records import (
    InvoiceRecord,
    PlanRecord,
    Record,
    RecordProblem,
    Stream,
    SubscriptionRecord,
    UserRecord,
)
from desktop.sync.write_support import (
    CURSORS,
    ERRORS,
    MISSED_SAMPLES,
    RUNS,
    SOURCES,
    STREAM_TABLES,
    PageCounts,
    Problem,
    Result,
    WriteContext,
    chunks,
    compact,
    currency_code,
    fit,
    marker_key,
)
from desktop.timeutil import parse_timestamp

__all__ = [
    "RUNS",
    "STREAM_TABLES",
    "PageCounts",
    "PageWriter",
    "WriteContext",
    "compact",
    "marker_key",
]

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ the writer


class PageWriter(AccountWrites):
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
                Problem(str(problem.stream), problem.source_id, problem.reason, problem.payload)
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

    # -------------------------------------------------------------- other streams

    def _rows(
        self,
        conn: DbConnection,
        stream: Stream,
        records: list[Record],
        now: datetime,
        reconciling: bool,
    ) -> Result:
        result = Result()
        if not records:
            return result
        table = STREAM_TABLES[stream]
        cid = self.ctx.connection_id
        ids = [r.source_id for r in records]
        columns = [table.c.id, table.c.source_id, table.c.source_updated_at, table.c.deleted_at]
        if stream is Stream.SUBSCRIPTIONS:
            columns.append(table.c.account_identifier)
        existing: dict[str, Any] = {}
        for chunk in chunks(ids):
            for row in conn.execute(
                select(*columns).where(table.c.connection_id == cid, table.c.source_id.in_(chunk))
            ):
                existing[row.source_id] = row
        owners = sorted(
            {owner for r in records if (owner := getattr(r, "account_source_id", None)) is not None}
        )
        account_ids: dict[str, int] = {}
        account_identifiers: dict[str, str] = {}
        for chunk in chunks(owners):
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
                        Problem(
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
                        Problem(
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
            rows.append(fit(table, values))
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
                currency=currency_code(record.currency),
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
                currency=currency_code(record.currency),
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
                currency=currency_code(record.currency),
                total_minor=record.total_minor or 0,
                amount_due_minor=record.amount_due_minor or 0,
                amount_paid_minor=record.amount_paid_minor or 0,
                issued_on=record.issued_on,
                due_on=record.due_on,
                paid_at=record.paid_at,
            )
        return values

    # -------------------------------------------------------------- bookkeeping

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

    def _save_errors(self, conn: DbConnection, problems: list[Problem], now: datetime) -> None:
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
