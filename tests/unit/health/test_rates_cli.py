"""``billbridge rates``: show, set the reporting currency, set and remove a rate."""

from __future__ import annotations

import io

import pytest

from desktop.cli import main
from desktop.cli.context import CliContext
from desktop.health.mrr import month_metrics
from desktop.health.settings import load_currency_settings
from desktop.storage.database import open_database
from tests.unit.health.builders import World, at

NOW = at("2026-06-15 12:00")


def run(url: str, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()

    def make_context(db_url: str | None, demo: bool = False) -> CliContext:
        return CliContext(url, out=out, clock=lambda: NOW)

    code = main(["--db", url, *argv], make_context=make_context)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def workspace(sqlite_url: str) -> str:
    database = open_database(sqlite_url)
    with database.transaction() as session:
        w = World(session)
        a, b, c = w.account("Alpha"), w.account("Beta"), w.account("Gamma")
        w.subscription(a, "active", 10000, "2025-01-01")
        w.subscription(b, "active", 5000, "2025-01-01")
        w.subscription(c, "active", 2000, "2025-01-01", currency="EUR")
    database.close()
    return sqlite_url


def stored(url: str) -> tuple[str | None, dict[str, str]]:
    database = open_database(url)
    try:
        with database.transaction() as session:
            settings = load_currency_settings(session)
        return settings.reporting, {k: str(v) for k, v in settings.rates.items()}
    finally:
        database.close()


def mrr(url: str) -> int:
    database = open_database(url)
    try:
        return month_metrics(database, clock=lambda: NOW).mrr_minor
    finally:
        database.close()


def test_set_show_and_remove_a_rate(workspace: str) -> None:
    assert mrr(workspace) == 15000  # the EUR subscription is left out without a rate
    code, out, _ = run(workspace, "rates", "set", "eur", "1.10")
    assert code == 0
    assert "1 EUR = 1.10 USD" in out
    assert stored(workspace) == ("USD", {"EUR": "1.10"})
    assert mrr(workspace) == 15000 + 2200

    code, out, _ = run(workspace, "rates")
    assert code == 0
    assert "Reporting currency: USD" in out
    assert "1 EUR = 1.10 USD" in out

    code, out, _ = run(workspace, "rates", "remove", "EUR")
    assert code == 0
    assert stored(workspace) == ("USD", {})
    assert mrr(workspace) == 15000


def test_changing_the_reporting_currency_rebases_the_rates(workspace: str) -> None:
    assert run(workspace, "rates", "set", "EUR", "2")[0] == 0
    code, out, _ = run(workspace, "rates", "currency", "EUR")
    assert code == 0
    assert "The reporting currency is now EUR." in out
    assert stored(workspace) == ("EUR", {"USD": "0.5"})


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        (("set", "EURO", "1.1"), "not a currency code"),
        (("set", "EUR", "abc"), "must be a number above zero"),
        (("set", "EUR", "-1"), "must be a number above zero"),
        (("set", "EUR", "0"), "must be a number above zero"),
        (("currency", "GBP"), "Set a rate for GBP"),
        (("remove", "GBP"), "No exchange rate for GBP"),
    ],
)
def test_invalid_input_saves_nothing(
    workspace: str, argv: tuple[str, ...], sentence: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(workspace, "rates", *argv)
    assert code == 2
    assert sentence in capsys.readouterr().err
    assert "Traceback" not in out
    assert stored(workspace) == (None, {})
