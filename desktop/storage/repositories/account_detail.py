"""One account seen from every side (the Account 360°), and its manual edits.

Manual edits are :class:`~desktop.storage.models.AccountEdit` rows kept apart from the
synced values: the synced value stays on the account, the edit overrides it on screen.
A Daily-sync connection overwrites them at its next run; an Import-only one keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.errors import ConfigurationError, NotFoundError
from desktop.storage.database import Database
from desktop.storage.models import (
    Account,
    AccountEdit,
    Connection,
    Invoice,
    Subscription,
    SyncMode,
    User,
)
from desktop.storage.repositories.accounts import EDITABLE_FIELDS, plan_join, plan_label
from desktop.timeutil import utc_now

#: The newest invoices shown per account (older ones stay in storage).
INVOICE_LIMIT = 500


@dataclass(frozen=True)
class SourceLink:
    """How one connection knows the account.

    Attributes:
        connection_id: the connection's id.
        connection_name: its name.
        kind: its kind (``chargebee``, …).
        mode: its sync mode (``daily`` or ``import-only``).
        source_id: the account's id at the source (customer id, account code, …).
        identifier: the identifier the source gave.
        synced_at: when Billbridge last wrote it.
        source_updated_at: when the source last changed it.
        deleted: whether the source has deleted it.
    """

    connection_id: int
    connection_name: str
    kind: str
    mode: str
    source_id: str
    identifier: str
    synced_at: datetime | None
    source_updated_at: datetime | None
    deleted: bool


@dataclass(frozen=True)
class UserItem:
    """A person at the account."""

    name: str
    email: str | None
    phone: str | None
    is_primary: bool
    connection_name: str


@dataclass(frozen=True)
class SubscriptionItem:
    """A subscription of the account."""

    number: str
    plan: str
    status: str
    quantity: int | None
    amount_minor: int | None
    mrr_minor: int
    currency: str | None
    interval: str
    started_at: datetime | None
    next_billing_at: datetime | None
    cancelled_at: datetime | None
    connection_name: str


@dataclass(frozen=True)
class InvoiceItem:
    """An invoice of the account with what was paid and what is still due."""

    number: str
    status: str
    currency: str | None
    total_minor: int
    amount_due_minor: int
    amount_paid_minor: int
    issued_on: date | None
    due_on: date | None
    paid_at: datetime | None
    connection_name: str


@dataclass(frozen=True)
class AccountDetail:
    """Everything the Account 360° shows.

    Attributes:
        id: the account's database id.
        identifier: its immutable identifier.
        synced: the synced values of the editable attributes (name, email, company, phone).
        edits: the manual edits in force, by attribute.
        edited_at: when each edit was made.
        currency: the account's currency.
        sources: how each connection knows it.
        users, subscriptions, invoices: what hangs off it (newest invoices first).
        overwriting_connections: names of Daily-sync connections that will overwrite the
            manual edits at their next run.
    """

    id: int
    identifier: str
    synced: dict[str, str | None]
    edits: dict[str, str | None]
    edited_at: dict[str, datetime]
    currency: str | None
    sources: list[SourceLink] = field(default_factory=list)
    users: list[UserItem] = field(default_factory=list)
    subscriptions: list[SubscriptionItem] = field(default_factory=list)
    invoices: list[InvoiceItem] = field(default_factory=list)
    overwriting_connections: list[str] = field(default_factory=list)

    def value(self, name: str) -> str | None:
        """The value shown for an editable attribute (the edit wins)."""
        return self.edits[name] if name in self.edits else self.synced.get(name)

    @property
    def display_name(self) -> str:
        """The account's name as shown."""
        return self.value("name") or self.identifier


def _interval(unit: str | None, count: int | None) -> str:
    if not unit:
        return ""
    if not count or count == 1:
        return f"every {unit}"
    return f"every {count} {unit}s"


