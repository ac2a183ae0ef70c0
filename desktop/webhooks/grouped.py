"""Applying a run of events with one write per stream (the applier's fast path).

Most events of a burst change records Billbridge already keeps: a renewal updates a
subscription, a payment an invoice. For such events the batch does not write record by
record. :class:`Group` applies each event in memory — merged over what is stored *or over
what an earlier event of the group is about to write*, normalised and order-guarded
exactly like :class:`~desktop.webhooks.apply.EventApplication` — and then writes the
group in one go, inside its own savepoint: one claim of all its events, one
:meth:`~desktop.sync.writer.PageWriter.write_page` per stream with the last state of each
record, and one update of the events' outcomes.

An event takes the ordinary path (its own savepoint, see
:mod:`desktop.webhooks.applier`) when it creates an account, subscription or invoice
(only an existing customer's primary contact may be created in a group), belongs to an
import-only connection or to one whose identifiers come from subscriptions, or fails in
memory; the group is written before it, so events still apply in order. If the
group's write does not do exactly what was planned (the writer reports a problem), the
group's savepoint is rolled back and its events take the ordinary path one by one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from desktop.storage.models import (
    Connection,
    ConnectionKind,
    ConnectionStatus,
    SyncMode,
    WebhookEvent,
)
from desktop.sync.records import InvoiceRecord, Record, Stream
from desktop.sync.writer import STREAM_TABLES, PageWriter, compact
from desktop.webhooks.apply import EventApplication, InvoiceState, StoredState
from desktop.webhooks.events import ParsedEvent
from desktop.webhooks.store import EventStatus

_LABELS: Final[dict[Stream, str]] = {
    Stream.ACCOUNTS: "accounts",
    Stream.USERS: "users",
    Stream.SUBSCRIPTIONS: "subscriptions",
    Stream.INVOICES: "invoices",
}
_OUTCOME = (
    update(WebhookEvent)
    .where(WebhookEvent.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        reason=bindparam("b_reason"),
        changes=bindparam("b_changes"),
        event_type=bindparam("b_type"),
        event_time=bindparam("b_time"),
    )
    .execution_options(synchronize_session=False)
)


class NeedsOwnPath(Exception):
    """The event cannot be applied in a group (it creates a record, for example)."""


class GroupWriteMismatch(Exception):
    """The group's write did not do what was planned; its events go one by one."""


def fits_group(connection: Connection | None, event: ParsedEvent, writer: PageWriter) -> bool:
    """Whether ``event`` may be applied in a group (before trying it)."""
    return (
        connection is not None
        and connection.kind == ConnectionKind.ZOHO_BILLING.value
        and connection.status != ConnectionStatus.DISABLED.value
        and connection.mode != SyncMode.IMPORT_ONLY.value
        and not writer.ctx.identity.held_by_subscription
        and bool(event.entities)
    )


@dataclass
class _Planned:
    row_id: int
    event: ParsedEvent
    status: str
    reason: str | None
    changes: dict[str, Any]


