"""Segments: live count and MRR, account ids, CSV export, saved segments."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from desktop.errors import ConfigurationError
from desktop.health import (
    ConditionError,
    account_ids,
    count_and_mrr,
    delete_segment,
    describe,
    export_csv,
    list_segments,
    parse_condition,
    recompute_health,
    save_segment,
)
from desktop.storage.database import Database
from tests.unit.health.builders import World, at

NOW = at("2026-06-15 12:00")


def clock() -> datetime:
    return NOW


def build(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        w = World(session)
        other = w.add_connection("Zoho Billing EU")
        a, b, c, d = (
            w.account("Alpha"),
            w.account("Beta"),
            w.account("Gamma"),
            w.account("Delta", other),
        )
        w.subscription(a, "active", 50000, "2025-01-01", plan_name="Pro", quantity=10)
        w.subscription(b, "active", 20000, "2025-01-01", plan_name="Starter", quantity=2)
        w.subscription(b, "cancelled", 9000, "2025-01-01", cancelled="2026-01-01", plan_name="Pro")
        w.subscription(c, "non_renewing", 7000, "2025-01-01", plan_name="pro", quantity=1)
        w.invoice(c, "overdue", 30000, NOW.date() - timedelta(days=40))
        w.subscription(d, "trial", 0, "2026-06-01", plan_name="Pro")
        ids = {"Alpha": a.id, "Beta": b.id, "Gamma": c.id, "Delta": d.id, "other": other.id}
    recompute_health(database, clock=clock)
    return ids


def test_live_count_and_mrr(database: Database) -> None:
    ids = build(database)
    pro = {"field": "subscription.plan_name", "op": "is", "value": "PRO"}  # case-insensitive
    preview = count_and_mrr(database, pro, clock)
    assert (preview.accounts, preview.mrr_minor, preview.currency) == (
        4,
        50000 + 20000 + 7000,
        "USD",
    )
    assert account_ids(database, pro, clock) == sorted(
        ids[n] for n in ("Alpha", "Beta", "Gamma", "Delta")
    )
    rich = {"field": "account.mrr", "op": "gte", "value": {"amount": "200", "currency": "USD"}}
    assert account_ids(database, rich, clock) == [ids["Alpha"], ids["Beta"]]


def test_conditions_on_one_subscription_hold_for_the_same_subscription(database: Database) -> None:
    ids = build(database)
    same = {
        "all": [
            {"field": "subscription.plan_name", "op": "is", "value": "Pro"},
            {"field": "subscription.status", "op": "is", "value": "active"},
        ]
    }
    # Beta has a Pro subscription (cancelled) and an active one (Starter): not the same one
    assert account_ids(database, same, clock) == [ids["Alpha"]]


def test_band_invoice_status_quantity_and_connection(database: Database) -> None:
    ids = build(database)
    assert account_ids(
        database, {"field": "invoice.status", "op": "is", "value": "overdue"}, clock
    ) == [ids["Gamma"]]
    at_risk = {"field": "account.health_band", "op": "in", "value": ["amber", "red"]}
    assert ids["Gamma"] in account_ids(database, at_risk, clock)
    assert ids["Alpha"] not in account_ids(database, at_risk, clock)
    many = {"field": "subscription.quantity", "op": "gt", "value": 5}
    assert account_ids(database, many, clock) == [ids["Alpha"]]
    eu = {"field": "account.connection", "op": "in", "value": [ids["other"]]}
    assert account_ids(database, eu, clock) == [ids["Delta"]]
    either = {"any": [many, eu]}
    assert account_ids(database, either, clock) == [ids["Alpha"], ids["Delta"]]
    paid_nothing = {"field": "account.amount_paid", "op": "lt", "value": 1}
    assert len(account_ids(database, paid_nothing, clock)) == 4


def test_csv_export(database: Database) -> None:
    ids = build(database)
    out = io.StringIO()
    rows = export_csv(
        database, {"field": "subscription.plan_name", "op": "is", "value": "pro"}, out, clock
    )
    assert rows == 4
    parsed = list(csv.DictReader(io.StringIO(out.getvalue())))
    alpha = next(r for r in parsed if r["account_id"] == str(ids["Alpha"]))
    assert alpha["name"] == "Alpha"
    assert alpha["mrr"] == "500.00"
    assert alpha["currency"] == "USD"
    assert alpha["health_band"] == "green"


def test_saved_segments(database: Database) -> None:
    build(database)
    saved = save_segment(
        database,
        name="Pro accounts",
        condition={"field": "subscription.plan_name", "op": "is", "value": "Pro"},
    )
    assert saved.summary == "Plan name is Pro"
    with pytest.raises(ConfigurationError, match="already exists"):
        save_segment(
            database,
            name="Pro accounts",
            condition={"field": "account.mrr", "op": "gt", "value": 1},
        )
    with pytest.raises(ConditionError, match="no field"):
        save_segment(
            database, name="Broken", condition={"field": "account.colour", "op": "is", "value": "x"}
        )
    assert [s.name for s in list_segments(database)] == ["Pro accounts"]
    delete_segment(database, saved.id)
    assert list_segments(database) == []


def test_describe_reads_as_a_phrase() -> None:
    condition = parse_condition(
        {
            "all": [
                {"field": "subscription.status", "op": "is", "value": "trial"},
                {"field": "subscription.trial_ends_at", "op": "within_next_days", "value": 7},
                {"field": "subscription.has_payment_method", "op": "is", "value": False},
            ]
        }
    )
    assert describe(condition) == (
        "Subscription status is trial and Trial ends on is within the next 7 days and "
        "Has a payment method is no"
    )
