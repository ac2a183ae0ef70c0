"""Zoho Billing v1 object shapes: organizations, customers, contact persons,
subscriptions, invoices, plans and events.

Zoho sends every field, using ``""`` for absent text; dates are ``YYYY-MM-DD`` and
timestamps carry the organization's offset without a colon (``2024-01-04T10:12:44+0100``);
amounts are decimals in major units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.common import day, iso_offset, major, page_rows
from desktop.sandbox.dataset import World
from desktop.sandbox.ids import ZOHO_CONTACT_BASE, format_id, zoho_invoice_number
from desktop.sandbox.store import NONE, Array, IntArray

VENDOR: Final[str] = "zoho-billing"
_SYMBOL = ("$", "€", "£", "¥")
_INTERVAL = ((1, "months"), (3, "months"), (1, "years"))
TENANT_FIELD_ID: Final[str] = "903000900000001"
CATALOG_AGE = 900 * cat.DAY


@dataclass(frozen=True)
class Org:
    """A Zoho Billing organization of the sandbox."""

    site: cat.Site
    offset_minutes: int
    currency: int
    time_zone: str


ORGS: Final[tuple[Org, ...]] = (
    Org(cat.sites_of(VENDOR)[0], -300, 0, "America/New_York"),
    Org(cat.sites_of(VENDOR)[1], 60, 1, "Europe/Berlin"),
)


def organization(org: Org, world: World) -> dict[str, Any]:
    """Renders an organization."""
    return {
        "organization_id": org.site.name,
        "name": org.site.label,
        "contact_name": "Acme Admin",
        "email": "admin@acme.example",
        "is_default_org": org.site.code == 0,
        "plan_type": 0,
        "language_code": "en",
        "fiscal_year_start_month": 0,
        "account_created_date": day(world.now - CATALOG_AGE, org.offset_minutes),
        "time_zone": org.time_zone,
        "currency_id": f"90300080000000{org.currency}",
        "currency_code": cat.CURRENCIES[org.currency],
        "currency_symbol": _SYMBOL[org.currency],
        "currency_format": "###,##0.00",
        "price_precision": 2,
        "is_org_active": True,
    }


def _custom_fields(tenant: str | None) -> list[dict[str, Any]]:
    if tenant is None:
        return []
    return [
        {
            "customfield_id": TENANT_FIELD_ID,
            "label": "Tenant ID",
            "value": tenant,
            "data_type": "string",
            "placeholder": "cf_tenant_id",
            "index": 1,
            "show_on_pdf": False,
            "show_in_all_pdf": False,
            "is_active": True,
        }
    ]


def balances(world: World) -> Array:
    """Outstanding receivable per customer row, minor units (cached until a change)."""

    def compute() -> Array:
        inv = world.invoices
        live = ~inv.col("deleted")
        status = inv.col("status")
        open_ = live & (status != cat.INV_PAID) & (status != cat.INV_VOID)
        owed = (inv.col("total") - inv.col("paid"))[open_]
        return np.bincount(inv.col("customer")[open_], weights=owed, minlength=world.customers.size)

    return world.cached("zoho-balances", compute)


def _stamp(epoch: int, org: Org) -> str:
    return iso_offset(epoch, org.offset_minutes) if epoch != NONE else ""


def _address(world: World, row: int, country: int) -> dict[str, Any]:
    return {
        "attention": world.person(row).display_name,
        "street": "",
        "city": cat.CITIES[country % len(cat.CITIES)],
        "state": "",
        "state_code": "",
        "zip": "",
        "country": cat.COUNTRIES[country],
        "fax": "",
    }


def customers(world: World, rows: IntArray, org: Org) -> list[dict[str, Any]]:
    """Renders customer rows."""
    owed = balances(world)
    cols = ("currency", "country", "net_terms", "inactive", "created", "updated")
    out = []
    pages = page_rows(
        world.customers, rows, cols, iso=("created", "updated"), offset_minutes=org.offset_minutes
    )
    for v in pages:
        row = v["row"]
        company = world.person(row).company
        currency = v["currency"]
        out.append(
            {
                "customer_id": format_id(VENDOR, "customer", row),
                "display_name": world.person(row).display_name,
                "salutation": "",
                "first_name": world.person(row).first_name or "",
                "last_name": world.person(row).last_name or "",
                "email": world.person(row).email or "",
                "company_name": company or "",
                "phone": world.person(row).phone or "",
                "mobile": "",
                "website": "",
                "department": "",
                "designation": "",
                "status": "inactive" if v["inactive"] else "active",
                "customer_sub_type": "business" if company else "individual",
                "currency_id": f"90300080000000{currency}",
                "currency_code": cat.CURRENCIES[currency],
                "currency_symbol": _SYMBOL[currency],
                "price_precision": cat.MINOR_DIGITS[currency],
                "outstanding_receivable_amount": major(int(owed[row]), currency),
                "unused_credits_receivable_amount": 0.0,
                "payment_terms": v["net_terms"],
                "payment_terms_label": f"Net {v['net_terms']}"
                if v["net_terms"]
                else "Due on Receipt",
                "billing_address": _address(world, row, v["country"]),
                "shipping_address": _address(world, row, v["country"]),
                "primary_contactperson_id": str(ZOHO_CONTACT_BASE + row * 2),
                "tags": [],
                "is_portal_enabled": False,
                "ach_supported": False,
                "zcrm_account_id": "",
                "zcrm_contact_id": "",
                "custom_fields": _custom_fields(world.person(row).tenant_id),
                "created_time": v["created@iso"],
                "updated_time": v["updated@iso"] or "",
            }
        )
    return out


def contact_persons(world: World, row: int, org: Org) -> list[dict[str, Any]]:
    """The customer's contact persons: the primary one, plus accounts payable for some."""
    created = _stamp(world.customers.get("created", row), org)
    people = [
        {
            "contactperson_id": str(ZOHO_CONTACT_BASE + row * 2),
            "salutation": "",
            "first_name": world.person(row).first_name or "",
            "last_name": world.person(row).last_name or "",
            "email": world.person(row).email or "",
            "phone": world.person(row).phone or "",
            "mobile": "",
            "designation": "",
            "department": "",
            "skype": "",
            "is_primary_contact": True,
            "created_time": created,
        }
    ]
    company = world.person(row).company
    if company and row % 3 == 0:
        people.append(
            {
                "contactperson_id": str(ZOHO_CONTACT_BASE + row * 2 + 1),
                "salutation": "",
                "first_name": "Accounts",
                "last_name": "Payable",
                "email": f"ap@{cat.slug(company)}.example",
                "phone": "",
                "mobile": "",
                "designation": "Accounts Payable",
                "department": "Finance",
                "skype": "",
                "is_primary_contact": False,
                "created_time": created,
            }
        )
    return people


