"""Recurly v2021-02-25 object shapes: accounts, subscriptions, invoices, plans, sites.

Amounts are decimals in major units, timestamps ``%Y-%m-%dT%H:%M:%SZ`` without
fractions, absent values ``null``.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.common import IdSpec, iso_z, major, page_rows
from desktop.sandbox.dataset import World
from desktop.sandbox.ids import (
    format_id,
    invoice_number,
    recurly_account_code,
    recurly_uuid,
)
from desktop.sandbox.store import NONE, Array, IntArray

VENDOR: Final[str] = "recurly"
_INTERVAL_LENGTH = (1, 3, 12)
#: When the sandbox's Recurly sites and plans were created, before the dataset's "now".
CATALOG_AGE = 900 * cat.DAY
_LIVE = (cat.SUB_ACTIVE, cat.SUB_TRIAL, cat.SUB_NON_RENEWING, cat.SUB_FUTURE)


def plan_id(plan: cat.Plan) -> str:
    """The opaque Recurly id of a plan."""
    return f"acmeplan{plan.index:04d}"


def site_id(site: cat.Site) -> str:
    """The opaque Recurly id of a site."""
    return f"site{site.code:04d}{site.region}zz"


def account_flags(world: World) -> dict[str, Array]:
    """Per-customer ``has_*`` flags (cached until the data changes)."""

    def compute() -> dict[str, Array]:
        n = world.customers.size
        subs = world.subscriptions
        alive = ~subs.col("deleted")
        owner = subs.col("customer")[alive]
        status = subs.col("status")[alive]

        def has(codes: tuple[int, ...]) -> Array:
            flags = np.zeros(n, dtype=bool)
            flags[owner[np.isin(status, codes)]] = True
            return flags

        inv = world.invoices
        overdue = (inv.col("status") == cat.INV_OVERDUE) & ~inv.col("deleted")
        past_due = np.zeros(n, dtype=bool)
        past_due[inv.col("customer")[overdue]] = True
        return {
            "live": has(_LIVE),
            "active": has((cat.SUB_ACTIVE, cat.SUB_TRIAL)),
            "future": has((cat.SUB_FUTURE,)),
            "canceled": has((cat.SUB_NON_RENEWING,)),
            "paused": has((cat.SUB_PAUSED,)),
            "past_due": past_due,
        }

    return world.cached("recurly-account-flags", compute)


def _custom_fields(world: World, row: int) -> list[dict[str, str]]:
    tenant = world.person(row).tenant_id
    return [{"name": "tenant_id", "value": tenant}] if tenant else []


def account_mini(world: World, row: int, account_id: str | None = None) -> dict[str, Any]:
    """The AccountMini embedded in subscriptions and invoices."""
    return {
        "object": "account",
        "id": account_id or format_id(VENDOR, "customer", row),
        "code": recurly_account_code(row),
        "email": world.person(row).email,
        "first_name": world.person(row).first_name,
        "last_name": world.person(row).last_name,
        "company": world.person(row).company,
        "parent_account_id": None,
        "bill_to": "self",
        "dunning_campaign_id": None,
    }


def accounts(world: World, rows: IntArray) -> list[dict[str, Any]]:
    """Renders customer rows as Recurly accounts."""
    flags = account_flags(world)
    cols = ("country", "net_terms", "created", "updated", "deleted")
    out = []
    ids: IdSpec = {"id": (VENDOR, "customer", "row")}
    for v in page_rows(world.customers, rows, cols, ids=ids, iso=("created", "updated")):
        row = v["row"]
        deleted = bool(v["deleted"])
        country = cat.COUNTRIES[v["country"]]
        out.append(
            {
                "object": "account",
                "id": v["id"],
                "code": recurly_account_code(row),
                "state": "inactive" if deleted else "active",
                "hosted_login_token": f"hlt{row:013d}",
                "shipping_addresses": [],
                "has_live_subscription": bool(flags["live"][row]),
                "has_active_subscription": bool(flags["active"][row]),
                "has_future_subscription": bool(flags["future"][row]),
                "has_canceled_subscription": bool(flags["canceled"][row]),
                "has_paused_subscription": bool(flags["paused"][row]),
                "has_past_due_invoice": bool(flags["past_due"][row]),
                "created_at": v["created@iso"],
                "updated_at": v["updated@iso"],
                "deleted_at": (v["updated@iso"] or v["created@iso"]) if deleted else None,
                "username": None,
                "email": world.person(row).email,
                "net_terms": v["net_terms"],
                "net_terms_type": "net",
                "first_name": world.person(row).first_name,
                "last_name": world.person(row).last_name,
                "preferred_locale": None,
                "preferred_time_zone": None,
                "cc_emails": None,
                "company": world.person(row).company,
                "vat_number": None,
                "tax_exempt": False,
                "exemption_certificate": None,
                "override_business_entity_id": None,
                "parent_account_id": None,
                "bill_to": "self",
                "dunning_campaign_id": None,
                "invoice_template_id": None,
                "address": {
                    "phone": world.person(row).phone,
                    "street1": None,
                    "street2": None,
                    "city": cat.CITIES[v["country"] % len(cat.CITIES)],
                    "region": None,
                    "postal_code": None,
                    "country": country,
                    "geo_code": None,
                },
                "billing_info": None,
                "custom_fields": _custom_fields(world, row),
            }
        )
    return out


def subscriptions(world: World, rows: IntArray) -> list[dict[str, Any]]:
    """Renders subscription rows as Recurly subscriptions."""
    cols = (
        "customer", "currency", "plan", "quantity", "status", "coupon", "started",
        "trial_start", "trial_end", "term_start", "term_end", "cancelled_at", "paused_at",
        "auto_collect", "created", "updated",
    )  # fmt: skip
    out = []
    ids: IdSpec = {
        "id": (VENDOR, "subscription", "row"),
        "account_id": (VENDOR, "customer", "customer"),
    }
    times = ("started", "trial_start", "trial_end", "term_start", "term_end", "paused_at")
    pages = page_rows(world.subscriptions, rows, cols, ids=ids, iso=(*times, "created", "updated"))
    for v in pages:
        row = v["row"]
        plan = cat.PLANS[v["plan"]]
        status = v["status"]
        currency = v["currency"]
        unit = plan.prices[currency]
        subtotal = unit * v["quantity"]
        ended = status == cat.SUB_CANCELLED
        canceled_at = v["cancelled_at"] if status == cat.SUB_CANCELLED else NONE
        if status == cat.SUB_NON_RENEWING:
            canceled_at = v["updated"] if v["updated"] != NONE else v["created"]
        expires = v["cancelled_at"] if status in (cat.SUB_CANCELLED, cat.SUB_NON_RENEWING) else NONE
        record: dict[str, Any] = {
            "object": "subscription",
            "id": v["id"],
            "uuid": recurly_uuid(row),
            "account": account_mini(world, v["customer"], v["account_id"]),
            "plan": {"object": "plan", "id": plan_id(plan), "code": plan.code, "name": plan.name},
            "state": cat.SUB_STATUS_BY_VENDOR[VENDOR][status],
            "shipping": None,
            "coupon_redemptions": [],
            "pending_change": None,
            "current_period_started_at": v["term_start@iso"],
            "current_period_ends_at": v["term_end@iso"],
            "current_term_started_at": v["term_start@iso"],
            "current_term_ends_at": v["term_end@iso"],
            "trial_started_at": v["trial_start@iso"],
            "trial_ends_at": v["trial_end@iso"],
            "remaining_billing_cycles": None,
            "total_billing_cycles": None,
            "renewal_billing_cycles": None,
            "auto_renew": status not in (cat.SUB_NON_RENEWING, cat.SUB_CANCELLED),
            "ramp_intervals": [],
            "paused_at": v["paused_at@iso"],
            "remaining_pause_cycles": 1 if status == cat.SUB_PAUSED else None,
            "currency": cat.CURRENCIES[currency],
            "revenue_schedule_type": "evenly",
            "unit_amount": major(unit, currency),
            "tax_inclusive": False,
            "quantity": v["quantity"],
            "add_ons": [],
            "add_ons_total": 0.0,
            "subtotal": major(subtotal, currency),
            "tax": 0.0,
            "tax_info": None,
            "total": major(subtotal, currency),
            "collection_method": "automatic" if v["auto_collect"] else "manual",
            "po_number": None,
            "net_terms": 0,
            "net_terms_type": "net",
            "terms_and_conditions": None,
            "customer_notes": None,
            "expiration_reason": "canceled" if ended else None,
            "custom_fields": [],
            "created_at": v["created@iso"],
            "updated_at": v["updated@iso"],
            "activated_at": v["started@iso"] if status not in (cat.SUB_FUTURE,) else None,
            "canceled_at": iso_z(canceled_at),
            "expires_at": iso_z(expires),
            "bank_account_authorized_at": None,
            "gateway_code": None,
            "billing_info_id": None,
            "active_invoice_id": None,
            "started_with_gift": False,
            "converted_at": None,
            "action_result": None,
        }
        coupon = v["coupon"]
        if coupon >= 0:
            record["coupon_redemptions"] = [
                {
                    "object": "coupon_redemption",
                    "id": f"cr{row:010d}",
                    "coupon": {
                        "object": "coupon",
                        "code": cat.COUPONS[coupon].code,
                        "name": cat.COUPONS[coupon].name,
                        "discount": {"type": "percent", "percent": cat.COUPONS[coupon].percent},
                    },
                    "state": "active",
                    "discounted": 0.0,
                    "created_at": v["created@iso"],
                }
            ]
        out.append(record)
    return out


def invoices(world: World, rows: IntArray) -> list[dict[str, Any]]:
    """Renders invoice rows as Recurly invoices (one line item each)."""
    cols = (
        "customer", "subscription", "currency", "plan", "quantity", "date", "due", "subtotal",
        "discount", "tax", "total", "paid", "status", "paid_at", "voided_at", "updated",
    )  # fmt: skip
    out = []
    ids: IdSpec = {
        "id": (VENDOR, "invoice", "row"),
        "account_id": (VENDOR, "customer", "customer"),
        "sub_id": (VENDOR, "subscription", "subscription"),
    }
    pages = page_rows(world.invoices, rows, cols, ids=ids, iso=("date", "due", "updated"))
    minis: dict[int, dict[str, Any]] = {}
    for v in pages:
        row = v["row"]
        currency = v["currency"]
        status = v["status"]
        sub = v["subscription"]
        total, paid = v["total"], v["paid"]
        balance = 0 if status in (cat.INV_PAID, cat.INV_VOID) else total - paid
        sub_ids = [v["sub_id"]] if sub >= 0 else []
        plan = cat.PLANS[v["plan"]]
        closed = v["paid_at"] if status == cat.INV_PAID else v["voided_at"]
        mini = minis.get(v["customer"]) or account_mini(world, v["customer"], v["account_id"])
        minis[v["customer"]] = mini
        created = v["date@iso"]
        out.append(
            {
                "object": "invoice",
                "id": v["id"],
                "uuid": f"{row:032x}",
                "type": "charge",
                "origin": ("renewal" if sub >= 0 else "purchase"),
                "state": cat.INV_STATUS_BY_VENDOR[VENDOR][status],
                "account": mini,
                "billing_info_id": None,
                "subscription_ids": sub_ids,
                "previous_invoice_id": None,
                "number": invoice_number(row),
                "collection_method": "automatic",
                "po_number": None,
                "net_terms": max(0, (v["due"] - v["date"]) // cat.DAY),
                "net_terms_type": "net",
                "address": None,
                "shipping_address": None,
                "currency": cat.CURRENCIES[currency],
                "discount": major(v["discount"], currency),
                "subtotal": major(v["subtotal"], currency),
                "tax": major(v["tax"], currency),
                "total": major(total, currency),
                "refundable_amount": major(paid, currency),
                "paid": major(paid, currency),
                "balance": major(balance, currency),
                "tax_info": None,
                "used_tax_service": False,
                "vat_number": None,
                "vat_reverse_charge_notes": None,
                "terms_and_conditions": None,
                "customer_notes": None,
                "line_items": [
                    {
                        "object": "line_item",
                        "id": f"li{row:010d}",
                        "uuid": f"{row + (1 << 100):032x}"[-32:],
                        "type": "charge",
                        "state": "invoiced",
                        "account": mini,
                        "subscription_id": sub_ids[0] if sub_ids else None,
                        "plan_id": plan_id(plan) if sub_ids else None,
                        "plan_code": plan.code if sub_ids else None,
                        "currency": cat.CURRENCIES[currency],
                        "unit_amount": major(v["subtotal"] // max(v["quantity"], 1), currency),
                        "quantity": v["quantity"],
                        "subtotal": major(v["subtotal"], currency),
                        "discount": major(v["discount"], currency),
                        "tax": major(v["tax"], currency),
                        "amount": major(total, currency),
                        "description": plan.name if sub_ids else "One-time charge",
                        "start_date": created,
                        "end_date": iso_z(v["date"] + plan.months * cat.MONTH_SECONDS),
                        "created_at": created,
                        "updated_at": created,
                    }
                ],
                "has_more_line_items": False,
                "transactions": [],
                "credit_payments": [],
                "created_at": created,
                "updated_at": v["updated@iso"],
                "due_at": v["due@iso"],
                "closed_at": iso_z(closed),
                "dunning_campaign_id": None,
                "dunning_events_sent": None,
                "final_dunning_event": False,
                "business_entity_id": None,
            }
        )
    return out


def plan(world: World, item: cat.Plan) -> dict[str, Any]:
    """Renders a catalogue plan as a Recurly plan with a price per currency."""
    created = iso_z(world.now - CATALOG_AGE)
    trial = item.product.trial_days
    return {
        "object": "plan",
        "id": plan_id(item),
        "code": item.code,
        "state": "active",
        "name": item.name,
        "description": None,
        "interval_unit": "months",
        "interval_length": _INTERVAL_LENGTH[item.interval],
        "trial_unit": "days",
        "trial_length": trial,
        "trial_requires_billing_info": True,
        "total_billing_cycles": None,
        "auto_renew": True,
        "pricing_model": "fixed",
        "ramp_intervals": [],
        "custom_fields": [],
        "accounting_code": None,
        "revenue_schedule_type": "evenly",
        "setup_fee_revenue_schedule_type": "evenly",
        "setup_fee_accounting_code": None,
        "tax_code": None,
        "tax_exempt": False,
        "currencies": [
            {"currency": code, "setup_fee": 0.0, "unit_amount": major(item.prices[i], i)}
            for i, code in enumerate(cat.CURRENCIES)
        ],
        "hosted_pages": {
            "success_url": None,
            "cancel_url": None,
            "bypass_confirmation": False,
            "display_quantity": False,
        },
        "allow_any_item_on_subscriptions": False,
        "dunning_campaign_id": None,
        "created_at": created,
        "updated_at": created,
        "deleted_at": None,
    }


def site(world: World, item: cat.Site) -> dict[str, Any]:
    """Renders a sandbox site as a Recurly Site."""
    created = iso_z(world.now - CATALOG_AGE)
    return {
        "id": site_id(item),
        "object": "site",
        "subdomain": item.name,
        "public_api_key": f"ewr1-sandbox{item.code}",
        "mode": "production" if item.code == 0 else "sandbox",
        "address": {"country": "US" if item.region == "us" else "DE"},
        "settings": {
            "billing_address_requirement": "full",
            "accepted_currencies": list(cat.CURRENCIES),
            "default_currency": "USD" if item.region == "us" else "EUR",
        },
        "features": [],
        "created_at": created,
        "updated_at": created,
        "deleted_at": None,
    }
