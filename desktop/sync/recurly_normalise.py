"""Recurly v3 (``v2021-02-25``) payloads → Billbridge records.

Recurly sends money as decimal numbers in major units (``49.0`` = 49 dollars; converted
with :func:`desktop.money.to_minor` in the record's currency) and times as ISO 8601 UTC.
Every reader tolerates a missing, null or oddly typed field; only a record with no
``id`` cannot be normalised (:class:`Unnormalisable` → a ``RecordProblem``).

Source ids carry the site's ``prefix`` (``"acme:"``) when a connection reads several
sites, so records of two sites never collide; a one-site connection uses Recurly's ids
as they are.

Subscription state (Recurly → Billbridge)::

    active → active, or trial while trial_ends_at is ahead (Recurly has no trial state)
    canceled → non_renewing while expires_at (else current_period_ends_at) is ahead,
               else cancelled
    expired → cancelled (it has ended)      failed → unpaid
    future → future                         paused → paused
    missing/unknown → inferred from the dates in the same spirit

MRR counts only for ``active`` and ``non_renewing`` subscriptions: one period's
``unit_amount × quantity + add_ons_total`` (else ``subtotal``), less active percent or
fixed coupon discounts, per the plan's interval (``interval_length`` days or months),
normalised with :func:`desktop.sync.records.monthly_amount`.

Invoice state (Recurly → Billbridge)::

    paid, closed → paid            voided → void
    open, pending, processing → open              past_due, failed → overdue
    open, pending, processing, past_due with paid > 0 and balance > 0 → partially_paid
    missing/unknown → from the amounts (nothing due → paid, part paid → partially_paid,
    due_at passed → overdue, else open)
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from desktop.money import to_minor
from desktop.sync.payload import stamp as stamp
from desktop.sync.payload import sub_object as sub_object
from desktop.sync.payload import text as text
from desktop.sync.records import (
    AccountRecord,
    InvoiceRecord,
    PlanRecord,
    SubscriptionRecord,
    UserRecord,
    monthly_amount,
)
from desktop.timeutil import parse_date, parse_timestamp

INVOICE_STATE: Final[dict[str, str]] = {
    "paid": "paid",
    "closed": "paid",
    "voided": "void",
    "open": "open",
    "pending": "open",
    "processing": "open",
    "past_due": "overdue",
    "failed": "overdue",
}
#: Invoice states in which a partial payment makes the invoice ``partially_paid``.
OPEN_INVOICE_STATES: Final[frozenset[str]] = frozenset(
    {"open", "pending", "processing", "past_due"}
)
MRR_STATUSES: Final[frozenset[str]] = frozenset({"active", "non_renewing"})
INTERVAL_UNITS: Final[dict[str, str]] = {
    "day": "day",
    "days": "day",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
}

#: A plan's billing interval: (unit, length).
Interval = tuple[str | None, int | None]


class Unnormalisable(ValueError):
    """A payload that cannot become a record at all (not an object, or no id)."""


# --------------------------------------------------------------------- small readers


def integer(value: object) -> int | None:
    """An integer from an int, an integral float or numeric text; ``None`` otherwise."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return int(number.to_integral_value())


def epoch(value: object) -> int | None:
    """Epoch seconds of an ISO 8601 timestamp, ``None`` if absent or unparseable."""
    moment = parse_timestamp(value)
    return int(moment.timestamp()) if moment is not None else None


def day(payload: dict[str, Any], key: str) -> date | None:
    """The UTC date of a timestamp field."""
    return parse_date(payload.get(key))


def currency(payload: dict[str, Any]) -> str | None:
    """The payload's ISO currency code (upper case)."""
    code = text(payload, "currency")
    return code.upper() if code and len(code) == 3 else None


def money(value: object, code: str | None) -> int | None:
    """Major units → minor units in ``code`` (two minor digits when unknown)."""
    if isinstance(value, bool):
        return None
    return to_minor(value, code or "XXX")


def custom_fields(payload: dict[str, Any]) -> dict[str, str]:
    """``custom_fields: [{"name", "value"}]`` as a name → value map (empty values left out)."""
    found: dict[str, str] = {}
    entries = payload.get("custom_fields")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        name, value = text(entry, "name"), text(entry, "value")
        if name and value is not None:
            found[name] = value
    return found


def require_id(payload: object, what: str) -> tuple[dict[str, Any], str]:
    """The payload as a dict plus its ``id``, or :class:`Unnormalisable`."""
    if not isinstance(payload, dict):
        raise Unnormalisable(f"A Recurly {what} entry is not a JSON object.")
    source_id = text(payload, "id")
    if source_id is None:
        raise Unnormalisable(f"A Recurly {what} has no id.")
    return payload, source_id


