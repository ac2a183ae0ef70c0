"""Zoho Billing payloads → Billbridge records: the vendor's vocabulary ends here.

Pure functions, no I/O. Each ``*_record`` function takes one payload (a ``dict`` as Zoho
sent it) and returns a normalised record, or raises :class:`Unnormalisable` with a
sentence when the payload cannot be used (no id, an unknown status); the connector turns
that into a :class:`~desktop.sync.records.RecordProblem` and goes on with the page.
Missing, null or oddly typed fields give ``None`` (or 0 for money totals), never a crash.

Mapping (Zoho → Billbridge):

* customer → Account; ``display_name`` (else company, else first + last name) is the
  name, ``custom_fields[]`` are keyed by their ``placeholder`` (``cf_tenant_id``).
* contact person → User; the customer's own contact fields become the *primary* user
  (see :func:`primary_user_record`).
* plan → Plan, keyed by ``plan_code`` (Zoho plans have no other id).
* subscription ``status``: ``live``→active, ``trial``→trial, ``non_renewing``→
  non_renewing, ``dunning``/``unpaid``/``past_due``→unpaid, ``cancelled``/
  ``cancelled_from_dunning``/``creation_failed``→cancelled, ``expired``/``trial_expired``→
  expired, ``future``→future, ``paused``→paused. MRR is ``amount`` per ``interval`` ×
  ``interval_unit`` normalised to a month, for active, non-renewing and unpaid
  subscriptions only (trials, future, paused and ended ones count 0).
* invoice ``status``: ``paid``→paid, ``sent``/``unpaid``/``pending``→open (overdue once
  the due date has passed), ``overdue``→overdue, ``partially_paid``→partially_paid,
  ``void``→void, ``draft``→draft. ``total``→total, ``balance``→amount due,
  ``payment_made``→amount paid.

Custom fields are keyed by ``placeholder`` because it is Zoho's stable API name: a
field's ``label`` is display text an admin can rename at any time, which would silently
break a connection whose account identifier comes from that field. When a payload has no
placeholder the label is used, and list payloads that flatten custom fields into
top-level ``cf_*`` keys are read too.
"""

from __future__ import annotations

from datetime import date, datetime
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
from desktop.timeutil import parse_date


class Unnormalisable(ValueError):
    """A payload that cannot become a record; the message is a sentence for a person."""


SUBSCRIPTION_STATUS: Final[dict[str, str]] = {
    "live": "active",
    "active": "active",
    "trial": "trial",
    "in_trial": "trial",
    "non_renewing": "non_renewing",
    "dunning": "unpaid",
    "unpaid": "unpaid",
    "past_due": "unpaid",
    "cancelled": "cancelled",
    "cancelled_from_dunning": "cancelled",
    "creation_failed": "cancelled",
    "expired": "expired",
    "trial_expired": "expired",
    "future": "future",
    "paused": "paused",
}

INVOICE_STATUS: Final[dict[str, str]] = {
    "paid": "paid",
    "sent": "open",
    "unpaid": "open",
    "pending": "open",
    "open": "open",
    "overdue": "overdue",
    "partially_paid": "partially_paid",
    "void": "void",
    "draft": "draft",
}

#: Subscription statuses whose recurring amount counts towards MRR.
MRR_STATUSES: Final[frozenset[str]] = frozenset({"active", "non_renewing", "unpaid"})

INTERVAL_UNIT: Final[dict[str, str]] = {
    "day": "day",
    "days": "day",
    "week": "week",
    "weeks": "week",
    "month": "month",
    "months": "month",
    "year": "year",
    "years": "year",
}


# --------------------------------------------------------------------- small readers


def integer(value: object) -> int | None:
    """An integer from a number or numeric text; ``None`` otherwise."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(str(value)))
    except (TypeError, ValueError, OverflowError):
        return None


def boolean(value: object) -> bool | None:
    """A boolean from ``true``/``false`` in the shapes Zoho uses; ``None`` otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def day(payload: dict[str, Any], *keys: str) -> date | None:
    """The first parseable date among ``keys``."""
    for key in keys:
        value = parse_date(payload.get(key))
        if value is not None:
            return value
    return None


def currency_of(payload: dict[str, Any], default: str | None) -> str | None:
    """The payload's ISO currency code (upper case), else ``default``."""
    code = text(payload, "currency_code")
    return code.upper() if code else default


def money(value: object, currency: str | None) -> int | None:
    """Major units → minor units; a missing currency counts as two minor digits."""
    return to_minor(value, currency or "XXX")


def updated_at(payload: dict[str, Any]) -> datetime | None:
    """When the record last changed at the source (``updated_time``), if known."""
    return stamp(payload, "updated_time", "last_modified_time", "updated_at")


