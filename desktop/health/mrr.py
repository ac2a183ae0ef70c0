"""MRR, ARR and their monthly movements, computed over column arrays (numpy).

**Which subscriptions count.** A subscription's MRR is its stored ``mrr_minor``: the
recurring amount the connector normalised to one month (a year ÷ 12, a quarter ÷ 3, a week
× 52/12, a day × 365/12), after discounts, without tax, one-off charges or trials. It
counts while its status is ``active``, ``non_renewing`` (still paying until its term ends)
or ``unpaid`` (past due, in dunning: still a customer). ``trial``, ``future``,
``cancelled``, ``expired`` and ``paused`` subscriptions count 0. Deleted subscriptions and
subscriptions with no account are ignored.

**Currency.** Every amount is converted to the reporting currency with the admin's rates
(:mod:`desktop.health.rates`); months in the past use today's rates too (constant
currency), so an exchange-rate change never shows up as expansion or contraction. An
amount in a currency without a rate is left out, and the result says so in a sentence.

**Formulas.** With ``MRR_a(m)`` an account's MRR at the end of month ``m`` (for the
current month: now), ``P = MRR_a(m − 1)`` and ``C = MRR_a(m)``:

* MRR(m) = Σ_a C; ARR = 12 × MRR.
* new: P = 0, C > 0, and the account never had MRR before → C.
* reactivation: P = 0, C > 0, and the account had MRR before → C.
* expansion: P > 0, C > P → C − P.   contraction: P > 0, 0 < C < P → P − C.
* churn: P > 0, C = 0 → P.
* net new MRR = new + reactivation + expansion − contraction − churn = MRR(m) − MRR(m−1).
* customer churn rate = accounts churned in m ÷ accounts with MRR at the start of m.
* gross MRR churn rate = (churn + contraction) ÷ MRR at the start of m.
* net MRR churn rate = (churn + contraction − expansion) ÷ MRR at the start of m.
* net revenue retention (month) = (start MRR + expansion − contraction − churn) ÷ start
  MRR = 1 − net MRR churn rate.
* net revenue retention (12 months) = today's MRR of the accounts that had MRR at the end
  of m − 12 ÷ their MRR then.

**History.** There is no subscription history table. Past month-end MRR comes from, in
order: the monthly snapshot every recompute writes (``mrr_snapshots``: exact from the
first recompute on), else it is derived from subscription dates: a subscription counts at
a month end when it had started (``started_at``, or its trial end when later; when neither
the start nor the creation time is known, since always) and had not ended — a counted
subscription has not ended; a cancelled or expired one ended at ``cancelled_at`` (else its
term end, else its last update); a paused one at its last update (the pause date is not
known); trial and future subscriptions never counted. A derived month uses each
subscription's current amount (``mrr_minor``, or for ended ones the amount per period
normalised the same way), so a past upgrade or downgrade within one subscription is not
seen; adding or ending subscriptions is. Invoices are not used: their totals include tax,
one-off charges, proration and credits, and a yearly invoice would read as a spike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Float, case, cast, func, literal, select
from sqlalchemy.orm import Session

from desktop.errors import ConfigurationError
from desktop.health.bulk import fetch_rows
from desktop.health.rates import Converter, ExcludedAmount
from desktop.health.settings import load_currency_settings, reporting_currency
from desktop.health.sql import (
    add_months,
    chunks,
    day_number,
    epoch_seconds,
    month_instant,
    month_start,
)
from desktop.storage.database import Database
from desktop.storage.models import Account, MrrSnapshot, Subscription
from desktop.sync.records import SUBSCRIPTION_STATUSES
from desktop.timeutil import Clock, utc_now

#: Subscription statuses whose MRR counts (documented above).
COUNTED_STATUSES: tuple[str, ...] = ("active", "non_renewing", "unpaid")
#: Statuses of subscriptions that have ended.
ENDED_STATUSES: tuple[str, ...] = ("cancelled", "expired")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_MONTHS_PER_UNIT = {"month": 1.0, "year": 12.0, "week": 12.0 / 52.0, "day": 12.0 / 365.0}


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    """Transposes rows into ``width`` column tuples (empty tuples for no rows)."""
    if not rows:
        return [() for _ in range(width)]
    return list(zip(*rows, strict=True))


def _column(rows: Sequence[Sequence[Any]], index: int, dtype: Any) -> npt.NDArray[Any]:
    if not rows:
        return np.zeros(0, dtype=dtype)
    return np.array([row[index] for row in rows], dtype=dtype)


@dataclass
class SubscriptionFrame:
    """Every live subscription as column arrays (one element per subscription).

    Attributes:
        ids: subscription ids.
        account: account ids.
        status: normalised statuses (object array of str).
        currency: currency codes (object array; ``None`` when unknown).
        plan_mrr: stored ``mrr_minor``.
        recurring: the monthly amount used for past months (``mrr_minor``, or the amount
            per period normalised to a month when the connector zeroed it).
        start: effective start, epoch seconds (−inf when unknown).
        end: effective end, epoch seconds (+inf while counted).
        trial_end: trial end, epoch seconds (NaN when none).
        has_payment_method: ``True`` only when the source said so.
    """

    ids: IntArray
    account: IntArray
    status: npt.NDArray[np.object_]
    currency: npt.NDArray[np.object_]
    plan_mrr: FloatArray
    recurring: FloatArray
    start: FloatArray
    end: FloatArray
    trial_end: FloatArray
    has_payment_method: BoolArray
    _counted: BoolArray | None = field(default=None, repr=False, compare=False)

    @property
    def counted(self) -> BoolArray:
        """Which subscriptions count towards MRR now."""
        if self._counted is None or self._counted.shape != self.status.shape:
            self._counted = np.isin(self.status, COUNTED_STATUSES)
        return self._counted

    @classmethod
    def load(cls, connection: Connection, now: datetime) -> SubscriptionFrame:
        """Reads every live subscription with an account, set-based.

        One query of numbers only (statuses and currencies as codes, the monthly amount
        for past months computed in SQL), turned into arrays without a loop per row.
        """
        dialect = connection.dialect.name
        s = Subscription
        currencies = [
            row[0]
            for row in fetch_rows(connection, select(s.currency).distinct())
            if row[0] is not None
        ]
        statuses = sorted(SUBSCRIPTION_STATUSES)
        ended_at = case(
            (s.status == "paused", s.source_updated_at),
            else_=func.coalesce(s.cancelled_at, s.current_term_ends_at, s.source_updated_at),
        )
        months = case(
            *((s.interval_unit == unit, literal(value, Float)) for unit, value in
              _MONTHS_PER_UNIT.items()),
            else_=None,
        )  # fmt: skip
        count = case((s.interval_count > 1, s.interval_count), else_=1)
        recurring = case(
            (s.mrr_minor > 0, cast(s.mrr_minor, Float)),
            else_=s.amount_minor / (months * count),
        )
        rows = fetch_rows(
            connection,
            select(
                s.id,
                s.account_id,
                case(*((s.status == name, i) for i, name in enumerate(statuses)), else_=-1),
                case(*((s.currency == code, i) for i, code in enumerate(currencies)), else_=-1)
                if currencies
                else literal(-1),
                s.mrr_minor,
                recurring,
                epoch_seconds(func.coalesce(s.started_at, s.source_created_at), dialect),
                epoch_seconds(s.trial_ends_at, dialect),
                epoch_seconds(ended_at, dialect),
                s.has_payment_method,
            ).where(s.deleted_at.is_(None), s.account_id.is_not(None)),
        )
        table = np.array(rows, dtype=float).reshape(len(rows), 10)
        status_names = np.array([*statuses, ""], dtype=object)
        currency_names = np.array([*(c.upper() for c in currencies), None], dtype=object)
        return cls.from_columns(
            ids=table[:, 0].astype(np.int64),
            account=table[:, 1].astype(np.int64),
            status=status_names[table[:, 2].astype(np.int64)],
            currency=currency_names[table[:, 3].astype(np.int64)],
            plan_mrr=np.nan_to_num(table[:, 4]),
            recurring=np.nan_to_num(np.rint(table[:, 5])),
            started=table[:, 6],
            trial_end=table[:, 7],
            ended_at=table[:, 8],
            has_payment_method=np.nan_to_num(table[:, 9]) != 0,
            now=now,
        )

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]], now: datetime) -> SubscriptionFrame:
        """Builds the frame from rows of (id, account, status, currency, mrr, amount,
        interval unit, interval count, start, trial end, end — epoch seconds — and
        has-payment-method)."""
        cols = columns(rows, 12)
        plan_mrr = np.nan_to_num(np.array(cols[4], dtype=float))
        amount = np.nan_to_num(np.array(cols[5], dtype=float))
        count = np.nan_to_num(np.array(cols[7], dtype=float), nan=1.0)
        months = np.array([_MONTHS_PER_UNIT.get(str(u), np.nan) for u in cols[6]], dtype=float)
        per_month = np.rint(amount / (months * np.maximum(count, 1.0)))
        return cls.from_columns(
            ids=np.array(cols[0], dtype=np.int64),
            account=np.array(cols[1], dtype=np.int64),
            status=np.array([str(v).lower() if v else "" for v in cols[2]], dtype=object),
            currency=np.array([str(v).upper() if v else None for v in cols[3]], dtype=object),
            plan_mrr=plan_mrr,
            recurring=np.where(plan_mrr > 0, plan_mrr, np.nan_to_num(per_month)),
            started=np.array(cols[8], dtype=float),
            trial_end=np.array(cols[9], dtype=float),
            ended_at=np.array(cols[10], dtype=float),
            has_payment_method=np.array([bool(v) for v in cols[11]], dtype=bool),
            now=now,
        )

    @classmethod
    def from_columns(
        cls,
        *,
        ids: IntArray,
        account: IntArray,
        status: npt.NDArray[np.object_],
        currency: npt.NDArray[np.object_],
        plan_mrr: FloatArray,
        recurring: FloatArray,
        started: FloatArray,
        trial_end: FloatArray,
        ended_at: FloatArray,
        has_payment_method: BoolArray,
        now: datetime,
    ) -> SubscriptionFrame:
        """Builds the frame, working out each subscription's effective start and end."""
        now_s = now.timestamp()
        start = np.where(np.isnan(started), -np.inf, started)
        later_trial = ~np.isnan(trial_end) & (trial_end > start)
        start = np.where(later_trial, trial_end, start)

        counted = np.isin(status, COUNTED_STATUSES)
        stopped = np.isin(status, ENDED_STATUSES) | (status == "paused")
        end = np.where(stopped & ~np.isnan(ended_at), ended_at, start)  # else never counted
        end = np.minimum(end, now_s)
        start = np.where(counted, np.minimum(start, now_s), start)
        end = np.where(counted, np.inf, end)
        return cls(
            ids=ids,
            account=account,
            status=status,
            currency=currency,
            plan_mrr=plan_mrr,
            recurring=recurring,
            start=start,
            end=end,
            trial_end=trial_end,
            has_payment_method=has_payment_method,
        )