@dataclass
class Group:
    """Events of one connection applied in memory, written together by :meth:`write`.

    Attributes:
        connection: their connection.
        writer: the connection's writer.
        now: the write time.
    """

    connection: Connection
    writer: PageWriter
    now: datetime
    planned: list[_Planned] = field(default_factory=list)
    states: dict[tuple[Stream, str], StoredState | None] = field(default_factory=dict)
    invoices: dict[str, InvoiceRecord] = field(default_factory=dict)
    records: dict[Stream, dict[str, Record]] = field(default_factory=dict)

    def add(self, session: Session, row_id: int, event: ParsedEvent) -> None:
        """Applies ``event`` in memory; on any exception the group is left as it was.

        Raises:
            NeedsOwnPath: the event must take the ordinary path (as must any other
                exception's event; the caller writes the group first).
        """
        application = _GroupApplication(session, self, event)
        changes = application.run()
        for (stream, source_id), (record, state) in application.staged.items():
            self.states[(stream, source_id)] = state
            self.records.setdefault(stream, {})[source_id] = record
            if isinstance(record, InvoiceRecord):
                self.invoices[source_id] = record
        if changes.changed:
            status, reason = EventStatus.APPLIED, None
        else:
            status = EventStatus.IGNORED
            reason = " ".join(changes.notes) or "The event changes nothing Billbridge keeps."
        self.planned.append(_Planned(row_id, event, status, reason, changes.as_dict()))

    def write(self, session: Session) -> list[tuple[int, str, str | None]]:
        """Claims and writes the group (the caller holds a savepoint around it).

        Returns:
            Each event's row id, status and reason.

        Raises:
            GroupWriteMismatch: an event was claimed elsewhere or the writer did not
                update exactly the planned records.
        """
        if not self.planned:
            return []
        ids = [p.row_id for p in self.planned]
        claimed = session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(ids), WebhookEvent.status == EventStatus.RECEIVED)
            .values(
                status=EventStatus.APPLIED,
                attempts=WebhookEvent.attempts + 1,
                applied_at=self.now,
                reason=None,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != len(ids):
            raise GroupWriteMismatch
        connection = session.connection()
        for stream in _LABELS:  # accounts first, as a sync writes them
            records = list(self.records.get(stream, {}).values())
            if not records:
                continue
            counts = self.writer.write_page(connection, stream, records, [], None, now=self.now)
            # only users may be created here (an existing customer's primary contact)
            created = counts.created if stream is Stream.USERS else 0
            if (
                counts.updated + created != len(records)
                or counts.errors
                or counts.pending
                or counts.deleted
            ):
                raise GroupWriteMismatch
        connection.execute(
            _OUTCOME,
            [
                {
                    "b_id": p.row_id,
                    "b_status": p.status,
                    "b_reason": p.reason,
                    "b_changes": p.changes,
                    "b_type": p.event.event_type,
                    "b_time": p.event.event_time,
                }
                for p in self.planned
            ],
        )
        return [(p.row_id, p.status, p.reason) for p in self.planned]

    @property
    def row_ids(self) -> list[int]:
        """The planned events' row ids, in order."""
        return [p.row_id for p in self.planned]


class _GroupApplication(EventApplication):
    """An :class:`EventApplication` that reads through the group and stages its writes."""

    def __init__(self, session: Session, group: Group, event: ParsedEvent) -> None:
        super().__init__(session, group.connection, event, group.now, group.writer)
        self._group = group
        self.staged: dict[tuple[Stream, str], tuple[Record, StoredState]] = {}

    def _stored(self, stream: Stream, source_id: str) -> StoredState | None:
        key = (stream, source_id)
        if key in self.staged:
            return self.staged[key][1]
        if key not in self._group.states:
            self._group.states[key] = (
                self._stored_user(source_id)
                if stream is Stream.USERS
                else super()._stored(stream, source_id)
            )
        return self._group.states[key]

    def _stored_user(self, source_id: str) -> StoredState | None:
        table = STREAM_TABLES[Stream.USERS]
        row = self._session.execute(
            select(table.c.raw, table.c.source_updated_at).where(
                table.c.connection_id == self._group.connection.id,
                table.c.source_id == source_id,
            )
        ).first()
        return None if row is None else StoredState(dict(row.raw or {}), row.source_updated_at)

    def _invoice(self, invoice_id: str) -> InvoiceState | None:
        staged = self.staged.get((Stream.INVOICES, invoice_id))
        if staged is not None and isinstance(staged[0], InvoiceRecord):
            return staged[0]
        if invoice_id in self._group.invoices:
            return self._group.invoices[invoice_id]
        if self._stored(Stream.INVOICES, invoice_id) is None:
            return None
        return super()._invoice(invoice_id)

    def _write(self, stream: Stream, record: Record) -> bool:
        if stream not in _LABELS:
            raise NeedsOwnPath
        exists = self._stored(stream, record.source_id) is not None
        if not exists and stream is not Stream.USERS:
            raise NeedsOwnPath  # creating an account, subscription or invoice
        record = dataclasses.replace(record, raw=compact(record.raw))
        self.staged[(stream, record.source_id)] = (
            record,
            StoredState(dict(record.raw), record.updated_at),
        )
        status = getattr(record, "status", None)
        detail = f" ({status})" if isinstance(status, str) else ""
        verb = "updated" if exists else "created"
        self.changes.add(_LABELS[stream], f"{verb} {record.source_id}{detail}")
        return False
