"""Applying one Zoho Billing event to the workspace, inside the caller's transaction.

The event's objects are turned into records by the Zoho Billing connector's own
normalisation (:mod:`desktop.sync.zoho_normalise`), so an event and a sync never disagree
about what a Zoho field means.

Webhook bodies are often *partial* (a renewal may send only the subscription's status,
plan code and next billing date). Each object is therefore merged over the payload
stored for that record (its ``raw``; nested objects such as ``plan`` key by key) and the
merged payload is normalised: fields the event does not mention keep their stored
values instead of being wiped.

What an event changes:

* **customer** → the account as this connection knows it (its source row and the
  account's name, e-mail, company, phone, currency) and its primary user. A customer
  Billbridge has not synced yet is not created here — which value identifies its account
  is the sync engine's rule — and the next sync adds it;
* **subscription** → the subscription (created if new): plan name and code, status,
  number, amounts and MRR, dates;
* **invoice** → the invoice (created if new): number, total, status, due date, payment
  date, balance;
* **payment** (with no invoice object) → each invoice it was applied to that Billbridge
  keeps: its balance (``balance_amount``, else the balance less ``amount_applied``), and
  its status and payment date once fully paid.

An event older than what is stored for a record (its ``updated_time``, else the event's
time, is before the stored record's) does not overwrite it. Raises
:class:`~desktop.sync.zoho_normalise.Unnormalisable` (a sentence) when an object cannot
be used; the caller rolls the whole event back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.errors import ConfigurationError
from desktop.money import minor_digits
from desktop.storage.models import (
    Account,
    AccountSource,
    Connection,
    Invoice,
    Subscription,
    User,
)
from desktop.sync import zoho_normalise as zn
from desktop.sync.identity import IdentityRule
from desktop.sync.records import InvoiceRecord, SubscriptionRecord
from desktop.webhooks.events import ParsedEvent


@dataclass
class Changes:
    """What applying an event changed, by kind: ``{"subscriptions": ["created 42"]}``.

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


def _is_stale(stored: datetime | None, incoming: datetime | None) -> bool:
    return stored is not None and incoming is not None and incoming < stored