def _factors(converter: Converter, currency: npt.NDArray[np.object_]) -> FloatArray:
    """Per-element conversion factor (NaN where no rate applies)."""
    if currency.size == 0:
        return np.zeros(0, dtype=float)
    codes, inverse = np.unique(currency.astype(str), return_inverse=True)
    table = np.array(
        [np.nan if code == "None" else (converter.factor(code) or np.nan) for code in codes]
    )
    factors: FloatArray = table[inverse].astype(float)
    return factors


def excluded_by_currency(
    currency: npt.NDArray[np.object_], amount: FloatArray, factors: FloatArray
) -> list[ExcludedAmount]:
    """Groups amounts that could not be converted by currency."""
    missing = np.isnan(factors) & (amount != 0)
    result: list[ExcludedAmount] = []
    if not missing.any():
        return result
    for code in sorted({c for c in currency[missing]}, key=lambda c: c or ""):
        mask = missing & (currency == code)
        result.append(ExcludedAmount(code, int(amount[mask].sum()), int(mask.sum())))
    return result


@dataclass
class MrrModel:
    """Month-end MRR per account in one currency, from snapshots or subscription dates.

    Arrays are indexed by account id (length ``size``). Build with :meth:`open`.

    Attributes:
        frame: the subscriptions.
        converter: converts to the target currency.
        now: the instant "now" stands for.
        size: the length of every per-account array (largest account id + 1).
    """

    connection: Connection
    frame: SubscriptionFrame
    converter: Converter
    now: datetime
    size: int
    _factors: FloatArray = field(init=False)
    _snapshot_cache: dict[date, IntArray | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._factors = _factors(self.converter, self.frame.currency)

    @classmethod
    def open(cls, connection: Connection, converter: Converter, now: datetime) -> MrrModel:
        """Loads the subscriptions for ``converter.target`` as of ``now``."""
        frame = SubscriptionFrame.load(connection, now)
        largest = connection.execute(select(func.max(Account.id))).scalar() or 0
        return cls(connection, frame, converter, now, int(largest) + 1)

    @property
    def current_month(self) -> date:
        """The month ``now`` falls in."""
        return month_start(self.now)

    def _sum(self, mask: BoolArray, amount: FloatArray) -> IntArray:
        values = np.where(mask & ~np.isnan(self._factors), amount * self._factors, 0.0)
        summed = np.bincount(self.frame.account, weights=values, minlength=self.size)
        return np.rint(summed).astype(np.int64)

    def current(self) -> IntArray:
        """Each account's MRR now (counted subscriptions, converted)."""
        return self._sum(self.frame.counted, self.frame.plan_mrr)

    def current_excluded(self) -> list[ExcludedAmount]:
        """MRR now that could not be converted, by currency."""
        counted = self.frame.counted
        return excluded_by_currency(
            self.frame.currency[counted], self.frame.plan_mrr[counted], self._factors[counted]
        )

    def derived(self, month: date) -> IntArray:
        """Each account's MRR at the end of ``month`` derived from subscription dates."""
        if month >= self.current_month:
            return self.current()
        instant = month_instant(add_months(month, 1)).timestamp()
        alive = (self.frame.start < instant) & (self.frame.end >= instant)
        return self._sum(alive, self.frame.recurring)

    def snapshot(self, month: date) -> IntArray | None:
        """Each account's recorded MRR for ``month``, or ``None`` if none was recorded."""
        if month in self._snapshot_cache:
            return self._snapshot_cache[month]
        rows = fetch_rows(
            self.connection,
            select(MrrSnapshot.account_id, MrrSnapshot.currency, MrrSnapshot.mrr_minor).where(
                MrrSnapshot.month == month
            ),
        )
        values: IntArray | None = None
        if rows:
            account = _column(rows, 0, np.int64)
            currency = np.array([r[1] for r in rows], dtype=object)
            amount = _column(rows, 2, float)
            factors = _factors(self.converter, currency)
            size = max(self.size, int(account.max()) + 1)
            converted = np.where(np.isnan(factors), 0.0, amount * factors)
            summed = np.bincount(account, weights=converted, minlength=size)[: self.size]
            values = np.rint(summed).astype(np.int64)
        self._snapshot_cache[month] = values
        return values

    def at_month_end(self, month: date) -> IntArray:
        """Each account's MRR at the end of ``month`` (now for the current month)."""
        if month >= self.current_month:
            return self.current()
        recorded = self.snapshot(month)
        return recorded if recorded is not None else self.derived(month)

    def first_paid(self, accounts: IntArray | None = None) -> FloatArray:
        """Per account, the earliest instant (epoch s) it had MRR; +inf if never.

        Args:
            accounts: only these accounts need the answer (the others may read +inf);
                ``None`` for every account.
        """
        frame = self.frame
        paid = (frame.recurring > 0) & (frame.end > frame.start)
        first = np.full(self.size, np.inf)
        np.minimum.at(first, frame.account[paid], frame.start[paid])
        dialect = self.connection.dialect.name
        query = (
            select(MrrSnapshot.account_id, day_number(func.min(MrrSnapshot.month), dialect))
            .where(MrrSnapshot.mrr_minor > 0)
            .group_by(MrrSnapshot.account_id)
        )
        if accounts is None:
            rows = fetch_rows(self.connection, query)
        else:
            wanted = [int(a) for a in accounts.tolist()]
            rows = [
                row
                for part in chunks(wanted)
                for row in fetch_rows(
                    self.connection, query.where(MrrSnapshot.account_id.in_(part))
                )
            ]
        if rows:
            cols = columns(rows, 2)
            account = np.array(cols[0], dtype=np.int64)
            stamp = np.array(cols[1], dtype=float) * 86400.0
            inside = account < self.size
            np.minimum.at(first, account[inside], stamp[inside])
        return first


@dataclass(frozen=True)
class Movements:
    """How MRR moved during one month (minor units of ``currency``, all ≥ 0).

    Attributes:
        start_mrr_minor: MRR at the end of the previous month.
        mrr_minor: MRR at the end of the month (now for the current month).
        new_minor, expansion_minor, contraction_minor, churn_minor, reactivation_minor:
            the movements (see the module docstring).
        accounts_start, accounts_end: accounts with MRR at the start and end.
        new_accounts, churned_accounts, reactivated_accounts: account counts.
    """

    start_mrr_minor: int
    mrr_minor: int
    new_minor: int
    expansion_minor: int
    contraction_minor: int
    churn_minor: int
    reactivation_minor: int
    accounts_start: int
    accounts_end: int
    new_accounts: int
    churned_accounts: int
    reactivated_accounts: int

    @property
    def net_new_minor(self) -> int:
        """new + reactivation + expansion − contraction − churn (= MRR change)."""
        return (
            self.new_minor
            + self.reactivation_minor
            + self.expansion_minor
            - self.contraction_minor
            - self.churn_minor
        )


def movements_between(
    previous: IntArray, current: IntArray, first_paid: FloatArray, month: date
) -> Movements:
    """Classifies each account's change from ``previous`` to ``current`` (one month)."""
    p, c = previous, current
    started = month_instant(month).timestamp()
    appeared = (p <= 0) & (c > 0)
    new = appeared & (first_paid >= started)
    reactivated = appeared & ~new
    expanded = (p > 0) & (c > p)
    contracted = (p > 0) & (c > 0) & (c < p)
    churned = (p > 0) & (c <= 0)
    return Movements(
        start_mrr_minor=int(p.sum()),
        mrr_minor=int(c.sum()),
        new_minor=int(c[new].sum()),
        expansion_minor=int((c - p)[expanded].sum()),
        contraction_minor=int((p - c)[contracted].sum()),
        churn_minor=int(p[churned].sum()),
        reactivation_minor=int(c[reactivated].sum()),
        accounts_start=int((p > 0).sum()),
        accounts_end=int((c > 0).sum()),
        new_accounts=int(new.sum()),
        churned_accounts=int(churned.sum()),
        reactivated_accounts=int(reactivated.sum()),
    )


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class MonthMetrics:
    """MRR, ARR, movements, churn and retention for one month.

    Rates are fractions (0.05 = 5 %) and ``None`` when undefined (no MRR at the start).

    Attributes:
        month: first day of the month.
        currency: the currency every amount is in.
        as_of: the instant the MRR is measured at (month end, or now for this month).
        movements: the month's movements.
        mrr_minor, arr_minor: MRR and ARR (12 × MRR) at ``as_of``.
        customer_churn_rate, gross_mrr_churn_rate, net_mrr_churn_rate: churn rates.
        net_revenue_retention: the month's NRR.
        net_revenue_retention_12m: NRR over the twelve months to ``as_of``.
        excluded: current MRR left out for lack of an exchange rate.
        notes: sentences a person should read with the figures (missing rates, derived
            history).
    """

    month: date
    currency: str
    as_of: datetime
    movements: Movements
    customer_churn_rate: float | None
    gross_mrr_churn_rate: float | None
    net_mrr_churn_rate: float | None
    net_revenue_retention: float | None
    net_revenue_retention_12m: float | None
    excluded: tuple[ExcludedAmount, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def mrr_minor(self) -> int:
        """MRR at :attr:`as_of`."""
        return self.movements.mrr_minor

    @property
    def arr_minor(self) -> int:
        """ARR = 12 × MRR."""
        return 12 * self.movements.mrr_minor


def metrics_for(model: MrrModel, month: date, first_paid: FloatArray | None = None) -> MonthMetrics:
    """Computes one month's metrics from an open :class:`MrrModel`."""
    if month > model.current_month:
        raise ConfigurationError(
            f"{month:%Y-%m} is in the future; metrics exist up to {model.current_month:%Y-%m}."
        )
    previous = model.at_month_end(add_months(month, -1))
    current = model.at_month_end(month)
    # only accounts that start paying this month need to know whether they paid before
    first = (
        model.first_paid(np.flatnonzero((previous <= 0) & (current > 0)))
        if first_paid is None
        else first_paid
    )
    moves = movements_between(previous, current, first, month)
    year_ago = model.at_month_end(add_months(month, -12))
    cohort = year_ago > 0
    start = moves.start_mrr_minor
    as_of = model.now if month >= model.current_month else month_instant(add_months(month, 1))
    notes: list[str] = []
    excluded = tuple(model.current_excluded())
    sentence = model.converter.missing_sentence(excluded)
    if sentence:
        notes.append(sentence)
    derived = [
        m
        for m in (add_months(month, -12), add_months(month, -1), month)
        if m < model.current_month and model.snapshot(m) is None
    ]
    if derived:
        notes.append(
            "MRR for "
            + ", ".join(f"{m:%Y-%m}" for m in derived)
            + " is derived from subscription dates (no snapshot was recorded then), so "
            "upgrades and downgrades inside one subscription are not seen."
        )
    return MonthMetrics(
        month=month,
        currency=model.converter.target,
        as_of=as_of,
        movements=moves,
        customer_churn_rate=_ratio(moves.churned_accounts, moves.accounts_start),
        gross_mrr_churn_rate=_ratio(moves.churn_minor + moves.contraction_minor, start),
        net_mrr_churn_rate=_ratio(
            moves.churn_minor + moves.contraction_minor - moves.expansion_minor, start
        ),
        net_revenue_retention=_ratio(
            start + moves.expansion_minor - moves.contraction_minor - moves.churn_minor, start
        ),
        net_revenue_retention_12m=_ratio(int(current[cohort].sum()), int(year_ago[cohort].sum())),
        excluded=excluded,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class MovementSeries:
    """MRR and its movements month by month, ready for a chart (oldest first).

    Attributes:
        currency: the currency of every amount.
        months: first day of each month.
        month_epoch: each month's first instant as epoch seconds (for date axes).
        mrr, new, expansion, contraction, churn, reactivation: minor units per month.
        metrics: the full :class:`MonthMetrics` of each month.
    """

    currency: str
    months: tuple[date, ...]
    month_epoch: FloatArray
    mrr: IntArray
    new: IntArray
    expansion: IntArray
    contraction: IntArray
    churn: IntArray
    reactivation: IntArray
    metrics: tuple[MonthMetrics, ...]


def _open_model(
    database: Database, currency: str | None, clock: Clock
) -> tuple[Connection, MrrModel]:
    connection = database.engine.connect()
    try:
        with Session(bind=connection) as session:
            settings = load_currency_settings(session)
            target = currency or reporting_currency(session, settings)
        converter = Converter(settings, target)
        return connection, MrrModel.open(connection, converter, clock())
    except BaseException:
        connection.close()
        raise


def month_metrics(
    database: Database,
    month: date | None = None,
    *,
    currency: str | None = None,
    clock: Clock = utc_now,
) -> MonthMetrics:
    """MRR, ARR, movements, churn and NRR for ``month`` (default: the current month).

    Args:
        database: the workspace.
        month: any day of the month; ``None`` for the current month.
        currency: the currency to report in; ``None`` for the reporting currency.
        clock: what "now" is.

    Raises:
        ConfigurationError: for a future month or a bad currency code.
    """
    connection, model = _open_model(database, currency, clock)
    with connection:
        return metrics_for(model, month_start(month or model.now))


def mrr_movements(
    database: Database, months: int = 24, *, currency: str | None = None, clock: Clock = utc_now
) -> MovementSeries:
    """The last ``months`` months (this one included) of MRR and movements, for charts."""
    connection, model = _open_model(database, currency, clock)
    with connection:
        first = model.first_paid()
        wanted = [add_months(model.current_month, -i) for i in range(months - 1, -1, -1)]
        metrics = tuple(metrics_for(model, month, first) for month in wanted)
    return MovementSeries(
        currency=model.converter.target,
        months=tuple(wanted),
        month_epoch=np.array([month_instant(m).timestamp() for m in wanted], dtype=float),
        mrr=np.array([m.movements.mrr_minor for m in metrics], dtype=np.int64),
        new=np.array([m.movements.new_minor for m in metrics], dtype=np.int64),
        expansion=np.array([m.movements.expansion_minor for m in metrics], dtype=np.int64),
        contraction=np.array([m.movements.contraction_minor for m in metrics], dtype=np.int64),
        churn=np.array([m.movements.churn_minor for m in metrics], dtype=np.int64),
        reactivation=np.array([m.movements.reactivation_minor for m in metrics], dtype=np.int64),
        metrics=metrics,
    )


@dataclass(frozen=True)
class SubscriptionMrr:
    """One subscription's MRR, in its own currency and converted."""

    subscription_id: int
    plan_name: str | None
    status: str
    counted: bool
    currency: str | None
    mrr_minor: int
    converted_minor: int | None


@dataclass(frozen=True)
class AccountMrr:
    """An account's MRR now, with its subscriptions and its month-end history.

    Attributes:
        account_id: the account.
        currency: the currency of ``mrr_minor``, ``arr_minor`` and ``history``.
        mrr_minor, arr_minor: MRR now and ARR = 12 × MRR.
        subscriptions: every live subscription, counted or not.
        months: first day of each month of ``history`` (oldest first).
        month_epoch: the same as epoch seconds.
        history: MRR at the end of each month (now for the current month).
        excluded: MRR left out for lack of a rate.
    """

    account_id: int
    currency: str
    mrr_minor: int
    arr_minor: int
    subscriptions: tuple[SubscriptionMrr, ...]
    months: tuple[date, ...]
    month_epoch: FloatArray
    history: IntArray
    excluded: tuple[ExcludedAmount, ...]


def account_mrr(
    database: Database,
    account_id: int,
    *,
    months: int = 24,
    currency: str | None = None,
    clock: Clock = utc_now,
) -> AccountMrr:
    """One account's MRR, its subscriptions and its last ``months`` month-end values."""
    connection, model = _open_model(database, currency, clock)
    with connection:
        wanted = [add_months(model.current_month, -i) for i in range(months - 1, -1, -1)]
        history = np.array(
            [model.at_month_end(m)[account_id] if account_id < model.size else 0 for m in wanted],
            dtype=np.int64,
        )
        names = dict(
            connection.execute(
                select(Subscription.id, Subscription.plan_name).where(
                    Subscription.account_id == account_id
                )
            ).all()
        )
    frame = model.frame
    mine = frame.account == account_id
    subscriptions: list[SubscriptionMrr] = []
    excluded: list[ExcludedAmount] = []
    for index in np.flatnonzero(mine):
        counted = bool(frame.counted[index])
        code = frame.currency[index]
        amount = int(frame.plan_mrr[index]) if counted else 0
        converted = model.converter.convert(amount, code)
        if converted is None and amount:
            excluded.append(ExcludedAmount(code, amount, 1))
        subscriptions.append(
            SubscriptionMrr(
                subscription_id=int(frame.ids[index]),
                plan_name=names.get(int(frame.ids[index])),
                status=str(frame.status[index]),
                counted=counted,
                currency=code,
                mrr_minor=amount,
                converted_minor=converted,
            )
        )
    now_value = int(history[-1]) if months else 0
    return AccountMrr(
        account_id=account_id,
        currency=model.converter.target,
        mrr_minor=now_value,
        arr_minor=12 * now_value,
        subscriptions=tuple(subscriptions),
        months=tuple(wanted),
        month_epoch=np.array([month_instant(m).timestamp() for m in wanted], dtype=float),
        history=history,
        excluded=tuple(excluded),
    )


__all__ = [
    "COUNTED_STATUSES",
    "AccountMrr",
    "MonthMetrics",
    "MovementSeries",
    "Movements",
    "MrrModel",
    "SubscriptionFrame",
    "SubscriptionMrr",
    "account_mrr",
    "metrics_for",
    "month_metrics",
    "movements_between",
    "mrr_movements",
]
