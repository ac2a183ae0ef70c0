"""The Health page's overview: headline figures and five charts over prepared arrays.

:meth:`HealthOverviewView.show_overview` takes a
:class:`~desktop.views.health_data.HealthOverview` (read in the background) and draws it:
no query runs here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.money import format_money
from desktop.views.charts import (
    AMBER,
    BLUE,
    GREEN,
    PURPLE,
    RED,
    TEAL,
    Chart,
    ChartCard,
)
from desktop.views.health_data import HealthOverview
from desktop.views.widgets.common import Banner

DAY = 86400.0
#: Bars are this wide on a month axis (seconds), so neighbouring months never touch.
MONTH_BAR = 20 * DAY
AGEING_COLOURS = (GREEN, QColor(160, 170, 40), AMBER, QColor(225, 105, 40), RED)


def percent_text(rate: float | None) -> str:
    """``0.0523`` → ``5.2 %``; ``None`` → ``—``."""
    return "—" if rate is None else f"{rate * 100:.1f} %"


def month_label(epoch: float) -> str:
    """``Nov 2026`` for a month's first instant."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%b %Y")


def day_label(epoch: float) -> str:
    """``2026-11-23`` for a day's first instant."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


class FigureTile(QFrame):
    """One headline figure: a caption, a big value and a small line under it."""

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("figureTile")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 5, 10, 5)
        layout.setSpacing(1)
        self.caption = QLabel(caption)
        self.caption.setObjectName("pageSubtitle")
        self.value = QLabel("—")
        font = self.value.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.value.setFont(font)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = QLabel("")
        self.detail.setObjectName("pageSubtitle")
        for label in (self.caption, self.value, self.detail):
            layout.addWidget(label)
        layout.addStretch(1)  # a tile beside a two-line one keeps its caption on top
        # a narrow tile wraps its small line onto a second line rather than cutting it or
        # growing the page sideways
        self.detail.setWordWrap(True)
        self.detail.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set(self, value: str, detail: str = "", tooltip: str = "") -> None:
        """Shows a value with its small line and tooltip."""
        self.value.setText(value)
        self.detail.setText(detail)
        self.setToolTip(tooltip)


class HealthOverviewView(QWidget):
    """Headline figures, notes and the five Health charts.

    Signals:
        message(str): a sentence for the page's banner (an export's outcome).

    Attributes:
        draw_seconds: how long the last :meth:`show_overview` took (bench and tests).
    """

    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.draw_seconds = 0.0
        self.overview: HealthOverview | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)

        tiles = QHBoxLayout()
        tiles.setSpacing(8)
        self.tiles = {
            key: FigureTile(caption)
            for key, caption in (
                ("mrr", "MRR"),
                ("arr", "ARR"),
                ("nrr", "Net revenue retention"),
                ("customer_churn", "Customer churn"),
                ("gross_churn", "Gross MRR churn"),
                ("net_churn", "Net MRR churn"),
            )
        }
        for tile in self.tiles.values():
            tiles.addWidget(tile, 1)
        layout.addLayout(tiles)
        self.notes = Banner(kind="info")
        small = self.notes.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.notes.setFont(small)

        self.mrr_chart = Chart()
        self.movement_chart = Chart()
        self.band_chart = Chart()
        self.band_now_chart = Chart(categories=("Green", "Amber", "Red"))
        self.ageing_chart = Chart(categories=("Current", "1–30", "31–60", "61–90", "Over 90"))
        self.cards = {
            "mrr": ChartCard("MRR", self.mrr_chart, empty_text="No MRR yet."),
            "movements": ChartCard(
                "MRR movements", self.movement_chart, empty_text="No MRR movements yet."
            ),
            "bands": ChartCard(
                "Health bands over time",
                self.band_chart,
                empty_text="Health is recorded after the first sync.",
            ),
            "band_now": ChartCard(
                "Accounts by health band",
                self.band_now_chart,
                empty_text="No account has a health score yet.",
            ),
            "ageing": ChartCard(
                "Receivables ageing", self.ageing_chart, empty_text="Nothing is due."
            ),
        }
        grid = QGridLayout()
        grid.setSpacing(8)
        grid.addWidget(self.cards["mrr"], 0, 0, 1, 3)
        grid.addWidget(self.cards["movements"], 0, 3, 1, 3)
        grid.addWidget(self.cards["bands"], 1, 0, 1, 2)
        grid.addWidget(self.cards["band_now"], 1, 2, 1, 2)
        grid.addWidget(self.cards["ageing"], 1, 4, 1, 2)
        for column in range(6):
            grid.setColumnStretch(column, 1)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        layout.addLayout(grid, 1)
        layout.addWidget(self.notes)
        for card in self.cards.values():
            card.exported.connect(self.message)
            card.set_empty(True)

    # ------------------------------------------------------------------ drawing

    def show_overview(self, overview: HealthOverview) -> None:
        """Draws everything from ``overview`` (GUI thread; no queries)."""
        started = time.perf_counter()
        self.overview = overview
        self._show_figures(overview)
        self._draw_mrr(overview)
        self._draw_movements(overview)
        self._draw_bands(overview)
        self._draw_band_now(overview)
        self._draw_ageing(overview)
        self.draw_seconds = time.perf_counter() - started

    def _money(self, minor: float, overview: HealthOverview) -> str:
        return format_money(round(minor), overview.currency)

    def _show_figures(self, overview: HealthOverview) -> None:
        metrics = overview.metrics
        moves = metrics.movements

        def money(minor: float) -> str:
            return self._money(minor, overview)

        net = moves.net_new_minor
        sign = "+" if net >= 0 else "−"
        self.tiles["mrr"].set(
            money(metrics.mrr_minor),
            f"{sign}{money(abs(net))} this month",
            f"MRR as of {metrics.as_of:%Y-%m-%d %H:%M} UTC, {moves.accounts_end:,} paying "
            "accounts.",
        )
        self.tiles["arr"].set(money(metrics.arr_minor), "12 × MRR")
        nrr_12 = percent_text(metrics.net_revenue_retention_12m)
        self.tiles["nrr"].set(
            percent_text(metrics.net_revenue_retention),
            f"12 months: {nrr_12}",
            "This month: (start MRR + expansion − contraction − churn) ÷ start MRR.",
        )
        self.tiles["customer_churn"].set(
            percent_text(metrics.customer_churn_rate),
            f"{moves.churned_accounts:,} of {moves.accounts_start:,} accounts",
            "Accounts that churned this month ÷ accounts paying at its start.",
        )
        self.tiles["gross_churn"].set(
            percent_text(metrics.gross_mrr_churn_rate),
            f"{money(moves.churn_minor + moves.contraction_minor)} lost",
            "(Churn + contraction) ÷ MRR at the start of the month.",
        )
        self.tiles["net_churn"].set(
            percent_text(metrics.net_mrr_churn_rate),
            f"after {money(moves.expansion_minor)} expansion",
            "(Churn + contraction − expansion) ÷ MRR at the start of the month.",
        )
        notes = overview.notes()
        self.notes.show_message(" ".join(notes), "info")

    def _draw_mrr(self, overview: HealthOverview) -> None:
        series = overview.series
        card, chart = self.cards["mrr"], self.mrr_chart
        chart.clear_series()
        if not series.mrr.any():
            card.set_empty(True)
            return
        card.set_empty(False)
        card.title.setText(f"MRR ({overview.currency}, last {len(series.months)} months)")
        x = series.month_epoch + 15 * DAY
        mrr = series.mrr / overview.scale
        chart.set_line("MRR", x, mrr, BLUE, symbol="o", fill_to=0.0, legend=False)

        def text(i: int) -> str:
            return (
                f"<b>{month_label(series.month_epoch[i])}</b>\n"
                f"MRR {self._money(series.mrr[i], overview)}\n"
                f"ARR {self._money(12 * series.mrr[i], overview)}"
            )

        chart.set_hover(x, text)
        chart.set_month_ticks(series.month_epoch)
        chart.finish((float(series.month_epoch[0]), float(series.month_epoch[-1] + 30 * DAY)))

    def _draw_movements(self, overview: HealthOverview) -> None:
        s = overview.series
        card, chart = self.cards["movements"], self.movement_chart
        chart.clear_series()
        moved = s.new + s.expansion + s.reactivation + s.contraction + s.churn
        if not moved.any():
            card.set_empty(True)
            return
        card.set_empty(False)
        card.title.setText(f"MRR movements ({overview.currency})")
        scale = overview.scale
        x = s.month_epoch + 15 * DAY
        new, expansion, reactivation = s.new / scale, s.expansion / scale, s.reactivation / scale
        contraction, churn = -s.contraction / scale, -s.churn / scale
        chart.set_bars("New", x, new, GREEN, width=MONTH_BAR)
        chart.set_bars("Expansion", x, expansion, TEAL, width=MONTH_BAR, y0=new)
        chart.set_bars("Reactivation", x, reactivation, PURPLE, width=MONTH_BAR, y0=new + expansion)
        chart.set_bars("Contraction", x, contraction, AMBER, width=MONTH_BAR)
        chart.set_bars("Churn", x, churn, RED, width=MONTH_BAR, y0=contraction)
        net = np.array([m.movements.net_new_minor for m in s.metrics], dtype=float) / scale
        chart.set_line("Net new MRR", x, net, chart.palette().text().color(), symbol="o")

        def text(i: int) -> str:
            m = s.metrics[i].movements

            def money(minor: float) -> str:
                return self._money(minor, overview)

            derived = " (derived)" if any("derived" in n for n in s.metrics[i].notes) else ""
            return (
                f"<b>{month_label(s.month_epoch[i])}</b>{derived}\n"
                f"New +{money(m.new_minor)} ({m.new_accounts:,})\n"
                f"Expansion +{money(m.expansion_minor)}\n"
                f"Reactivation +{money(m.reactivation_minor)} ({m.reactivated_accounts:,})\n"
                f"Contraction −{money(m.contraction_minor)}\n"
                f"Churn −{money(m.churn_minor)} ({m.churned_accounts:,})\n"
                f"Net new {'+' if m.net_new_minor >= 0 else '−'}{money(abs(m.net_new_minor))}"
            )

        chart.set_hover(x, text)
        chart.set_month_ticks(s.month_epoch)
        chart.finish((float(s.month_epoch[0]), float(s.month_epoch[-1] + 30 * DAY)))

    def _draw_bands(self, overview: HealthOverview) -> None:
        bands = overview.bands
        card, chart = self.cards["bands"], self.band_chart
        chart.clear_series()
        if not bands.days.size:
            card.set_empty(True)
            return
        card.set_empty(False)
        x = bands.days
        for name, values, colour in (
            ("Green", bands.green, GREEN),
            ("Amber", bands.amber, AMBER),
            ("Red", bands.red, RED),
        ):
            chart.set_line(name, x, values.astype(float), colour, symbol="o")

        def text(i: int) -> str:
            total = int(bands.green[i] + bands.amber[i] + bands.red[i]) or 1
            return f"<b>{day_label(x[i])}</b>\n" + "\n".join(
                f"{name} {int(v[i]):,} ({100 * int(v[i]) / total:.0f} %)"
                for name, v in (
                    ("Green", bands.green),
                    ("Amber", bands.amber),
                    ("Red", bands.red),
                )
            )

        chart.set_hover(x, text)
        last = float(x[-1])
        first = min(float(x[0]), last - 13 * DAY)
        chart.set_day_ticks(first, last)
        chart.finish((first - DAY / 2, last + DAY / 2))
        card.set_note(
            f"Recorded daily since {day_label(float(x[0]))}"
            + ("; the trend builds up as syncs run" if bands.days.size < 7 else "")
        )

    def _draw_band_now(self, overview: HealthOverview) -> None:
        bands = overview.bands
        card, chart = self.cards["band_now"], self.band_now_chart
        chart.clear_series()
        if not bands.days.size:
            card.set_empty(True)
            return
        card.set_empty(False)
        counts = [int(bands.green[-1]), int(bands.amber[-1]), int(bands.red[-1])]
        self._category_bars(chart, counts, (GREEN, AMBER, RED))
        total = sum(counts) or 1
        names = ("Green (70–100)", "Amber (40–69)", "Red (0–39)")

        def text(i: int) -> str:
            return f"<b>{names[i]}</b>\n{counts[i]:,} accounts ({100 * counts[i] / total:.0f} %)"

        chart.set_hover(np.arange(3, dtype=float), text)
        chart.finish((-0.5, 2.5))
        card.set_note(f"As of {day_label(float(bands.days[-1]))}; {sum(counts):,} accounts")

    def _draw_ageing(self, overview: HealthOverview) -> None:
        ageing = overview.ageing
        card, chart = self.cards["ageing"], self.ageing_chart
        chart.clear_series()
        if not ageing.amount.any():
            card.set_empty(True)
            return
        card.set_empty(False)
        card.title.setText(f"Receivables ageing ({overview.currency})")
        amounts = (ageing.amount / overview.scale).tolist()
        self._category_bars(chart, amounts, AGEING_COLOURS)
        names = (
            "Not yet due",
            "1–30 days late",
            "31–60 days late",
            "61–90 days late",
            "Over 90 days late",
        )

        def text(i: int) -> str:
            return (
                f"<b>{names[i]}</b>\n{self._money(int(ageing.amount[i]), overview)}\n"
                f"{int(ageing.invoices[i]):,} invoice{'s' if ageing.invoices[i] != 1 else ''}"
            )

        chart.set_hover(np.arange(len(amounts), dtype=float), text)
        chart.finish((-0.5, len(amounts) - 0.5))
        due = self._money(int(ageing.amount.sum()), overview)
        card.set_note(f"{due} due on {int(ageing.invoices.sum()):,} invoices")

    @staticmethod
    def _category_bars(chart: Chart, values: Sequence[float], colours: Sequence[QColor]) -> None:
        for index, (value, colour) in enumerate(zip(values, colours, strict=True)):
            chart.set_bars(
                str(index),
                np.array([float(index)]),
                np.array([float(value)]),
                colour,
                width=0.65,
                legend=False,
            )