def load_account(session: Session, account_id: int) -> AccountDetail:
    """Reads the account and everything hanging off it.

    Raises:
        NotFoundError: the account does not exist (any more).
    """
    account = session.get(Account, account_id)
    if account is None:
        raise NotFoundError("This account no longer exists in the workspace.")
    names: dict[int, tuple[str, str, str]] = {
        row.id: (row.name, row.kind, row.mode)
        for row in session.execute(
            select(Connection.id, Connection.name, Connection.kind, Connection.mode)
        )
    }

    def conn(connection_id: int) -> str:
        return names.get(connection_id, ("?", "", ""))[0]

    edits = {edit.field: edit.value for edit in account.edits}
    edited_at = {edit.field: edit.edited_at for edit in account.edits}
    sources = [
        SourceLink(
            connection_id=item.connection_id,
            connection_name=conn(item.connection_id),
            kind=names.get(item.connection_id, ("", "", ""))[1],
            mode=names.get(item.connection_id, ("", "", ""))[2],
            source_id=item.source_id,
            identifier=item.identifier,
            synced_at=item.synced_at,
            source_updated_at=item.source_updated_at,
            deleted=item.deleted_at is not None,
        )
        for item in sorted(account.sources, key=lambda s: (conn(s.connection_id), s.source_id))
    ]
    users = [
        UserItem(
            name=" ".join(part for part in (user.first_name, user.last_name) if part) or "",
            email=user.email,
            phone=user.phone,
            is_primary=user.is_primary,
            connection_name=conn(user.connection_id),
        )
        for user in session.scalars(
            select(User)
            .where(User.account_id == account_id, User.deleted_at.is_(None))
            .order_by(User.is_primary.desc(), User.last_name, User.first_name)
        )
    ]
    plans, label = plan_label()
    subscriptions = [
        SubscriptionItem(
            number=sub.number or sub.source_id,
            plan=plan or "",
            status=sub.status,
            quantity=sub.quantity,
            amount_minor=sub.amount_minor,
            mrr_minor=sub.mrr_minor,
            currency=sub.currency,
            interval=_interval(sub.interval_unit, sub.interval_count),
            started_at=sub.started_at,
            next_billing_at=sub.next_billing_at,
            cancelled_at=sub.cancelled_at,
            connection_name=conn(sub.connection_id),
        )
        for sub, plan in session.execute(
            select(Subscription, label)
            .outerjoin(plans, plan_join(plans))
            .where(Subscription.account_id == account_id, Subscription.deleted_at.is_(None))
            .order_by(Subscription.started_at.desc(), Subscription.id)
        )
    ]
    invoices = [
        InvoiceItem(
            number=inv.number or inv.source_id,
            status=inv.status,
            currency=inv.currency,
            total_minor=inv.total_minor,
            amount_due_minor=inv.amount_due_minor,
            amount_paid_minor=inv.amount_paid_minor,
            issued_on=inv.issued_on,
            due_on=inv.due_on,
            paid_at=inv.paid_at,
            connection_name=conn(inv.connection_id),
        )
        for inv in session.scalars(
            select(Invoice)
            .where(Invoice.account_id == account_id, Invoice.deleted_at.is_(None))
            .order_by(Invoice.issued_on.desc(), Invoice.id.desc())
            .limit(INVOICE_LIMIT)
        )
    ]
    overwriting = sorted(
        {
            link.connection_name
            for link in sources
            if link.mode == SyncMode.DAILY.value and not link.deleted
        }
    )
    return AccountDetail(
        id=account.id,
        identifier=account.identifier,
        synced={name: getattr(account, name) for name in EDITABLE_FIELDS},
        edits=edits,
        edited_at=edited_at,
        currency=account.currency,
        sources=sources,
        users=users,
        subscriptions=subscriptions,
        invoices=invoices,
        overwriting_connections=overwriting if edits else [],
    )


def save_edits(session: Session, account_id: int, values: dict[str, str | None]) -> dict[str, Any]:
    """Stores manual edits of editable attributes; returns what changed.

    A value equal to the synced one (or blank when nothing is synced) removes the edit,
    so "editing back" to the synced value leaves no stale marker. The caller commits.

    Raises:
        ConfigurationError: an attribute that cannot be edited.
        NotFoundError: the account does not exist.
    """
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"{', '.join(unknown)} cannot be edited; only {', '.join(EDITABLE_FIELDS)} can."
        )
    account = session.get(Account, account_id)
    if account is None:
        raise NotFoundError("This account no longer exists in the workspace.")
    existing = {edit.field: edit for edit in account.edits}
    changed: dict[str, Any] = {}
    for name, raw in values.items():
        value = (raw or "").strip() or None
        synced = getattr(account, name)
        if value == synced or (value is None and not synced):
            if name in existing:
                account.edits.remove(existing[name])
                changed[name] = None
            continue
        edit = existing.get(name)
        if edit is None:
            account.edits.append(AccountEdit(field=name, value=value, edited_at=utc_now()))
            changed[name] = value
        elif edit.value != value:
            edit.value = value
            edit.edited_at = utc_now()
            changed[name] = value
    session.flush()
    return changed


def save_edits_in(
    database: Database, account_id: int, values: dict[str, str | None]
) -> dict[str, Any]:
    """:func:`save_edits` in its own transaction (for a background job)."""
    with database.transaction() as session:
        return save_edits(session, account_id, values)
