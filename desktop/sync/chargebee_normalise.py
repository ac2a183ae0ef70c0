"""Chargebee payloads → Billbridge records: the vocabulary mapping of one vendor.

Chargebee sends money as integers in the currency's minor unit and times as epoch
seconds. Every reader here tolerates a missing, null or oddly typed field (it becomes
``None``); only a record with no ``id`` cannot be normalised at all
(:class:`Unnormalisable`, which the connector turns into a ``RecordProblem``).

Subscription status (Chargebee → Billbridge)::

    future → future          in_trial → trial         active → active
    non_renewing → non_renewing                        paused → paused
    cancelled → cancelled    transferred → cancelled (it lives on at another customer)
    missing/unknown → inferred from the dates: cancelled_at passed → cancelled,
    trial_end ahead → trial, start_date ahead → future, else active

MRR counts only for ``active`` and ``non_renewing`` subscriptions (a trial, a future,
paused or cancelled subscription has MRR 0). It is Chargebee's own ``mrr`` when the
payload has it, else the recurring amount (plan and add-on items; one-time charges left
out) less the discounts the payload lists, normalised to a month with
:func:`desktop.sync.records.monthly_amount`.

Invoice status (Chargebee → Billbridge)::

    paid → paid        voided → void        pending → draft       posted → open
    payment_due → overdue when its due_date has passed, else open
    not_paid → overdue
    any open state with amount_paid > 0 and amount_due > 0 → partially_paid
    missing/unknown → from the amounts: nothing due → paid, part paid → partially_paid,
    due date passed → overdue, else open
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

from desktop.sync.payload import stamp as stamp
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

SUBSCRIPTION_STATUS: Final[dict[str, str]] = {
    "future": "future",
    "in_trial": "trial",
    "active": "active",
    "non_renewing": "non_renewing",
    "paused": "paused",
    "cancelled": "cancelled",
    "transferred": "cancelled",
}
INVOICE_STATUS: Final[dict[str, str]] = {
    "paid": "paid",
    "voided": "void",
    "pending": "draft",
    "posted": "open",
    "payment_due": "open",  # overdue once the due date has passed
    "not_paid": "overdue",
}
#: Statuses that count towards MRR.
MRR_STATUSES: Final[frozenset[str]] = frozenset({"active", "non_renewing"})
#: Chargebee period units (already Billbridge's words).
PERIOD_UNITS: Final[frozenset[str]] = frozenset({"day", "week", "month", "year"})
#: Item types that recur (a ``charge`` is one-time).
RECURRING_ITEM_TYPES: Final[frozenset[str]] = frozenset({"plan", "addon"})


class Unnormalisable(ValueError):
    """A payload that cannot become a record at all (not an object, or no id)."""


# --------------------------------------------------------------------- small readers


def integer(value: object) -> int | None:
    """An integer from an int, an integral float or digit text; ``None`` otherwise."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return round(number)


#: the epoch seconds a datetime can hold (years 1 to 9999)
_FIRST_SECOND: Final = -62_135_596_800
_LAST_SECOND: Final = 253_402_300_799


def epoch(value: object) -> int | None:
    """Epoch seconds from a Chargebee timestamp (int seconds, or any parseable form)."""
    if type(value) is int and _FIRST_SECOND <= value <= _LAST_SECOND:
        return value  # what Chargebee sends: no round trip through a datetime
    stamp = parse_timestamp(value)
    return int(stamp.timestamp()) if stamp is not None else None


def day(payload: dict[str, Any], key: str) -> date | None:
    """A date from an epoch-seconds timestamp (its UTC day)."""
    return parse_date(payload.get(key))


