"""Zoho Billing v1 object shapes: organizations, customers, contact persons,
subscriptions, invoices, plans and events.

Zoho sends every field, using ``""`` for absent text; dates are ``YYYY-MM-DD`` and
timestamps carry the organization's offset without a colon (``2024-01-04T10:12:44+0100``);
amounts are decimals in major units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.common import (
    PRICES,
    column,
    day,
    day_many,
    iso_many,
    iso_offset,
    major,
    majors,
)
from desktop.sandbox.dataset import World
from desktop.sandbox.ids import ZOHO_CONTACT_BASE, format_id, zoho_invoice_number
from desktop.sandbox.store import NONE, Array, IntArray

VENDOR: Final[str] = "zoho-billing"
_SYMBOL = ("$", "€", "£", "¥")
_INTERVAL = ((1, "months"), (3, "months"), (1, "years"))
TENANT_FIELD_ID: Final[str] = "903000900000001"
CATALOG_AGE = 900 * cat.DAY
_CUSTOMER_BASE: Final[int] = int(format_id(VENDOR, "customer", 0))
_SUBSCRIPTION_BASE: Final[int] = int(format_id(VENDOR, "subscription", 0))
_INVOICE_BASE: Final[int] = int(format_id(VENDOR, "invoice", 0))
COUPON_PERCENT = np.array([coupon.percent for coupon in cat.COUPONS], dtype=np.int64)


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
    """Renders customer rows (computed page by page)."""
    table = world.customers
    currency_a = column(table, "currency", rows)
    owed = majors(balances(world)[rows].astype(np.int64), currency_a)
    off = org.offset_minutes
    created = iso_many(column(table, "created", rows), off)
    updated = iso_many(column(table, "updated", rows), off)
    currencies = currency_a.tolist()
    countries = column(table, "country", rows).tolist()
    net_terms = column(table, "net_terms", rows).tolist()
    inactive = column(table, "inactive", rows).tolist()
    out = []
    for i, row in enumerate(rows.tolist()):
        person = world.person(row)
        company = person.company
        currency = currencies[i]
        terms = net_terms[i]
        out.append(
            {
                "customer_id": str(_CUSTOMER_BASE + row),
                "display_name": person.display_name,
                "salutation": "",
                "first_name": person.first_name or "",
                "last_name": person.last_name or "",
                "email": person.email or "",
                "company_name": company or "",
                "phone": person.phone or "",
                "mobile": "",
                "website": "",
                "department": "",
                "designation": "",
                "status": "inactive" if inactive[i] else "active",
                "customer_sub_type": "business" if company else "individual",
                "currency_id": f"90300080000000{currency}",
                "currency_code": cat.CURRENCIES[currency],
                "currency_symbol": _SYMBOL[currency],
                "price_precision": cat.MINOR_DIGITS[currency],
                "outstanding_receivable_amount": owed[i],
                "unused_credits_receivable_amount": 0.0,
                "payment_terms": terms,
                "payment_terms_label": f"Net {terms}" if terms else "Due on Receipt",
                "billing_address": _address(world, row, countries[i]),
                "shipping_address": _address(world, row, countries[i]),
                "primary_contactperson_id": str(ZOHO_CONTACT_BASE + row * 2),
                "tags": [],
                "is_portal_enabled": False,
                "ach_supported": False,
                "zcrm_account_id": "",
                "zcrm_contact_id": "",
                "custom_fields": _custom_fields(person.tenant_id),
                "created_time": created[i],
                "updated_time": updated[i] or "",
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
    """Renders subscription rows (computed page by page)."""
    subs = world.subscriptions
    off = org.offset_minutes
    status_a = column(subs, "status", rows)
    plan_a = column(subs, "plan", rows)
    currency_a = column(subs, "currency", rows)
    quantity_a = column(subs, "quantity", rows)
    coupon_a = column(subs, "coupon", rows)
    unit_a = PRICES[plan_a, currency_a]
    amount_a = unit_a * quantity_a
    percent = COUPON_PERCENT[np.maximum(coupon_a, 0)]
    discount_a = np.where(coupon_a >= 0, amount_a * percent // 100, 0)
    trial_a = column(subs, "trial_end", rows)
    remaining = np.where(
        status_a == cat.SUB_TRIAL, np.maximum(0, (trial_a - world.now) // cat.DAY), 0
    ).tolist()
    price = majors(unit_a, currency_a)
    amount = majors(amount_a, currency_a)
    net = majors(amount_a - discount_a, currency_a)
    discount = majors(discount_a, currency_a)
    days = {
        name: day_many(column(subs, name, rows), off)
        for name in (
            "created", "started", "term_start", "term_end", "cancelled_at", "paused_at",
            "trial_start", "trial_end",
        )
    }  # fmt: skip
    created = iso_many(column(subs, "created", rows), off)
    updated = iso_many(column(subs, "updated", rows), off)
    statuses, plans, currencies = status_a.tolist(), plan_a.tolist(), currency_a.tolist()
    quantities, coupons = quantity_a.tolist(), coupon_a.tolist()
    owners = column(subs, "customer", rows).tolist()
    collect = column(subs, "auto_collect", rows).tolist()
    out = []
    for i, row in enumerate(rows.tolist()):
        plan = cat.PLANS[plans[i]]
        status = statuses[i]
        currency = currencies[i]
        interval, unit_word = _INTERVAL[plan.interval]
        owner = owners[i]
        person = world.person(owner)
        customer_id = str(_CUSTOMER_BASE + owner)
        email = person.email or ""
        record: dict[str, Any] = {
            "subscription_id": str(_SUBSCRIPTION_BASE + row),
            "subscription_number": f"SUB-{row + 1:06d}",
            "name": f"{plan.product.name}-{person.display_name}",
            "status": cat.SUB_STATUS_BY_VENDOR[VENDOR][status],
            "amount": net[i],
            "sub_total": amount[i],
            "currency_code": cat.CURRENCIES[currency],
            "currency_symbol": _SYMBOL[currency],
            "interval": interval,
            "interval_unit": unit_word,
            "billing_mode": "prepay",
            "customer_id": customer_id,
            "customer_name": person.display_name,
            "email": email,
            "customer": {
                "customer_id": customer_id,
                "display_name": person.display_name,
                "email": email,
            },
            "plan": {
                "plan_code": plan.code,
                "name": plan.name,
                "quantity": quantities[i],
                "price": price[i],
                "discount": 0.0,
                "total": amount[i],
                "setup_fee": 0.0,
                "description": "",
                "tax_id": "",
            },
            "addons": [],
            "created_at": days["created"][i],
            "activated_at": days["started"][i] if status != cat.SUB_FUTURE else "",
            "starts_at": days["started"][i],
            "current_term_starts_at": days["term_start"][i],
            "current_term_ends_at": days["term_end"][i],
            "last_billing_at": days["term_start"][i] if status != cat.SUB_TRIAL else "",
            "next_billing_at": days["term_end"][i]
            if status in (cat.SUB_ACTIVE, cat.SUB_TRIAL)
            else "",
            "expires_at": days["cancelled_at"][i] if status == cat.SUB_NON_RENEWING else "",
            "cancelled_at": days["cancelled_at"][i] if status == cat.SUB_CANCELLED else "",
            "pause_date": days["paused_at"][i],
            "trial_starts_at": days["trial_start"][i],
            "trial_ends_at": days["trial_end"][i],
            "trial_remaining_days": remaining[i],
            "auto_collect": bool(collect[i]),
            "reference_id": "",
            "salesperson_name": "",
            "is_metered_billing": False,
            "custom_fields": _custom_fields(person.tenant_id),
            "created_time": created[i],
            "updated_time": updated[i] or "",
        }
        coupon = coupons[i]
        if coupon >= 0:
            record["coupon"] = {
                "coupon_code": cat.COUPONS[coupon].code,
                "coupon_name": cat.COUPONS[coupon].name,
                "discount_amount": discount[i],
            }
        out.append(record)
    return out


def invoices(world: World, rows: IntArray, org: Org) -> list[dict[str, Any]]:
    """Renders invoice rows (computed page by page)."""
    inv = world.invoices
    off = org.offset_minutes
    currency_a = column(inv, "currency", rows)
    status_a = column(inv, "status", rows)
    total_a = column(inv, "total", rows)
    paid_a = column(inv, "paid", rows)
    subtotal_a = column(inv, "subtotal", rows)
    discount_a = column(inv, "discount", rows)
    quantity_a = column(inv, "quantity", rows)
    tax_a = column(inv, "tax", rows)
    settled = np.isin(status_a, (cat.INV_PAID, cat.INV_VOID))
    subtotal = majors(subtotal_a, currency_a)
    discount = majors(discount_a, currency_a)
    tax = majors(tax_a, currency_a)
    total = majors(total_a, currency_a)
    paid = majors(paid_a, currency_a)
    balance = majors(np.where(settled, 0, total_a - paid_a), currency_a)
    price = majors(subtotal_a // np.maximum(quantity_a, 1), currency_a)
    item_total = majors(subtotal_a - discount_a, currency_a)
    dates = day_many(column(inv, "date", rows), off)
    dues = day_many(column(inv, "due", rows), off)
    paid_days = day_many(column(inv, "paid_at", rows), off)
    created = iso_many(column(inv, "created", rows), off)
    updated = iso_many(column(inv, "updated", rows), off)
    statuses, currencies = status_a.tolist(), currency_a.tolist()
    quantities, taxes = quantity_a.tolist(), tax_a.tolist()
    plans = column(inv, "plan", rows).tolist()
    subs = column(inv, "subscription", rows).tolist()
    owners = column(inv, "customer", rows).tolist()
    out = []
    for i, row in enumerate(rows.tolist()):
        currency = currencies[i]
        sub = subs[i]
        owner = owners[i]
        person = world.person(owner)
        plan = cat.PLANS[plans[i]]
        recurring = sub >= 0
        out.append(
            {
                "invoice_id": str(_INVOICE_BASE + row),
                "invoice_number": zoho_invoice_number(row),
                "status": cat.INV_STATUS_BY_VENDOR[VENDOR][statuses[i]],
                "invoice_date": dates[i],
                "date": dates[i],
                "due_date": dues[i],
                "payment_expected_date": "",
                "last_payment_date": paid_days[i],
                "reference_number": "",
                "customer_id": str(_CUSTOMER_BASE + owner),
                "customer_name": person.display_name,
                "email": person.email or "",
                "currency_code": cat.CURRENCIES[currency],
                "currency_symbol": _SYMBOL[currency],
                "sub_total": subtotal[i],
                "discount_total": discount[i],
                "tax_total": tax[i],
                "total": total[i],
                "payment_made": paid[i],
                "balance": balance[i],
                "credits_applied": 0.0,
                "write_off_amount": 0.0,
                "transaction_type": "renewal" if recurring else "new",
                "is_viewed_by_client": False,
                "salesperson_name": "",
                "subscriptions": [
                    {
                        "subscription_id": str(_SUBSCRIPTION_BASE + sub),
                        "subscription_number": f"SUB-{sub + 1:06d}",
                    }
                ]
                if recurring
                else [],
                "invoice_items": [
                    {
                        "item_id": f"90300070000000{plan.index:02d}",
                        "name": plan.name if recurring else "One-time charge",
                        "description": "",
                        "code": plan.code if recurring else "",
                        "price": price[i],
                        "quantity": quantities[i],
                        "discount_amount": discount[i],
                        "item_total": item_total[i],
                        "tax_id": "",
                        "tax_name": "VAT" if taxes[i] else "",
                        "tax_percentage": cat.TAX_PERCENT[currency],
                    }
                ],
                "payments": [],
                "custom_fields": _custom_fields(person.tenant_id),
                "created_time": created[i],
                "updated_time": updated[i] or "",
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
