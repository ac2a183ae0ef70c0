"""One account's charts in the Account 360°: MRR with its invoices, and the score's trend.

:func:`load_account_charts` (Qt-free) reads the account's month-end MRR
(:func:`desktop.health.account_mrr`) and its score history
(:func:`desktop.health.score_history`); the invoices come from the 360° itself, which has
already read them. :class:`AccountCharts` draws both through the read loader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import numpy as np
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget
from sqlalchemy.orm import Session

from desktop.health import AccountMrr, ScoreHistory, account_mrr, score_history
from desktop.money import format_money, minor_digits
from desktop.storage.database import Database
from desktop.storage.repositories.account_detail import InvoiceItem
from desktop.timeutil import Clock, utc_now
from desktop.views.charts import AMBER, BLUE, GREEN, GREY, RED, Chart, ChartCard
from desktop.views.health_overview import DAY, day_label, month_label
from desktop.views.models.formatting import status_text
from desktop.views.models.loader import Loader

INVOICE_COLOURS = {
    "paid": GREEN,
    "open": BLUE,
    "overdue": RED,
    "partially_paid": AMBER,
    "void": GREY,
    "draft": GREY,
}
SCORE_DAYS = 365


@dataclass(frozen=True)
class AccountChartData:
    """What the account charts draw (MRR history and score history)."""

    account_id: int
    mrr: AccountMrr
    scores: ScoreHistory


def load_account_charts(
    database: Database, account_id: int, clock: Clock = utc_now
) -> AccountChartData:
    """Reads one account's MRR history and score history (Qt-free)."""
    return AccountChartData(
        account_id=account_id,
        mrr=account_mrr(database, account_id, clock=clock),
        scores=score_history(database, account_id, SCORE_DAYS, clock=clock),
    )


def invoice_epoch(invoice: InvoiceItem) -> float | None:
    """An invoice's issue date as epoch seconds (UTC midnight), if known."""
    if invoice.issued_on is None:
        return None
    day = invoice.issued_on
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


