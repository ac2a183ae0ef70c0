"""Vectorised generation of the billing tables from a seed.

Given a seed, a number of billing customers and a reference time ("now"), this builds the
three :class:`~desktop.sandbox.store.Table` objects with NumPy in well under a second per
100,000 customers. Subscriptions are 1.5 per customer and invoices 5 per customer, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.store import NONE, Array, IntArray, Table

I8 = np.int8
I16 = np.int16
I32 = np.int32
I64 = np.int64

#: History length: everything generated lies within the last 24 months.
HISTORY = 730 * cat.DAY


@dataclass(frozen=True)
class Tables:
    """The three generated billing tables."""

    customers: Table
    subscriptions: Table
    invoices: Table


def _choice(rng: np.random.Generator, weights: Sequence[float], count: int) -> Array:
    probabilities = np.asarray(weights, dtype=np.float64)
    probabilities = probabilities / probabilities.sum()
    return rng.choice(len(weights), size=count, p=probabilities).astype(I8)


def _uniform(
    rng: np.random.Generator, low: IntArray | int, high: IntArray | int, n: int
) -> IntArray:
    """Integers uniformly in ``[low, high]`` (element-wise), tolerating ``high < low``."""
    low_arr = np.broadcast_to(np.asarray(low, dtype=I64), (n,))
    high_arr = np.maximum(np.broadcast_to(np.asarray(high, dtype=I64), (n,)), low_arr)
    span = (high_arr - low_arr + 1).astype(np.float64)
    return low_arr + (rng.random(n) * span).astype(I64)


def generate(seed: int, size: int, vendors: Sequence[str], now: int) -> Tables:
    """Builds the billing tables.

    Args:
        seed: any integer; the same seed, size, vendors and now give identical tables.
        size: number of billing customers (records, across all vendors).
        vendors: which billing vendors receive customers (names from ``catalog.VENDORS``).
        now: the reference time in epoch seconds; all history lies before it.

    Returns:
        The generated customers, subscriptions and invoices.
    """
    rng = np.random.default_rng(seed)
    customers = _customers(rng, size, vendors, now)
    subscriptions, sub_invoices = _subscriptions(rng, customers, now)
    invoices = _invoices(rng, customers, subscriptions, sub_invoices, now, size * 5)
    _settle_customer_times(rng, customers, subscriptions, invoices, now)
    return Tables(
        customers=Table("customer", customers),
        subscriptions=Table("subscription", subscriptions),
        invoices=Table("invoice", invoices),
    )


def _customers(
    rng: np.random.Generator, n: int, vendors: Sequence[str], now: int
) -> dict[str, Array]:
    codes = np.array([cat.VENDOR_CODE[name] for name in vendors], dtype=I8)
    nv = len(codes)
    vendor_pos = rng.integers(0, nv, n)
    rows = np.arange(n, dtype=I64)
    first = rng.integers(0, len(cat.FIRST_NAMES), n).astype(I16)
    last = rng.integers(0, len(cat.LAST_NAMES), n).astype(I16)
    company = np.where(rng.random(n) < 0.85, rows, NONE).astype(I32)
    tenant = np.where(rng.random(n) < 0.97, rows + 1000, NONE).astype(I32)
    currency = _choice(rng, cat.CURRENCY_WEIGHTS, n)
    no_name = rng.random(n) < 0.03
    first[no_name] = NONE
    last[no_name] = NONE
    company[no_name & (rng.random(n) < 0.5)] = NONE
    no_email = rng.random(n) < 0.03
    twin = np.full(n, NONE, dtype=I32)
    if nv > 1 and n > 1:
        odd = np.arange(1, n, 2)
        pick = odd[rng.random(len(odd)) < 0.08]
        partner = pick - 1
        shift = rng.integers(1, nv, len(pick))
        vendor_pos[pick] = (vendor_pos[partner] + shift) % nv
        for column in (first, last, company, currency):
            column[pick] = column[partner]
        tenant[partner] = partner + 1000
        tenant[pick] = partner + 1000
        no_email[pick] = no_email[partner]
        twin[pick] = partner
        twin[partner] = pick
    vendor = codes[vendor_pos]
    share = np.array([cat.sites_of(v)[0].share for v in cat.VENDORS])[vendor]
    site = (rng.random(n) >= share).astype(I8)
    country = np.where(
        rng.random(n) < 0.8,
        np.array(cat.CURRENCY_COUNTRY, dtype=I8)[currency],
        rng.integers(0, len(cat.COUNTRIES), n),
    ).astype(I8)
    created = now - _uniform(rng, 20 * cat.DAY, HISTORY + 60 * cat.DAY, n)
    return {
        "vendor": vendor,
        "site": site,
        "first": first,
        "last": last,
        "company": company,
        "no_email": no_email,
        "tenant": tenant,
        "twin": twin,
        "currency": currency,
        "country": country,
        "net_terms": np.array([0, 15, 30], dtype=I16)[_choice(rng, (0.6, 0.25, 0.15), n)],
        "auto_collect": rng.random(n) < 0.8,
        "inactive": rng.random(n) < 0.05,
        "created": created,
        "updated": np.zeros(n, dtype=I64),
        "deleted": rng.random(n) < 0.02,
    }


def _subscriptions(
    rng: np.random.Generator, customers: dict[str, Array], now: int
) -> tuple[dict[str, Array], IntArray]:
    n = len(customers["vendor"])
    m = n * 3 // 2
    owner = np.sort(rng.integers(0, n, m)).astype(I32) if n else np.zeros(0, dtype=I32)
    interval = _choice(rng, cat.INTERVAL_WEIGHTS, m)
    product = _choice(rng, (0.35, 0.35, 0.2, 0.1), m)
    plan = (product.astype(I16) * len(cat.INTERVALS) + interval).astype(I16)
    status = _choice(rng, cat.SUB_STATUS_WEIGHTS, m)
    period = np.array(cat.INTERVAL_MONTHS, dtype=I64)[interval] * cat.MONTH_SECONDS
    cap = HISTORY // period
    eligible = (status != cat.SUB_TRIAL) & (status != cat.SUB_FUTURE)
    count = np.where(eligible, _uniform(rng, 1, cap, m), 0)
    recurring = n * 5 - (n * 5) // 30
    total = int(count.sum())
    if total:
        count = count * recurring // total
        _top_up(rng, count, np.where(eligible, cap, 0), recurring - int(count.sum()))
    trial_days = np.array([max(p.trial_days, 14) for p in cat.PRODUCTS], dtype=I64)[product]
    trial_len = trial_days * cat.DAY
    slack = np.maximum(HISTORY - count * period, 0)
    recent = now - _uniform(rng, 0, period - 1, m)
    cancelled_anchor = now - period - _uniform(rng, 0, slack, m)
    anchor = np.where(status == cat.SUB_CANCELLED, cancelled_anchor, recent)
    trial_start = now - _uniform(rng, cat.DAY, trial_len - cat.DAY, m)
    future_start = now + _uniform(rng, cat.DAY, 60 * cat.DAY, m)
    started = anchor - np.maximum(count - 1, 0) * period
    started = np.where(status == cat.SUB_TRIAL, trial_start, started)
    started = np.where(status == cat.SUB_FUTURE, future_start, started)
    term_start = np.where(count > 0, anchor, started)
    term_end = np.where(status == cat.SUB_TRIAL, started + trial_len, term_start + period)
    had_trial = (status == cat.SUB_TRIAL) | ((count > 0) & (product != 3) & (rng.random(m) < 0.3))
    t_start = np.where(status == cat.SUB_TRIAL, started, started - trial_len)
    t_end = np.where(status == cat.SUB_TRIAL, started + trial_len, started)
    cancelled_at = np.full(m, NONE, dtype=I64)
    ended = anchor + period // 2 + _uniform(rng, 0, period // 2, m)
    cancelled_at = np.where(status == cat.SUB_CANCELLED, np.minimum(ended, now), cancelled_at)
    cancelled_at = np.where(status == cat.SUB_NON_RENEWING, term_end, cancelled_at)
    paused_at = np.where(
        status == cat.SUB_PAUSED, now - _uniform(rng, 0, now - anchor, m), NONE
    ).astype(I64)
    created = np.where(had_trial, t_start, started) - _uniform(rng, 60, 2 * cat.DAY, m)
    created = np.where(
        status == cat.SUB_FUTURE, now - _uniform(rng, cat.DAY, 20 * cat.DAY, m), created
    )
    last_event = np.maximum(created, np.where(count > 0, anchor, created))
    last_event = np.maximum(last_event, np.where(cancelled_at <= now, cancelled_at, NONE))
    last_event = np.maximum(last_event, paused_at)
    updated = np.minimum(last_event + _uniform(rng, 1, 3_600, m), now)
    coupon = np.where(rng.random(m) < 0.15, rng.integers(0, len(cat.COUPONS), m), NONE)
    columns: dict[str, Array] = {
        "customer": owner,
        "vendor": customers["vendor"][owner],
        "site": customers["site"][owner],
        "currency": customers["currency"][owner],
        "plan": plan,
        "quantity": np.minimum(rng.geometric(0.35, m), 50).astype(I16),
        "status": status,
        "coupon": coupon.astype(I8),
        "started": started,
        "trial_start": np.where(had_trial, t_start, NONE).astype(I64),
        "trial_end": np.where(had_trial, t_end, NONE).astype(I64),
        "term_start": term_start,
        "term_end": term_end,
        "cancelled_at": cancelled_at,
        "paused_at": paused_at,
        "auto_collect": customers["auto_collect"][owner],
        "created": created,
        "updated": updated,
        "deleted": rng.random(m) < 0.01,
    }
    return columns, count


def _top_up(rng: np.random.Generator, count: IntArray, cap: IntArray, missing: int) -> None:
    """Adds ``missing`` invoices, one per subscription at a time, below each cap."""
    while missing > 0:
        room = np.flatnonzero(count < cap)
        if len(room) == 0:
            return
        chosen = rng.permutation(room)[:missing]
        count[chosen] += 1
        missing -= len(chosen)


def _invoices(
    rng: np.random.Generator,
    customers: dict[str, Array],
    subs: dict[str, Array],
    per_sub: IntArray,
    now: int,
    wanted: int,
) -> dict[str, Array]:
    m = len(per_sub)
    n = len(customers["vendor"])
    recurring = int(per_sub.sum())
    sub_of = np.repeat(np.arange(m, dtype=I32), per_sub)
    position = np.arange(recurring, dtype=I64) - np.repeat(np.cumsum(per_sub) - per_sub, per_sub)
    period = np.array(cat.INTERVAL_MONTHS, dtype=I64)[subs["plan"][sub_of] % 3] * cat.MONTH_SECONDS
    date_rec = subs["started"][sub_of] + position * period + rng.integers(0, 600, recurring)
    oneoff = max(wanted - recurring, 0) if n else 0
    owner_one = rng.integers(0, max(n, 1), oneoff).astype(I32)
    date_one = now - _uniform(rng, cat.DAY, HISTORY, oneoff)
    owner = np.concatenate([subs["customer"][sub_of], owner_one])
    sub = np.concatenate([sub_of, np.full(oneoff, NONE, dtype=I32)])
    date = np.minimum(np.concatenate([date_rec, date_one]), now - 60)
    order = np.argsort(date, kind="stable")
    owner, sub, date = owner[order], sub[order], date[order]
    total_n = len(date)
    currency = customers["currency"][owner] if n else np.zeros(0, dtype=I8)
    has_sub = sub >= 0
    safe_sub = np.where(has_sub, sub, 0)
    prices = np.array([plan.prices for plan in cat.PLANS], dtype=I64)
    plan = subs["plan"][safe_sub] if m else np.zeros(total_n, dtype=I16)
    random_plan = rng.integers(0, len(cat.PLANS), total_n)
    plan = np.where(has_sub, plan, random_plan)
    quantity = np.where(
        has_sub, subs["quantity"][safe_sub] if m else 1, rng.integers(1, 4, total_n)
    )
    subtotal = prices[plan, currency] * quantity
    percent = np.array([c.percent for c in cat.COUPONS] + [0], dtype=I64)
    coupon = np.where(has_sub, subs["coupon"][safe_sub] if m else NONE, NONE)
    discount = subtotal * percent[coupon] // 100
    tax = (subtotal - discount) * np.array(cat.TAX_PERCENT, dtype=I64)[currency] // 100
    total = subtotal - discount + tax
    due = date + customers["net_terms"][owner].astype(I64) * cat.DAY if n else date
    roll = rng.random(total_n)
    recent = date > now - 45 * cat.DAY
    status = np.full(total_n, cat.INV_PAID, dtype=I8)
    unpaid = np.where(recent, roll >= 0.6, roll >= 0.93) & np.where(
        recent, roll < 0.85, roll < 0.96
    )
    partial = np.where(recent, (roll >= 0.85) & (roll < 0.93), roll >= 0.99)
    void = np.where(recent, roll >= 0.93, (roll >= 0.96) & (roll < 0.99))
    status[unpaid] = np.where(due[unpaid] > now, cat.INV_OPEN, cat.INV_OVERDUE)
    status[partial] = cat.INV_PARTIAL
    status[void] = cat.INV_VOID
    paid = np.where(status == cat.INV_PAID, total, 0)
    share = 0.2 + rng.random(total_n) * 0.6
    paid = np.where(status == cat.INV_PARTIAL, (total * share).astype(I64), paid)
    settle = np.minimum(date + _uniform(rng, 60, np.maximum(due - date, cat.DAY), total_n), now)
    paid_at = np.where(status == cat.INV_PAID, settle, NONE)
    voided_at = np.where(
        status == cat.INV_VOID,
        np.minimum(date + _uniform(rng, 60, 5 * cat.DAY, total_n), now),
        NONE,
    )
    touched = np.maximum(np.maximum(date, paid_at), voided_at)
    touched = np.where(
        status == cat.INV_PARTIAL, date + _uniform(rng, 60, now - date, total_n), touched
    )
    touched = np.where(status == cat.INV_OVERDUE, np.maximum(touched, due), touched)
    updated = np.minimum(touched + rng.integers(1, 120, total_n), now)
    updated = np.where(rng.random(total_n) < 0.02, NONE, updated)
    vendor = customers["vendor"][owner] if n else np.zeros(0, dtype=I8)
    site = customers["site"][owner] if n else np.zeros(0, dtype=I8)
    return {
        "customer": owner,
        "subscription": sub,
        "vendor": vendor,
        "site": site,
        "currency": currency,
        "plan": plan.astype(I16),
        "quantity": quantity.astype(I16),
        "date": date,
        "due": due,
        "subtotal": subtotal,
        "discount": discount,
        "tax": tax,
        "total": total,
        "paid": paid,
        "status": status,
        "paid_at": paid_at.astype(I64),
        "voided_at": voided_at.astype(I64),
        "created": date.copy(),
        "updated": updated,
        "deleted": rng.random(total_n) < 0.01,
    }


def _settle_customer_times(
    rng: np.random.Generator,
    customers: dict[str, Array],
    subs: dict[str, Array],
    invoices: dict[str, Array],
    now: int,
) -> None:
    """Makes every customer older than its subscriptions and invoices; sets updated_at."""
    created = customers["created"]
    np.minimum.at(created, subs["customer"], subs["created"] - 3_600)
    np.minimum.at(created, invoices["customer"], invoices["created"] - 3_600)
    n = len(created)
    updated = created + (rng.random(n) * (now - created)).astype(I64)
    updated = np.where(rng.random(n) < 0.02, NONE, updated)
    customers["updated"] = updated.astype(I64)
    subs_updated = subs["updated"]
    subs["updated"] = np.where(rng.random(len(subs_updated)) < 0.02, NONE, subs_updated)
