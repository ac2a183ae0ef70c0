"""Account writes of the sync engine: the accounts stream, identity and late links.

:class:`AccountWrites` is the half of :class:`desktop.sync.writer.PageWriter` that turns
account records into Accounts (one per identifier, shared by connections that carry the
same one) and their AccountSources, parks accounts whose identifier is not known yet,
and links users, subscriptions and invoices written before their account existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection as DbConnection
from sqlalchemy import Table, bindparam, delete, func, select, update

from desktop.sync.bulk import BulkStatements
from desktop.sync.identity import identifier_changed_reason
from desktop.sync.records import (
    AccountRecord,
    Record,
    Stream,
)
from desktop.sync.write_support import (
    ACCOUNTS,
    EDITS,
    PENDING,
    RUNS,
    SOURCES,
    STREAM_TABLES,
    SYNCED_ACCOUNT_FIELDS,
    Problem,
    Result,
    WriteContext,
    chunks,
    compact,
    currency_code,
    fit,
    fit_bound,
    insert_statement,
    record_from_json,
    record_to_json,
)


class AccountWrites:
    """Account writes of :class:`~desktop.sync.writer.PageWriter` (use it through that)."""

    ctx: WriteContext
    _bulk: BulkStatements
    _linked: int

    def _touch(self, conn: DbConnection, table: Table, ids: list[int], now: datetime) -> None:
        for chunk in chunks(ids):
            conn.execute(update(table).where(table.c.id.in_(chunk)).values(synced_at=now))

    def _accounts(
        self,
        conn: DbConnection,
        records: list[AccountRecord],
        now: datetime,
        reconciling: bool,
    ) -> Result:
        result = Result()
        if not records:
            return result
        cid = self.ctx.connection_id
        rule = self.ctx.identity
        ids = [r.source_id for r in records]
        existing: dict[str, Any] = {}
        for chunk in chunks(ids):
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
                        Problem(
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
                [fit_bound(SOURCES, u) for u in updates],
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
            "b_currency": currency_code(record.currency),
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
        for chunk in chunks(identifiers):
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
                fit(
                    ACCOUNTS,
                    {
                        "identifier": identifier,
                        "name": record.name,
                        "email": record.email,
                        "company": record.company,
                        "phone": record.phone,
                        "currency": currency_code(record.currency),
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                for identifier, record in to_create.items()
            ]
            self._bulk.insert(conn, ACCOUNTS, rows, key=("identifier",), update=False)
            for chunk in chunks(list(to_create)):
                for row in conn.execute(
                    select(ACCOUNTS.c.id, ACCOUNTS.c.identifier).where(
                        ACCOUNTS.c.identifier.in_(chunk)
                    )
                ):
                    found[row.identifier] = row.id
        source_rows = [
            fit(
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
        for chunk in chunks(ids):
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
            [fit_bound(ACCOUNTS, v) for v in latest.values()],
        )
        for chunk in chunks(list(latest)):
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
        statement = insert_statement(conn, PENDING)
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
        for chunk in chunks(list(customer_ids)):
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
            for chunk in chunks(source_ids):
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
