"""MRR, ARR and movements against a hand-computed fixture (amounts in cents).

Month-end MRR per account, derived from subscription dates (USD; EUR at 1.10):

    account  April end  May end  June now   why
    A          10000     10000    10000     steady since 2025
    B           5000      8000     8000     second subscription from 10 May → expansion 3000
    C           4000         0        0     cancelled 20 May → churn 4000
    D              0      2000     2000     first subscription 5 May → new 2000
    E              0      2500     2500     paid in 2025 (1600, cancelled Dec) → reactivation 2500
    F           7000      6000     6000     one of two subscriptions ended 3 May → contraction 1000
    G              0         0        0     trial: never counts
    H          10000     10000    10000     yearly 1,200.00 → 100.00 a month
    I           1100      1100     1100     10.00 EUR × 1.10
    J              0         0      700     non-renewing from 3 June → new 700 in June
    K            300       300      300     unpaid (past due) still counts
    M              0         0        0     9.99 CHF, no CHF rate: left out and reported
    total      37400     39900    40600

May: start 37400, end 39900; new 2000, expansion 3000, reactivation 2500, contraction 1000,
churn 4000 (net +2500). Paying accounts 7 → 8, one churned: customer churn 1/7.
Gross MRR churn (4000+1000)/37400; net MRR churn (5000−3000)/37400; NRR 35400/37400.
12-month NRR: accounts paying at the end of May 2025 (A B C E F H I K) had
10000+5000+4000+1600+6000+10000+1100+300 = 38000 then and 37900 at the end of May 2026.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from desktop.errors import ConfigurationError
from desktop.health import (
    CurrencySettings,
    account_mrr,
    month_metrics,
    mrr_movements,
    save_currency_settings,
)
from desktop.storage.database import Database
from tests.unit.health.builders import World, at

NOW = at("2026-06-15 12:00")


def clock() -> datetime:
    return NOW


def build(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        save_currency_settings(session, CurrencySettings("USD", {"EUR": Decimal("1.10")}))
        w = World(session)
        acc = {name: w.account(name) for name in "ABCDEFGHIJKM"}
        ids = {name: account.id for name, account in acc.items()}
        w.subscription(acc["A"], "active", 10000, "2025-01-10")
        w.subscription(acc["B"], "active", 5000, "2025-02-01")
        w.subscription(acc["B"], "active", 3000, "2026-05-10")
        w.subscription(acc["C"], "cancelled", 4000, "2025-03-01", cancelled="2026-05-20")
        w.subscription(acc["D"], "active", 2000, "2026-05-05")
        w.subscription(acc["E"], "cancelled", 1600, "2025-01-01", cancelled="2025-12-15")
        w.subscription(acc["E"], "active", 2500, "2026-05-02")
        w.subscription(acc["F"], "active", 6000, "2025-01-01")
        w.subscription(acc["F"], "cancelled", 1000, "2025-06-01", cancelled="2026-05-03")
        w.subscription(
            acc["G"], "trial", 0, "2026-06-01", amount=9900, trial_ends_at=at("2026-06-20")
        )
        w.subscription(acc["H"], "active", 10000, "2024-01-01", unit="year", amount=120000)
        w.subscription(acc["I"], "active", 1000, "2025-01-01", currency="EUR")
        w.subscription(acc["J"], "non_renewing", 700, "2026-06-03")
        w.subscription(acc["K"], "unpaid", 300, "2024-05-01")
        w.subscription(acc["M"], "active", 999, "2025-01-01", currency="CHF")
    return ids


def test_closed_month_movements_match_the_hand_computation(database: Database) -> None:
    build(database)
    may = month_metrics(database, date(2026, 5, 1), clock=clock)
    m = may.movements
    assert (m.start_mrr_minor, m.mrr_minor) == (37400, 39900)
    assert (m.new_minor, m.expansion_minor, m.reactivation_minor) == (2000, 3000, 2500)
    assert (m.contraction_minor, m.churn_minor) == (1000, 4000)
    assert m.net_new_minor == 2500 == m.mrr_minor - m.start_mrr_minor
    assert (m.accounts_start, m.accounts_end) == (7, 8)
    assert (m.new_accounts, m.reactivated_accounts, m.churned_accounts) == (1, 1, 1)
    assert may.customer_churn_rate == pytest.approx(1 / 7)
    assert may.gross_mrr_churn_rate == pytest.approx(5000 / 37400)
    assert may.net_mrr_churn_rate == pytest.approx(2000 / 37400)
    assert may.net_revenue_retention == pytest.approx(35400 / 37400)
    assert may.net_revenue_retention_12m == pytest.approx(37900 / 38000)
    assert may.arr_minor == 12 * 39900
    assert may.as_of == at("2026-06-01")


def test_current_month_uses_statuses_now(database: Database) -> None:
    build(database)
    june = month_metrics(database, clock=clock)
    assert june.month == date(2026, 6, 1)
    assert june.as_of == NOW
    assert june.mrr_minor == 40600
    assert june.arr_minor == 487200
    assert june.movements.new_minor == 700
    assert june.movements.churn_minor == 0


def test_missing_rate_is_left_out_and_said_never_one_to_one(database: Database) -> None:
    build(database)
    june = month_metrics(database, clock=clock)
    assert [(e.currency, e.amount_minor, e.records) for e in june.excluded] == [("CHF", 999, 1)]
    assert any("CHF" in note and "no exchange rate" in note for note in june.notes)


def test_reporting_in_another_currency_uses_cross_rates(database: Database) -> None:
    build(database)
    june = month_metrics(database, currency="EUR", clock=clock)
    # USD amounts ÷ 1.10, EUR as is: (40600 − 1100) / 1.1 + 1000, rounded per account
    expected = sum(round(v / 1.1) for v in (10000, 8000, 2000, 2500, 6000, 10000, 700, 300)) + 1000
    assert june.currency == "EUR"
    assert june.mrr_minor == expected


def test_future_month_is_refused(database: Database) -> None:
    build(database)
    with pytest.raises(ConfigurationError, match="future"):
        month_metrics(database, date(2026, 7, 1), clock=clock)


def test_series_for_charts_ends_with_the_current_month(database: Database) -> None:
    build(database)
    series = mrr_movements(database, 24, clock=clock)
    assert len(series.months) == 24
    assert series.months[-1] == date(2026, 6, 1)
    assert series.months[0] == date(2024, 7, 1)
    assert list(series.mrr[-3:]) == [37400, 39900, 40600]
    assert series.expansion[-2] == 3000
    assert series.month_epoch[-1] == at("2026-06-01").timestamp()
    assert all(len(a) == 24 for a in (series.new, series.churn, series.reactivation))


def test_account_mrr_lists_subscriptions_and_history(database: Database) -> None:
    ids = build(database)
    detail = account_mrr(database, ids["B"], months=3, clock=clock)
    assert detail.mrr_minor == 8000
    assert detail.arr_minor == 96000
    assert list(detail.history) == [5000, 8000, 8000]
    assert sorted(s.mrr_minor for s in detail.subscriptions) == [3000, 5000]
    chf = account_mrr(database, ids["M"], months=1, clock=clock)
    assert chf.mrr_minor == 0
    assert chf.excluded[0].currency == "CHF"