def interval_unit(value: object) -> str | None:
    """``months`` → ``month`` and so on; ``None`` for anything else."""
    return INTERVAL_UNITS.get(value.strip().lower()) if isinstance(value, str) else None


def _pid(prefix: str, value: str | None) -> str | None:
    return f"{prefix}{value}" if value is not None else None


# ----------------------------------------------------------------------------- records


def account_is_deleted(data: dict[str, Any]) -> bool:
    """Closed (``inactive``) and deleted accounts are gone for Billbridge."""
    return text(data, "state") == "inactive" or text(data, "deleted_at") is not None


def account_record(payload: object, prefix: str = "") -> AccountRecord:
    """A Recurly account as an Account."""
    data, source_id = require_id(payload, "account")
    first, last = text(data, "first_name"), text(data, "last_name")
    full_name = " ".join(part for part in (first, last) if part) or None
    company = text(data, "company")
    address = sub_object(data, "address")
    return AccountRecord(
        source_id=f"{prefix}{source_id}",
        name=company or full_name or text(data, "email"),
        email=text(data, "email"),
        company=company,
        phone=text(address, "phone"),
        currency=None,
        custom_fields=custom_fields(data),
        created_at=stamp(data, "created_at"),
        updated_at=stamp(data, "updated_at"),
        deleted=account_is_deleted(data),
        raw=data,
    )


def primary_user_id(account_id: str) -> str:
    """The user source id of an account's own contact: ``account:<id>``."""
    return f"account:{account_id}"


def user_record(payload: object, prefix: str = "") -> UserRecord:
    """A Recurly account as its own primary user (deleted with the account)."""
    data, account_id = require_id(payload, "account")
    return UserRecord(
        source_id=f"{prefix}{primary_user_id(account_id)}",
        account_source_id=f"{prefix}{account_id}",
        first_name=text(data, "first_name"),
        last_name=text(data, "last_name"),
        email=text(data, "email"),
        phone=text(sub_object(data, "address"), "phone"),
        is_primary=True,
        updated_at=stamp(data, "updated_at"),
        deleted=account_is_deleted(data),
        raw=data,
    )


def plan_interval(data: dict[str, Any]) -> Interval:
    """A plan payload's (unit, length)."""
    return interval_unit(data.get("interval_unit")), integer(data.get("interval_length"))


def plan_record(payload: object, prefix: str = "") -> PlanRecord:
    """A Recurly plan as a Plan, priced in its first currency (all kept in ``raw``)."""
    data, source_id = require_id(payload, "plan")
    prices = data.get("currencies")
    first = next((p for p in prices if isinstance(p, dict)), {}) if isinstance(prices, list) else {}
    code = currency(first)
    unit, length = plan_interval(data)
    state = text(data, "state")
    return PlanRecord(
        source_id=f"{prefix}{source_id}",
        code=text(data, "code"),
        name=text(data, "name"),
        interval_unit=unit,
        interval_count=length,
        price_minor=money(first.get("unit_amount"), code),
        currency=code,
        status=state,
        created_at=stamp(data, "created_at"),
        updated_at=stamp(data, "updated_at"),
        deleted=text(data, "deleted_at") is not None,
        raw=data,
    )


def subscription_status(data: dict[str, Any], now: datetime) -> str:
    """The normalised status (see the module docstring)."""
    state = (text(data, "state") or "").lower()
    trial_end = stamp(data, "trial_ends_at")
    ends = stamp(data, "expires_at", "current_period_ends_at")
    if state == "active":
        return "trial" if trial_end is not None and trial_end > now else "active"
    if state == "canceled":
        return "non_renewing" if ends is not None and ends > now else "cancelled"
    fixed = {"expired": "cancelled", "failed": "unpaid", "future": "future", "paused": "paused"}
    if state in fixed:
        return fixed[state]
    expires = stamp(data, "expires_at")
    if expires is not None:
        return "non_renewing" if expires > now else "cancelled"
    if stamp(data, "canceled_at") is not None:
        return "cancelled"
    if text(data, "paused_at") is not None:
        return "paused"
    started = stamp(data, "activated_at", "current_period_started_at")
    if started is not None and started > now:
        return "future"
    return "trial" if trial_end is not None and trial_end > now else "active"


def recurring_amount(data: dict[str, Any], code: str | None) -> int | None:
    """One period's price: ``unit_amount × quantity + add_ons_total``, else ``subtotal``."""
    unit = money(data.get("unit_amount"), code)
    if unit is not None:
        quantity = integer(data.get("quantity"))
        add_ons = money(data.get("add_ons_total"), code) or 0
        return unit * (quantity if quantity is not None else 1) + add_ons
    return money(data.get("subtotal"), code)


