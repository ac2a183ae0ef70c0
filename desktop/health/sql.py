"""Small portable SQL pieces (SQLite and PostgreSQL) and month arithmetic."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Float, Integer, cast, extract, func

from desktop.errors import ConfigurationError

T = TypeVar("T")

EPOCH_DAY = date(1970, 1, 1)


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[float]:
    """Seconds since 1970-01-01 UTC of a timestamp column (``NULL`` stays ``NULL``)."""
    if dialect == "sqlite":
        return cast((func.julianday(column) - 2440587.5) * 86400.0, Float)
    return cast(extract("epoch", column), Float)


def day_number(column: Any, dialect: str) -> ColumnElement[int]:
    """Days since 1970-01-01 of a date column (``NULL`` stays ``NULL``)."""
    if dialect == "sqlite":
        return cast(func.julianday(column) - 2440587.5, Integer)
    return cast(func.floor(extract("epoch", column) / 86400), Integer)


def to_day_number(day: date) -> int:
    """Days since 1970-01-01 of ``day``."""
    return (day - EPOCH_DAY).days


def month_start(value: date | datetime) -> date:
    """The first day of the month ``value`` falls in."""
    return date(value.year, value.month, 1)


def add_months(month: date, count: int) -> date:
    """The first day of the month ``count`` months after ``month`` (negative: before)."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def month_instant(month: date) -> datetime:
    """The first instant (00:00 UTC) of ``month``."""
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def parse_month(text: str) -> date:
    """Parses ``YYYY-MM`` into the first day of that month.

    Raises:
        ConfigurationError: when ``text`` is not a month like 2026-03.
    """
    try:
        year, month = text.strip().split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise ConfigurationError(
            f"{text!r} is not a month; use YYYY-MM, for example 2026-03."
        ) from None


def chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """Splits ``items`` into slices of at most ``size`` (for ``IN (...)`` lists)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
