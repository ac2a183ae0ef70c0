"""Series for the Health page and the account page: score trend, bands over time, ageing.

Everything returns numpy arrays with epoch seconds (UTC midnight) for date axes, oldest
first, so a chart widget only calls ``setData``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from desktop.health.rates import Converter, ExcludedAmount
from desktop.health.recompute import UNPAID_STATUSES
from desktop.health.settings import load_currency_settings, reporting_currency
from desktop.health.sql import to_day_number
from desktop.storage.database import Database
from desktop.storage.models import HealthDay, HealthScore, Invoice
from desktop.timeutil import Clock, utc_now

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _epoch(days: list[date]) -> FloatArray:
    return np.array([to_day_number(day) * 86400.0 for day in days], dtype=float)


@dataclass(frozen=True)
class ScoreHistory:
    """One account's score day by day (flat between recorded changes).

    Attributes:
        days: epoch seconds of each day (UTC midnight).
        score: the score on each day (−1 before the first record).
        band: the band on each day (``""`` before the first record).
        overdue_points, amount_due_points, state_points, trend_points: the components.
    """

    days: FloatArray
    score: IntArray
    band: npt.NDArray[np.object_]
    overdue_points: IntArray
    amount_due_points: IntArray
    state_points: IntArray
    trend_points: IntArray


def score_history(
    database: Database, account_id: int, days: int = 365, clock: Clock = utc_now
) -> ScoreHistory:
    """An account's score over the last ``days`` days, forward-filled per day."""
    today = clock().date()
    first = today - timedelta(days=days - 1)
    h = HealthScore
    with database.session() as session:
        before = (
            session.execute(
                select(h).where(h.account_id == account_id, h.day < first).order_by(h.day.desc())
            )
            .scalars()
            .first()
        )
        rows = list(
            session.scalars(
                select(h)
                .where(h.account_id == account_id, h.day >= first, h.day <= today)
                .order_by(h.day)
            )
        )
    calendar = [first + timedelta(days=i) for i in range(days)]
    records = ([before] if before is not None else []) + rows
    width = len(calendar)
    values = np.full((5, width), -1, dtype=np.int64)
    bands = np.full(width, "", dtype=object)
    for record in records:
        start = max((record.day - first).days, 0)
        values[:, start:] = [
            [record.score],
            [record.overdue_points],
            [record.amount_due_points],
            [record.state_points],
            [record.trend_points],
        ]
        bands[start:] = record.band
    return ScoreHistory(
        days=_epoch(calendar),
        score=values[0],
        band=bands,
        overdue_points=values[1],
        amount_due_points=values[2],
        state_points=values[3],
        trend_points=values[4],
    )


@dataclass(frozen=True)
class BandHistory:
    """Accounts per band and total MRR on each recorded day (one row per recompute day).

    Attributes:
        days: epoch seconds of each day.
        green, amber, red: account counts.
        mrr: total MRR in ``currency`` that day (minor units).
        currency: the reporting currency of the latest day.
    """

    days: FloatArray
    green: IntArray
    amber: IntArray
    red: IntArray
    mrr: IntArray
    currency: str


def band_history(database: Database, days: int = 365, clock: Clock = utc_now) -> BandHistory:
    """Accounts per health band over the last ``days`` days (days with a recompute)."""
    first = clock().date() - timedelta(days=days - 1)
    with database.session() as session:
        rows = list(
            session.scalars(select(HealthDay).where(HealthDay.day >= first).order_by(HealthDay.day))
        )
    return BandHistory(
        days=_epoch([r.day for r in rows]),
        green=np.array([r.green for r in rows], dtype=np.int64),
        amber=np.array([r.amber for r in rows], dtype=np.int64),
        red=np.array([r.red for r in rows], dtype=np.int64),
        mrr=np.array([r.mrr_minor for r in rows], dtype=np.int64),
        currency=rows[-1].currency if rows else "",
    )


#: Receivables ageing buckets: days past the due date.
AGEING_LABELS: tuple[str, ...] = ("current", "1–30", "31–60", "61–90", "over 90")


@dataclass(frozen=True)
class AgeingBuckets:
    """What is due, by how late it is (see :data:`AGEING_LABELS`).

    Attributes:
        labels: bucket names.
        amount: minor units of ``currency`` per bucket.
        invoices: invoices per bucket.
        currency: the currency of ``amount``.
        excluded: amounts left out for lack of an exchange rate.
    """

    labels: tuple[str, ...]
    amount: IntArray
    invoices: IntArray
    currency: str
    excluded: tuple[ExcludedAmount, ...]


def _bucket(session: Session, today: date) -> list[tuple[str | None, int, int, int]]:
    i = Invoice
    bucket = case(
        (i.due_on.is_(None), 0),
        (i.due_on >= today, 0),
        (i.due_on >= today - timedelta(days=30), 1),
        (i.due_on >= today - timedelta(days=60), 2),
        (i.due_on >= today - timedelta(days=90), 3),
        else_=4,
    )
    query = (
        select(i.currency, bucket, func.sum(i.amount_due_minor), func.count())
        .where(i.status.in_(UNPAID_STATUSES), i.amount_due_minor > 0, i.deleted_at.is_(None))
        .group_by(i.currency, bucket)
    )
    return [(c, int(b), int(a or 0), int(n)) for c, b, a, n in session.execute(query)]


def receivables_ageing(
    database: Database, *, currency: str | None = None, clock: Clock = utc_now
) -> AgeingBuckets:
    """What is due now, by days past due: current, 1–30, 31–60, 61–90, over 90."""
    today = clock().date()
    with database.session() as session:
        settings = load_currency_settings(session)
        target = currency or reporting_currency(session, settings)
        rows = _bucket(session, today)
    converter = Converter(settings, target)
    amount = np.zeros(len(AGEING_LABELS))
    invoices = np.zeros(len(AGEING_LABELS), dtype=np.int64)
    missing: dict[str | None, list[int]] = {}
    for code, index, total, count in rows:
        factor = converter.factor(code)
        if factor is None:
            entry = missing.setdefault(code, [0, 0])
            entry[0] += total
            entry[1] += count
            continue
        amount[index] += total * factor
        invoices[index] += count
    return AgeingBuckets(
        labels=AGEING_LABELS,
        amount=np.rint(amount).astype(np.int64),
        invoices=invoices,
        currency=target,
        excluded=tuple(
            ExcludedAmount(c, a, n)
            for c, (a, n) in sorted(missing.items(), key=lambda x: x[0] or "")
        ),
    )
