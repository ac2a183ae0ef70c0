"""Money in minor units and timestamps in aware UTC, from every vendor's shape."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from desktop.money import format_money, to_minor
from desktop.timeutil import parse_date, parse_timestamp


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (12.5, "USD", 1250),
        ("12.50", "EUR", 1250),
        (0.1 + 0.2, "USD", 30),
        (1500, "JPY", 1500),
        ("1.2345", "KWD", 1234),
        (None, "USD", None),
        ("", "USD", None),
        ("n/a", "USD", None),
        (True, "USD", None),
    ],
)
def test_to_minor(amount: object, currency: str, minor: int | None) -> None:
    assert to_minor(amount, currency) == minor


def test_format_money() -> None:
    assert format_money(123456, "usd") == "1,234.56 USD"
    assert format_money(1500, "JPY") == "1,500 JPY"
    assert format_money(None, "USD") == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1704067200, datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-04T10:12:44+0100", datetime(2024, 1, 4, 9, 12, 44, tzinfo=UTC)),
        ("2021-02-25T18:04:11Z", datetime(2021, 2, 25, 18, 4, 11, tzinfo=UTC)),
        ("2024-05-10T01:10:47-07:00", datetime(2024, 5, 10, 8, 10, 47, tzinfo=UTC)),
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("garbage", None),
    ],
)
def test_parse_timestamp(value: object, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected


def test_parse_date() -> None:
    assert parse_date("2024-02-20") == date(2024, 2, 20)
    assert parse_date(1704067200) == date(2024, 1, 1)
    assert parse_date("") is None
