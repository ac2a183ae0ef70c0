"""Recurly payload shapes the sandbox does not serve: failed/closed states, add-ons, odd data.

Payloads follow the reference (``/work/shared/reference/recurly.md`` §7–8).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from desktop.sync import recurly_normalise as rn

NOW = datetime(2024, 1, 10, tzinfo=UTC)
MONTHLY: rn.Interval = ("month", 1)


def sub(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "object": "subscription",
        "id": "r8mz0k4w1q2e",
        "uuid": "6d1f0c2b9e8a4f7b8c3d2e1f0a9b8c7d",
        "account": {"object": "account", "id": "q3kd9a1b2c3d", "code": "tenant-481"},
        "plan": {"object": "plan", "id": "pl0a1b2c3d4e", "code": "pro-monthly", "name": "Pro"},
        "state": "active",
        "unit_amount": 49.0,
        "quantity": 3,
        "currency": "USD",
        "subtotal": 147.0,
        "current_period_ends_at": "2024-02-05T00:00:00Z",
        "expires_at": None,
        "updated_at": "2024-01-05T00:00:04Z",
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"state": "active"}, "active"),
        ({"state": "active", "trial_ends_at": "2024-01-20T00:00:00Z"}, "trial"),
        ({"state": "active", "trial_ends_at": "2024-01-01T00:00:00Z"}, "active"),
        ({"state": "canceled", "expires_at": "2024-02-05T00:00:00Z"}, "non_renewing"),
        ({"state": "canceled", "expires_at": "2024-01-05T00:00:00Z"}, "cancelled"),
        ({"state": "expired"}, "cancelled"),
        ({"state": "failed"}, "unpaid"),
        ({"state": "future"}, "future"),
        ({"state": "paused"}, "paused"),
        ({"state": None, "expires_at": "2024-01-05T00:00:00Z"}, "cancelled"),
        ({"state": "something_new", "activated_at": "2024-02-01T00:00:00Z"}, "future"),
        ({"state": None}, "active"),
    ],
)
def test_every_subscription_state_maps(fields: dict[str, Any], expected: str) -> None:
    assert rn.subscription_record(sub(**fields), NOW, MONTHLY).status == expected


def test_mrr_from_unit_amount_quantity_and_add_ons() -> None:
    record = rn.subscription_record(sub(add_ons_total=10.5), NOW, MONTHLY)
    assert record.amount_minor == 15750
    assert record.mrr_minor == 15750
    yearly = rn.subscription_record(sub(), NOW, ("month", 12))
    assert yearly.mrr_minor == 1225
    daily = rn.subscription_record(sub(), NOW, ("day", 30))
    assert daily.mrr_minor == round(14700 * 365 / 12 / 30)


def test_mrr_falls_back_to_the_subtotal_and_deducts_coupons() -> None:
    record = rn.subscription_record(sub(unit_amount=None), NOW, MONTHLY)
    assert record.amount_minor == 14700
    percent = {"state": "active", "coupon": {"discount": {"type": "percent", "percent": 20}}}
    fixed = {
        "state": "active",
        "coupon": {"discount": {"type": "fixed", "currencies": [{"currency": "USD", "amount": 7}]}},
    }
    spent = {"state": "inactive", "coupon": {"discount": {"type": "percent", "percent": 50}}}
    assert (
        rn.subscription_record(sub(coupon_redemptions=[percent]), NOW, MONTHLY).mrr_minor == 11760
    )
    assert rn.subscription_record(sub(coupon_redemptions=[fixed]), NOW, MONTHLY).mrr_minor == 14000
    assert rn.subscription_record(sub(coupon_redemptions=[spent]), NOW, MONTHLY).mrr_minor == 14700


def test_no_mrr_without_a_known_plan_interval_or_when_not_live() -> None:
    assert rn.subscription_record(sub(), NOW, None).mrr_minor == 0
    trial = sub(trial_ends_at="2024-02-01T00:00:00Z")
    assert rn.subscription_record(trial, NOW, MONTHLY).mrr_minor == 0
    assert rn.subscription_record(sub(state="paused"), NOW, MONTHLY).mrr_minor == 0


def test_yen_amounts_have_no_minor_digits() -> None:
    record = rn.subscription_record(sub(currency="JPY", unit_amount=7350), NOW, MONTHLY)
    assert record.amount_minor == 22050


def inv(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "object": "invoice",
        "id": "iv7h2k9m3n4p",
        "number": "1042",
        "state": "past_due",
        "currency": "USD",
        "total": 147.0,
        "paid": 0.0,
        "balance": 147.0,
        "due_at": "2024-02-04T00:00:00Z",
        "closed_at": None,
        "subscription_ids": ["r8mz0k4w1q2e"],
        "account": {"object": "account", "id": "q3kd9a1b2c3d"},
        "created_at": "2024-01-05T00:00:03Z",
        "updated_at": "2024-02-05T00:00:10Z",
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"state": "paid", "paid": 147.0, "balance": 0.0}, "paid"),
        ({"state": "closed", "balance": 0.0}, "paid"),
        ({"state": "voided", "balance": 0.0}, "void"),
        ({"state": "open"}, "open"),
        ({"state": "pending"}, "open"),
        ({"state": "processing"}, "open"),
        ({"state": "past_due"}, "overdue"),
        ({"state": "failed"}, "overdue"),
        ({"state": "pending", "paid": 47.0, "balance": 100.0}, "partially_paid"),
        ({"state": None, "paid": 147.0, "balance": 0.0}, "paid"),
        ({"state": None, "due_at": "2024-01-01T00:00:00Z"}, "overdue"),
        ({"state": None}, "open"),
    ],
)
def test_every_invoice_state_maps(fields: dict[str, Any], expected: str) -> None:
    assert rn.invoice_record(inv(**fields), NOW).status == expected


def test_invoice_money_dates_and_site_prefix() -> None:
    record = rn.invoice_record(inv(paid=47.1, balance=99.9), NOW, prefix="acme:")
    assert (record.total_minor, record.amount_paid_minor, record.amount_due_minor) == (
        14700,
        4710,
        9990,
    )
    assert record.source_id == "acme:iv7h2k9m3n4p"
    assert record.account_source_id == "acme:q3kd9a1b2c3d"
    assert record.subscription_source_id == "acme:r8mz0k4w1q2e"
    assert record.issued_on == date(2024, 1, 5)
    assert record.due_on == date(2024, 2, 4)
    assert record.number == "1042"
    paid = rn.invoice_record(inv(state="paid", closed_at="2024-01-06T10:00:00Z"), NOW)
    assert paid.paid_at == datetime(2024, 1, 6, 10, tzinfo=UTC)
    one_off = rn.invoice_record(inv(subscription_ids=[], balance=None, total=None), NOW)
    assert one_off.subscription_source_id is None
    assert one_off.total_minor == 0


def test_accounts_closed_or_deleted_are_deleted() -> None:
    account = {"id": "q3kd9a1b2c3d", "state": "active", "email": "ops@northwind.example"}
    assert not rn.account_record(account).deleted
    assert rn.account_record({**account, "state": "inactive"}).deleted
    assert rn.account_record({**account, "deleted_at": "2024-01-01T00:00:00Z"}).deleted
    user = rn.user_record({**account, "state": "inactive"}, prefix="eu:")
    assert user.source_id == "eu:account:q3kd9a1b2c3d"
    assert user.deleted


def test_custom_fields_and_unreadable_records() -> None:
    account = {
        "id": "a1",
        "custom_fields": [
            {"name": "crm_id", "value": "5725"},
            {"name": "empty", "value": ""},
            "junk",
            {"value": "no name"},
        ],
    }
    assert rn.account_record(account).custom_fields == {"crm_id": "5725"}
    with pytest.raises(rn.Unnormalisable, match="no id"):
        rn.subscription_record({"state": "active"}, NOW)
    with pytest.raises(rn.Unnormalisable, match="not a JSON object"):
        rn.plan_record(None)


def test_plan_intervals() -> None:
    plan = {"id": "p1", "code": "pro-annual", "interval_unit": "months", "interval_length": 12}
    assert rn.plan_interval(plan) == ("month", 12)
    assert rn.plan_interval({"interval_unit": "days", "interval_length": "30"}) == ("day", 30)
    assert rn.plan_interval({"interval_unit": "fortnights"}) == (None, None)
