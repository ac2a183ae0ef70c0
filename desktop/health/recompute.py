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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    String,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from desktop.health.bulk import drop_temp, fetch_rows, insert_rows, temp_table
from desktop.health.mrr import (
    MonthMetrics,
    MrrModel,
    _column,
    _factors,
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
    """Amount due and overdue per account, converted (see the module docstring).

    Summed in SQL per account and currency (the unpaid invoices are found through the
    status index), converted and added up per account in numpy.
    """
    dialect = connection.dialect.name
    i = Invoice
    late = i.due_on < today  # NULL (no due date) is never late
    # "+ 0": grouping by the bare column lets SQLite walk the account index over every
    # invoice instead of finding the few unpaid ones through the status index
    account_key = i.account_id + 0
    rows = fetch_rows(
        connection,
        select(
            account_key,
            i.currency,
            func.sum(i.amount_due_minor),
            func.sum(case((late, i.amount_due_minor), else_=0)),
            func.sum(case((late, 1), else_=0)),
            day_number(func.min(case((late, i.due_on), else_=None)), dialect),
            func.count(),
        )
        .where(
            i.status.in_(UNPAID_STATUSES),
            i.amount_due_minor > 0,
            i.deleted_at.is_(None),
        )
        .group_by(account_key, i.currency),
    )
    rows = [row for row in rows if row[0] is not None]
    currency = np.array([str(row[1]).upper() if row[1] else None for row in rows], dtype=object)
    numbers = np.array([row[2:] for row in rows], dtype=float).reshape(len(rows), 5)
    account = np.array([row[0] for row in rows], dtype=np.int64)
    due, overdue_due, overdue_count, oldest_day, invoices = numbers.T
    factors = _factors(converter, currency)
    known = ~np.isnan(factors)
    rate = np.nan_to_num(factors)

    def per_account(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        return np.rint(np.bincount(account, weights=values, minlength=size)).astype(np.int64)

    has_late = ~np.isnan(oldest_day)
    oldest = np.full(size, np.inf)
    np.minimum.at(oldest, account[has_late], oldest_day[has_late])
    days = np.where(np.isinf(oldest), 0, to_day_number(today) - oldest).astype(np.int64)
    incomplete = np.zeros(size, dtype=bool)
    incomplete[account[~known]] = True
    excluded = [
        ExcludedAmount(code, int(due[mask].sum()), int(invoices[mask].sum()))
        for code in sorted({c for c in currency[~known]}, key=lambda c: c or "")
        for mask in [~known & (currency == code)]
    ]
    return _InvoiceTotals(
        due=per_account(np.where(known, due * rate, 0.0)),
        overdue=per_account(np.where(known, overdue_due * rate, 0.0)),
        overdue_count=per_account(overdue_count),
        days_overdue=days,
        incomplete=incomplete,
        excluded=excluded,
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
        names = np.array([str(code) for code in codes], dtype=object)
        rows = list(
            zip(
                (unique_keys // len(codes)).tolist(),
                names[unique_keys % len(codes)].tolist(),
                np.rint(sums).astype(np.int64).tolist(),
                strict=True,
            )
        )
    snapshots = _table(MrrSnapshot)
    fresh = temp_table(
        connection,
        "_bb_snapshot_new",
        [
            Column("account_id", Integer, primary_key=True),
            Column("currency", String(3), primary_key=True),
            Column("mrr_minor", BigInteger),
        ],
    )
    try:
        insert_rows(connection, fresh, ("account_id", "currency", "mrr_minor"), rows)
        s, t = snapshots.c, fresh.c
        same_key = and_(s.account_id == t.account_id, s.currency == t.currency)
        connection.execute(
            delete(snapshots).where(
                s.month == month,
                ~exists().where(same_key, s.mrr_minor == t.mrr_minor),
            )
        )
        connection.execute(
            insert(snapshots).from_select(
                ["account_id", "month", "currency", "mrr_minor"],
                select(t.account_id, literal(month, s.month.type), t.currency, t.mrr_minor).where(
                    ~exists().where(s.month == month, same_key)
                ),
            )
        )
    finally:
        drop_temp(connection, fresh)


#: The account_health columns a score history row repeats.
_SCORE_COLUMNS = ("score", "band", "overdue_points", "amount_due_points", "state_points",
                  "trend_points")  # fmt: skip


def _write_health(
    connection: Connection, columns: dict[str, list[Any]], today: date, now: datetime
) -> int:
    """Makes ``account_health`` hold ``columns`` and records today's changed scores.

    The new rows go to a temporary table and are compared with the stored ones in SQL,
    so nothing is read back: only accounts whose values changed are rewritten (their
    ``computed_at`` is when they last changed), and today's ``health_scores`` row is
    written for each account whose score or a component changed. Returns how many.
    """
    health = _table(AccountHealth)
    names = list(columns)
    fresh = temp_table(
        connection,
        "_bb_health_new",
        [Column(name, health.c[name].type, primary_key=name == "account_id") for name in names],
    )
    changed_scores = temp_table(connection, "_bb_score_changed", [Column("account_id", Integer)])
    changed_rows = temp_table(connection, "_bb_health_changed", [Column("account_id", Integer)])
    try:
        insert_rows(connection, fresh, names, list(zip(*columns.values(), strict=True)))
        h, t = health.c, fresh.c
        joined = fresh.outerjoin(health, h.account_id == t.account_id)

        def differs(compared: Sequence[str]) -> Any:
            return or_(h.account_id.is_(None), *(h[n].is_distinct_from(t[n]) for n in compared))

        for target, compared in (
            (changed_scores, _SCORE_COLUMNS),
            (changed_rows, [name for name in names if name != "account_id"]),
        ):
            connection.execute(
                insert(target).from_select(
                    ["account_id"],
                    select(t.account_id).select_from(joined).where(differs(compared)),
                )
            )
        scores = _table(HealthScore)
        connection.execute(
            delete(scores).where(
                scores.c.day == today,
                scores.c.account_id.in_(select(changed_scores.c.account_id)),
            )
        )
        connection.execute(
            insert(scores).from_select(
                ["account_id", *_SCORE_COLUMNS, "day"],
                select(
                    t.account_id, *(t[n] for n in _SCORE_COLUMNS), literal(today, scores.c.day.type)
                ).join(changed_scores, changed_scores.c.account_id == t.account_id),
            )
        )
        connection.execute(
            delete(health).where(
                or_(
                    h.account_id.in_(select(changed_rows.c.account_id)),
                    ~exists().where(t.account_id == h.account_id),
                )
            )
        )
        connection.execute(
            insert(health).from_select(
                [*names, "computed_at"],
                select(*(t[n] for n in names), literal(now, h.computed_at.type)).join(
                    changed_rows, changed_rows.c.account_id == t.account_id
                ),
            )
        )
        count = connection.execute(select(func.count()).select_from(changed_scores)).scalar()
        return int(count or 0)
    finally:
        for table in (fresh, changed_scores, changed_rows):
            drop_temp(connection, table)


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
        changed_scores = _write_health(connection, health_columns, today, now)
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
        changed_scores=changed_scores,
        metrics=metrics,
        excluded_due=tuple(invoices.excluded),
        notes=tuple(notes),
        seconds=time.perf_counter() - started,
    )
