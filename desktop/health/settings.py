"""Health settings the admin tunes: reporting currency, exchange rates, score weights.

They are kept in the workspace (``WorkspaceSetting`` rows under ``health.*``), so every
copy of the app on one database reports in the same currency with the same rates and
scores with the same weights. Loading never fails on an old or hand-edited value: unknown
keys are ignored and missing ones take their defaults; saving validates and raises
:class:`~desktop.errors.ConfigurationError` with a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desktop.errors import ConfigurationError
from desktop.storage.models import Invoice, Subscription, WorkspaceSetting

CURRENCY_KEY = "health.currency"
SCORE_KEY = "health.score"

#: Used when no reporting currency was chosen and the workspace holds no money yet.
FALLBACK_CURRENCY = "USD"

_CODE = re.compile(r"^[A-Z]{3}$")


def normalise_currency(code: object) -> str:
    """Returns an ISO 4217 code in upper case.

    Raises:
        ConfigurationError: when ``code`` is not three letters.
    """
    text = str(code or "").strip().upper()
    if not _CODE.match(text):
        raise ConfigurationError(
            f"{code!r} is not a currency code; use three letters such as USD or EUR."
        )
    return text


def _read(session: Session, key: str) -> dict[str, Any]:
    row = session.get(WorkspaceSetting, key)
    return dict(row.value) if row is not None and isinstance(row.value, dict) else {}


def _write(session: Session, key: str, value: dict[str, Any]) -> None:
    row = session.get(WorkspaceSetting, key)
    if row is None:
        session.add(WorkspaceSetting(key=key, value=value))
    else:
        row.value = value


# ------------------------------------------------------------------------- currency


@dataclass(frozen=True)
class CurrencySettings:
    """The reporting currency and the exchange rates the admin set.

    Attributes:
        reporting: the currency every total is shown in; ``None`` until chosen, which
            means "the currency most subscriptions use" (see :func:`reporting_currency`).
        rates: for each other currency, how many units of ``reporting`` one unit of it
            is worth (``{"EUR": Decimal("1.08")}`` with USD reporting: 1 EUR = 1.08 USD).
            A currency without a rate is never converted 1:1: its amounts are left out
            and reported.
    """

    reporting: str | None = None
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def rate(self, currency: str) -> Decimal | None:
        """How many units of the reporting currency one unit of ``currency`` is worth."""
        if self.reporting is not None and currency == self.reporting:
            return Decimal(1)
        return self.rates.get(currency)

    def rebased(self, reporting: str) -> CurrencySettings:
        """The same rates expressed against another reporting currency.

        Raises:
            ConfigurationError: when the new currency has no rate to rebase with.
        """
        reporting = normalise_currency(reporting)
        if self.reporting is None or reporting == self.reporting:
            return replace(self, reporting=reporting)
        pivot = self.rates.get(reporting)
        if pivot is None:
            raise ConfigurationError(
                f"Set a rate for {reporting} before making it the reporting currency, so "
                f"the other rates can be converted."
            )
        rates = {code: value / pivot for code, value in self.rates.items() if code != reporting}
        rates[self.reporting] = Decimal(1) / pivot
        return CurrencySettings(reporting, rates)


def _parse_rate(code: str, value: object) -> Decimal:
    try:
        rate = Decimal(str(value))
    except InvalidOperation:
        raise ConfigurationError(
            f"The exchange rate for {code} ({value!r}) is not a number."
        ) from None
    if not rate.is_finite() or rate <= 0:
        raise ConfigurationError(f"The exchange rate for {code} must be a number above zero.")
    return rate


def parse_rate(code: str, text: str) -> Decimal:
    """A rate typed by a person as a positive decimal.

    Raises:
        ConfigurationError: when ``text`` is not a number above zero.
    """
    try:
        rate = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        raise ConfigurationError(
            f"The rate for {code} must be a number above zero, such as 1.08."
        ) from None
    if not rate.is_finite() or rate <= 0:
        raise ConfigurationError(f"The rate for {code} must be a number above zero, such as 1.08.")
    return rate


def load_currency_settings(session: Session) -> CurrencySettings:
    """Reads the currency settings (defaults when unset; bad entries are skipped)."""
    data = _read(session, CURRENCY_KEY)
    reporting: str | None
    try:
        reporting = normalise_currency(data["reporting"]) if data.get("reporting") else None
    except ConfigurationError:
        reporting = None
    rates: dict[str, Decimal] = {}
    raw = data.get("rates")
    if isinstance(raw, dict):
        for code, value in raw.items():
            try:
                rates[normalise_currency(code)] = _parse_rate(str(code), value)
            except ConfigurationError:
                continue
    return CurrencySettings(reporting, rates)


def save_currency_settings(session: Session, settings: CurrencySettings) -> CurrencySettings:
    """Validates and stores the currency settings; returns them normalised.

    Rates are stored as decimal strings so they round-trip exactly. Recompute health
    afterwards (:func:`desktop.health.recompute_health`): stored totals use the rates
    that were set when they were computed.

    Raises:
        ConfigurationError: on a bad code or a rate that is not a positive number.
    """
    reporting = normalise_currency(settings.reporting) if settings.reporting else None
    rates: dict[str, Decimal] = {}
    for code, value in settings.rates.items():
        clean = normalise_currency(code)
        if clean == reporting:
            continue
        rates[clean] = _parse_rate(clean, value)
    stored = {"reporting": reporting, "rates": {code: str(rate) for code, rate in rates.items()}}
    _write(session, CURRENCY_KEY, stored)
    return CurrencySettings(reporting, rates)


def most_used_currency(session: Session) -> str | None:
    """The currency most subscriptions use (then invoices), or ``None`` with no money yet."""
    for model in (Subscription, Invoice):
        row = session.execute(
            select(model.currency, func.count())
            .where(model.currency.is_not(None), model.deleted_at.is_(None))
            .group_by(model.currency)
            .order_by(func.count().desc(), model.currency)
            .limit(1)
        ).first()
        if row is not None and row[0]:
            return str(row[0]).upper()
    return None


def reporting_currency(session: Session, settings: CurrencySettings | None = None) -> str:
    """The reporting currency: the chosen one, else the most used one, else USD."""
    settings = settings or load_currency_settings(session)
    return settings.reporting or most_used_currency(session) or FALLBACK_CURRENCY


# ---------------------------------------------------------------------------- score


@dataclass(frozen=True)
class ScoreWeights:
    """How much each component counts in the financial health score (any scale ≥ 0)."""

    overdue: float = 35.0
    amount_due: float = 25.0
    subscription_state: float = 25.0
    mrr_trend: float = 15.0

    @property
    def total(self) -> float:
        """The sum of the weights (the score divides by it)."""
        return self.overdue + self.amount_due + self.subscription_state + self.mrr_trend


def _default_state_points() -> dict[str, int]:
    return {
        "active": 100,
        "none": 100,
        "trial": 80,
        "trial_ending": 50,
        "non_renewing": 40,
        "unpaid": 30,
        "paused": 30,
        "cancelled": 0,
    }


#: Subscription states an account can be in, best to worst (see :mod:`desktop.health.score`).
ACCOUNT_STATES: tuple[str, ...] = tuple(_default_state_points())


@dataclass(frozen=True)
class HealthSettings:
    """Everything the financial health score depends on; see :mod:`desktop.health.score`.

    Attributes:
        weights: the weight of each component.
        green_from: scores at or above this are green.
        amber_from: scores at or above this (and below ``green_from``) are amber; below
            it red.
        overdue_days_for_zero: days overdue (of the oldest overdue invoice) at which the
            overdue component reaches 0.
        overdue_invoice_penalty: points taken off the overdue component for each overdue
            invoice after the first.
        due_months_ok: amount due up to this many months of MRR costs nothing (an invoice
            for the current period is normal).
        due_months_for_zero: amount due of this many months of MRR scores 0.
        trial_warning_days: a trial ending within this many days without a payment
            method is in the ``trial_ending`` state.
        trend_months: the MRR trend compares MRR now with this many months ago.
        trend_drop_for_zero: an MRR drop of this fraction (0.5 = −50 %) scores 0.
        trend_growth_for_full: MRR growth of this fraction (0.2 = +20 %) scores 100.
        trend_flat_points: what flat MRR (or no MRR then and now) scores.
        state_points: what each subscription state scores (0–100).
    """

    weights: ScoreWeights = field(default_factory=ScoreWeights)
    green_from: int = 70
    amber_from: int = 40
    overdue_days_for_zero: int = 90
    overdue_invoice_penalty: int = 10
    due_months_ok: float = 1.0
    due_months_for_zero: float = 3.0
    trial_warning_days: int = 14
    trend_months: int = 3
    trend_drop_for_zero: float = 0.5
    trend_growth_for_full: float = 0.2
    trend_flat_points: int = 70
    state_points: Mapping[str, int] = field(default_factory=_default_state_points)

    def validate(self) -> None:
        """Checks the settings make sense.

        Raises:
            ConfigurationError: naming the first setting that does not.
        """
        weights = asdict(self.weights)
        if any(value < 0 for value in weights.values()):
            raise ConfigurationError("Score weights cannot be negative.")
        if self.weights.total <= 0:
            raise ConfigurationError("At least one score weight must be above zero.")
        if not 0 <= self.amber_from < self.green_from <= 100:
            raise ConfigurationError(
                "The amber band must start below the green band, both between 0 and 100."
            )
        if self.overdue_days_for_zero < 1:
            raise ConfigurationError("Days overdue for a zero score must be at least 1.")
        if not 0 <= self.overdue_invoice_penalty <= 100:
            raise ConfigurationError("The penalty per overdue invoice must be 0 to 100 points.")
        if not 0 <= self.due_months_ok < self.due_months_for_zero:
            raise ConfigurationError(
                "The months of MRR due that score zero must be more than the months that "
                "cost nothing."
            )
        if self.trial_warning_days < 0 or self.trend_months < 1:
            raise ConfigurationError(
                "Trial warning days cannot be negative and the trend needs at least one month."
            )
        if not 0 < self.trend_drop_for_zero <= 1 or self.trend_growth_for_full <= 0:
            raise ConfigurationError(
                "The MRR drop for a zero score must be between 0 and 100 %, and the growth "
                "for a full score above 0 %."
            )
        if not 0 <= self.trend_flat_points <= 100:
            raise ConfigurationError("Points for a flat MRR trend must be 0 to 100.")
        for state in ACCOUNT_STATES:
            points = self.state_points.get(state)
            if points is None or not 0 <= points <= 100:
                raise ConfigurationError(
                    f"Points for the subscription state {state!r} must be 0 to 100."
                )

    def to_json(self) -> dict[str, Any]:
        """The settings as stored."""
        data = asdict(self)
        data["state_points"] = dict(self.state_points)
        return data


def _from_json(data: Mapping[str, Any]) -> HealthSettings:
    defaults = HealthSettings()
    values: dict[str, Any] = {}
    for name, default in asdict(defaults).items():
        if name in ("weights", "state_points") or name not in data:
            continue
        try:
            values[name] = type(default)(data[name])
        except (TypeError, ValueError):
            continue
    weights = ScoreWeights()
    raw_weights = data.get("weights")
    if isinstance(raw_weights, dict):
        clean: dict[str, float] = {}
        for name in asdict(weights):
            try:
                clean[name] = float(raw_weights[name])
            except (KeyError, TypeError, ValueError):
                continue
        weights = replace(weights, **clean)
    points = _default_state_points()
    raw_points = data.get("state_points")
    if isinstance(raw_points, dict):
        for state in points:
            try:
                points[state] = int(raw_points[state])
            except (KeyError, TypeError, ValueError):
                continue
    return replace(defaults, weights=weights, state_points=points, **values)


def load_health_settings(session: Session) -> HealthSettings:
    """Reads the score settings; falls back to the defaults when unset or invalid."""
    settings = _from_json(_read(session, SCORE_KEY))
    try:
        settings.validate()
    except ConfigurationError:
        return HealthSettings()
    return settings


def save_health_settings(session: Session, settings: HealthSettings) -> None:
    """Validates and stores the score settings (recompute afterwards to apply them).

    Raises:
        ConfigurationError: when a setting does not make sense.
    """
    settings.validate()
    _write(session, SCORE_KEY, settings.to_json())
