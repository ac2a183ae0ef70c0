"""The Accounts list: paged, sorted and filtered in SQL, so 100,000 accounts open at once.

A page is read in two steps: one query picks the account ids of the page in the asked
order (the only query that may touch every account, and only when the order or a filter
needs it), then a handful of ``IN (...)`` queries fetch what the page shows about those
ids. The headline values are defined once here and used for both sorting and display:

* **MRR** — the sum of ``mrr_minor`` over live subscriptions (active, non-renewing,
  unpaid).
* **subscription status** — the most telling status among the account's subscriptions,
  in :data:`SUBSCRIPTION_STATUS_ORDER` (an unpaid one first, then active, …).
* **invoice status** — the most urgent among its invoices (:data:`INVOICE_STATUS_ORDER`).
* **amount due** — the sum of ``amount_due_minor`` over open, overdue and partially paid
  invoices.
* **next renewal** — the earliest ``next_billing_at`` of a renewing subscription.

Deleted records (``deleted_at`` set) never count. Manual edits (:class:`AccountEdit`)
override the synced name, email, company and phone wherever an account is shown.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from desktop.storage.models import (
    Account,
    AccountEdit,
    AccountSource,
    Connection,
    Invoice,
    Plan,
    Subscription,
)

#: Subscription statuses whose recurring amount counts towards MRR.
MRR_STATUSES: tuple[str, ...] = ("active", "non_renewing", "unpaid")
#: Subscription statuses that renew (have a next billing date that matters).
RENEWING_STATUSES: tuple[str, ...] = ("active", "trial", "unpaid")
#: Invoice statuses with money still to collect.
DUE_STATUSES: tuple[str, ...] = ("open", "overdue", "partially_paid")
#: Subscription statuses, most telling first: the account's headline status.
SUBSCRIPTION_STATUS_ORDER: tuple[str, ...] = (
    "unpaid",
    "active",
    "non_renewing",
    "trial",
    "paused",
    "future",
    "cancelled",
    "expired",
)
#: Invoice statuses, most urgent first: the account's headline invoice status.
INVOICE_STATUS_ORDER: tuple[str, ...] = (
    "overdue",
    "partially_paid",
    "open",
    "paid",
    "draft",
    "void",
)
#: Account attributes a person may edit locally.
EDITABLE_FIELDS: tuple[str, ...] = ("name", "email", "company", "phone")


class AccountSort(enum.StrEnum):
    """The orders the Accounts list can be sorted in (one per column)."""

    NAME = "name"
    IDENTIFIER = "identifier"
    MRR = "mrr"
    PLANS = "plans"
    SUBSCRIPTION_STATUS = "subscription_status"
    INVOICE_STATUS = "invoice_status"
    AMOUNT_DUE = "amount_due"
    NEXT_RENEWAL = "next_renewal"
    SOURCES = "sources"


@dataclass(frozen=True)
class AccountFilter:
    """What narrows the Accounts list.

    Attributes:
        text: matched (case-insensitively, anywhere) against name, identifier, email and
            company, synced or manually edited.
        connection_id: only accounts known to this connection.
        subscription_status: only accounts with a live subscription in this status.
        invoice_status: only accounts with an invoice in this status.
        within: only accounts whose id this ``SELECT`` returns (a segment, from
            :func:`desktop.health.accounts_select`); compared by identity.
        within_label: how the list names ``within`` (a segment's name).
    """

    text: str = ""
    connection_id: int | None = None
    subscription_status: str | None = None
    invoice_status: str | None = None
    within: Select[Any] | None = None
    within_label: str = ""


@dataclass(frozen=True)
class AccountRow:
    """One row of the Accounts list.

    Attributes:
        id: the account's database id.
        name: the name shown (a manual edit wins over the synced name).
        identifier: the account identifier (immutable).
        email: the e-mail shown (manual edit wins).
        mrr_minor: monthly recurring revenue in minor units.
        mrr_currency: its currency, or ``None`` when there is none or several.
        mixed_currencies: whether the account's live subscriptions use several currencies.
        plans: the plan names of its live (not cancelled or expired) subscriptions (see
            :func:`plan_label`).
        subscription_status: the headline subscription status, or ``None``.
        subscription_count: how many (not deleted) subscriptions it has.
        invoice_status: the headline invoice status, or ``None``.
        amount_due_minor: money still to collect, in minor units.
        due_currency: the currency of the amount due, or ``None``.
        next_renewal: the earliest next billing date of a renewing subscription.
        sources: the names of the connections that know the account.
        edited: whether it has manual edits.
    """

    id: int
    name: str | None
    identifier: str
    email: str | None = None
    mrr_minor: int = 0
    mrr_currency: str | None = None
    mixed_currencies: bool = False
    plans: tuple[str, ...] = ()
    subscription_status: str | None = None
    subscription_count: int = 0
    invoice_status: str | None = None
    amount_due_minor: int = 0
    due_currency: str | None = None
    next_renewal: datetime | None = None
    sources: tuple[str, ...] = ()
    edited: bool = False


def _rank(column: Any, order: Sequence[str]) -> ColumnElement[int]:
    whens = [(column == status, index) for index, status in enumerate(order)]
    return case(*whens, else_=len(order))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(statement: Select[Any], flt: AccountFilter) -> Select[Any]:
    text = flt.text.strip()
    if text:
        pattern = f"%{_escape_like(text)}%"
        edited = select(AccountEdit.account_id).where(AccountEdit.value.ilike(pattern, escape="\\"))
        statement = statement.where(
            or_(
                Account.name.ilike(pattern, escape="\\"),
                Account.identifier.ilike(pattern, escape="\\"),
                Account.email.ilike(pattern, escape="\\"),
                Account.company.ilike(pattern, escape="\\"),
                Account.id.in_(edited),
            )
        )
    if flt.connection_id is not None:
        statement = statement.where(
            Account.id.in_(
                select(AccountSource.account_id).where(
                    AccountSource.connection_id == flt.connection_id
                )
            )
        )
    if flt.subscription_status:
        statement = statement.where(
            Account.id.in_(
                select(Subscription.account_id).where(
                    Subscription.status == flt.subscription_status,
                    Subscription.deleted_at.is_(None),
                )
            )
        )
    if flt.invoice_status:
        statement = statement.where(
            Account.id.in_(
                select(Invoice.account_id).where(
                    Invoice.status == flt.invoice_status,
                    Invoice.deleted_at.is_(None),
                )
            )
        )
    if flt.within is not None:
        statement = statement.where(Account.id.in_(flt.within))
    return statement


def plan_label() -> tuple[Any, ColumnElement[Any]]:
    """A subscription's plan as people know it, and the plans it is looked up in.

    Returns ``(plans, label)``: outer-join ``plans`` on :func:`plan_join` and select
    ``label``. Zoho Billing and Recurly give the plan's name on the subscription;
    Chargebee gives only the plan's code (its item price id), whose name is on the synced
    Plan. So: the subscription's own plan name, else the name of the connection's plan
    with that code, else the code itself.
    """
    plans = (
        select(Plan.connection_id, Plan.code, func.min(Plan.name).label("name"))
        .where(Plan.deleted_at.is_(None), Plan.code.is_not(None), Plan.name.is_not(None))
        .group_by(Plan.connection_id, Plan.code)
        .subquery("plan_names")
    )
    return plans, func.coalesce(Subscription.plan_name, plans.c.name, Subscription.plan_code)


def plan_join(plans: Any) -> ColumnElement[bool]:
    """The outer-join condition between subscriptions and :func:`plan_label`'s plans."""
    return and_(
        plans.c.connection_id == Subscription.connection_id,
        plans.c.code == Subscription.plan_code,
    )


def count_accounts(session: Session, flt: AccountFilter | None = None) -> int:
    """How many accounts match the filter."""
    statement = _filtered(select(func.count(Account.id)), flt or AccountFilter())
    return int(session.scalar(statement) or 0)


def _sort_key(statement: Select[Any], sort: AccountSort) -> tuple[Select[Any], ColumnElement[Any]]:
    """Adds what sorting needs to ``statement`` and returns the key to order by."""
    live_subs = and_(Subscription.deleted_at.is_(None))
    if sort is AccountSort.NAME:
        return statement, Account.__table__.c.name
    if sort is AccountSort.IDENTIFIER:
        return statement, Account.__table__.c.identifier
    if sort is AccountSort.MRR:
        agg = (
            select(Subscription.account_id, func.sum(Subscription.mrr_minor).label("v"))
            .where(live_subs, Subscription.status.in_(MRR_STATUSES))
            .group_by(Subscription.account_id)
            .subquery()
        )
        statement = statement.outerjoin(agg, agg.c.account_id == Account.id)
        return statement, func.coalesce(agg.c.v, 0)
    if sort is AccountSort.AMOUNT_DUE:
        agg = (
            select(Invoice.account_id, func.sum(Invoice.amount_due_minor).label("v"))
            .where(Invoice.deleted_at.is_(None), Invoice.status.in_(DUE_STATUSES))
            .group_by(Invoice.account_id)
            .subquery()
        )
        statement = statement.outerjoin(agg, agg.c.account_id == Account.id)
        return statement, func.coalesce(agg.c.v, 0)
    if sort is AccountSort.NEXT_RENEWAL:
        agg = (
            select(Subscription.account_id, func.min(Subscription.next_billing_at).label("v"))
            .where(live_subs, Subscription.status.in_(RENEWING_STATUSES))
            .group_by(Subscription.account_id)
            .subquery()
        )
        statement = statement.outerjoin(agg, agg.c.account_id == Account.id)
        return statement, agg.c.v
    if sort is AccountSort.SUBSCRIPTION_STATUS:
        agg = (
            select(
                Subscription.account_id,
                func.min(_rank(Subscription.status, SUBSCRIPTION_STATUS_ORDER)).label("v"),
            )
            .where(live_subs)
            .group_by(Subscription.account_id)
            .subquery()
        )
        statement = statement.outerjoin(agg, agg.c.account_id == Account.id)
        return statement, agg.c.v
    if sort is AccountSort.INVOICE_STATUS:
        agg = (
            select(
                Invoice.account_id,
                func.min(_rank(Invoice.status, INVOICE_STATUS_ORDER)).label("v"),
            )
            .where(Invoice.deleted_at.is_(None))
            .group_by(Invoice.account_id)
            .subquery()
        )
        statement = statement.outerjoin(agg, agg.c.account_id == Account.id)
        return statement, agg.c.v
    if sort is AccountSort.PLANS:
        plans, label = plan_label()
        agg = (
            select(Subscription.account_id, func.min(label).label("v"))
            .outerjoin(plans, plan_join(plans))
            .where(
                live_subs,
                Subscription.status.not_in(("cancelled", "expired")),
                label.is_not(None),
            )
            .group_by(Subscription.account_id)
            .subquery()
        )
        statement = statement.outerjoin(agg, agg.c.account_id == Account.id)
        return statement, agg.c.v
    agg = (
        select(AccountSource.account_id, func.min(Connection.name).label("v"))
        .join(Connection, Connection.id == AccountSource.connection_id)
        .where(AccountSource.deleted_at.is_(None))
        .group_by(AccountSource.account_id)
        .subquery()
    )
    statement = statement.outerjoin(agg, agg.c.account_id == Account.id)
    return statement, agg.c.v


def page_ids(
    session: Session,
    flt: AccountFilter | None = None,
    sort: AccountSort = AccountSort.NAME,
    descending: bool = False,
    offset: int = 0,
    limit: int = 200,
) -> list[int]:
    """The ids of one page of matching accounts in the asked order.

    Empty values (no MRR, no renewal, …) sort last in both directions; ties are broken
    by the account id so pages never overlap. Names sort by the synced name, as stored
    (so an index serves the default order on 100,000 accounts).
    """
    statement, key = _sort_key(select(Account.id), sort)
    statement = _filtered(statement, flt or AccountFilter())
    order = key.desc() if descending else key.asc()
    tie = Account.id.desc() if descending else Account.id.asc()
    if sort in (AccountSort.NAME, AccountSort.IDENTIFIER):
        # Plain columns: ordered straight off their index, so the first page is instant.
        statement = statement.order_by(order, tie)
    else:
        statement = statement.order_by(case((key.is_(None), 1), else_=0), order, tie)
    statement = statement.offset(offset).limit(limit)
    return [int(value) for value in session.scalars(statement)]


@dataclass
class _Summary:
    mrr: int = 0
    mrr_currencies: set[str] = field(default_factory=set)
    plans: list[str] = field(default_factory=list)
    status_rank: int | None = None
    count: int = 0
    next_renewal: datetime | None = None
    invoice_rank: int | None = None
    due: int = 0
    due_currencies: set[str] = field(default_factory=set)


def rows_for(session: Session, ids: Sequence[int]) -> list[AccountRow]:
    """The list rows for these account ids, in the same order (missing ids are skipped)."""
    if not ids:
        return []
    wanted = list(ids)
    accounts = {
        row.id: row
        for row in session.execute(
            select(Account.id, Account.name, Account.identifier, Account.email).where(
                Account.id.in_(wanted)
            )
        )
    }
    edits: dict[int, dict[str, str | None]] = defaultdict(dict)
    for account_id, name, value in session.execute(
        select(AccountEdit.account_id, AccountEdit.field, AccountEdit.value).where(
            AccountEdit.account_id.in_(wanted)
        )
    ):
        edits[account_id][name] = value
    summary: dict[int, _Summary] = defaultdict(_Summary)
    sub_ranks = {status: index for index, status in enumerate(SUBSCRIPTION_STATUS_ORDER)}
    plans, label = plan_label()
    for sub_owner, status, plan, mrr, currency, next_billing in session.execute(
        select(
            Subscription.account_id,
            Subscription.status,
            label,
            Subscription.mrr_minor,
            Subscription.currency,
            Subscription.next_billing_at,
        )
        .outerjoin(plans, plan_join(plans))
        .where(Subscription.account_id.in_(wanted), Subscription.deleted_at.is_(None))
    ):
        item = summary[sub_owner or 0]
        item.count += 1
        rank = sub_ranks.get(status, len(SUBSCRIPTION_STATUS_ORDER))
        item.status_rank = rank if item.status_rank is None else min(item.status_rank, rank)
        if status in MRR_STATUSES:
            item.mrr += mrr or 0
            if currency:
                item.mrr_currencies.add(currency)
        if plan and status not in ("cancelled", "expired") and plan not in item.plans:
            item.plans.append(plan)
        if (
            status in RENEWING_STATUSES
            and next_billing is not None
            and (item.next_renewal is None or next_billing < item.next_renewal)
        ):
            item.next_renewal = next_billing
    inv_ranks = {status: index for index, status in enumerate(INVOICE_STATUS_ORDER)}
    for invoice_owner, status, currency, due in session.execute(
        select(
            Invoice.account_id,
            Invoice.status,
            Invoice.currency,
            func.sum(Invoice.amount_due_minor),
        )
        .where(Invoice.account_id.in_(wanted), Invoice.deleted_at.is_(None))
        .group_by(Invoice.account_id, Invoice.status, Invoice.currency)
    ):
        item = summary[invoice_owner or 0]
        rank = inv_ranks.get(status, len(INVOICE_STATUS_ORDER))
        item.invoice_rank = rank if item.invoice_rank is None else min(item.invoice_rank, rank)
        if status in DUE_STATUSES:
            item.due += int(due or 0)
            if currency:
                item.due_currencies.add(currency)
    sources: dict[int, list[str]] = defaultdict(list)
    for account_id, name in session.execute(
        select(AccountSource.account_id, Connection.name)
        .join(Connection, Connection.id == AccountSource.connection_id)
        .where(AccountSource.account_id.in_(wanted), AccountSource.deleted_at.is_(None))
        .order_by(Connection.name)
    ):
        if name not in sources[account_id]:
            sources[account_id].append(name)

    rows: list[AccountRow] = []
    for account_id in wanted:
        account = accounts.get(account_id)
        if account is None:
            continue
        item = summary[account_id]
        own = edits.get(account_id, {})
        rows.append(
            AccountRow(
                id=account_id,
                name=own.get("name", account.name),
                identifier=account.identifier,
                email=own.get("email", account.email),
                mrr_minor=item.mrr,
                mrr_currency=_single(item.mrr_currencies),
                mixed_currencies=len(item.mrr_currencies) > 1,
                plans=tuple(sorted(item.plans)),
                subscription_status=_status(item.status_rank, SUBSCRIPTION_STATUS_ORDER),
                subscription_count=item.count,
                invoice_status=_status(item.invoice_rank, INVOICE_STATUS_ORDER),
                amount_due_minor=item.due,
                due_currency=_single(item.due_currencies),
                next_renewal=item.next_renewal,
                sources=tuple(sources.get(account_id, ())),
                edited=bool(own),
            )
        )
    return rows


def _single(currencies: set[str]) -> str | None:
    return next(iter(currencies)) if len(currencies) == 1 else None


def _status(rank: int | None, order: Sequence[str]) -> str | None:
    if rank is None or rank >= len(order):
        return None
    return order[rank]


def list_accounts(
    session: Session,
    flt: AccountFilter | None = None,
    sort: AccountSort = AccountSort.NAME,
    descending: bool = False,
    offset: int = 0,
    limit: int = 200,
) -> list[AccountRow]:
    """One page of the Accounts list (see :func:`page_ids` and :func:`rows_for`)."""
    return rows_for(session, page_ids(session, flt, sort, descending, offset, limit))