def boolean(value: object) -> bool:
    """``True`` only for JSON true (or the text ``"true"``)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def currency(payload: dict[str, Any], *keys: str) -> str | None:
    """An ISO currency code, upper case."""
    code = text(payload, *keys)
    return code.upper() if code and len(code) == 3 else None


def custom_fields(payload: dict[str, Any]) -> dict[str, str]:
    """Top-level ``cf_*`` keys with a scalar, non-empty value."""
    found: dict[str, str] = {}
    for key in payload:
        if isinstance(key, str) and key.startswith("cf_"):
            value = text(payload, key)
            if value is not None:
                found[key] = value
    return found


def require_id(payload: object, what: str) -> tuple[dict[str, Any], str]:
    """The payload as a dict plus its ``id``, or :class:`Unnormalisable`."""
    if not isinstance(payload, dict):
        raise Unnormalisable(f"A Chargebee {what} entry is not a JSON object.")
    source_id = text(payload, "id")
    if source_id is None:
        raise Unnormalisable(f"A Chargebee {what} has no id.")
    return payload, source_id


def period_unit(value: object) -> str | None:
    """A Chargebee period unit as Billbridge's unit word, ``None`` if unknown."""
    if not isinstance(value, str):
        return None
    word = value.strip().lower()
    return word if word in PERIOD_UNITS else None


# ----------------------------------------------------------------------------- records


def account_record(payload: object) -> AccountRecord:
    """A Chargebee customer as an Account."""
    data, source_id = require_id(payload, "customer")
    first, last = text(data, "first_name"), text(data, "last_name")
    full_name = " ".join(part for part in (first, last) if part) or None
    company = text(data, "company")
    return AccountRecord(
        source_id=source_id,
        name=company or full_name or text(data, "email"),
        email=text(data, "email"),
        company=company,
        phone=text(data, "phone"),
        currency=currency(data, "preferred_currency_code"),
        custom_fields=custom_fields(data),
        created_at=stamp(data, "created_at"),
        updated_at=stamp(data, "updated_at"),
        deleted=boolean(data.get("deleted")),
        raw=data,
    )


def primary_user_id(customer_id: str) -> str:
    """The user source id of a customer's own contact: ``customer:<id>``."""
    return f"customer:{customer_id}"


def contact_user_id(customer_id: str, contact_id: str) -> str:
    """The user source id of a contact: ``contact:<customer id>:<contact id>``."""
    return f"contact:{customer_id}:{contact_id}"


def user_records(payload: object) -> list[UserRecord]:
    """A customer as its own primary user, plus one user per entry of ``contacts[]``.

    A deleted customer's users are deleted with it.
    """
    data, customer_id = require_id(payload, "customer")
    deleted = boolean(data.get("deleted"))
    updated = stamp(data, "updated_at")
    users = [
        UserRecord(
            source_id=primary_user_id(customer_id),
            account_source_id=customer_id,
            first_name=text(data, "first_name"),
            last_name=text(data, "last_name"),
            email=text(data, "email"),
            phone=text(data, "phone"),
            is_primary=True,
            updated_at=updated,
            deleted=deleted,
            raw=data,
        )
    ]
    contacts = data.get("contacts")
    for contact in contacts if isinstance(contacts, list) else []:
        if not isinstance(contact, dict):
            continue
        contact_id = text(contact, "id")
        if contact_id is None:
            continue
        users.append(
            UserRecord(
                source_id=contact_user_id(customer_id, contact_id),
                account_source_id=customer_id,
                first_name=text(contact, "first_name"),
                last_name=text(contact, "last_name"),
                email=text(contact, "email"),
                phone=text(contact, "phone"),
                is_primary=False,
                updated_at=updated,
                deleted=deleted or contact.get("enabled") is False,
                raw=contact,
            )
        )
    return users


