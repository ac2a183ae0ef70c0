"""Converting money to one currency with the admin's rates — never silently 1:1.

An amount of ``a`` minor units in currency ``S`` becomes, in target currency ``T``::

    a × (rate[S] / rate[T]) × 10^(digits[T] − digits[S])

where ``rate[X]`` is how many units of the reporting currency one unit of ``X`` is worth
(the reporting currency's own rate is 1) and ``digits`` is the ISO 4217 minor-unit count
(USD 2, JPY 0). A currency with no rate (or a record with no currency) converts to
nothing: callers leave the amount out and report it with :meth:`Converter.missing_sentence`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, literal, null

from desktop.errors import ConfigurationError
from desktop.health.settings import CurrencySettings, normalise_currency
from desktop.money import format_money, minor_digits


@dataclass(frozen=True)
class ExcludedAmount:
    """Money left out of a total because it could not be converted.

    Attributes:
        currency: the currency it is in (``None`` for records with no currency).
        amount_minor: how much, in that currency's minor units.
        records: how many records (subscriptions, invoices) it came from.
    """

    currency: str | None
    amount_minor: int
    records: int


class Converter:
    """Converts minor units of any currency into minor units of ``target``.

    Attributes:
        target: the currency amounts are converted to.
        settings: the currency settings the rates come from.
    """

    def __init__(self, settings: CurrencySettings, target: str) -> None:
        self.settings = settings
        self.target = normalise_currency(target)
        self._target_rate = settings.rate(self.target)
        self._cache: dict[str | None, float | None] = {}

    def factor(self, currency: str | None) -> float | None:
        """The multiplier from ``currency`` minor units to target minor units, or ``None``."""
        if currency in self._cache:
            return self._cache[currency]
        result: float | None = None
        if currency is not None:
            code = currency.upper()
            if code == self.target:
                result = 1.0
            else:
                source_rate = self.settings.rate(code)
                if source_rate is not None and self._target_rate is not None:
                    digits = minor_digits(self.target) - minor_digits(code)
                    result = float(source_rate / self._target_rate) * 10.0**digits
        self._cache[currency] = result
        return result

    def convert(self, amount_minor: int, currency: str | None) -> int | None:
        """Converts one amount (rounded to whole minor units), or ``None`` without a rate."""
        factor = self.factor(currency)
        return None if factor is None else round(amount_minor * factor)

    def require(self, currency: str) -> float:
        """The factor for ``currency``; raises when there is no rate.

        Raises:
            ConfigurationError: saying which rate to set.
        """
        factor = self.factor(currency)
        if factor is None:
            raise ConfigurationError(
                f"No exchange rate from {currency} to {self.target} is set; add one in "
                "Settings → Reporting currency and exchange rates (or with "
                "'billbridge rates set')."
            )
        return factor

    def sql(self, amount: Any, currency: Any) -> ColumnElement[float | None]:
        """A SQL expression converting ``amount`` (a column) by its ``currency`` column.

        Currencies without a rate give SQL ``NULL``, so comparisons on them are false and
        sums skip them.
        """
        whens: list[tuple[ColumnElement[bool], ColumnElement[float]]] = []
        for code in self.known_currencies():
            factor = self.factor(code)
            if factor is None:
                continue
            whens.append((currency == code, cast(amount, Float) * literal(factor, Float)))
        if not whens:
            return cast(null(), Float)
        return case(*whens, else_=null())

    def known_currencies(self) -> list[str]:
        """The currencies this converter can convert (the target and every rate)."""
        codes = {self.target, *self.settings.rates}
        if self.settings.reporting is not None:
            codes.add(self.settings.reporting)
        return sorted(code for code in codes if self.factor(code) is not None)

    def missing_sentence(self, excluded: Iterable[ExcludedAmount], what: str = "MRR") -> str | None:
        """One sentence naming what was left out for lack of a rate, or ``None``."""
        parts: list[str] = []
        records = 0
        for item in sorted(excluded, key=lambda item: item.currency or ""):
            if item.amount_minor == 0 and item.records == 0:
                continue
            records += item.records
            if item.currency is None:
                parts.append(f"{item.amount_minor:,} minor units with no currency")
            else:
                parts.append(format_money(item.amount_minor, item.currency))
        if not parts:
            return None
        missing = sorted({item.currency for item in excluded if item.currency is not None})
        rate_hint = (
            f"set a rate from {', '.join(missing)} to {self.target} in Settings → "
            "Reporting currency and exchange rates (or with 'billbridge rates set')"
            if missing
            else "give those records a currency at the source"
        )
        return (
            f"{records:,} record{'s' if records != 1 else ''} worth {', '.join(parts)} of "
            f"{what} {'are' if records != 1 else 'is'} left out of the {self.target} total "
            f"because no exchange rate applies; {rate_hint}."
        )
