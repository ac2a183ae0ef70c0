"""The chart widget: data reaches its plot items, the readout follows, PNG export writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from desktop.views.charts import (
    BLUE,
    GREEN,
    LEGEND_ROW_HEIGHT,
    PLOT_MIN_HEIGHT,
    RED,
    Chart,
    ChartCard,
    compact_number,
)

MONTH = 30 * 86400.0
X = np.array([1.7e9 + i * MONTH for i in range(4)])


@pytest.fixture
def holder(qtbot: QtBot) -> Iterator[QWidget]:
    """The charts' parent, as in the app: a chart always has one that deletes it."""
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.resize(640, 320)
    widget.show()
    yield widget
    widget.close()
    widget.deleteLater()


def _chart(holder: QWidget, **kwargs: object) -> Chart:
    chart = Chart(parent=holder, **kwargs)  # type: ignore[arg-type]
    chart.resize(600, 300)
    chart.show()
    return chart


def test_series_reach_their_plot_items_and_replace_on_redraw(qtbot: QtBot, holder: QWidget) -> None:
    chart = _chart(holder)
    chart.set_bars("New", X, np.array([1.0, 2.0, 3.0, 4.0]), GREEN, width=MONTH / 2)
    chart.set_bars("Churn", X, np.array([-1.0, 0.0, -2.0, 0.0]), RED, width=MONTH / 2)
    chart.set_line("Net", X, np.array([0.0, 2.0, 1.0, 4.0]), BLUE, symbol="o")
    chart.finish()
    bars = chart.series("New")
    assert bars is not None
    assert list(bars.opts["height"]) == [1.0, 2.0, 3.0, 4.0]
    line = chart.series("Net")
    assert line is not None
    assert list(line.getData()[1]) == [0.0, 2.0, 1.0, 4.0]
    assert [name for _sample, label in chart.legend.items for name in [label.text]] == [
        "New",
        "Churn",
        "Net",
    ]
    chart.set_line("Net", X, np.array([5.0, 5.0, 5.0, 5.0]), BLUE)
    assert chart.series_names == ["New", "Churn", "Net"]
    assert len(chart.legend.items) == 3  # replaced, not added twice
    chart.clear_series()
    assert chart.series_names == []
    assert not chart.legend.isVisible()


def test_a_step_line_holds_each_value_until_the_next_point(qtbot: QtBot, holder: QWidget) -> None:
    chart = _chart(holder)
    chart.set_line("MRR", X[:3], np.array([10.0, 20.0, 15.0]), BLUE, step=True)
    x, y = chart.series("MRR").getData()  # type: ignore[union-attr]
    assert list(y) == [10.0, 10.0, 20.0, 20.0, 15.0, 15.0]
    assert list(x) == [X[0], X[1], X[1], X[2], X[2], X[2] + MONTH]


def test_hover_shows_the_nearest_point_and_hides_off_the_data(
    qtbot: QtBot, holder: QWidget
) -> None:
    chart = _chart(holder)
    chart.set_line("MRR", X, np.array([1.0, 2.0, 3.0, 4.0]), BLUE)
    chart.set_hover(X, lambda i: f"point {i}")
    chart.finish()
    with qtbot.waitSignal(chart.hovered) as blocker:
        chart.hover_at(chart._nearest(float(X[2] + MONTH * 0.3)))
    assert blocker.args == [2]
    assert chart.readout_text == "point 2"
    chart.hover_at(-1)
    assert chart.readout_text == ""


def test_category_axis_names_the_bars(qtbot: QtBot, holder: QWidget) -> None:
    chart = _chart(holder, categories=("Green", "Amber", "Red"))
    axis = chart.category_axis
    assert axis is not None
    assert axis.labels == ["Green", "Amber", "Red"]


def test_export_writes_a_png_of_the_chart(qtbot: QtBot, holder: QWidget, tmp_path: Path) -> None:
    chart = _chart(holder)
    chart.set_line("MRR", X, np.array([1.0, 2.0, 3.0, 4.0]), BLUE)
    chart.finish()
    card = ChartCard("MRR", chart, parent=chart.parentWidget())
    card.set_empty(False)
    with qtbot.waitSignal(card.exported) as blocker:
        written = card.export_to(tmp_path / "mrr")
    assert written == tmp_path / "mrr.png"
    assert "Saved the chart" in str(blocker.args[0])
    image = QImage(str(written))
    assert image.width() >= 800
    assert image.height() > 100


def test_an_empty_card_shows_its_sentence_and_cannot_export(qtbot: QtBot, holder: QWidget) -> None:
    card = ChartCard("Receivables ageing", Chart(), empty_text="Nothing is due.", parent=holder)
    card.set_empty(True)
    assert card.stack.currentWidget() is card.empty
    assert not card.export_button.isEnabled()


def test_compact_numbers_read_like_a_person_writes_them() -> None:
    assert compact_number(0) == "0"
    assert compact_number(950) == "950"
    assert compact_number(12_500) == "12.5k"
    assert compact_number(1_000_000) == "1M"
    assert compact_number(-2_400) == "−2.4k"
    assert compact_number(250_000) == "250k"


def test_a_legend_makes_the_chart_ask_for_more_height_and_layouts_share_the_rest(
    holder: QWidget,
) -> None:
    chart = _chart(holder, legend_columns=3)
    assert chart.minimumHeight() == PLOT_MIN_HEIGHT
    for index, name in enumerate(("New", "Expansion", "Reactivation", "Contraction")):
        chart.set_bars(name, X, np.full(4, float(index)), GREEN, width=MONTH / 2)
    assert chart.minimumHeight() == PLOT_MIN_HEIGHT + 2 * LEGEND_ROW_HEIGHT  # two rows
    # the hint is that least height, not the size it has now (300): a layout that once
    # squeezed the chart can give it room again
    assert chart.sizeHint().height() == chart.minimumHeight()
    chart.clear_series()
    assert chart.minimumHeight() == PLOT_MIN_HEIGHT