def plan_record(payload: object) -> PlanRecord:
    """A PC 2.0 item price or a PC 1.0 plan as a Plan (``period``/``period_unit``)."""
    data, source_id = require_id(payload, "plan")
    status = text(data, "status")
    return PlanRecord(
        source_id=source_id,
        code=source_id,
        name=text(data, "external_name", "name", "invoice_name"),
        interval_unit=period_unit(data.get("period_unit")),
        interval_count=integer(data.get("period")),
        price_minor=integer(data.get("price")),
        currency=currency(data, "currency_code"),
        status=status,
        created_at=stamp(data, "created_at"),
        updated_at=stamp(data, "updated_at"),
        deleted=boolean(data.get("deleted")) or status == "deleted",
        raw=data,
    )


def _item_amount(item: dict[str, Any]) -> int | None:
    amount = integer(item.get("amount"))
    if amount is not None:
        return amount
    unit, quantity = integer(item.get("unit_price")), integer(item.get("quantity"))
    if unit is None:
        return None
    return unit * (quantity if quantity is not None else 1)


def recurring_amount(data: dict[str, Any]) -> int | None:
    """One billing period's recurring amount before discounts (plans + add-ons)."""
    items = data.get("subscription_items")
    if isinstance(items, list) and items:
        total: int | None = None
        for item in items:
            if not isinstance(item, dict):
                continue
            if (text(item, "item_type") or "plan") not in RECURRING_ITEM_TYPES:
                continue
            amount = _item_amount(item)
            if amount is not None:
                total = (total or 0) + amount
        return total
    total = integer(data.get("plan_amount"))
    if total is None:
        unit = integer(data.get("plan_unit_price"))
        quantity = integer(data.get("plan_quantity"))
        if unit is not None:
            total = unit * (quantity if quantity is not None else 1)
    addons = data.get("addons")
    for addon in addons if isinstance(addons, list) else []:
        if isinstance(addon, dict):
            amount = _item_amount(addon)
            if amount is not None:
                total = (total or 0) + amount
    return total


def discounted(amount: int, data: dict[str, Any]) -> int:
    """``amount`` less the discounts listed in ``discounts[]`` (percentage or fixed).

    Only discounts that apply to the whole recurring amount and have not run out are
    deducted; coupons listed by id alone (``coupons[]``) carry no amount and are covered
    by Chargebee's own ``mrr``.
    """
    entries = data.get("discounts")
    result = amount
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        if text(entry, "apply_on") not in (None, "invoice_amount"):
            continue
        if text(entry, "duration_type") == "one_time":
            continue
        percentage = entry.get("percentage")
        if isinstance(percentage, int | float) and not isinstance(percentage, bool):
            result -= round(amount * float(percentage) / 100)
            continue
        fixed = integer(entry.get("amount"))
        if fixed is not None:
            result -= fixed
    return max(result, 0)


def subscription_status(data: dict[str, Any], now: datetime) -> str:
    """The normalised status (see the module docstring), inferring a missing one."""
    word = text(data, "status")
    if word is not None and word.lower() in SUBSCRIPTION_STATUS:
        return SUBSCRIPTION_STATUS[word.lower()]
    cancelled = stamp(data, "cancelled_at")
    if cancelled is not None and cancelled <= now:
        return "cancelled"
    trial_end = stamp(data, "trial_end")
    if trial_end is not None and trial_end > now:
        return "trial"
    start = stamp(data, "start_date")
    if start is not None and start > now and stamp(data, "started_at") is None:
        return "future"
    return "active"


def _has_payment_method(data: dict[str, Any], customer: dict[str, Any] | None) -> bool | None:
    if text(data, "payment_source_id"):
        return True
    card_status = text(customer or {}, "card_status")
    if card_status is None:
        return None
    return card_status in ("valid", "expiring")


