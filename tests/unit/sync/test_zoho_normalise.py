"""Zoho Billing payloads (the reference's examples) normalised into Billbridge records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from desktop.sync import zoho_normalise as zn

CUSTOMER: dict[str, Any] = {
    "customer_id": "460000000054001",
    "display_name": "Harbor Analytics",
    "first_name": "Lena",
    "last_name": "Vos",
    "email": "lena@harbor.example",
    "company_name": "Harbor Analytics",
    "status": "active",
    "currency_code": "EUR",
    "created_time": "2024-01-04T10:12:44+0100",
    "updated_time": "2024-02-01T08:00:02+0100",
    "custom_fields": [
        {
            "customfield_id": "460000000061003",
            "label": "Tenant ID",
            "value": "t-8812",
            "data_type": "string",
            "placeholder": "cf_tenant_id",
            "index": 1,
        }
    ],
}

SUBSCRIPTION: dict[str, Any] = {
    "subscription_id": "460000000079200",
    "name": "Analytics-Team",
    "status": "live",
    "amount": 90.0,
    "currency_code": "EUR",
    "interval": 1,
    "interval_unit": "months",
    "customer_id": "460000000054001",
    "plan": {"plan_code": "team-monthly", "name": "Team", "quantity": 3, "price": 30.0},
    "activated_at": "2024-01-05",
    "current_term_starts_at": "2024-02-05",
    "current_term_ends_at": "2024-03-04",
    "next_billing_at": "2024-03-05",
    "expires_at": "",
    "custom_fields": [],
    "created_time": "2024-01-05T09:00:00+0100",
    "updated_time": "2024-02-05T00:01:10+0100",
}

INVOICE: dict[str, Any] = {
    "invoice_id": "460000000090011",
    "invoice_number": "INV-000211",
    "status": "overdue",
    "customer_id": "460000000054001",
    "customer_name": "Harbor Analytics",
    "invoice_date": "2024-02-05",
    "due_date": "2024-02-20",
    "currency_code": "EUR",
    "total": 90.0,
    "balance": 90.0,
    "created_time": "2024-02-05T00:01:09+0100",
    "updated_time": "2024-02-21T00:00:30+0100",
}

TODAY = date(2024, 2, 10)


def test_customer_becomes_account_with_utc_times_and_placeholder_keyed_fields() -> None:
    account = zn.account_record(CUSTOMER)
    assert account.source_id == "460000000054001"
    assert account.name == "Harbor Analytics"
    assert account.email == "lena@harbor.example"
    assert account.currency == "EUR"
    assert account.custom_fields == {"cf_tenant_id": "t-8812"}
    assert account.created_at == datetime(2024, 1, 4, 9, 12, 44, tzinfo=UTC)
    assert account.updated_at == datetime(2024, 2, 1, 7, 0, 2, tzinfo=UTC)
    assert account.raw is CUSTOMER


def test_flattened_cf_keys_are_read_and_unformatted_twins_ignored() -> None:
    payload = {"customer_id": "1", "cf_region": "north", "cf_region_unformatted": "NORTH"}
    assert zn.account_record(payload).custom_fields == {"cf_region": "north"}


def test_custom_field_without_placeholder_falls_back_to_label() -> None:
    payload = {"customer_id": "1", "custom_fields": [{"label": "Tenant ID", "value": 42}]}
    assert zn.account_record(payload).custom_fields == {"Tenant ID": "42"}


def test_customer_primary_contact_becomes_a_primary_user() -> None:
    user = zn.primary_user_record(CUSTOMER)
    assert user is not None
    assert user.source_id == "460000000054001:primary"
    assert user.account_source_id == "460000000054001"
    assert (user.first_name, user.last_name, user.is_primary) == ("Lena", "Vos", True)
    with_id = {**CUSTOMER, "primary_contactperson_id": "460000000054003"}
    primary = zn.primary_user_record(with_id)
    assert primary is not None
    assert primary.source_id == "460000000054003"
    assert zn.primary_user_record({"customer_id": "9", "display_name": "No person"}) is None


def test_contact_person_becomes_user() -> None:
    person = {
        "contactperson_id": "77",
        "first_name": "Ana",
        "email": "ana@x.example",
        "is_primary_contact": "false",
    }
    user = zn.user_record(person, "460000000054001")
    assert (user.source_id, user.account_source_id, user.is_primary) == (
        "77",
        "460000000054001",
        False,
    )


def test_subscription_money_dates_and_mrr() -> None:
    sub = zn.subscription_record(SUBSCRIPTION)
    assert sub.status == "active"
    assert (sub.amount_minor, sub.mrr_minor, sub.currency) == (9000, 9000, "EUR")
    assert (sub.plan_code, sub.plan_name, sub.quantity) == ("team-monthly", "Team", 3)
    assert (sub.interval_unit, sub.interval_count) == ("month", 1)
    assert sub.started_at == datetime(2024, 1, 5, tzinfo=UTC)
    assert sub.next_billing_at == datetime(2024, 3, 5, tzinfo=UTC)
    assert sub.cancelled_at is None
    assert sub.updated_at == datetime(2024, 2, 4, 23, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("interval", "unit", "amount", "mrr"),
    [(1, "years", 1200, 10000), (3, "months", 300, 10000), (2, "weeks", 100, 21667)],
)
def test_mrr_is_amount_per_interval_times_unit(
    interval: int, unit: str, amount: float, mrr: int
) -> None:
    payload = {**SUBSCRIPTION, "interval": interval, "interval_unit": unit, "amount": amount}
    assert zn.subscription_record(payload).mrr_minor == mrr


@pytest.mark.parametrize(
    ("zoho", "ours", "counts"),
    [
        ("live", "active", True),
        ("trial", "trial", False),
        ("non_renewing", "non_renewing", True),
        ("dunning", "unpaid", True),
        ("unpaid", "unpaid", True),
        ("cancelled", "cancelled", False),
        ("cancelled_from_dunning", "cancelled", False),
        ("creation_failed", "cancelled", False),
        ("expired", "expired", False),
        ("trial_expired", "expired", False),
        ("future", "future", False),
        ("paused", "paused", False),
        ("LIVE", "active", True),
    ],
)
def test_every_subscription_status(zoho: str, ours: str, counts: bool) -> None:
    sub = zn.subscription_record({**SUBSCRIPTION, "status": zoho})
    assert sub.status == ours
    assert sub.mrr_minor == (9000 if counts else 0)


def test_unknown_subscription_status_is_unnormalisable() -> None:
    with pytest.raises(zn.Unnormalisable, match="unknown status"):
        zn.subscription_record({**SUBSCRIPTION, "status": "hibernating"})


def test_subscription_without_amount_sums_plan_and_addons() -> None:
    payload = {
        **SUBSCRIPTION,
        "amount": None,
        "addons": [{"addon_code": "seats", "price": 5, "quantity": 2}],
    }
    assert zn.subscription_record(payload).amount_minor == 9000 + 1000


def test_zero_decimal_currency() -> None:
    payload = {**SUBSCRIPTION, "currency_code": "JPY", "amount": 9000}
    assert zn.subscription_record(payload).amount_minor == 9000


@pytest.mark.parametrize(
    ("zoho", "due", "ours"),
    [
        ("paid", "2024-02-20", "paid"),
        ("sent", "2024-02-20", "open"),
        ("sent", "2024-02-01", "overdue"),
        ("overdue", "2024-02-20", "overdue"),
        ("partially_paid", "2024-02-20", "partially_paid"),
        ("void", "2024-02-01", "void"),
        ("draft", "2024-02-01", "draft"),
    ],
)
def test_every_invoice_status(zoho: str, due: str, ours: str) -> None:
    assert zn.invoice_record({**INVOICE, "status": zoho, "due_date": due}, TODAY).status == ours


def test_invoice_money_fields() -> None:
    payload = {**INVOICE, "status": "partially_paid", "balance": 40.0, "payment_made": 50.0}
    invoice = zn.invoice_record(payload, TODAY)
    assert (invoice.total_minor, invoice.amount_due_minor, invoice.amount_paid_minor) == (
        9000,
        4000,
        5000,
    )
    assert invoice.issued_on == date(2024, 2, 5)
    assert invoice.due_on == date(2024, 2, 20)
    assert invoice.number == "INV-000211"


def test_invoice_without_payment_made_derives_it_from_balance() -> None:
    invoice = zn.invoice_record({**INVOICE, "status": "paid", "balance": 0}, TODAY)
    assert (invoice.amount_due_minor, invoice.amount_paid_minor) == (0, 9000)


def test_plan_keyed_by_code() -> None:
    plan = zn.plan_record(
        {
            "plan_code": "team-monthly",
            "name": "Team",
            "recurring_price": 30,
            "interval": 1,
            "interval_unit": "months",
            "status": "active",
        },
        "EUR",
    )
    assert (plan.source_id, plan.price_minor, plan.currency, plan.interval_unit) == (
        "team-monthly",
        3000,
        "EUR",
        "month",
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"subscription_id": "1", "status": "live"},
        {"subscription_id": "1", "status": "live", "amount": "n/a", "plan": "gold"},
        {"subscription_id": "1", "status": "live", "interval": None, "created_time": 17},
        {"subscription_id": "1", "status": "live", "custom_fields": [None, "x", {}]},
    ],
)
def test_missing_null_and_odd_fields_never_crash(payload: dict[str, Any]) -> None:
    sub = zn.subscription_record(payload)
    assert sub.status == "active"
    assert sub.mrr_minor == 0


def test_records_without_ids_are_unnormalisable() -> None:
    with pytest.raises(zn.Unnormalisable):
        zn.account_record({"display_name": "x"})
    with pytest.raises(zn.Unnormalisable):
        zn.invoice_record(["not", "an", "object"], TODAY)
    with pytest.raises(zn.Unnormalisable):
        zn.plan_record({"name": "x"})
