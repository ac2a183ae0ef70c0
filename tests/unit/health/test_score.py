"""The financial health score: components, weights, bands, and the daily record."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from desktop.errors import ConfigurationError
from desktop.health import (
    HealthSettings,
    ScoreWeights,
    band_history,
    load_health_settings,
    receivables_ageing,
    recompute_health,
    save_health_settings,
    score_history,
)
from desktop.health.score import ScoreInputs, account_states, compute_scores
from desktop.storage.database import Database
from desktop.storage.models import Account, AccountHealth, HealthScore
from tests.unit.health.builders import World, at

NOW = at("2026-06-15 12:00")
TODAY = NOW.date()


def inputs(**values: list[object]) -> ScoreInputs:
    n = len(next(iter(values.values())))
    defaults: dict[str, list[object]] = {
        "overdue_invoices": [0] * n,
        "days_overdue": [0] * n,
        "amount_due": [0] * n,
        "mrr": [10000] * n,
        "mrr_then": [10000] * n,
        "state": ["active"] * n,
    }
    defaults.update(values)
    return ScoreInputs(
        **{
            key: np.array(value, dtype=object if key == "state" else np.int64)
            for key, value in defaults.items()
        }
    )


def test_a_healthy_account_is_green() -> None:
    # 35×100 + 25×100 + 25×100 + 15×70 (flat MRR) = 9550 → 95.5 → 96
    result = compute_scores(inputs(mrr=[10000]), HealthSettings())
    assert result.score.tolist() == [96]
    assert result.band.tolist() == ["green"]
    assert result.trend_points.tolist() == [70]


def test_overdue_component_by_days_and_count() -> None:
    result = compute_scores(
        inputs(overdue_invoices=[1, 2, 1], days_overdue=[45, 45, 120]), HealthSettings()
    )
    # 100 − 100 × 45/90 = 50; one more invoice costs 10; 120 days is past the 90-day floor
    assert result.overdue_points.tolist() == [50, 40, 0]


def test_amount_due_component_against_mrr() -> None:
    result = compute_scores(
        inputs(amount_due=[0, 10000, 20000, 30000, 500], mrr=[10000, 10000, 10000, 10000, 0]),
        HealthSettings(),
    )
    # up to one month of MRR costs nothing; 2 months → 50; 3 months → 0; due with no MRR → 0
    assert result.amount_due_points.tolist() == [100, 100, 50, 0, 0]


def test_trend_component() -> None:
    result = compute_scores(
        inputs(mrr=[12000, 7500, 500, 0, 10000], mrr_then=[10000, 10000, 0, 0, 10000]),
        HealthSettings(),
    )
    # +20 % → 100; −25 % → 70 × (1 − 0.5) = 35; new MRR → 100; none → flat 70; flat → 70
    assert result.trend_points.tolist() == [100, 35, 100, 70, 70]


def test_weights_and_bands_are_tunable() -> None:
    settings = HealthSettings(
        weights=ScoreWeights(overdue=1, amount_due=0, subscription_state=0, mrr_trend=0),
        green_from=80,
        amber_from=50,
    )
    result = compute_scores(inputs(overdue_invoices=[1, 1, 1], days_overdue=[9, 36, 72]), settings)
    assert result.score.tolist() == [90, 60, 20]
    assert result.band.tolist() == ["green", "amber", "red"]


def test_invalid_settings_are_refused_with_a_sentence(database: Database) -> None:
    with database.transaction() as session, pytest.raises(ConfigurationError, match="amber"):
        save_health_settings(session, HealthSettings(green_from=40, amber_from=60))
    with database.transaction() as session:
        save_health_settings(session, replace(HealthSettings(), green_from=75))
    with database.session() as session:
        assert load_health_settings(session).green_from == 75


def test_account_states_pick_the_worst_current_subscription() -> None:
    now = NOW.timestamp()
    day = 86400.0
    state = account_states(
        7,
        account=np.array([1, 1, 2, 3, 3, 4, 5], dtype=np.int64),
        status=np.array(
            ["active", "non_renewing", "cancelled", "cancelled", "active", "trial", "trial"],
            dtype=object,
        ),
        trial_end=np.array([np.nan] * 5 + [now + 3 * day, now + 3 * day]),
        has_payment_method=np.array([True, True, False, False, True, False, True]),
        now_epoch=now,
        settings=HealthSettings(),
    )
    assert state.tolist() == [
        "none", "non_renewing", "cancelled", "active", "trial_ending", "trial", "none",
    ]  # fmt: skip


def build(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        w = World(session)
        good, late, gone = w.account("Good"), w.account("Late"), w.account("Gone")
        w.subscription(good, "active", 10000, "2025-01-01")
        w.subscription(late, "active", 10000, "2025-01-01")
        w.invoice(late, "overdue", 30000, TODAY - timedelta(days=45))
        w.invoice(late, "open", 5000, TODAY + timedelta(days=10))
        w.invoice(late, "void", 99999, TODAY - timedelta(days=200))
        w.subscription(gone, "cancelled", 4000, "2025-01-01", cancelled="2026-04-20")
        return {"good": good.id, "late": late.id, "gone": gone.id}


def test_recompute_scores_and_records_the_day(database: Database) -> None:
    ids = build(database)
    result = recompute_health(database, clock=lambda: NOW)
    assert result.accounts == 3
    assert result.changed_scores == 3
    with database.session() as session:
        rows = {h.account_id: h for h in session.scalars(select(AccountHealth))}
    late = rows[ids["late"]]
    # due 350.00 (void ignored) against 100.00 MRR → 3.5 months → 0; overdue 45 days → 50
    assert (late.amount_due_minor, late.overdue_minor, late.overdue_invoices) == (35000, 30000, 1)
    assert late.days_overdue == 45
    assert (late.overdue_points, late.amount_due_points, late.state_points) == (50, 0, 100)
    # 35×50 + 25×0 + 25×100 + 15×70 = 5300 → 53 → amber
    assert (late.score, late.band) == (53, "amber")
    gone = rows[ids["gone"]]
    assert gone.state == "cancelled"
    assert gone.trend_points == 0  # 40.00 at the end of March, nothing now: −100 %
    # 35×100 + 25×100 + 25×0 + 15×0 = 6000 → 60 → amber
    assert (gone.score, gone.band) == (60, "amber")
    assert rows[ids["good"]].band == "green"
    assert result.bands == {"green": 1, "amber": 2, "red": 0}


def test_history_is_written_when_a_score_changes(database: Database) -> None:
    ids = build(database)
    recompute_health(database, clock=lambda: NOW)
    again = recompute_health(database, clock=lambda: NOW + timedelta(hours=1))
    assert again.changed_scores == 0
    with database.transaction() as session:
        good = session.get_one(Account, ids["good"])
        World(session).invoice(good, "overdue", 50000, TODAY - timedelta(days=60))
    tomorrow = NOW + timedelta(days=1)
    later = recompute_health(database, clock=lambda: tomorrow)
    # Good has a new overdue invoice; Late's invoice is one day later (46 days: 49 points)
    assert later.changed_scores == 2
    with database.session() as session:
        days = session.scalars(
            select(HealthScore.day)
            .where(HealthScore.account_id == ids["good"])
            .order_by(HealthScore.day)
        ).all()
    assert days == [TODAY, TODAY + timedelta(days=1)]
    trend = score_history(database, ids["good"], days=3, clock=lambda: tomorrow)
    assert trend.score[0] == -1  # before the first record
    assert trend.score[1] > trend.score[2]
    assert trend.band[2] in ("amber", "red")
    bands = band_history(database, clock=lambda: tomorrow)
    assert bands.days.tolist() == [
        datetime(2026, 6, 15, tzinfo=UTC).timestamp(),
        datetime(2026, 6, 16, tzinfo=UTC).timestamp(),
    ]
    assert bands.green.tolist() == [1, 0]
    assert bands.currency == "USD"


def test_receivables_ageing_buckets(database: Database) -> None:
    build(database)
    ageing = receivables_ageing(database, clock=lambda: NOW)
    assert ageing.labels == ("current", "1–30", "31–60", "61–90", "over 90")
    assert ageing.amount.tolist() == [5000, 0, 30000, 0, 0]
    assert ageing.invoices.tolist() == [1, 0, 1, 0, 0]
    assert date(2026, 6, 15) == TODAY