class AccountCharts(QWidget):
    """The account's *MRR and invoices* and *Health score* charts.

    Attributes:
        data: the last data drawn (``None`` until loaded).
    """

    def __init__(
        self,
        loader: Loader,
        database: Database,
        clock: Clock = utc_now,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._database = database
        self._clock = clock
        self._generation = 0
        self._invoices: list[InvoiceItem] = []
        self._wanted: int | None = None
        self.data: AccountChartData | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.hide()  # shown with a sentence, so an empty one leaves no gap
        layout.addWidget(self.summary)
        row = QHBoxLayout()
        self.mrr_chart = Chart()
        self.score_chart = Chart(value_format=lambda v: f"{v:.0f}")
        self.mrr_card = ChartCard(
            "MRR and invoices", self.mrr_chart, empty_text="No MRR or invoices yet."
        )
        self.score_card = ChartCard(
            "Health score",
            self.score_chart,
            empty_text="This account has no health score yet; it is computed after a sync.",
        )
        self.mrr_card.exported.connect(self._say)
        self.score_card.exported.connect(self._say)
        row.addWidget(self.mrr_card, 3)
        row.addWidget(self.score_card, 2)
        layout.addLayout(row, 1)
        self.mrr_card.set_empty(True)
        self.score_card.set_empty(True)

    def _say(self, text: str) -> None:
        self.summary.setText(text)
        self.summary.setVisible(bool(text))

    def show_account(self, account_id: int, invoices: Sequence[InvoiceItem]) -> None:
        """Shows the charts of ``account_id`` (invoices as the 360° read them).

        They are read when the charts are visible (now, or when next shown), so opening
        an account on another tab costs nothing.
        """
        self._generation += 1
        self._invoices = list(invoices)
        self._wanted = account_id
        if self.isVisible():
            self._load()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._wanted is not None:
            self._load()

    def _load(self) -> None:
        account_id = self._wanted
        if account_id is None:
            return
        self._wanted = None
        generation = self._generation
        database, clock = self._database, self._clock

        def query(_session: Session) -> AccountChartData:
            return load_account_charts(database, account_id, clock)

        self._loader.submit(query, partial(self._loaded, generation), self._say)

    def _loaded(self, generation: int, data: AccountChartData) -> None:
        if generation == self._generation:
            self.show_data(data, self._invoices)

    def show_data(self, data: AccountChartData, invoices: Sequence[InvoiceItem]) -> None:
        """Draws ``data`` and ``invoices`` (GUI thread; no queries)."""
        self.data = data
        self._invoices = list(invoices)
        self._draw_mrr(data.mrr, self._invoices)
        self._draw_score(data.scores)

    def _draw_mrr(self, mrr: AccountMrr, invoices: list[InvoiceItem]) -> None:
        chart = self.mrr_chart
        chart.clear_series()
        dated = [(invoice_epoch(i), i) for i in invoices]
        shown = sorted(((x, i) for x, i in dated if x is not None), key=lambda pair: pair[0])
        if not mrr.history.any() and not shown:
            self.mrr_card.set_empty(True)
            return
        self.mrr_card.set_empty(False)
        currency = mrr.currency
        scale = float(10 ** minor_digits(currency or "USD"))
        months = mrr.month_epoch
        chart.set_line(
            f"MRR ({currency})",
            months,
            mrr.history / scale,
            BLUE,
            step=True,
            fill_to=0.0,
        )
        start, end = float(months[0]), float(months[-1]) + 31 * DAY
        inside = [(x, i) for x, i in shown if x >= start]
        for status in dict.fromkeys(i.status for _, i in inside):
            mine = [(x, i) for x, i in inside if i.status == status]
            xs = np.array([x for x, _ in mine])
            ys = np.array(
                [i.total_minor / 10 ** minor_digits(i.currency or "USD") for _, i in mine]
            )
            colour = INVOICE_COLOURS.get(status, GREY)
            chart.set_points(
                f"{status_text(status)} invoice", xs, ys, [colour] * len(mine), legend=True
            )
        points = np.concatenate([months + 15 * DAY, np.array([x for x, _ in inside])])
        order = np.argsort(points, kind="stable")
        labels: list[str] = []
        for position in order:
            if position < months.size:
                labels.append(
                    f"<b>{month_label(months[position])}</b>\n"
                    f"MRR {format_money(int(mrr.history[position]), currency)}"
                )
            else:
                day, invoice = inside[position - months.size]
                total = format_money(invoice.total_minor, invoice.currency)
                due = format_money(invoice.amount_due_minor, invoice.currency)
                labels.append(
                    f"<b>Invoice {invoice.number}</b> · {day_label(day)}\n"
                    f"{status_text(invoice.status)}: {total}"
                    + (f", {due} due" if invoice.amount_due_minor else "")
                )
        chart.set_hover(points[order], lambda i: labels[i])
        chart.set_month_ticks(months)
        chart.finish((start, end))
        late = sum(1 for _, i in shown if i.status == "overdue")
        self.mrr_card.set_note(
            f"MRR now {format_money(mrr.mrr_minor, currency)} · {len(shown)} invoice"
            f"{'s' if len(shown) != 1 else ''}"
            + (f", {late} overdue" if late else "")
            + (
                f" ({len(shown) - len(inside)} older than the chart)"
                if len(inside) < len(shown)
                else ""
            )
        )

    def _draw_score(self, scores: ScoreHistory) -> None:
        chart = self.score_chart
        chart.clear_series()
        known = scores.score >= 0
        if not known.any():
            self.score_card.set_empty(True)
            self._say("")
            return
        self.score_card.set_empty(False)
        chart.add_band("red band", 0, 40, RED)
        chart.add_band("amber band", 40, 70, AMBER)
        chart.add_band("green band", 70, 100, GREEN)
        first = int(np.argmax(known))
        days = scores.days[first:]
        values = scores.score[first:].astype(float)
        last_band = str(scores.band[-1])
        colour = {"green": GREEN, "amber": AMBER, "red": RED}.get(last_band, BLUE)
        chart.set_line("Score", days, values, QColor(colour).darker(120), step=True, legend=False)
        changed = np.flatnonzero(np.diff(values, prepend=-1.0) != 0)
        chart.set_points(
            "Score changes",
            days[changed],
            values[changed],
            [QColor(colour).darker(120)] * int(changed.size),
            size=7,
        )

        def text(i: int) -> str:
            index = first + i
            return (
                f"<b>{day_label(scores.days[index])}</b>\n"
                f"Score {int(scores.score[index])} ({scores.band[index]})\n"
                f"Overdue {int(scores.overdue_points[index])} · "
                f"Amount due {int(scores.amount_due_points[index])}\n"
                f"State {int(scores.state_points[index])} · "
                f"Trend {int(scores.trend_points[index])}"
            )

        chart.set_hover(days, text)
        span_start = min(float(days[0]), float(days[-1]) - 29 * DAY)
        chart.set_day_ticks(span_start, float(days[-1]))
        chart.finish((span_start, float(days[-1]) + DAY), (0.0, 100.0))
        self.score_card.set_note(
            f"Now {int(scores.score[-1])} ({last_band}); since {day_label(float(days[0]))}"
        )
        self._say(
            f"Health score {int(scores.score[-1])} — {last_band}. Components (0–100): "
            f"overdue invoices {int(scores.overdue_points[-1])}, amount due vs MRR "
            f"{int(scores.amount_due_points[-1])}, subscription state "
            f"{int(scores.state_points[-1])}, MRR trend {int(scores.trend_points[-1])}."
        )
