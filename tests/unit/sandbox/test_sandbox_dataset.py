"""The generated world: determinism, shape and coverage of the edge cases."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox import catalog as cat
from desktop.sandbox.dataset import World
from desktop.sandbox.ids import format_id, parse_id

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _world(seed: int = 3, size: int = 2_000, vendors: tuple[str, ...] = cat.VENDORS) -> World:
    return World(seed=seed, size=size, vendors=vendors, clock=ManualClock(NOW))


def test_same_seed_gives_same_data_and_other_seed_differs() -> None:
    a, b, c = _world(), _world(), _world(seed=4)
    for name in ("customers", "subscriptions", "invoices"):
        for column in getattr(a, name).column_names:
            assert np.array_equal(getattr(a, name).col(column), getattr(b, name).col(column))
    assert [a.email(r) for r in range(50)] == [b.email(r) for r in range(50)]
    assert not np.array_equal(a.invoices.col("total"), c.invoices.col("total"))


def test_counts_are_exact_per_customer_ratios() -> None:
    world = _world(size=1_000, vendors=("chargebee",))
    assert len(world.customers) == 1_000
    assert len(world.subscriptions) == 1_500
    assert len(world.invoices) == 5_000
    assert set(world.customers.col("vendor").tolist()) == {cat.VENDOR_CODE["chargebee"]}


def test_history_spans_24_months_before_now_and_covers_every_status() -> None:
    world = _world()
    inv = world.invoices
    assert inv.col("date").max() <= world.now
    assert inv.col("date").min() >= world.now - 731 * cat.DAY
    assert set(inv.col("status").tolist()) == set(range(len(cat.INV_STATUSES)))
    assert set(world.subscriptions.col("status").tolist()) == set(range(len(cat.SUB_STATUSES)))
    assert set(world.customers.col("currency").tolist()) == set(range(len(cat.CURRENCIES)))
    intervals = {cat.PLANS[p].interval for p in world.subscriptions.col("plan").tolist()}
    assert intervals == {0, 1, 2}
    assert (world.subscriptions.col("coupon") >= 0).any()
    assert (world.subscriptions.col("trial_end") >= 0).any()
    assert (world.customers.col("deleted")).any()
    assert (world.customers.col("updated") < 0).any()


def test_customers_after_their_records_and_paid_amounts_consistent() -> None:
    world = _world()
    inv = world.invoices
    created = world.customers.col("created")
    assert (created[inv.col("customer")] <= inv.col("date")).all()
    paid = inv.col("status") == cat.INV_PAID
    assert (inv.col("paid")[paid] == inv.col("total")[paid]).all()
    partial = inv.col("status") == cat.INV_PARTIAL
    assert (
        (inv.col("paid")[partial] > 0) & (inv.col("paid")[partial] < inv.col("total")[partial])
    ).all()
    jpy = inv.col("currency") == cat.CURRENCY_CODE["JPY"]
    assert jpy.any()


def test_edge_case_customers_exist() -> None:
    world = _world()
    rows = range(len(world.customers))
    assert any(world.first_name(r) is None and world.last_name(r) is None for r in rows)
    assert any(world.email(r) is None for r in rows)
    assert any(world.tenant_id(r) is None for r in rows)
    twins = [r for r in rows if world.customers.get("twin", r) >= 0]
    assert twins
    for row in twins:
        twin = world.customers.get("twin", row)
        assert world.tenant_id(row) == world.tenant_id(twin)
        assert world.customers.get("vendor", row) != world.customers.get("vendor", twin)


def test_ids_round_trip_for_every_vendor_and_kind() -> None:
    for vendor in cat.VENDORS:
        for kind in ("customer", "subscription", "invoice"):
            ids = {format_id(vendor, kind, row) for row in range(0, 200_000, 997)}
            assert len(ids) == len(range(0, 200_000, 997))
            for row in (0, 1, 12345, 199_999):
                assert parse_id(vendor, kind, format_id(vendor, kind, row)) == row


def test_crm_matches_some_customers_and_shares_some_emails() -> None:
    world = _world()
    crm = world.crm
    matched = [a for a in crm.accounts if a.billing_customer is not None]
    exact = [a for a in matched if a.name == world.company(a.billing_customer or 0)]
    assert matched
    assert exact
    assert len(exact) < len(matched)
    assert any(a.billing_customer is None for a in crm.accounts)
    emails = [c.email for c in crm.contacts if c.email]
    assert len(emails) > len(set(emails))
    assert any(c.billing_customer is None for c in crm.contacts)
    assert crm.users
    assert crm.views
    assert crm.deals
    assert {v.module for v in crm.views} == {"Accounts", "Contacts", "Deals"}


def test_truth_lists_match_counts() -> None:
    sandbox = Sandbox(size=300, seed=5, clock=ManualClock(NOW))
    counts = {v: sandbox.truth.counts(v) for v in cat.VENDORS}
    assert sum(c["customers"] for c in counts.values()) == sum(
        1 for d in sandbox.world.customers.col("deleted").tolist() if not d
    )
    subs = sandbox.truth.subscriptions("chargebee")
    assert all(s.amount_minor == s.unit_price_minor * s.quantity for s in subs)
    plans = sandbox.truth.plans()
    assert len(plans) == 12
    assert plans[0].prices["JPY"] > 0