class EventApplication:
    """Applies one event of one connection within an open session (never commits).

    Args:
        session: the transaction's session.
        connection: the Zoho Billing connection the event belongs to.
        event: the parsed event.
        now: the time written as ``synced_at``.
    """

    def __init__(
        self, session: Session, connection: Connection, event: ParsedEvent, now: datetime
    ) -> None:
        self._session = session
        self._connection = connection
        self._event = event
        self._now = now
        self._today: date = now.date()
        currency = connection.settings.get("currency") if connection.settings else None
        self._currency = str(currency).upper() if currency else None
        try:
            self._identity = IdentityRule.from_settings(dict(connection.settings or {}))
        except ConfigurationError:
            self._identity = IdentityRule()
        self.changes = Changes()

    def run(self) -> Changes:
        """Applies every object the event carries, customers first."""
        entities = self._event.entities
        customer = entities.get("customer")
        if customer is not None:
            self._customer(customer)
        subscription = entities.get("subscription")
        if subscription is not None:
            self._subscription(subscription, customer)
        invoice = entities.get("invoice")
        if invoice is not None:
            self._invoice(invoice)
        payment = entities.get("payment")
        if payment is not None and invoice is None:
            self._payment(payment)
        return self.changes

    # ------------------------------------------------------------------ helpers

    def _account_id(self, customer_source_id: str | None) -> int | None:
        if customer_source_id is None:
            return None
        return self._session.scalar(
            select(AccountSource.account_id).where(
                AccountSource.connection_id == self._connection.id,
                AccountSource.source_id == customer_source_id,
            )
        )

    def _stamp(self, record_updated: datetime | None) -> datetime | None:
        return record_updated or self._event.event_time

    # ------------------------------------------------------------------ objects

    def _customer(self, payload: dict[str, Any]) -> None:
        customer_id = str(payload["customer_id"]).strip()
        source = self._session.scalar(
            select(AccountSource).where(
                AccountSource.connection_id == self._connection.id,
                AccountSource.source_id == customer_id,
            )
        )
        if source is None:
            self.changes.notes.append(
                f"Customer {customer_id} is not in the workspace yet; the next sync adds it."
            )
            return
        merged = merge(source.raw, payload)
        record = zn.account_record(merged)
        stamp = self._stamp(record.updated_at)
        if _is_stale(source.source_updated_at, stamp):
            self.changes.notes.append(
                f"Customer {customer_id} is already newer in the workspace; left as it is."
            )
            return
        source.name = record.name
        source.email = record.email
        source.company = record.company
        source.raw = merged
        source.source_updated_at = stamp or source.source_updated_at
        source.synced_at = self._now
        account = self._session.get(Account, source.account_id)
        if account is not None:
            for attribute in ("name", "email", "company", "phone", "currency"):
                value = getattr(record, attribute)
                if value is not None:
                    setattr(account, attribute, value)
        self.changes.add("accounts", f"updated {customer_id}")
        user = zn.primary_user_record(merged)
        if user is not None:
            self._primary_user(user.source_id, source.account_id, customer_id, user)

    def _primary_user(self, source_id: str, account_id: int, customer_id: str, record: Any) -> None:
        row = self._session.scalar(
            select(User).where(
                User.connection_id == self._connection.id, User.source_id == source_id
            )
        )
        created = row is None
        if row is None:
            row = User(connection_id=self._connection.id, source_id=source_id)
            self._session.add(row)
        row.account_id = account_id
        row.customer_source_id = customer_id
        row.first_name = record.first_name
        row.last_name = record.last_name
        row.email = record.email
        row.phone = record.phone
        row.is_primary = True
        row.raw = record.raw
        row.source_updated_at = record.updated_at or row.source_updated_at
        row.synced_at = self._now
        self.changes.add("users", f"{'created' if created else 'updated'} {source_id}")

    def _subscription(self, payload: dict[str, Any], customer: dict[str, Any] | None) -> None:
        source_id = str(payload["subscription_id"]).strip()
        row = self._session.scalar(
            select(Subscription).where(
                Subscription.connection_id == self._connection.id,
                Subscription.source_id == source_id,
            )
        )
        incoming = dict(payload)
        if customer is not None and "customer_id" not in incoming:
            incoming["customer_id"] = customer["customer_id"]
        merged = merge(row.raw if row is not None else None, incoming)
        record = zn.subscription_record(merged, self._currency)
        stamp = self._stamp(record.updated_at)
        if row is not None and _is_stale(row.source_updated_at, stamp):
            self.changes.notes.append(
                f"Subscription {source_id} is already newer in the workspace; left as it is."
            )
            return
        created = row is None
        if row is None:
            row = Subscription(connection_id=self._connection.id, source_id=source_id)
            self._session.add(row)
        self._write_subscription(row, record, merged, stamp)
        self.changes.add(
            "subscriptions", f"{'created' if created else 'updated'} {source_id} ({row.status})"
        )

    def _write_subscription(
        self,
        row: Subscription,
        record: SubscriptionRecord,
        merged: dict[str, Any],
        stamp: datetime | None,
    ) -> None:
        row.customer_source_id = record.account_source_id
        row.account_id = self._account_id(record.account_source_id) or row.account_id
        row.number = record.number
        row.plan_code = record.plan_code
        row.plan_name = record.plan_name
        row.status = record.status
        row.quantity = record.quantity
        row.currency = record.currency
        row.amount_minor = record.amount_minor
        row.mrr_minor = record.mrr_minor
        row.interval_unit = record.interval_unit
        row.interval_count = record.interval_count
        row.started_at = record.started_at
        row.trial_ends_at = record.trial_ends_at
        row.current_term_ends_at = record.current_term_ends_at
        row.next_billing_at = record.next_billing_at
        row.cancelled_at = record.cancelled_at
        row.has_payment_method = record.has_payment_method
        identifier = self._identity.subscription_identifier(record)
        if identifier is not None and row.account_identifier is None:
            row.account_identifier = identifier
        row.source_created_at = record.created_at or row.source_created_at
        row.source_updated_at = stamp or row.source_updated_at
        row.deleted_at = None
        row.raw = merged
        row.synced_at = self._now

    def _invoice(self, payload: dict[str, Any]) -> None:
        source_id = str(payload["invoice_id"]).strip()
        row = self._load_invoice(source_id)
        merged = merge(row.raw if row is not None else None, payload)
        record = zn.invoice_record(merged, self._today, self._currency)
        stamp = self._stamp(record.updated_at)
        if row is not None and _is_stale(row.source_updated_at, stamp):
            self.changes.notes.append(
                f"Invoice {source_id} is already newer in the workspace; left as it is."
            )
            return
        created = row is None
        if row is None:
            row = Invoice(connection_id=self._connection.id, source_id=source_id)
            self._session.add(row)
        self._write_invoice(row, record, merged, stamp)
        self.changes.add(
            "invoices", f"{'created' if created else 'updated'} {source_id} ({row.status})"
        )

    def _load_invoice(self, source_id: str) -> Invoice | None:
        return self._session.scalar(
            select(Invoice).where(
                Invoice.connection_id == self._connection.id, Invoice.source_id == source_id
            )
        )

    def _write_invoice(
        self,
        row: Invoice,
        record: InvoiceRecord,
        merged: dict[str, Any],
        stamp: datetime | None,
    ) -> None:
        row.customer_source_id = record.account_source_id
        row.account_id = self._account_id(record.account_source_id) or row.account_id
        row.subscription_source_id = record.subscription_source_id
        row.number = record.number
        row.status = record.status
        row.currency = record.currency
        row.total_minor = record.total_minor
        row.amount_due_minor = record.amount_due_minor
        row.amount_paid_minor = record.amount_paid_minor
        row.issued_on = record.issued_on
        row.due_on = record.due_on
        row.paid_at = record.paid_at
        row.source_created_at = record.created_at or row.source_created_at
        row.source_updated_at = stamp or row.source_updated_at
        row.deleted_at = None
        row.raw = merged
        row.synced_at = self._now

    def _payment(self, payment: dict[str, Any]) -> None:
        applied = payment.get("invoices")
        references = [item for item in applied if isinstance(item, dict)] if applied else []
        refund = self._event.event_type == "payment_refunded"
        for reference in references:
            invoice_id = zn.text(reference, "invoice_id")
            row = self._load_invoice(invoice_id) if invoice_id else None
            if row is None:
                if invoice_id:
                    self.changes.notes.append(
                        f"Invoice {invoice_id} is not in the workspace yet; the next sync adds it."
                    )
                continue
            update = self._payment_update(row, payment, reference, refund)
            if update is None:
                continue
            merged = merge(row.raw, update)
            record = zn.invoice_record(merged, self._today, self._currency)
            self._write_invoice(row, record, merged, self._event.event_time)
            self.changes.add("invoices", f"updated {row.source_id} ({row.status})")
        if not self.changes.changed and not self.changes.notes:
            self.changes.notes.append(
                "The payment names no invoice Billbridge keeps; nothing was changed."
            )

    def _payment_update(
        self,
        row: Invoice,
        payment: dict[str, Any],
        reference: dict[str, Any],
        refund: bool,
    ) -> dict[str, Any] | None:
        """The invoice fields a payment changes, in Zoho's words (``None``: no change)."""
        currency = row.currency or self._currency
        balance = zn.money(reference.get("balance_amount"), currency)
        amount = zn.money(reference.get("amount_applied"), currency)
        if balance is None and amount is None:
            return None
        if self._event.event_type == "payment_declined":
            return None  # a declined payment moves no money
        if balance is None:
            assert amount is not None
            delta = -amount if refund else amount
            balance = max(row.amount_due_minor - delta, 0)
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
            elif row.status in {"paid", "partially_paid"}:
                update["status"] = "sent"
        return update


def _major(minor: int, currency: str | None) -> str:
    """Minor units back to the decimal text Zoho sends (for merging into ``raw``)."""
    digits = minor_digits(currency) if currency else 2
    return str(Decimal(minor).scaleb(-digits))


def apply_event(
    session: Session, connection: Connection, event: ParsedEvent, now: datetime
) -> Changes:
    """Applies ``event`` to ``connection``'s records in ``session`` (no commit)."""
    return EventApplication(session, connection, event, now).run()