def discounted(amount: int, data: dict[str, Any], code: str | None) -> int:
    """``amount`` less the active percent / fixed coupon discounts of the subscription."""
    result = amount
    redemptions = data.get("coupon_redemptions")
    for redemption in redemptions if isinstance(redemptions, list) else []:
        if not isinstance(redemption, dict) or text(redemption, "state") == "inactive":
            continue
        discount = sub_object(sub_object(redemption, "coupon"), "discount")
        kind = text(discount, "type")
        if kind == "percent":
            percent = integer(discount.get("percent"))
            if percent:
                result -= amount * percent // 100
        elif kind == "fixed":
            amounts = discount.get("currencies")
            for entry in amounts if isinstance(amounts, list) else []:
                if isinstance(entry, dict) and currency(entry) == code:
                    result -= money(entry.get("amount"), code) or 0
    return max(result, 0)


def subscription_record(
    payload: object, now: datetime, interval: Interval | None = None, prefix: str = ""
) -> SubscriptionRecord:
    """A Recurly subscription as a Subscription.

    Args:
        payload: the subscription object.
        now: the clock's time (trials and non-renewing subscriptions depend on it).
        interval: the plan's (unit, length), ``None`` when the plan is unknown (MRR 0).
        prefix: the site prefix of source ids.
    """
    data, source_id = require_id(payload, "subscription")
    code = currency(data)
    status = subscription_status(data, now)
    plan = sub_object(data, "plan")
    unit, length = interval if interval is not None else (None, None)
    amount = recurring_amount(data, code)
    mrr = 0
    if status in MRR_STATUSES and amount is not None:
        mrr = monthly_amount(discounted(amount, data, code), unit, length)
    account = sub_object(data, "account")
    return SubscriptionRecord(
        source_id=f"{prefix}{source_id}",
        account_source_id=_pid(prefix, text(account, "id")),
        status=status,
        number=text(data, "uuid"),
        plan_code=text(plan, "code"),
        plan_name=text(plan, "name"),
        quantity=integer(data.get("quantity")),
        currency=code,
        amount_minor=amount,
        mrr_minor=mrr,
        interval_unit=unit,
        interval_count=length,
        started_at=stamp(data, "activated_at", "created_at"),
        trial_ends_at=stamp(data, "trial_ends_at"),
        current_term_ends_at=stamp(data, "current_term_ends_at", "current_period_ends_at"),
        next_billing_at=(
            stamp(data, "current_period_ends_at") if status in ("active", "trial") else None
        ),
        cancelled_at=stamp(data, "canceled_at"),
        has_payment_method=(
            True
            if text(data, "billing_info_id")
            else (False if text(data, "collection_method") == "manual" else None)
        ),
        custom_fields=custom_fields(data),
        created_at=stamp(data, "created_at"),
        updated_at=stamp(data, "updated_at"),
        deleted=False,
        raw=data,
    )


def invoice_status(data: dict[str, Any], now: datetime, paid: int, due: int | None) -> str:
    """The normalised status (see the module docstring)."""
    state = (text(data, "state") or "").lower()
    if state in INVOICE_STATE:
        if state in OPEN_INVOICE_STATES and paid > 0 and (due or 0) > 0:
            return "partially_paid"
        return INVOICE_STATE[state]
    if due == 0 and paid > 0:
        return "paid"
    if paid > 0 and (due or 0) > 0:
        return "partially_paid"
    due_at = stamp(data, "due_at")
    return "overdue" if due_at is not None and due_at < now else "open"


def invoice_record(payload: object, now: datetime, prefix: str = "") -> InvoiceRecord:
    """A Recurly invoice as an Invoice (``balance`` is the amount due)."""
    data, source_id = require_id(payload, "invoice")
    code = currency(data)
    total = money(data.get("total"), code)
    paid = money(data.get("paid"), code) or 0
    due = money(data.get("balance"), code)
    if due is None and total is not None:
        due = 0 if text(data, "state") in ("paid", "closed", "voided") else max(total - paid, 0)
    status = invoice_status(data, now, paid, due)
    subscriptions = data.get("subscription_ids")
    subscription_id = None
    if isinstance(subscriptions, list) and subscriptions and subscriptions[0] is not None:
        subscription_id = str(subscriptions[0])
    return InvoiceRecord(
        source_id=f"{prefix}{source_id}",
        account_source_id=_pid(prefix, text(sub_object(data, "account"), "id")),
        status=status,
        subscription_source_id=_pid(prefix, subscription_id),
        number=text(data, "number"),
        currency=code,
        total_minor=total or 0,
        amount_due_minor=due or 0,
        amount_paid_minor=paid,
        issued_on=day(data, "created_at"),
        due_on=day(data, "due_at"),
        paid_at=stamp(data, "closed_at") if status == "paid" else None,
        created_at=stamp(data, "created_at"),
        updated_at=stamp(data, "updated_at"),
        deleted=False,
        raw=data,
    )
