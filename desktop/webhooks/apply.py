"""Applying one Zoho Billing event to the workspace, inside the caller's transaction.

An event goes the same way as a synced page: its objects are normalised by the Zoho
Billing connector's own functions (:mod:`desktop.sync.zoho_normalise`) and written by the
sync engine's writer (:class:`desktop.sync.writer.PageWriter`), so an event and a sync
never disagree about what a Zoho field means, how an account is identified (including
customers whose identifier is not known yet), or what an import-only connection keeps.

Webhook bodies are often *partial* (a renewal may send only the subscription's status,
plan code and next billing date). Each object is therefore merged over the payload
stored for that record (its ``raw``; nested objects such as ``plan`` key by key) before
it is normalised: fields the event does not mention keep their stored values instead of
being wiped.

What an event changes:

* **customer** → the account (created by the identity rules if new) and its primary
  user;
* **subscription** → the subscription: plan name and code, status, number, amounts and
  MRR, dates;
* **invoice** → the invoice: number, total, status, due date, payment date, balance;
* **payment** (with no invoice object) → each invoice it was applied to that Billbridge
  keeps: its balance (``balance_amount``, else the balance less ``amount_applied``, or
  plus it for a refund), its status, and its payment date once fully paid. A declined
  payment moves no money.

**Order**: an object's time is its own ``updated_time`` when it has one, else the
event's time. An object older than what is stored for that record is not written (an
event delivered late, after a sync or a newer event); the event records why.

Problems the writer finds (an account identifier that changed at the source) are saved
as Sync errors of the connection, exactly as during a sync, and noted on the event.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from desktop.errors import ConfigurationError
from desktop.money import minor_digits
from desktop.storage.models import (
    AccountSource,
    Connection,
    ConnectionKind,
    Invoice,
    Subscription,
    SyncMode,
)
from desktop.sync import zoho_normalise as zn
from desktop.sync.identity import IdentityRule
from desktop.sync.records import Record, Stream
from desktop.sync.writer import PageWriter, WriteContext
from desktop.webhooks.events import ParsedEvent

_TABLES: dict[Stream, Table] = {
    Stream.ACCOUNTS: AccountSource.__table__,  # type: ignore[dict-item]
    Stream.SUBSCRIPTIONS: Subscription.__table__,  # type: ignore[dict-item]
    Stream.INVOICES: Invoice.__table__,  # type: ignore[dict-item]
}


@dataclass
class Changes:
    """What applying an event changed, by kind: ``{"subscriptions": ["updated 42 (active)"]}``.

    Attributes:
        items: short phrases per kind of record.
        notes: sentences about what was left alone and why.
    """

    items: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, phrase: str) -> None:
        """Records one change."""
        self.items.setdefault(kind, []).append(phrase)

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.items)

    def as_dict(self) -> dict[str, Any]:
        """The JSON kept on the event."""
        result: dict[str, Any] = dict(self.items)
        if self.notes:
            result["notes"] = list(self.notes)
        return result


def merge(stored: dict[str, Any] | None, incoming: dict[str, Any]) -> dict[str, Any]:
    """``incoming`` over ``stored``; nested objects are merged key by key."""
    result = dict(stored or {})
    for key, value in incoming.items():
        previous = result.get(key)
        if isinstance(value, dict) and isinstance(previous, dict):
            result[key] = merge(previous, value)
        else:
            result[key] = value
    return result


def _major(minor: int, currency: str | None) -> str:
    """Minor units back to the decimal text Zoho sends (for merging into ``raw``)."""
    digits = minor_digits(currency) if currency else 2
    return str(Decimal(minor).scaleb(-digits))


@dataclass
class StoredState:
    """What is stored for a record: its raw payload and when it last changed."""

    raw: dict[str, Any]
    updated_at: datetime | None


class InvoiceState(Protocol):
    """The invoice fields a payment reads (a stored row or a record about to be written)."""

    @property
    def source_id(self) -> str:
        """Its id at the source."""
        ...

    @property
    def raw(self) -> dict[str, Any]:
        """Its payload."""
        ...

    @property
    def currency(self) -> str | None:
        """Its currency."""
        ...

    @property
    def status(self) -> str:
        """Its normalised status."""
        ...

    @property
    def total_minor(self) -> int:
        """Its total in minor units."""
        ...

    @property
    def amount_due_minor(self) -> int:
        """What is still due, in minor units."""
        ...


class EventApplication:
    """Applies one event of one connection within an open session (never commits).

    Args:
        session: the transaction's session.
        connection: the Zoho Billing connection the event belongs to.
        event: the parsed event.
        now: the write time (``synced_at``); its date is "today" for overdue invoices.
        writer: a writer for this connection to reuse (see :func:`writer_for`): it keeps
            its compiled statements, so a batch of events does not compile them again.
    """

    def __init__(
        self,
        session: Session,
        connection: Connection,
        event: ParsedEvent,
        now: datetime,
        writer: PageWriter | None = None,
    ) -> None:
        self._session = session
        self._connection = connection
        self._event = event
        self._now = now
        self._today: date = now.date()
        currency = (connection.settings or {}).get("currency")
        self._currency = str(currency).upper() if currency else None
        self._writer = writer if writer is not None else writer_for(connection)
        self._identity = self._writer.ctx.identity
        self.changes = Changes()

    def run(self) -> Changes:
        """Applies every object the event carries, customers first."""
        entities = self._event.entities
        customer = entities.get("customer")
        new_account = False
        if customer is not None:
            new_account = self._customer(customer)
        subscription = entities.get("subscription")
        if subscription is not None:
            if customer is not None and "customer_id" not in subscription:
                subscription = {**subscription, "customer_id": customer["customer_id"]}
            self._object(Stream.SUBSCRIPTIONS, "subscription_id", subscription)
        invoice = entities.get("invoice")
        if invoice is not None:
            self._object(Stream.INVOICES, "invoice_id", invoice)
        payment = entities.get("payment")
        if payment is not None and invoice is None:
            self._payment(payment)
        connection = self._session.connection()
        if new_account:
            self._writer.link_accounts(connection)
        if subscription is not None and self._identity.held_by_subscription:
            imported, _waiting = self._writer.resolve_pending(connection, self._now)
            if imported:
                self._writer.link_accounts(connection)
                self.changes.add("accounts", f"imported {imported} waiting for an identifier")
        return self.changes

    # ------------------------------------------------------------------ helpers

    def _stored(self, stream: Stream, source_id: str) -> StoredState | None:
        table = _TABLES[stream]
        row = self._session.execute(
            select(table.c.raw, table.c.source_updated_at).where(
                table.c.connection_id == self._connection.id, table.c.source_id == source_id
            )
        ).first()
        if row is None:
            return None
        return StoredState(dict(row.raw or {}), row.source_updated_at)

    def _when(self, incoming: dict[str, Any]) -> datetime | None:
        """The time of an incoming object: its own ``updated_time``, else the event's."""
        return zn.updated_at(incoming) or self._event.event_time

    def _normalise(self, stream: Stream, merged: dict[str, Any]) -> Record:
        if stream is Stream.ACCOUNTS:
            return zn.account_record(merged)
        if stream is Stream.SUBSCRIPTIONS:
            return zn.subscription_record(merged, self._currency)
        return zn.invoice_record(merged, self._today, self._currency)

    def _write(self, stream: Stream, record: Record) -> bool:
        """Writes one record; returns whether it was new."""
        counts = self._writer.write_page(
            self._session.connection(), stream, [record], [], None, now=self._now
        )
        label = {
            Stream.ACCOUNTS: "accounts",
            Stream.USERS: "users",
            Stream.SUBSCRIPTIONS: "subscriptions",
            Stream.INVOICES: "invoices",
        }[stream]
        status = getattr(record, "status", None)
        detail = f" ({status})" if isinstance(status, str) else ""
        if counts.errors:
            self.changes.notes.append(
                f"The {label[:-1]} {record.source_id} was not written; see the connection's "
                "sync errors."
            )
        elif counts.pending:
            self.changes.add(label, f"waiting {record.source_id} (no account identifier yet)")
        elif counts.created:
            self.changes.add(label, f"created {record.source_id}{detail}")
        elif counts.updated:
            self.changes.add(label, f"updated {record.source_id}{detail}")
        else:
            self.changes.notes.append(
                f"The {label[:-1]} {record.source_id} exists and this connection only imports "
                "new records; left as it is."
            )
        return bool(counts.created)

    def _object(self, stream: Stream, id_key: str, incoming: dict[str, Any]) -> bool:
        """Merges, normalises and writes one object; returns whether it was new."""
        source_id = str(incoming[id_key]).strip()
        stored = self._stored(stream, source_id)
        when = self._when(incoming)
        noun = {Stream.ACCOUNTS: "Customer", Stream.SUBSCRIPTIONS: "Subscription"}.get(
            stream, "Invoice"
        )
        if (
            stored is not None
            and when is not None
            and stored.updated_at is not None
            and when < stored.updated_at
        ):
            self.changes.notes.append(
                f"{noun} {source_id} is newer in the workspace than in this event; left as it is."
            )
            return False
        merged = merge(stored.raw if stored else None, incoming)
        record = self._normalise(stream, merged)
        if when is not None:
            record = dataclasses.replace(record, updated_at=when)
        return self._write(stream, record)

    # ------------------------------------------------------------------ objects

    def _customer(self, payload: dict[str, Any]) -> bool:
        new = self._object(Stream.ACCOUNTS, "customer_id", payload)
        if not self.changes.items.get("accounts"):
            return new
        stored = self._stored(Stream.ACCOUNTS, str(payload["customer_id"]).strip())
        user = zn.primary_user_record(stored.raw if stored else payload)
        if user is not None:
            self._write(Stream.USERS, user)
        return new

    def _payment(self, payment: dict[str, Any]) -> None:
        applied = payment.get("invoices")
        references = [item for item in applied if isinstance(item, dict)] if applied else []
        for reference in references:
            invoice_id = zn.text(reference, "invoice_id")
            if invoice_id is None:
                continue
            stored = self._invoice(invoice_id)
            if stored is None:
                self.changes.notes.append(
                    f"Invoice {invoice_id} is not in the workspace yet; the next sync adds it."
                )
                continue
            update = self._payment_update(stored, payment, reference)
            if update is None:
                continue
            merged = merge(stored.raw, update)
            record = zn.invoice_record(merged, self._today, self._currency)
            when = self._event.event_time
            if when is not None:
                record = dataclasses.replace(record, updated_at=when)
            self._write(Stream.INVOICES, record)
        if not self.changes.changed and not self.changes.notes:
            self.changes.notes.append(
                "The payment names no invoice Billbridge keeps; nothing was changed."
            )

    def _invoice(self, invoice_id: str) -> InvoiceState | None:
        """The stored invoice a payment names, read afresh (an earlier event of the same
        transaction may have changed it)."""
        return self._session.scalar(
            select(Invoice)
            .where(Invoice.connection_id == self._connection.id, Invoice.source_id == invoice_id)
            .execution_options(populate_existing=True)
        )

    def _payment_update(
        self, row: InvoiceState, payment: dict[str, Any], reference: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The invoice fields a payment changes, in Zoho's words (``None``: no change)."""
        if self._event.event_type == "payment_declined":
            self.changes.notes.append(
                f"The payment for invoice {row.source_id} was declined; its balance is unchanged."
            )
            return None
        currency = row.currency or self._currency
        balance = zn.money(reference.get("balance_amount"), currency)
        amount = zn.money(reference.get("amount_applied", reference.get("amount")), currency)
        if balance is None and amount is None:
            return None
        if balance is None:
            assert amount is not None
            refund = self._event.event_type == "payment_refunded"
            balance = max(row.amount_due_minor + (amount if refund else -amount), 0)
        paid = max(row.total_minor - balance, 0)
        update: dict[str, Any] = {
            "balance": _major(balance, currency),
            "payment_made": _major(paid, currency),
        }
        if row.status != "void":
            if balance == 0:
                update["status"] = "paid"
                when = zn.text(payment, "date", "payment_date")
                if when:
                    update["last_payment_date"] = when
            elif paid > 0:
                update["status"] = "partially_paid"
            else:
                update["status"] = "sent"
        return update


def writer_for(connection: Connection) -> PageWriter:
    """The sync writer for ``connection``'s events: its identity rule and import mode."""
    try:
        identity = IdentityRule.from_settings(dict(connection.settings or {}))
    except ConfigurationError:
        identity = IdentityRule()
    return PageWriter(
        WriteContext(
            connection_id=connection.id,
            run_id=None,
            identity=identity,
            import_only=connection.mode == SyncMode.IMPORT_ONLY.value,
            kind=ConnectionKind.ZOHO_BILLING.value,
        )
    )


def apply_event(
    session: Session,
    connection: Connection,
    event: ParsedEvent,
    now: datetime,
    writer: PageWriter | None = None,
) -> Changes:
    """Applies ``event`` to ``connection``'s records in ``session`` (no commit).

    Args:
        session: the transaction's session.
        connection: the event's Zoho Billing connection.
        event: the parsed event.
        now: the write time.
        writer: a :func:`writer_for` this connection to reuse across a batch.
    """
    return EventApplication(session, connection, event, now, writer).run()
