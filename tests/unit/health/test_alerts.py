"""Risk alerts: the shipped example rules, no duplicates, resolution, acknowledge, snooze."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from desktop.errors import ConfigurationError
from desktop.health import (
    AlertState,
    AlertView,
    ConditionError,
    CurrencySettings,
    acknowledge_alert,
    evaluate_alerts,
    list_alerts,
    list_rules,
    recompute_health,
    save_currency_settings,
    save_rule,
    set_rule_enabled,
    snooze_alert,
)
from desktop.storage.database import Database
from desktop.storage.models import Account, Invoice
from desktop.timeutil import Clock
from tests.unit.health.builders import World, at

NOW = at("2026-06-15 12:00")
TODAY = NOW.date()


def clock_at(value: datetime) -> Clock:
    return lambda: value


def build(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        save_currency_settings(session, CurrencySettings("USD", {"EUR": Decimal("1.10")}))
        w = World(session)
        names = ("Late16", "Late15", "Owes1200", "Owes900", "OwesEur", "Leaving20", "Leaving40",
                 "TrialNoCard", "TrialCard", "TrialLater")  # fmt: skip
        acc = {name: w.account(name) for name in names}
        w.invoice(acc["Late16"], "overdue", 500, TODAY - timedelta(days=16))
        w.invoice(acc["Late15"], "overdue", 500, TODAY - timedelta(days=15))
        w.invoice(acc["Owes1200"], "open", 120000, TODAY + timedelta(days=5))
        w.invoice(acc["Owes900"], "open", 90000, TODAY + timedelta(days=5))
        w.invoice(acc["OwesEur"], "open", 100000, TODAY + timedelta(days=5), currency="EUR")
        w.subscription(acc["Leaving20"], "non_renewing", 1000, "2025-01-01",
                       current_term_ends_at=NOW + timedelta(days=20))  # fmt: skip
        w.subscription(acc["Leaving40"], "non_renewing", 1000, "2025-01-01",
                       current_term_ends_at=NOW + timedelta(days=40))  # fmt: skip
        w.subscription(acc["TrialNoCard"], "trial", 0, "2026-06-01",
                       trial_ends_at=NOW + timedelta(days=5), has_payment_method=False)  # fmt: skip
        w.subscription(acc["TrialCard"], "trial", 0, "2026-06-01",
                       trial_ends_at=NOW + timedelta(days=5), has_payment_method=True)  # fmt: skip
        w.subscription(acc["TrialLater"], "trial", 0, "2026-06-01",
                       trial_ends_at=NOW + timedelta(days=10))  # fmt: skip
        return {name: account.id for name, account in acc.items()}


def _by_rule(alerts: Sequence[AlertView]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for alert in alerts:
        found.setdefault(alert.rule_name, set()).add(alert.account_name)
    return found


def test_default_rules_express_the_four_examples(database: Database) -> None:
    build(database)
    recompute_health(database, clock=clock_at(NOW))  # account totals for "amount due"
    raised = evaluate_alerts(database, clock_at(NOW))
    assert _by_rule(raised) == {
        "Invoice overdue more than 15 days": {"Late16"},
        "Amount due over 1,000": {"Owes1200", "OwesEur"},  # 1,000 EUR × 1.10 = 1,100 USD
        "Non-renewing, renewal within 30 days": {"Leaving20"},
        "Trial ends within 7 days, no payment method": {"TrialNoCard"},
    }
    late = next(a for a in raised if a.account_name == "Late16")
    assert late.reason.startswith("Late16: invoice INV-")
    assert "16 days overdue" in late.reason
    assert "Invoice overdue more than 15 days" in late.reason
    assert late.state is AlertState.ACTIVE
    assert {rule.name for rule in list_rules(database)} >= set(_by_rule(raised))


def test_an_alert_is_not_repeated_and_resolves_when_untrue(database: Database) -> None:
    ids = build(database)
    first = evaluate_alerts(database, clock_at(NOW))
    assert evaluate_alerts(database, clock_at(NOW + timedelta(hours=1))) == []
    with database.transaction() as session:
        session.execute(
            update(Invoice)
            .where(Invoice.account_id == ids["Late16"])
            .values(status="paid", amount_due_minor=0)
        )
    assert evaluate_alerts(database, clock_at(NOW + timedelta(hours=2))) == []
    open_now = list_alerts(database, clock=clock_at(NOW), states=tuple(AlertState))
    late = [a for a in open_now if a.account_name == "Late16"]
    assert len(late) == 1
    assert late[0].state is AlertState.RESOLVED
    assert len(first) == len([a for a in open_now if a.state is AlertState.ACTIVE]) + 1


def test_acknowledge_and_snooze(database: Database) -> None:
    build(database)
    raised = evaluate_alerts(database, clock_at(NOW))
    one, two = raised[0], raised[1]
    acknowledged = acknowledge_alert(database, one.id, clock_at(NOW))
    assert acknowledged.state is AlertState.ACKNOWLEDGED
    snoozed = snooze_alert(database, two.id, NOW + timedelta(days=2), clock_at(NOW))
    assert snoozed.state is AlertState.SNOOZED
    active = {a.id for a in list_alerts(database, clock=clock_at(NOW))}
    assert one.id not in active
    assert two.id not in active
    # still true, so not raised again while acknowledged or snoozed
    assert evaluate_alerts(database, clock_at(NOW + timedelta(hours=1))) == []
    later = {a.id for a in list_alerts(database, clock=clock_at(NOW + timedelta(days=3)))}
    assert two.id in later
    with pytest.raises(ConfigurationError, match="future"):
        snooze_alert(database, two.id, NOW - timedelta(days=1), clock_at(NOW))


def test_disabling_a_rule_resolves_its_alerts(database: Database) -> None:
    build(database)
    evaluate_alerts(database, clock_at(NOW))
    rule = next(r for r in list_rules(database) if r.name.startswith("Invoice overdue"))
    set_rule_enabled(database, rule.id, False)
    evaluate_alerts(database, clock_at(NOW))
    assert not [a for a in list_alerts(database, clock=clock_at(NOW)) if a.rule_id == rule.id]


def test_custom_rules_and_errors(database: Database) -> None:
    ids = build(database)
    with pytest.raises(ConditionError, match="not both"):
        save_rule(
            database,
            name="Mixed",
            condition={
                "all": [
                    {"field": "invoice.status", "op": "is", "value": "overdue"},
                    {"field": "subscription.status", "op": "is", "value": "active"},
                ]
            },
        )
    with pytest.raises(ConditionError, match="operator"):
        save_rule(
            database, name="Bad", condition={"field": "invoice.status", "op": "gt", "value": 1}
        )
    save_rule(
        database,
        name="Big CHF invoice",
        condition={
            "field": "invoice.amount_due",
            "op": "gt",
            "value": {"amount": 5, "currency": "CHF"},
        },
    )
    save_rule(
        database,
        name="Due soon",
        condition={
            "all": [
                {"field": "invoice.status", "op": "is", "value": "open"},
                {"field": "invoice.due_on", "op": "within_next_days", "value": 7},
                {
                    "field": "invoice.amount_due",
                    "op": "gte",
                    "value": {"amount": "900", "currency": "USD"},
                },
            ]
        },
    )
    raised = evaluate_alerts(database, clock_at(NOW))
    due_soon = {a.account_id for a in raised if a.rule_name == "Due soon"}
    assert due_soon == {ids["Owes1200"], ids["Owes900"], ids["OwesEur"]}
    rules = {r.name: r for r in list_rules(database)}
    # no CHF rate: the rule cannot compare and says so; the other rules still ran
    assert not [a for a in raised if a.rule_name == "Big CHF invoice"]
    assert "No exchange rate from CHF to USD" in (rules["Big CHF invoice"].last_error or "")
    assert rules["Due soon"].last_error is None


def test_a_deleted_account_takes_its_alerts(database: Database) -> None:
    ids = build(database)
    evaluate_alerts(database, clock_at(NOW))
    with database.transaction() as session:
        session.delete(session.get_one(Account, ids["Late16"]))
    assert not [
        a for a in list_alerts(database, clock=clock_at(NOW)) if a.account_id == ids["Late16"]
    ]
