"""Chargebee payload shapes the sandbox does not serve: PC 1.0, discounts, odd statuses.

Payloads follow the reference (``/work/shared/reference/chargebee.md`` §6–7); every test
states the behaviour a user relies on (what MRR or status they will see).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from desktop.sandbox.clock import ManualClock
from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.sync import chargebee_normalise as cn
from desktop.sync.base import ConnectionConfig, Page
from desktop.sync.chargebee import ChargebeeConnector
from desktop.sync.http import ReadOnlyClient, VendorPolicy
from desktop.sync.records import Stream

NOW = datetime(2024, 1, 10, tzinfo=UTC)
DAY = 86_400
T = int(NOW.timestamp())


def sub(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "16BjnTU3ZkTx1",
        "customer_id": "AzZlGkTuX1",
        "status": "active",
        "currency_code": "USD",
        "billing_period": 1,
        "billing_period_unit": "month",
        "subscription_items": [
            {"item_price_id": "pro-USD-monthly", "item_type": "plan", "quantity": 3,
             "unit_price": 4900, "amount": 14700},
        ],
        "updated_at": T,
    }  # fmt: skip
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("future", "future"),
        ("in_trial", "trial"),
        ("active", "active"),
        ("non_renewing", "non_renewing"),
        ("paused", "paused"),
        ("cancelled", "cancelled"),
        ("transferred", "cancelled"),
    ],
)
def test_every_subscription_status_maps(status: str, expected: str) -> None:
    assert cn.subscription_record(sub(status=status), NOW).status == expected


def test_mrr_uses_chargebee_own_figure_when_present() -> None:
    record = cn.subscription_record(sub(mrr=12345), NOW)
    assert record.mrr_minor == 12345
    assert record.amount_minor == 14700


def test_mrr_is_computed_per_month_when_chargebee_sends_none() -> None:
    assert cn.subscription_record(sub(), NOW).mrr_minor == 14700
    annual = sub(billing_period_unit="year", billing_period=1)
    assert cn.subscription_record(annual, NOW).mrr_minor == 1225  # 14700 / 12
    quarterly = sub(billing_period=3)
    assert cn.subscription_record(quarterly, NOW).mrr_minor == 4900
    weekly = sub(billing_period_unit="week")
    assert cn.subscription_record(weekly, NOW).mrr_minor == round(14700 * 52 / 12)


def test_addons_count_and_one_time_charges_do_not() -> None:
    items = [
        {"item_price_id": "pro", "item_type": "plan", "quantity": 1, "unit_price": 10000},
        {"item_price_id": "seats", "item_type": "addon", "quantity": 2, "amount": 3000},
        {"item_price_id": "setup", "item_type": "charge", "quantity": 1, "amount": 50000},
    ]
    record = cn.subscription_record(sub(subscription_items=items), NOW)
    assert record.amount_minor == 13000
    assert record.mrr_minor == 13000
    assert record.plan_code == "pro"
    assert record.quantity == 1


def test_discounts_listed_on_the_subscription_are_deducted() -> None:
    percent = sub(
        discounts=[{"type": "percentage", "percentage": 20.0, "apply_on": "invoice_amount"}]
    )
    assert cn.subscription_record(percent, NOW).mrr_minor == 11760
    fixed = sub(discounts=[{"type": "fixed_amount", "amount": 700, "duration_type": "forever"}])
    assert cn.subscription_record(fixed, NOW).mrr_minor == 14000
    once = sub(discounts=[{"type": "fixed_amount", "amount": 700, "duration_type": "one_time"}])
    assert cn.subscription_record(once, NOW).mrr_minor == 14700


def test_product_catalog_1_subscriptions() -> None:
    legacy = sub(
        subscription_items=None,
        plan_id="basic-monthly",
        plan_quantity=2,
        plan_unit_price=2500,
        addons=[{"id": "extra", "quantity": 1, "unit_price": 1000}],
    )
    record = cn.subscription_record(legacy, NOW)
    assert record.plan_code == "basic-monthly"
    assert record.quantity == 2
    assert record.amount_minor == 6000
    assert record.mrr_minor == 6000


@pytest.mark.parametrize("status", ["in_trial", "future", "paused", "cancelled"])
def test_only_live_subscriptions_have_mrr(status: str) -> None:
    assert cn.subscription_record(sub(status=status, mrr=14700), NOW).mrr_minor == 0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": None, "cancelled_at": T - DAY}, "cancelled"),
        ({"status": None, "trial_end": T + DAY}, "trial"),
        ({"status": "brand_new_state", "start_date": T + DAY}, "future"),
        ({"status": None}, "active"),
    ],
)
def test_a_missing_or_unknown_status_is_inferred(fields: dict[str, Any], expected: str) -> None:
    payload = sub(**fields)
    assert cn.subscription_record(payload, NOW).status == expected


def inv(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "INV-2041",
        "customer_id": "AzZlGkTuX1",
        "subscription_id": "16BjnTU3ZkTx1",
        "status": "payment_due",
        "date": T - 10 * DAY,
        "due_date": T + 5 * DAY,
        "paid_at": None,
        "currency_code": "USD",
        "total": 14700,
        "amount_paid": 0,
        "amount_due": 14700,
        "updated_at": T,
    }
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "paid", "amount_paid": 14700, "amount_due": 0, "paid_at": T}, "paid"),
        ({"status": "payment_due"}, "open"),
        ({"status": "payment_due", "due_date": T - DAY}, "overdue"),
        ({"status": "not_paid"}, "overdue"),
        ({"status": "posted"}, "open"),
        ({"status": "voided", "amount_due": 0}, "void"),
        ({"status": "pending"}, "draft"),
        ({"status": "payment_due", "amount_paid": 4700, "amount_due": 10000}, "partially_paid"),
        ({"status": None, "amount_paid": 14700, "amount_due": 0}, "paid"),
        ({"status": None, "due_date": T - DAY}, "overdue"),
    ],
)
def test_every_invoice_status_maps(fields: dict[str, Any], expected: str) -> None:
    assert cn.invoice_record(inv(**fields), NOW).status == expected


def test_invoice_money_and_dates() -> None:
    record = cn.invoice_record(inv(amount_paid=4700, amount_due=10000), NOW)
    assert (record.total_minor, record.amount_paid_minor, record.amount_due_minor) == (
        14700,
        4700,
        10000,
    )
    assert record.issued_on == date(2023, 12, 31)
    assert record.due_on == date(2024, 1, 15)
    assert record.number == "INV-2041"
    missing = cn.invoice_record(inv(amount_due=None, total=None, currency_code=None), NOW)
    assert missing.total_minor == 0
    assert missing.currency is None


def test_customers_contacts_and_custom_fields() -> None:
    customer = {
        "id": "AzZlGkTuX1",
        "first_name": None,
        "last_name": "Ruiz",
        "email": "it@ruiz.example",
        "cf_crm_id": "5725767000000524157",
        "cf_empty": "",
        "contacts": [
            {"id": "c1", "first_name": "Ana", "email": "ana@ruiz.example", "enabled": True},
            {"id": "c2", "first_name": "Old", "enabled": False},
            {"first_name": "no id"},
        ],
    }
    account = cn.account_record(customer)
    assert account.name == "Ruiz"
    assert account.custom_fields == {"cf_crm_id": "5725767000000524157"}
    users = cn.user_records(customer)
    assert [u.source_id for u in users] == [
        "customer:AzZlGkTuX1",
        "contact:AzZlGkTuX1:c1",
        "contact:AzZlGkTuX1:c2",
    ]
    assert users[0].is_primary
    assert not users[1].is_primary
    assert users[2].deleted, "a disabled contact is no longer a user"


def test_a_record_without_an_id_cannot_be_normalised() -> None:
    with pytest.raises(cn.Unnormalisable, match="no id"):
        cn.account_record({"email": "x@y.example"})
    with pytest.raises(cn.Unnormalisable, match="not a JSON object"):
        cn.invoice_record(["INV-1"], NOW)


class _DropFirstId:
    """The real client, with the first list entry's id removed from each answer."""

    def __init__(self, inner: ReadOnlyClient) -> None:
        self.inner = inner
        self.api_calls = 0

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.inner.get(url, **kwargs)
        data = json.loads(response.content)
        entries = data.get("list") if isinstance(data, dict) else None
        if not entries:
            return response
        next(iter(entries[0].values())).pop("id")
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=json.dumps(data).encode(),
            request=response.request,
        )

    async def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.inner.head(url, **kwargs)

    async def post_token(self, url: str, *, data: dict[str, str]) -> dict[str, Any]:
        return await self.inner.post_token(url, data=data)

    async def get_json(self, url: str, **kwargs: Any) -> dict[str, Any]:
        data = await self.inner.get_json(url, **kwargs)
        entries = data.get("list")
        if entries:
            next(iter(entries[0].values())).pop("id")
        return data


def test_an_unreadable_record_becomes_a_problem_and_the_page_goes_on() -> None:
    box = Sandbox(size=40, seed=5, vendors=("chargebee",), clock=ManualClock(NOW))
    http = ReadOnlyClient(VendorPolicy("chargebee"), transport=box.transport("chargebee"))
    config = ConnectionConfig(
        "Billing", "chargebee", {"site": "acme", "base_url": box.base_url("chargebee")}
    )
    connector = ChargebeeConnector(
        config, CHARGEBEE_KEYS["acme"], _DropFirstId(http), box.clock.now
    )

    async def first_page() -> Page:
        async for page in connector.pages(Stream.ACCOUNTS, None):
            return page
        raise AssertionError("no page")

    page = asyncio.run(first_page())
    assert len(page.problems) == 1
    assert page.problems[0].reason == "A Chargebee customer has no id."
    assert page.problems[0].payload is not None
    live = len(box.truth.customers("chargebee", "acme", include_deleted=True))
    assert len(page.records) == live - 1