def subscriptions(world: World, rows: IntArray, org: Org) -> list[dict[str, Any]]:
    """Renders subscription rows."""
    cols = (
        "customer", "currency", "plan", "quantity", "status", "coupon", "started",
        "trial_start", "trial_end", "term_start", "term_end", "cancelled_at", "paused_at",
        "auto_collect", "created", "updated",
    )  # fmt: skip
    out = []
    off = org.offset_minutes
    dates = ("created", "started", "term_start", "term_end", "cancelled_at", "paused_at")
    pages = page_rows(
        world.subscriptions,
        rows,
        cols,
        iso=("created", "updated"),
        days=(*dates, "trial_start", "trial_end"),
        offset_minutes=off,
    )
    for v in pages:
        row = v["row"]
        plan = cat.PLANS[v["plan"]]
        status = v["status"]
        currency = v["currency"]
        unit = plan.prices[currency]
        amount = unit * v["quantity"]
        coupon = v["coupon"]
        discount = amount * cat.COUPONS[coupon].percent // 100 if coupon >= 0 else 0
        interval, unit_word = _INTERVAL[plan.interval]
        owner = v["customer"]
        billing = status in (cat.SUB_ACTIVE, cat.SUB_TRIAL)
        trial_end = v["trial_end"]
        record: dict[str, Any] = {
            "subscription_id": format_id(VENDOR, "subscription", row),
            "subscription_number": f"SUB-{row + 1:06d}",
            "name": f"{plan.product.name}-{world.person(owner).display_name}",
            "status": cat.SUB_STATUS_BY_VENDOR[VENDOR][status],
            "amount": major(amount - discount, currency),
            "sub_total": major(amount, currency),
            "currency_code": cat.CURRENCIES[currency],
            "currency_symbol": _SYMBOL[currency],
            "interval": interval,
            "interval_unit": unit_word,
            "billing_mode": "prepay",
            "customer_id": format_id(VENDOR, "customer", owner),
            "customer_name": world.person(owner).display_name,
            "email": world.person(owner).email or "",
            "customer": {
                "customer_id": format_id(VENDOR, "customer", owner),
                "display_name": world.person(owner).display_name,
                "email": world.person(owner).email or "",
            },
            "plan": {
                "plan_code": plan.code,
                "name": plan.name,
                "quantity": v["quantity"],
                "price": major(unit, currency),
                "discount": 0.0,
                "total": major(amount, currency),
                "setup_fee": 0.0,
                "description": "",
                "tax_id": "",
            },
            "addons": [],
            "created_at": v["created@day"],
            "activated_at": v["started@day"] if status != cat.SUB_FUTURE else "",
            "starts_at": v["started@day"],
            "current_term_starts_at": v["term_start@day"],
            "current_term_ends_at": v["term_end@day"],
            "last_billing_at": v["term_start@day"] if status != cat.SUB_TRIAL else "",
            "next_billing_at": v["term_end@day"] if billing else "",
            "expires_at": v["cancelled_at@day"] if status == cat.SUB_NON_RENEWING else "",
            "cancelled_at": v["cancelled_at@day"] if status == cat.SUB_CANCELLED else "",
            "pause_date": v["paused_at@day"],
            "trial_starts_at": v["trial_start@day"],
            "trial_ends_at": v["trial_end@day"],
            "trial_remaining_days": max(0, (trial_end - world.now) // cat.DAY)
            if status == cat.SUB_TRIAL
            else 0,
            "auto_collect": bool(v["auto_collect"]),
            "reference_id": "",
            "salesperson_name": "",
            "is_metered_billing": False,
            "custom_fields": _custom_fields(world.person(owner).tenant_id),
            "created_time": v["created@iso"],
            "updated_time": v["updated@iso"] or "",
        }
        if coupon >= 0:
            record["coupon"] = {
                "coupon_code": cat.COUPONS[coupon].code,
                "coupon_name": cat.COUPONS[coupon].name,
                "discount_amount": major(discount, currency),
            }
        out.append(record)
    return out


def invoices(world: World, rows: IntArray, org: Org) -> list[dict[str, Any]]:
    """Renders invoice rows."""
    cols = (
        "customer", "subscription", "currency", "plan", "quantity", "date", "due", "subtotal",
        "discount", "tax", "total", "paid", "status", "paid_at", "created", "updated",
    )  # fmt: skip
    out = []
    off = org.offset_minutes
    pages = page_rows(
        world.invoices,
        rows,
        cols,
        iso=("created", "updated"),
        days=("date", "due", "paid_at"),
        offset_minutes=off,
    )
    for v in pages:
        row = v["row"]
        currency = v["currency"]
        status = v["status"]
        total, paid = v["total"], v["paid"]
        balance = 0 if status in (cat.INV_PAID, cat.INV_VOID) else total - paid
        sub = v["subscription"]
        owner = v["customer"]
        plan = cat.PLANS[v["plan"]]
        subs = (
            [
                {
                    "subscription_id": format_id(VENDOR, "subscription", sub),
                    "subscription_number": f"SUB-{sub + 1:06d}",
                }
            ]
            if sub >= 0
            else []
        )
        out.append(
            {
                "invoice_id": format_id(VENDOR, "invoice", row),
                "invoice_number": zoho_invoice_number(row),
                "status": cat.INV_STATUS_BY_VENDOR[VENDOR][status],
                "invoice_date": v["date@day"],
                "date": v["date@day"],
                "due_date": v["due@day"],
                "payment_expected_date": "",
                "last_payment_date": v["paid_at@day"],
                "reference_number": "",
                "customer_id": format_id(VENDOR, "customer", owner),
                "customer_name": world.person(owner).display_name,
                "email": world.person(owner).email or "",
                "currency_code": cat.CURRENCIES[currency],
                "currency_symbol": _SYMBOL[currency],
                "sub_total": major(v["subtotal"], currency),
                "discount_total": major(v["discount"], currency),
                "tax_total": major(v["tax"], currency),
                "total": major(total, currency),
                "payment_made": major(paid, currency),
                "balance": major(balance, currency),
                "credits_applied": 0.0,
                "write_off_amount": 0.0,
                "transaction_type": "renewal" if sub >= 0 else "new",
                "is_viewed_by_client": False,
                "salesperson_name": "",
                "subscriptions": subs,
                "invoice_items": [
                    {
                        "item_id": f"90300070000000{plan.index:02d}",
                        "name": plan.name if sub >= 0 else "One-time charge",
                        "description": "",
                        "code": plan.code if sub >= 0 else "",
                        "price": major(v["subtotal"] // max(v["quantity"], 1), currency),
                        "quantity": v["quantity"],
                        "discount_amount": major(v["discount"], currency),
                        "item_total": major(v["subtotal"] - v["discount"], currency),
                        "tax_id": "",
                        "tax_name": "VAT" if v["tax"] else "",
                        "tax_percentage": cat.TAX_PERCENT[currency],
                    }
                ],
                "payments": [],
                "custom_fields": _custom_fields(world.person(owner).tenant_id),
                "created_time": v["created@iso"],
                "updated_time": v["updated@iso"] or "",
            }
        )
    return out


def plan(world: World, item: cat.Plan, org: Org) -> dict[str, Any]:
    """Renders a catalogue plan, priced in the organization's currency."""
    interval, unit_word = _INTERVAL[item.interval]
    created = _stamp(world.now - CATALOG_AGE, org)
    return {
        "plan_code": item.code,
        "name": item.name,
        "description": "",
        "status": "active",
        "product_id": f"90300060000000{item.product.code[:2]}",
        "product_type": "service",
        "recurring_price": major(item.prices[org.currency], org.currency),
        "currency_code": cat.CURRENCIES[org.currency],
        "interval": interval,
        "interval_unit": unit_word,
        "billing_cycles": -1,
        "trial_period": item.product.trial_days,
        "setup_fee": 0.0,
        "pricing_scheme": "unit",
        "price_brackets": [],
        "is_taxable": True,
        "tax_id": "",
        "addons": [],
        "custom_fields": [],
        "url": "",
        "store_description": "",
        "created_time": created,
        "updated_time": created,
    }


def event(world: World, row: int, org: Org) -> dict[str, Any]:
    """The ``subscription_created`` event of a subscription row."""
    sub_id = format_id(VENDOR, "subscription", row)
    customer_id = format_id(VENDOR, "customer", world.subscriptions.get("customer", row))
    created = world.subscriptions.get("created", row)
    status = cat.SUB_STATUS_BY_VENDOR[VENDOR][world.subscriptions.get("status", row)]
    payload = {
        "subscription": {"subscription_id": sub_id, "status": status, "customer_id": customer_id}
    }
    return {
        "event_id": str(903000400000000 + row),
        "event_type": "subscription_created",
        "event_time": _stamp(created, org),
        "event_source": "web",
        "payload": json.dumps(payload),
        "webhooks": [],
    }
