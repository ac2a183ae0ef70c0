"""Settings → Reporting currency and exchange rates: save, refuse bad input, recompute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.health import recompute_health
from desktop.health.settings import load_currency_settings
from desktop.storage.database import Database, open_database
from desktop.timeutil import Clock
from desktop.views.health_data import load_overview
from desktop.views.jobs import JobRunner
from desktop.views.settings_page import CurrencyGroup, SettingsPage
from tests.unit.health.builders import World, at

NOW = at("2026-06-15 12:00")
FIXED: Clock = lambda: NOW  # noqa: E731


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    with database.transaction() as session:
        w = World(session)
        a, b, c = w.account("Alpha"), w.account("Beta"), w.account("Gamma")
        w.subscription(a, "active", 10000, "2025-01-01")
        w.subscription(b, "active", 5000, "2025-01-01")
        w.subscription(c, "active", 2000, "2025-01-01", currency="EUR")
    recompute_health(database, clock=FIXED)
    yield database
    database.close()


@pytest.fixture
def jobs() -> Iterator[JobRunner]:
    runner = JobRunner()
    yield runner
    runner.shutdown()


def _page(qtbot: QtBot, database: Database, jobs: JobRunner) -> SettingsPage:
    page = SettingsPage("w.sqlite3", "memory", "sqlite", database=database, jobs=jobs, clock=FIXED)
    qtbot.addWidget(page)
    page.show()
    return page


def _group(page: SettingsPage) -> CurrencyGroup:
    assert page.currency is not None
    return page.currency


def _stored(database: Database) -> tuple[str | None, dict[str, str]]:
    with database.transaction() as session:
        settings = load_currency_settings(session)
    return settings.reporting, {code: str(rate) for code, rate in settings.rates.items()}


def test_a_rate_set_on_the_page_is_stored_and_health_includes_the_currency(
    qtbot: QtBot, database: Database, jobs: JobRunner
) -> None:
    before = load_overview(database, FIXED)
    assert before.metrics.mrr_minor == 15000
    assert any(
        "EUR" in note and "Reporting currency and exchange rates" in note for note in before.notes()
    )
    page = _page(qtbot, database, jobs)
    group = _group(page)
    assert group.reporting.placeholderText() == "USD"
    qtbot.mouseClick(group.add_button, Qt.MouseButton.LeftButton)
    row = group.rows[-1]
    row.code.setText("eur")
    row.rate.setText("1.10")
    qtbot.mouseClick(group.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "recomputed with these rates" in group.status.text(), timeout=10000)
    assert _stored(database) == ("USD", {"EUR": "1.10"})
    after = load_overview(database, FIXED)
    assert after.metrics.mrr_minor == 15000 + 2200
    assert not any("EUR" in note for note in after.notes())
    assert [r.target.text() for r in group.rows] == ["USD"]


@pytest.mark.parametrize(
    ("reporting", "code", "rate", "sentence"),
    [
        ("", "E1", "1.1", "not a currency code"),
        ("", "EUR", "abc", "must be a number above zero"),
        ("", "EUR", "-2", "must be a number above zero"),
        ("", "EUR", "0", "must be a number above zero"),
        ("US", "EUR", "1.1", "not a currency code"),
    ],
)
def test_invalid_input_is_refused_next_to_the_field_and_nothing_is_saved(
    qtbot: QtBot,
    database: Database,
    jobs: JobRunner,
    reporting: str,
    code: str,
    rate: str,
    sentence: str,
) -> None:
    page = _page(qtbot, database, jobs)
    group = _group(page)
    group.reporting.setText(reporting)
    row = group.add_row(code, rate)
    qtbot.mouseClick(group.save_button, Qt.MouseButton.LeftButton)
    error = group.reporting_error if reporting else row.error
    assert sentence in error.text()
    assert error.isVisible()
    assert "Nothing was saved" in group.status.text()
    assert _stored(database) == (None, {})
    assert not jobs.running()


def test_remove_drops_a_rate(qtbot: QtBot, database: Database, jobs: JobRunner) -> None:
    page = _page(qtbot, database, jobs)
    group = _group(page)
    group.add_row("EUR", "1.1")
    qtbot.mouseClick(group.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "recomputed" in group.status.text(), timeout=10000)
    qtbot.mouseClick(group.rows[0].remove, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(group.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: group.save_button.isEnabled(), timeout=10000)
    assert _stored(database) == ("USD", {})  # the currency the rate was against stays chosen
    assert group.rows == []