def custom_fields(payload: dict[str, Any]) -> dict[str, str]:
    """Custom field values keyed by placeholder (``cf_tenant_id``), else by label.

    Empty values are left out, so "not set" and "set to nothing" look the same.
    """
    result: dict[str, str] = {}
    entries = payload.get("custom_fields")
    if isinstance(entries, list):
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            key = text(entry, "placeholder", "api_name", "label", "customfield_id")
            value = text(entry, "value")
            if key and value is not None:
                result[key] = value
    for key in payload:
        if (
            isinstance(key, str)
            and key.startswith("cf_")
            and not key.endswith("_unformatted")
            and key not in result
        ):
            value = text(payload, key)
            if value is not None:
                result[key] = value
    return result


def _require_id(payload: object, key: str, what: str) -> tuple[dict[str, Any], str]:
    """The payload as a dict plus its id, or :class:`Unnormalisable`."""
    if not isinstance(payload, dict):
        raise Unnormalisable(f"A {what} entry is not a JSON object.")
    source_id = text(payload, key)
    if source_id is None:
        raise Unnormalisable(f"A {what} has no {key}.")
    return payload, source_id


# ----------------------------------------------------------------------------- records


def account_record(payload: object) -> AccountRecord:
    """A Zoho customer as an Account."""
    data, source_id = _require_id(payload, "customer_id", "customer")
    full_name = " ".join(p for p in (text(data, "first_name"), text(data, "last_name")) if p)
    return AccountRecord(
        source_id=source_id,
        name=text(data, "display_name", "company_name", "customer_name") or full_name or None,
        email=text(data, "email"),
        company=text(data, "company_name"),
        phone=text(data, "phone", "mobile"),
        currency=currency_of(data, None),
        custom_fields=custom_fields(data),
        created_at=stamp(data, "created_time", "created_at"),
        updated_at=updated_at(data),
        raw=data,
    )


def primary_user_id(customer: dict[str, Any], customer_id: str) -> str:
    """The user source id of a customer's primary contact.

    Zoho's ``primary_contactperson_id`` when the payload has it; otherwise a stable
    stand-in ``"{customer_id}:primary"``.
    """
    return text(customer, "primary_contactperson_id") or f"{customer_id}:primary"


def primary_user_record(customer: object) -> UserRecord | None:
    """The customer's own contact (its first/last name, e-mail, phone) as a User.

    Returns ``None`` when the customer carries no personal contact data at all (no name
    and no e-mail), since there is nobody to record.
    """
    data, customer_id = _require_id(customer, "customer_id", "customer")
    first, last, email = text(data, "first_name"), text(data, "last_name"), text(data, "email")
    if not (first or last or email):
        return None
    return UserRecord(
        source_id=primary_user_id(data, customer_id),
        account_source_id=customer_id,
        first_name=first,
        last_name=last,
        email=email,
        phone=text(data, "phone", "mobile"),
        is_primary=True,
        updated_at=updated_at(data),
        raw={"customer_id": customer_id, "source": "customer", "primary_contact": True},
    )


def user_record(payload: object, customer_id: str) -> UserRecord:
    """A Zoho contact person of ``customer_id`` as a User."""
    data, source_id = _require_id(payload, "contactperson_id", "contact person")
    return UserRecord(
        source_id=source_id,
        account_source_id=text(data, "customer_id") or customer_id,
        first_name=text(data, "first_name"),
        last_name=text(data, "last_name"),
        email=text(data, "email"),
        phone=text(data, "phone", "mobile"),
        is_primary=bool(boolean(data.get("is_primary_contact"))),
        updated_at=updated_at(data),
        raw=data,
    )


def plan_record(payload: object, default_currency: str | None = None) -> PlanRecord:
    """A Zoho plan as a Plan (keyed by ``plan_code``)."""
    data, code = _require_id(payload, "plan_code", "plan")
    currency = currency_of(data, default_currency)
    unit = text(data, "interval_unit")
    return PlanRecord(
        source_id=code,
        code=code,
        name=text(data, "name"),
        interval_unit=INTERVAL_UNIT.get(unit.lower()) if unit else None,
        interval_count=integer(data.get("interval")),
        price_minor=money(data.get("recurring_price", data.get("price")), currency),
        currency=currency,
        status=text(data, "status"),
        created_at=stamp(data, "created_time", "created_at"),
        updated_at=updated_at(data),
        raw=data,
    )


def _subscription_amount(data: dict[str, Any], currency: str | None) -> int | None:
    """``amount``, else plan price × quantity plus add-ons, in minor units."""
    amount = money(data.get("amount"), currency)
    if amount is not None:
        return amount
    plan = sub_object(data, "plan")
    price = money(plan.get("price"), currency)
    if price is None:
        return None
    total = price * (integer(plan.get("quantity")) or 1)
    addons = data.get("addons")
    for addon in addons if isinstance(addons, list) else []:
        if isinstance(addon, dict):
            total += (money(addon.get("price"), currency) or 0) * (
                integer(addon.get("quantity")) or 1
            )
    return total


