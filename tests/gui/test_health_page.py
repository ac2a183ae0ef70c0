"""The Health page: figures and charts get the data the core computed; empty state; refresh."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from desktop.health import evaluate_alerts, mrr_movements, receivables_ageing, recompute_health
from desktop.money import format_money
from desktop.storage.database import Database, open_database
from desktop.timeutil import Clock
from desktop.views.charts import Chart
from desktop.views.health import HealthPage
from desktop.views.health_data import load_overview
from desktop.views.jobs import JobRunner
from desktop.views.models.loader import QueryLoader
from tests.unit.health.builders import World, at

NOW = at("2026-06-15 12:00")
TODAY = NOW.date()


@dataclass
class Env:
    database: Database
    loader: QueryLoader
    jobs: JobRunner
    clock: Clock
    ids: dict[str, int]


def build(database: Database) -> dict[str, int]:
    """Five accounts: growth, churn, an overdue invoice, a non-renewing renewal, a trial."""
    with database.transaction() as session:
        w = World(session)
        grow = w.account("Grow")
        w.subscription(grow, "active", 10000, "2025-01-10")
        w.subscription(grow, "active", 5000, "2026-06-02")
        late = w.account("Late")
        w.subscription(late, "active", 20000, "2025-03-01")
        w.invoice(late, "overdue", 150000, TODAY - timedelta(days=40))
        w.invoice(late, "open", 30000, TODAY + timedelta(days=10))
        gone = w.account("Gone")
        w.subscription(gone, "cancelled", 8000, "2025-02-01", cancelled="2026-06-05")
        leaving = w.account("Leaving")
        w.subscription(
            leaving,
            "non_renewing",
            4000,
            "2025-05-01",
            current_term_ends_at=NOW + timedelta(days=12),
        )
        trial = w.account("Trial")
        w.subscription(trial, "trial", 0, "2026-06-01", trial_ends_at=NOW + timedelta(days=3))
        session.flush()
        return {"grow": grow.id, "late": late.id, "gone": gone.id, "leaving": leaving.id}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    ids = build(database)
    fixed: Clock = lambda: NOW  # noqa: E731
    recompute_health(database, clock=fixed)
    evaluate_alerts(database, fixed)
    loader = QueryLoader(database)
    jobs = JobRunner()
    yield Env(database, loader, jobs, fixed, ids)
    jobs.shutdown()
    loader.shutdown()
    database.close()


def _page(qtbot: QtBot, env: Env) -> HealthPage:
    page = HealthPage(env.loader, env.jobs, env.database, env.clock)
    qtbot.addWidget(page)
    page.resize(1200, 760)
    page.show()
    page.refresh()
    qtbot.waitUntil(lambda: page.overview.overview is not None, timeout=10000)
    return page


def _bar(chart: Chart, index: int) -> float:
    item = chart.series(str(index))
    assert item is not None
    return float(item.opts["height"][0])


def _y(item: object) -> np.ndarray:
    _x, y = item.getData()  # type: ignore[attr-defined]
    return np.asarray(y)


def test_figures_and_every_chart_show_the_core_numbers(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    series = mrr_movements(env.database, 24, clock=env.clock)
    metrics = series.metrics[-1]
    assert page.overview.tiles["mrr"].value.text() == format_money(metrics.mrr_minor, "USD")
    assert page.overview.tiles["arr"].value.text() == format_money(12 * metrics.mrr_minor, "USD")
    # MRR line: one point per month, in major units
    mrr_line = page.overview.mrr_chart.series("MRR")
    assert mrr_line is not None
    assert np.allclose(_y(mrr_line), series.mrr / 100)
    # movements: stacked bars up (new, expansion, reactivation) and down (contraction, churn)
    chart = page.overview.movement_chart
    assert chart.series_names[:5] == ["New", "Expansion", "Reactivation", "Contraction", "Churn"]
    churn = chart.series("Churn")
    assert churn is not None
    assert np.allclose(churn.opts["height"], -series.churn / 100)
    assert series.churn[-1] == 8000  # "Gone" churned in June
    expansion = chart.series("Expansion")
    assert expansion is not None
    assert np.allclose(expansion.opts["height"][-1], 50.0)  # "Grow" added 50.00
    # bands now and receivables ageing
    result = recompute_health(env.database, clock=env.clock)
    counts = [_bar(page.overview.band_now_chart, i) for i in range(3)]
    assert counts == [result.bands["green"], result.bands["amber"], result.bands["red"]]
    ageing = receivables_ageing(env.database, clock=env.clock)
    heights = [_bar(page.overview.ageing_chart, i) for i in range(5)]
    assert np.allclose(heights, ageing.amount / 100)
    assert heights[0] == 300.0  # not yet due
    assert heights[2] == 1500.0  # 31–60 days late


def test_hover_reads_the_month_under_the_mouse(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    chart = page.overview.movement_chart
    chart.hover_at(23)
    assert "Jun 2026" in chart.readout_text
    assert "Churn −80.00 USD (1)" in chart.readout_text
    chart.hover_at(-1)
    assert chart.readout_text == ""


def test_at_1280_by_800_every_chart_has_room_for_its_bars_and_legend(
    qtbot: QtBot, env: Env
) -> None:
    page = _page(qtbot, env)
    page.resize(1090, 775)  # what the window leaves the page at 1280×800
    charts = {
        "movements": page.overview.movement_chart,
        "mrr": page.overview.mrr_chart,
        "bands": page.overview.band_chart,
        "band_now": page.overview.band_now_chart,
        "ageing": page.overview.ageing_chart,
    }
    qtbot.waitUntil(lambda: page.overview.height() > 600, timeout=3000)
    plot_heights = {name: chart.plotItem.vb.height() for name, chart in charts.items()}
    # the movements legend takes two rows, and its chart still has room for the bars
    assert charts["movements"].legend.isVisible()
    assert all(height >= 100 for height in plot_heights.values()), plot_heights
    assert plot_heights["movements"] >= 150, plot_heights


def _reads_in_full(label: QLabel) -> bool:
    metrics = label.fontMetrics()
    if not label.wordWrap():
        return metrics.horizontalAdvance(label.text()) <= label.width()
    needed = metrics.boundingRect(
        QRect(0, 0, label.width(), 10_000), Qt.TextFlag.TextWordWrap, label.text()
    )
    return needed.width() <= label.width() and needed.height() <= label.height()


def test_at_1280_by_800_the_figures_read_in_full(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    page.resize(1090, 775)  # what the window leaves the page at 1280×800
    tiles = page.overview.tiles
    # the demo workspace's figures: wide values leave the other tiles ~140 px
    tiles["mrr"].set("224,054.65 USD", "+7,512.78 USD this month")
    tiles["arr"].set("2,688,655.80 USD", "12 × MRR")
    tiles["net_churn"].set("0.2 %", "after 7,534.83 USD expansion")
    qtbot.waitUntil(
        lambda: all(_reads_in_full(tile.detail) for tile in tiles.values()), timeout=2000
    )
    assert all(_reads_in_full(tile.value) for tile in tiles.values())
    # a tile beside a two-line one keeps its caption on top, in line with the others
    assert len({tile.caption.y() for tile in tiles.values()}) == 1


def test_an_empty_workspace_says_what_to_do(qtbot: QtBot, tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    loader, jobs = QueryLoader(database), JobRunner()
    try:
        page = HealthPage(loader, jobs, database)
        qtbot.addWidget(page)
        page.show()
        page.refresh()
        qtbot.waitUntil(lambda: page.overview.overview is not None, timeout=10000)
        assert page.empty.isVisible()
        assert "synced" in page.empty.text()
        assert not page.overview.isVisible()
    finally:
        jobs.shutdown()
        loader.shutdown()
        database.close()


def test_a_refresh_asked_while_loading_loads_again(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    first = page.overview.overview
    page.refresh()
    page.refresh()  # arrives while the first is loading: runs once it ends
    qtbot.waitUntil(
        lambda: page.overview.overview is not first and not page._loading, timeout=10000
    )
    assert page.refresh_button.isEnabled()


def test_the_overview_loads_off_the_gui_thread_and_names_its_notes(env: Env) -> None:
    overview = load_overview(env.database, env.clock)
    assert overview.has_data
    assert overview.currency == "USD"
    assert any("derived from subscription dates" in note for note in overview.notes())
