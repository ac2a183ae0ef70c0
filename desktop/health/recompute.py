"""Recomputing every account's money totals and health score, set-based, in one transaction.

Run it after every sync (and after changing the currency or score settings). It reads
column arrays with a handful of ``GROUP BY`` queries, scores in numpy, and writes:

* ``account_health`` — one row per account, replaced wholesale;
* ``health_scores`` — today's row for each account whose score or a component changed
  (the history is a step series: flat between rows);
* ``health_days`` — today's band counts and total MRR;
* ``mrr_snapshots`` — this month's MRR per account and currency (exact movements later).

Money totals follow the CustomerSuccessBox invoice rules: *amount due* is the sum of
``amount_due`` over open, overdue and partially paid invoices (void and draft never
count); an invoice is *overdue* when it is one of those with something still due and its
due date is before today (UTC). The total *paid* needs every invoice, so it is not kept
here: conditions on it aggregate invoices when they run (:mod:`desktop.health.conditions`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Table, delete, insert, select
from sqlalchemy.orm import Session

from desktop.health.bulk import bind_value, fetch_rows, insert_rows, write_changes
from desktop.health.mrr import (
    MonthMetrics,
    MrrModel,
    _column,
    _factors,
    columns,
    excluded_by_currency,
    metrics_for,
)
from desktop.health.rates import Converter, ExcludedAmount
from desktop.health.score import ScoreInputs, account_states, compute_scores
from desktop.health.settings import (
    HealthSettings,
    load_currency_settings,
    load_health_settings,
    reporting_currency,
)
from desktop.health.sql import add_months, day_number, to_day_number
from desktop.jobs import JobContext
from desktop.storage.database import Database
from desktop.storage.models import (
    Account,
    AccountHealth,
    Base,
    HealthDay,
    HealthScore,
    Invoice,
    MrrSnapshot,
)
from desktop.timeutil import Clock, utc_now

#: Invoice statuses with money still to collect.
UNPAID_STATUSES: tuple[str, ...] = ("open", "overdue", "partially_paid")
#: Invoice statuses that never count (CustomerSuccessBox: "excluding Void/Draft").
IGNORED_INVOICE_STATUSES: tuple[str, ...] = ("void", "draft")

_STEPS = 5
_SCORE_WIDTH = 7  # account_id, score, band and the four components


@dataclass(frozen=True)
class RecomputeResult:
    """What a recompute did.

    Attributes:
        accounts: accounts scored.
        currency: the reporting currency used.
        bands: accounts per band (``{"green": …, "amber": …, "red": …}``).
        changed_scores: accounts whose score or a component changed (history rows written).
        metrics: the current month's metrics.
        excluded_due: amounts due left out for lack of an exchange rate.
        notes: sentences to show with the result.
        seconds: how long it took.
    """

    accounts: int
    currency: str
    bands: dict[str, int]
    changed_scores: int
    metrics: MonthMetrics
    excluded_due: tuple[ExcludedAmount, ...]
    notes: tuple[str, ...]
    seconds: float


@dataclass
class _InvoiceTotals:
    due: npt.NDArray[np.int64]
    overdue: npt.NDArray[np.int64]
    overdue_count: npt.NDArray[np.int64]
    days_overdue: npt.NDArray[np.int64]
    incomplete: npt.NDArray[np.bool_]
    excluded: list[ExcludedAmount]


def _invoice_totals(
    connection: Connection, converter: Converter, size: int, today: date
) -> _InvoiceTotals:
    """Amount due, overdue and paid per account, converted (see the module docstring)."""
    dialect = connection.dialect.name
    i = Invoice
    live = (i.deleted_at.is_(None), i.account_id.is_not(None))
    # Only unpaid invoices: few rows, found through the status index, summed in numpy.
    unpaid = fetch_rows(
        connection,
        select(i.account_id, i.currency, i.amount_due_minor, day_number(i.due_on, dialect)).where(
            i.status.in_(UNPAID_STATUSES), i.amount_due_minor > 0, *live
        ),
    )
    cols = columns(unpaid, 4)
    account = np.array(cols[0], dtype=np.int64)
    currency = np.array([str(c).upper() if c else None for c in cols[1]], dtype=object)
    due = np.array(cols[2], dtype=float)
    due_day = np.array(cols[3], dtype=float)
    factors = _factors(converter, currency)
    known = ~np.isnan(factors)
    converted = np.where(known, due * np.nan_to_num(factors), 0.0)
    overdue = due_day < to_day_number(today)  # NaN (no due date) compares False

    def per_account(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.rint(np.bincount(account, weights=values, minlength=size)).astype(np.int64)

    oldest = np.full(size, np.inf)
    np.minimum.at(oldest, account[overdue], due_day[overdue])
    days = np.where(np.isinf(oldest), 0, to_day_number(today) - oldest).astype(np.int64)
    incomplete = np.zeros(size, dtype=bool)
    incomplete[account[~known]] = True
    return _InvoiceTotals(
        due=per_account(converted),
        overdue=per_account(np.where(overdue, converted, 0.0)),
        overdue_count=np.bincount(account[overdue], minlength=size).astype(np.int64),
        days_overdue=days,
        incomplete=incomplete,
        excluded=excluded_by_currency(currency, due, factors),
    )


def _write_snapshots(connection: Connection, model: MrrModel, month: date) -> None:
    """Records this month's MRR per account and currency (only what changed is written)."""
    frame = model.frame
    counted = frame.counted & (frame.plan_mrr > 0)
    rows: list[tuple[Any, ...]] = []
    if counted.any():
        currency = np.array([c or "XXX" for c in frame.currency[counted]], dtype=object)
        codes, code_index = np.unique(currency.astype(str), return_inverse=True)
        keys = frame.account[counted] * len(codes) + code_index
        unique_keys, inverse = np.unique(keys, return_inverse=True)
        sums = np.bincount(inverse, weights=frame.plan_mrr[counted])
        names = [str(code) for code in codes]
        rows = [
            (key // len(codes), names[key % len(codes)], round(value))
            for key, value in zip(unique_keys.tolist(), sums.tolist(), strict=True)
        ]
    write_changes(
        connection,
        _table(MrrSnapshot),
        ("account_id", "currency", "mrr_minor"),
        rows,
        scope=MrrSnapshot.month == month,
        constants={"month": month},
    )


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def recompute_health(
    database: Database,
    *,
    clock: Clock = utc_now,
    context: JobContext | None = None,
    settings: HealthSettings | None = None,
) -> RecomputeResult:
    """Recomputes every account's totals, score and band, and this month's metrics.

    One transaction: a failure or a cancel leaves the previous results in place.

    Args:
        database: the workspace.
        clock: what "now" is (today is its UTC date).
        context: progress and cancel (checked between steps).
        settings: score settings to use instead of the stored ones (for previews).
    """
    started = time.perf_counter()
    job = context or JobContext()
    now: datetime = clock()
    today = now.date()
    month = date(today.year, today.month, 1)
    with database.engine.begin() as connection:
        with Session(bind=connection) as session:
            currency_settings = load_currency_settings(session)
            target = reporting_currency(session, currency_settings)
            health_settings = settings or load_health_settings(session)
        converter = Converter(currency_settings, target)
        job.progress(0, _STEPS, "Reading subscriptions")
        model = MrrModel.open(connection, converter, now)
        size = model.size
        account_ids = _column(fetch_rows(connection, select(Account.id)), 0, np.int64)
        job.cancel.raise_if_cancelled()

        job.progress(1, _STEPS, "Reading invoices")
        invoices = _invoice_totals(connection, converter, size, today)
        job.cancel.raise_if_cancelled()

        job.progress(2, _STEPS, "Scoring accounts")
        mrr_now = model.current()
        mrr_then = model.at_month_end(add_months(month, -health_settings.trend_months))
        frame = model.frame
        states = account_states(
            size,
            frame.account,
            frame.status,
            frame.trial_end,
            frame.has_payment_method,
            now.timestamp(),
            health_settings,
        )
        result = compute_scores(
            ScoreInputs(
                overdue_invoices=invoices.overdue_count,
                days_overdue=invoices.days_overdue,
                amount_due=invoices.due,
                mrr=mrr_now,
                mrr_then=mrr_then,
                state=states,
            ),
            health_settings,
        )
        metrics = metrics_for(model, month)
        mrr_incomplete = np.zeros(size, dtype=bool)
        missing = frame.counted & np.isnan(_factors(converter, frame.currency))
        mrr_incomplete[frame.account[missing & (frame.plan_mrr > 0)]] = True
        job.cancel.raise_if_cancelled()

        job.progress(3, _STEPS, "Saving scores")
        ids = account_ids
        health_columns: dict[str, list[Any]] = {
            "account_id": ids.tolist(),
            "score": result.score[ids].tolist(),
            "band": result.band[ids].tolist(),
            "overdue_points": result.overdue_points[ids].tolist(),
            "amount_due_points": result.amount_due_points[ids].tolist(),
            "state_points": result.state_points[ids].tolist(),
            "trend_points": result.trend_points[ids].tolist(),
            "currency": [target] * int(ids.size),
            "mrr_minor": mrr_now[ids].tolist(),
            "mrr_incomplete": mrr_incomplete[ids].tolist(),
            "amount_due_minor": invoices.due[ids].tolist(),
            "overdue_minor": invoices.overdue[ids].tolist(),
            "due_incomplete": invoices.incomplete[ids].tolist(),
            "overdue_invoices": invoices.overdue_count[ids].tolist(),
            "days_overdue": invoices.days_overdue[ids].tolist(),
            "state": states[ids].tolist(),
        }
        health_rows = list(zip(*health_columns.values(), strict=True))
        _changed, before = write_changes(
            connection,
            _table(AccountHealth),
            list(health_columns),
            health_rows,
            constants={"computed_at": now},
        )
        scored = {row[:_SCORE_WIDTH] for row in health_rows}
        changed_scores = sorted({row[0] for row in scored - {r[:_SCORE_WIDTH] for r in before}})
        score_table = _table(HealthScore)
        for start in range(0, len(changed_scores), 500):
            connection.execute(
                delete(HealthScore).where(
                    HealthScore.day == today,
                    HealthScore.account_id.in_(changed_scores[start : start + 500]),
                )
            )
        wanted = set(changed_scores)
        day = bind_value(connection, score_table, "day", today)
        insert_rows(
            connection,
            score_table,
            [*list(health_columns)[:_SCORE_WIDTH], "day"],
            [(*row[:_SCORE_WIDTH], day) for row in health_rows if row[0] in wanted],
        )
        job.cancel.raise_if_cancelled()

        job.progress(4, _STEPS, "Recording MRR")
        bands = {band: int((result.band[ids] == band).sum()) for band in ("green", "amber", "red")}
        connection.execute(delete(HealthDay).where(HealthDay.day == today))
        connection.execute(
            insert(HealthDay),
            [{"day": today, "currency": target, "mrr_minor": metrics.mrr_minor, **bands}],
        )
        _write_snapshots(connection, model, month)
        job.progress(_STEPS, _STEPS, "Done")

    notes = list(metrics.notes)
    due_sentence = converter.missing_sentence(invoices.excluded, what="amount due")
    if due_sentence:
        notes.append(due_sentence)
    return RecomputeResult(
        accounts=int(ids.size),
        currency=target,
        bands=bands,
        changed_scores=len(changed_scores),
        metrics=metrics,
        excluded_due=tuple(invoices.excluded),
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
    )
