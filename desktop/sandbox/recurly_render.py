"""Recurly v2021-02-25 object shapes: accounts, subscriptions, invoices, plans, sites.

Amounts are decimals in major units, timestamps ``%Y-%m-%dT%H:%M:%SZ`` without
fractions, absent values ``null``.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.common import (
    PRICES,
    column,
    iso_many,
    iso_z,
    major,
    majors,
)
from desktop.sandbox.dataset import World
from desktop.sandbox.ids import (
    format_id,
    format_ids,
    invoice_number,
    recurly_account_code,
    recurly_uuids,
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
    person = world.person(row)
    return {
        "object": "account",
        "id": account_id or format_id(VENDOR, "customer", row),
        "code": recurly_account_code(row),
        "email": person.email,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "company": person.company,
        "parent_account_id": None,
        "bill_to": "self",
        "dunning_campaign_id": None,
    }


def account_minis(world: World) -> dict[int, dict[str, Any]]:
    """AccountMinis already rendered, by customer row (emptied whenever the data changes;
    shared by the pages of one data version, never changed once made)."""
    return world.cached("recurly-account-minis", dict)


def accounts(world: World, rows: IntArray) -> list[dict[str, Any]]:
    """Renders customer rows as Recurly accounts (computed page by page)."""
    flags = {name: values[rows].tolist() for name, values in account_flags(world).items()}
    customers = world.customers
    created = iso_many(column(customers, "created", rows))
    updated = iso_many(column(customers, "updated", rows))
    ids = format_ids(VENDOR, "customer", rows)
    countries = column(customers, "country", rows).tolist()
    net_terms = column(customers, "net_terms", rows).tolist()
    deleted = column(customers, "deleted", rows).tolist()
    out = []
    for i, row in enumerate(rows.tolist()):
        person = world.person(row)
        country = countries[i]
        gone = deleted[i]
        out.append(
            {
                "object": "account",
                "id": ids[i],
                "code": recurly_account_code(row),
                "state": "inactive" if gone else "active",
                "hosted_login_token": f"hlt{row:013d}",
                "shipping_addresses": [],
                "has_live_subscription": flags["live"][i],
                "has_active_subscription": flags["active"][i],
                "has_future_subscription": flags["future"][i],
                "has_canceled_subscription": flags["canceled"][i],
                "has_paused_subscription": flags["paused"][i],
                "has_past_due_invoice": flags["past_due"][i],
                "created_at": created[i],
                "updated_at": updated[i],
                "deleted_at": (updated[i] or created[i]) if gone else None,
                "username": None,
                "email": person.email,
                "net_terms": net_terms[i],
                "net_terms_type": "net",
                "first_name": person.first_name,
                "last_name": person.last_name,
                "preferred_locale": None,
                "preferred_time_zone": None,
                "cc_emails": None,
                "company": person.company,
                "vat_number": None,
                "tax_exempt": False,
                "exemption_certificate": None,
                "override_business_entity_id": None,
                "parent_account_id": None,
                "bill_to": "self",
                "dunning_campaign_id": None,
                "invoice_template_id": None,
                "address": {
                    "phone": person.phone,
                    "street1": None,
                    "street2": None,
                    "city": cat.CITIES[country % len(cat.CITIES)],
                    "region": None,
                    "postal_code": None,
                    "country": cat.COUNTRIES[country],
                    "geo_code": None,
                },
                "billing_info": None,
                "custom_fields": (
                    [{"name": "tenant_id", "value": person.tenant_id}] if person.tenant_id else []
                ),
            }
        )
    return out


def subscriptions(world: World, rows: IntArray) -> list[dict[str, Any]]:
    """Renders subscription rows as Recurly subscriptions (computed page by page)."""
    subs = world.subscriptions
    status_a = column(subs, "status", rows)
    currency_a = column(subs, "currency", rows)
    plan_a = column(subs, "plan", rows)
    quantity_a = column(subs, "quantity", rows)
    customer_a = column(subs, "customer", rows).astype(np.int64)
    cancelled_a = column(subs, "cancelled_at", rows)
    created_a = column(subs, "created", rows)
    updated_a = column(subs, "updated", rows)
    unit_a = PRICES[plan_a, currency_a]
    subtotal = majors(unit_a * quantity_a, currency_a)
    unit = majors(unit_a, currency_a)
    non_renewing = status_a == cat.SUB_NON_RENEWING
    cancelled = status_a == cat.SUB_CANCELLED
    canceled_at = np.where(
        non_renewing,
        np.where(updated_a != NONE, updated_a, created_a),
        np.where(cancelled, cancelled_a, NONE),
    )
    expires = np.where(non_renewing | cancelled, cancelled_a, NONE)
    iso = {
        name: iso_many(column(subs, name, rows))
        for name in ("started", "trial_start", "trial_end", "term_start", "term_end", "paused_at")
    }
    created = iso_many(created_a)
    updated = iso_many(updated_a)
    canceled_text = iso_many(canceled_at)
    expires_text = iso_many(expires)
    ids = format_ids(VENDOR, "subscription", rows)
    uuids = recurly_uuids(rows)
    account_ids = format_ids(VENDOR, "customer", customer_a)
    statuses = status_a.tolist()
    currencies = currency_a.tolist()
    quantities = quantity_a.tolist()
    plans = plan_a.tolist()
    coupons = column(subs, "coupon", rows).tolist()
    collect = column(subs, "auto_collect", rows).tolist()
    customers = customer_a.tolist()
    minis = account_minis(world)
    out = []
    for i, row in enumerate(rows.tolist()):
        plan = cat.PLANS[plans[i]]
        status = statuses[i]
        owner = customers[i]
        mini = minis.get(owner)
        if mini is None:
            mini = minis[owner] = account_mini(world, owner, account_ids[i])
        term_start = iso["term_start"][i]
        term_end = iso["term_end"][i]
        record: dict[str, Any] = {
            "object": "subscription",
            "id": ids[i],
            "uuid": uuids[i],
            "account": mini,
            "plan": {"object": "plan", "id": plan_id(plan), "code": plan.code, "name": plan.name},
            "state": cat.SUB_STATUS_BY_VENDOR[VENDOR][status],
            "shipping": None,
            "coupon_redemptions": [],
            "pending_change": None,
            "current_period_started_at": term_start,
            "current_period_ends_at": term_end,
            "current_term_started_at": term_start,
            "current_term_ends_at": term_end,
            "trial_started_at": iso["trial_start"][i],
            "trial_ends_at": iso["trial_end"][i],
            "remaining_billing_cycles": None,
            "total_billing_cycles": None,
            "renewal_billing_cycles": None,
            "auto_renew": status not in (cat.SUB_NON_RENEWING, cat.SUB_CANCELLED),
            "ramp_intervals": [],
            "paused_at": iso["paused_at"][i],
            "remaining_pause_cycles": 1 if status == cat.SUB_PAUSED else None,
            "currency": cat.CURRENCIES[currencies[i]],
            "revenue_schedule_type": "evenly",
            "unit_amount": unit[i],
            "tax_inclusive": False,
            "quantity": quantities[i],
            "add_ons": [],
            "add_ons_total": 0.0,
            "subtotal": subtotal[i],
            "tax": 0.0,
            "tax_info": None,
            "total": subtotal[i],
            "collection_method": "automatic" if collect[i] else "manual",
            "po_number": None,
            "net_terms": 0,
            "net_terms_type": "net",
            "terms_and_conditions": None,
            "customer_notes": None,
            "expiration_reason": "canceled" if status == cat.SUB_CANCELLED else None,
            "custom_fields": [],
            "created_at": created[i],
            "updated_at": updated[i],
            "activated_at": iso["started"][i] if status != cat.SUB_FUTURE else None,
            "canceled_at": canceled_text[i],
            "expires_at": expires_text[i],
            "bank_account_authorized_at": None,
            "gateway_code": None,
            "billing_info_id": None,
            "active_invoice_id": None,
            "started_with_gift": False,
            "converted_at": None,
            "action_result": None,
        }
        coupon = coupons[i]
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
                    "created_at": created[i],
                }
            ]
        out.append(record)
    return out


def invoices(world: World, rows: IntArray) -> list[dict[str, Any]]:
    """Renders invoice rows as Recurly invoices (one line item each).

    Every computed field is worked out for the whole page at once (NumPy), then each
    record is one dict built from those lists.
    """
    inv = world.invoices
    currency_a = column(inv, "currency", rows)
    status_a = column(inv, "status", rows)
    total_a = column(inv, "total", rows)
    paid_a = column(inv, "paid", rows)
    subtotal_a = column(inv, "subtotal", rows)
    discount_a = column(inv, "discount", rows)
    tax_a = column(inv, "tax", rows)
    quantity_a = column(inv, "quantity", rows)
    date_a = column(inv, "date", rows)
    due_a = column(inv, "due", rows)
    plan_a = column(inv, "plan", rows)
    sub_a = column(inv, "subscription", rows)
    customer_a = column(inv, "customer", rows).astype(np.int64)
    settled = np.isin(status_a, (cat.INV_PAID, cat.INV_VOID))
    closed_a = np.where(
        status_a == cat.INV_PAID, column(inv, "paid_at", rows), column(inv, "voided_at", rows)
    )
    months = np.array([p.months for p in cat.PLANS], dtype=np.int64)[plan_a]
    discount = majors(discount_a, currency_a)
    subtotal = majors(subtotal_a, currency_a)
    tax = majors(tax_a, currency_a)
    total = majors(total_a, currency_a)
    paid = majors(paid_a, currency_a)
    balance = majors(np.where(settled, 0, total_a - paid_a), currency_a)
    unit = majors(subtotal_a // np.maximum(quantity_a, 1), currency_a)
    net_terms = np.maximum(0, (due_a - date_a) // cat.DAY).tolist()
    created = iso_many(date_a)
    due = iso_many(due_a)
    updated = iso_many(column(inv, "updated", rows))
    closed = iso_many(closed_a)
    ends = iso_many(date_a + months * cat.MONTH_SECONDS)
    ids = format_ids(VENDOR, "invoice", rows)
    account_ids = format_ids(VENDOR, "customer", customer_a)
    sub_ids = format_ids(VENDOR, "subscription", sub_a.astype(np.int64))
    currencies = [cat.CURRENCIES[c] for c in currency_a.tolist()]
    states = [cat.INV_STATUS_BY_VENDOR[VENDOR][s] for s in status_a.tolist()]
    quantities = quantity_a.tolist()
    plans = [cat.PLANS[p] for p in plan_a.tolist()]
    customers = customer_a.tolist()
    minis = account_minis(world)
    out = []
    for i, row in enumerate(rows.tolist()):
        owner = customers[i]
        mini = minis.get(owner)
        if mini is None:
            mini = minis[owner] = account_mini(world, owner, account_ids[i])
        sub_id = sub_ids[i]
        plan = plans[i]
        first = created[i]
        out.append(
            {
                "object": "invoice",
                "id": ids[i],
                "uuid": f"{row:032x}",
                "type": "charge",
                "origin": ("renewal" if sub_id is not None else "purchase"),
                "state": states[i],
                "account": mini,
                "billing_info_id": None,
                "subscription_ids": [sub_id] if sub_id is not None else [],
                "previous_invoice_id": None,
                "number": invoice_number(row),
                "collection_method": "automatic",
                "po_number": None,
                "net_terms": net_terms[i],
                "net_terms_type": "net",
                "address": None,
                "shipping_address": None,
                "currency": currencies[i],
                "discount": discount[i],
                "subtotal": subtotal[i],
                "tax": tax[i],
                "total": total[i],
                "refundable_amount": paid[i],
                "paid": paid[i],
                "balance": balance[i],
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
                        "subscription_id": sub_id,
                        "plan_id": plan_id(plan) if sub_id is not None else None,
                        "plan_code": plan.code if sub_id is not None else None,
                        "currency": currencies[i],
                        "unit_amount": unit[i],
                        "quantity": quantities[i],
                        "subtotal": subtotal[i],
                        "discount": discount[i],
                        "tax": tax[i],
                        "amount": total[i],
                        "description": plan.name if sub_id is not None else "One-time charge",
                        "start_date": first,
                        "end_date": ends[i],
                        "created_at": first,
                        "updated_at": first,
                    }
                ],
                "has_more_line_items": False,
                "transactions": [],
                "credit_payments": [],
                "created_at": first,
                "updated_at": updated[i],
                "due_at": due[i],
                "closed_at": closed[i],
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