def subscription_record(payload: object, default_currency: str | None = None) -> SubscriptionRecord:
    """A Zoho subscription as a Subscription, with MRR normalised to one month."""
    data, source_id = _require_id(payload, "subscription_id", "subscription")
    raw_status = (text(data, "status") or "").lower()
    status = SUBSCRIPTION_STATUS.get(raw_status)
    if status is None:
        if not raw_status:
            raise Unnormalisable(f"Subscription {source_id} has no status.")
        raise Unnormalisable(f"Subscription {source_id} has an unknown status ({raw_status}).")
    currency = currency_of(data, default_currency)
    plan = sub_object(data, "plan")
    customer = sub_object(data, "customer")
    unit_text = text(data, "interval_unit")
    unit = INTERVAL_UNIT.get(unit_text.lower()) if unit_text else None
    count = integer(data.get("interval"))
    amount = _subscription_amount(data, currency)
    card = data.get("card")
    has_card = bool(text(card, "card_id", "last_four_digits")) if isinstance(card, dict) else None
    if has_card is None and "auto_collect" in data:
        has_card = boolean(data.get("auto_collect"))
    trial_end = stamp(data, "trial_ends_at", "trial_end_date")
    if trial_end is None and status == "trial":
        trial_end = stamp(data, "current_term_ends_at")
    ended = stamp(data, "cancelled_at", "cancelled_date")
    if ended is None and status in {"cancelled", "non_renewing"}:
        ended = stamp(data, "expires_at")
    return SubscriptionRecord(
        source_id=source_id,
        account_source_id=text(data, "customer_id") or text(customer, "customer_id"),
        status=status,
        number=text(data, "subscription_number"),
        plan_code=text(plan, "plan_code") or text(data, "plan_code"),
        plan_name=text(plan, "name") or text(data, "plan_name"),
        quantity=integer(plan.get("quantity")),
        currency=currency,
        amount_minor=amount,
        mrr_minor=monthly_amount(amount, unit, count) if status in MRR_STATUSES else 0,
        interval_unit=unit,
        interval_count=count,
        started_at=stamp(data, "activated_at", "starts_at", "start_date", "created_at"),
        trial_ends_at=trial_end,
        current_term_ends_at=stamp(data, "current_term_ends_at"),
        next_billing_at=stamp(data, "next_billing_at"),
        cancelled_at=ended,
        has_payment_method=has_card,
        custom_fields=custom_fields(data),
        created_at=stamp(data, "created_time", "created_at"),
        updated_at=updated_at(data),
        raw=data,
    )


def invoice_record(
    payload: object, today: date, default_currency: str | None = None
) -> InvoiceRecord:
    """A Zoho invoice as an Invoice; a sent invoice past its due date is overdue."""
    data, source_id = _require_id(payload, "invoice_id", "invoice")
    raw_status = (text(data, "status") or "").lower()
    status = INVOICE_STATUS.get(raw_status)
    if status is None:
        if not raw_status:
            raise Unnormalisable(f"Invoice {source_id} has no status.")
        raise Unnormalisable(f"Invoice {source_id} has an unknown status ({raw_status}).")
    due = day(data, "due_date")
    if status == "open" and due is not None and due < today:
        status = "overdue"
    currency = currency_of(data, default_currency)
    total = money(data.get("total"), currency) or 0
    balance = money(data.get("balance"), currency)
    paid = money(data.get("payment_made"), currency)
    if balance is None:
        balance = 0 if status in {"paid", "void"} else total
    if paid is None:
        credits = money(data.get("credits_applied"), currency) or 0
        written_off = money(data.get("write_off_amount"), currency) or 0
        paid = 0 if status == "void" else max(total - balance - credits - written_off, 0)
    subscriptions = data.get("subscriptions")
    first_sub = subscriptions[0] if isinstance(subscriptions, list) and subscriptions else {}
    return InvoiceRecord(
        source_id=source_id,
        account_source_id=text(data, "customer_id"),
        status=status,
        subscription_source_id=(
            text(first_sub, "subscription_id") if isinstance(first_sub, dict) else None
        )
        or text(data, "subscription_id"),
        number=text(data, "invoice_number", "number"),
        currency=currency,
        total_minor=total,
        amount_due_minor=balance,
        amount_paid_minor=paid,
        issued_on=day(data, "invoice_date", "date"),
        due_on=due,
        paid_at=stamp(data, "paid_at", "last_payment_date", "payment_date")
        if status == "paid"
        else None,
        created_at=stamp(data, "created_time", "created_at"),
        updated_at=updated_at(data),
        raw=data,
    )
