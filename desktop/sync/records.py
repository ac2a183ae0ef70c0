"""Normalised records: where a vendor's vocabulary ends and Billbridge's begins.

A connector turns each vendor payload into one of these; the engine writes them to the
storage model. Money is integer minor units plus a currency, times are aware UTC, and
``raw`` keeps the whole source payload so nothing the schema does not model is lost.
A missing or null field is ``None`` — never a crash.

Normalised status vocabularies (connectors map their vendor's values onto these):

* subscription ``status``: ``active``, ``trial``, ``non_renewing``, ``paused``,
  ``cancelled``, ``expired``, ``future``, ``unpaid`` (in dunning / past due).
* invoice ``status``: ``paid``, ``open`` (issued, not yet due), ``overdue``,
  ``partially_paid``, ``void``, ``draft``.
* interval ``unit``: ``day``, ``week``, ``month``, ``year``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


class Stream(enum.StrEnum):
    """The kinds of record a billing connection syncs, in dependency order."""

    PLANS = "plans"
    ACCOUNTS = "accounts"
    USERS = "users"
    SUBSCRIPTIONS = "subscriptions"
    INVOICES = "invoices"


SUBSCRIPTION_STATUSES = frozenset(
    {"active", "trial", "non_renewing", "paused", "cancelled", "expired", "future", "unpaid"}
)
INVOICE_STATUSES = frozenset({"paid", "open", "overdue", "partially_paid", "void", "draft"})


@dataclass(slots=True)
class AccountRecord:
    """A billing customer/account.

    ``custom_fields`` maps a field's name (as the source names it, for example
    ``cf_tenant_id`` or ``tenant_id``) to its value; the engine uses it when a
    connection's account identifier comes from a custom field.
    """

    source_id: str
    name: str | None = None
    email: str | None = None
    company: str | None = None
    phone: str | None = None
    currency: str | None = None
    custom_fields: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class UserRecord:
    """A person at an account (a contact person, or the account's own contact)."""

    source_id: str
    account_source_id: str | None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    is_primary: bool = False
    updated_at: datetime | None = None
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PlanRecord:
    """A price plan."""

    source_id: str
    code: str | None = None
    name: str | None = None
    interval_unit: str | None = None
    interval_count: int | None = None
    price_minor: int | None = None
    currency: str | None = None
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SubscriptionRecord:
    """A subscription; ``mrr_minor`` is the recurring amount normalised to one month."""

    source_id: str
    account_source_id: str | None
    status: str
    number: str | None = None
    plan_code: str | None = None
    plan_name: str | None = None
    quantity: int | None = None
    currency: str | None = None
    amount_minor: int | None = None
    mrr_minor: int = 0
    interval_unit: str | None = None
    interval_count: int | None = None
    started_at: datetime | None = None
    trial_ends_at: datetime | None = None
    current_term_ends_at: datetime | None = None
    next_billing_at: datetime | None = None
    cancelled_at: datetime | None = None
    has_payment_method: bool | None = None
    custom_fields: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class InvoiceRecord:
    """An invoice with its total, what was paid and what is still due (minor units)."""

    source_id: str
    account_source_id: str | None
    status: str
    subscription_source_id: str | None = None
    number: str | None = None
    currency: str | None = None
    total_minor: int = 0
    amount_due_minor: int = 0
    amount_paid_minor: int = 0
    issued_on: date | None = None
    due_on: date | None = None
    paid_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


Record = AccountRecord | UserRecord | PlanRecord | SubscriptionRecord | InvoiceRecord


@dataclass(slots=True)
class RecordProblem:
    """A source record that could not be normalised: it becomes a Sync error."""

    stream: Stream
    source_id: str | None
    reason: str
    payload: dict[str, Any] | None = None


def monthly_amount(amount_minor: int | None, unit: str | None, count: int | None) -> int:
    """Normalises a per-period amount to one month, in minor units (rounded).

    A year is 12 months, a quarter 3, a week 12/52 of a month and a day 12/365.
    Unknown or missing periods give 0, so an odd record never inflates MRR.
    """
    if not amount_minor or not unit:
        return 0
    periods = max(count or 1, 1)
    months_per_unit = {"month": 1.0, "year": 12.0, "week": 52.0 / 12.0, "day": 365.0 / 12.0}
    factor = months_per_unit.get(unit)
    if factor is None:
        return 0
    if unit in ("week", "day"):
        return round(amount_minor * factor / periods)
    return round(amount_minor / (factor * periods))