def subscription_record(
    payload: object, now: datetime, customer: dict[str, Any] | None = None
) -> SubscriptionRecord:
    """A Chargebee subscription (PC 1.0 or 2.0) as a Subscription.

    Args:
        payload: the ``subscription`` object.
        now: the clock's time, to infer a missing status.
        customer: the ``customer`` object that list answers carry alongside, if any.
    """
    data, source_id = require_id(payload, "subscription")
    status = subscription_status(data, now)
    items = data.get("subscription_items")
    plan_item: dict[str, Any] = {}
    if isinstance(items, list):
        plan_item = next(
            (i for i in items if isinstance(i, dict) and text(i, "item_type") == "plan"), {}
        )
    plan_code = text(plan_item, "item_price_id") or text(data, "plan_id")
    quantity = integer(plan_item.get("quantity")) if plan_item else None
    if quantity is None:
        quantity = integer(data.get("plan_quantity"))
    unit = period_unit(data.get("billing_period_unit"))
    count = integer(data.get("billing_period"))
    amount = recurring_amount(data)
    mrr = 0
    if status in MRR_STATUSES:
        reported = integer(data.get("mrr"))
        if reported is not None:
            mrr = max(reported, 0)
        elif amount is not None:
            mrr = monthly_amount(discounted(amount, data), unit, count)
    return SubscriptionRecord(
        source_id=source_id,
        account_source_id=text(data, "customer_id") or text(customer or {}, "id"),
        status=status,
        plan_code=plan_code,
        quantity=quantity,
        currency=currency(data, "currency_code"),
        amount_minor=amount,
        mrr_minor=mrr,
        interval_unit=unit,
        interval_count=count,
        started_at=stamp(data, "started_at", "start_date", "activated_at"),
        trial_ends_at=stamp(data, "trial_end"),
        current_term_ends_at=stamp(data, "current_term_end"),
        next_billing_at=stamp(data, "next_billing_at"),
        cancelled_at=stamp(data, "cancelled_at"),
        has_payment_method=_has_payment_method(data, customer),
        custom_fields=custom_fields(data),
        created_at=stamp(data, "created_at"),
        updated_at=stamp(data, "updated_at"),
        deleted=boolean(data.get("deleted")),
        raw=data,
    )


def invoice_status(data: dict[str, Any], now: datetime) -> str:
    """The normalised status (see the module docstring)."""
    word = (text(data, "status") or "").lower()
    paid = integer(data.get("amount_paid")) or 0
    due = integer(data.get("amount_due"))
    due_date = stamp(data, "due_date")
    past_due = due_date is not None and due_date < now
    if word in ("paid", "voided", "pending"):
        return INVOICE_STATUS[word]
    if word in INVOICE_STATUS:
        if paid > 0 and (due or 0) > 0:
            return "partially_paid"
        if word == "payment_due" and past_due:
            return "overdue"
        return INVOICE_STATUS[word]
    if due is None:
        total = integer(data.get("total"))
        due = max((total or 0) - paid, 0) if total is not None else None
    if due == 0 and (paid > 0 or stamp(data, "paid_at") is not None):
        return "paid"
    if paid > 0 and (due or 0) > 0:
        return "partially_paid"
    return "overdue" if past_due else "open"


def invoice_record(payload: object, now: datetime) -> InvoiceRecord:
    """A Chargebee invoice as an Invoice (its id is also its number)."""
    data, source_id = require_id(payload, "invoice")
    paid = integer(data.get("amount_paid")) or 0
    total = integer(data.get("total"))
    due = integer(data.get("amount_due"))
    if due is None:
        status_word = text(data, "status")
        due = 0 if status_word in ("paid", "voided") else max((total or 0) - paid, 0)
    return InvoiceRecord(
        source_id=source_id,
        account_source_id=text(data, "customer_id"),
        status=invoice_status(data, now),
        subscription_source_id=text(data, "subscription_id"),
        number=source_id,
        currency=currency(data, "currency_code"),
        total_minor=total or 0,
        amount_due_minor=due,
        amount_paid_minor=paid,
        issued_on=day(data, "date"),
        due_on=day(data, "due_date"),
        paid_at=stamp(data, "paid_at"),
        created_at=stamp(data, "created_at", "date"),
        updated_at=stamp(data, "updated_at"),
        deleted=boolean(data.get("deleted")),
        raw=data,
    )
