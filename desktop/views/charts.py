"""Charts: one thin ``pg.PlotWidget`` subclass over prepared numpy arrays, and its card.

:class:`Chart` is the only plot widget in Billbridge. It styles itself from the palette,
draws a date axis (epoch seconds, shown in UTC) or named categories, formats values
compactly (``12.5k``), clamps panning and zooming to the data, shows the values under
the mouse in a readout, and exports itself to PNG. Pages prepare the arrays (sorted by
time) outside the widget and call :meth:`Chart.set_bars` / :meth:`Chart.set_line` /
:meth:`Chart.set_points` once per series, then :meth:`Chart.finish` once, so a redraw
happens once per refresh.

:class:`ChartCard` frames a chart with a title, a note line, an empty state and an
*Export PNG…* button.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QEvent, QPointF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

FloatArray = npt.NDArray[np.float64]
#: Turns a value on the value axis into its tick text.
ValueFormat = Callable[[float], str]

#: Series colours that read on light and dark backgrounds.
GREEN = QColor(46, 160, 67)
TEAL = QColor(31, 138, 160)
BLUE = QColor(52, 120, 200)
PURPLE = QColor(137, 87, 229)
AMBER = QColor(212, 140, 20)
RED = QColor(214, 69, 65)
GREY = QColor(128, 128, 128)

#: A chart's least height without a legend: room for a value axis of four or five ticks.
PLOT_MIN_HEIGHT = 150
#: What each row of a legend adds to a chart's least height.
LEGEND_ROW_HEIGHT = 20


def compact_number(value: float) -> str:
    """``1234567`` → ``1.2M``; ``12500`` → ``12.5k``; ``-300`` → ``−300``."""
    sign = "−" if value < 0 else ""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            scaled = size / limit
            text = f"{scaled:.1f}".rstrip("0").rstrip(".") if scaled < 100 else f"{scaled:.0f}"
            return f"{sign}{text}{suffix}"
    if size and size < 1:
        return f"{sign}{size:.2f}".rstrip("0").rstrip(".")
    return f"{sign}{size:,.0f}"


class ValueAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph is untyped
    """A value axis whose ticks read compactly (``250k``), or through ``fmt``."""

    def __init__(self, orientation: str = "left", fmt: ValueFormat = compact_number) -> None:
        super().__init__(orientation)
        self.fmt = fmt

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [self.fmt(value * scale) for value in values]


class CategoryAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph is untyped
    """A bottom axis naming the bars at 0, 1, 2 … (``receivables ageing`` buckets)."""

    def __init__(self, labels: Sequence[str]) -> None:
        super().__init__("bottom")
        self.set_labels(labels)

    def set_labels(self, labels: Sequence[str]) -> None:
        """Names the positions 0…n−1."""
        self.labels = list(labels)
        self.setTicks([[(float(i), label) for i, label in enumerate(self.labels)], []])


class Chart(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """A styled plot over prepared arrays, with a hover readout and PNG export.

    Args:
        categories: bar names for a category chart; ``None`` for a date axis (epoch
            seconds, UTC).
        value_format: how value-axis ticks read.
        legend_columns: entries per legend row (the legend sits under the plot).
        parent: the parent widget.

    Signals:
        hovered(int): the index under the mouse changed (−1: left the data).

    Attributes:
        readout_text: the readout's current text ("" when hidden), for tests and
            accessibility.
    """

    hovered = Signal(int)

    def __init__(
        self,
        *,
        categories: Sequence[str] | None = None,
        value_format: ValueFormat = compact_number,
        legend_columns: int = 3,
        parent: QWidget | None = None,
    ) -> None:
        self.category_axis = CategoryAxis(categories) if categories is not None else None
        bottom: pg.AxisItem = self.category_axis or pg.DateAxisItem("bottom", utcOffset=0)
        super().__init__(
            parent=parent,
            axisItems={"bottom": bottom, "left": ValueAxis("left", value_format)},
        )
        self._legend_columns = legend_columns
        self.setMinimumHeight(PLOT_MIN_HEIGHT)
        # Nothing in a chart works from the keyboard (the mouse pans and zooms; the
        # readout follows the mouse), so Tab goes on to the card's Export button.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMenuEnabled(False)
        self.plotItem.hideButtons()
        self.plotItem.showGrid(x=False, y=True, alpha=0.18)
        self.plotItem.vb.setMouseEnabled(x=True, y=False)
        self._apply_palette()
        # The legend sits in its own row under the plot, so it never hides data.
        self.legend = pg.LegendItem(
            colCount=legend_columns,
            labelTextSize="8pt",
            labelTextColor=self._text_colour,
            horSpacing=10,
            verSpacing=-6,
        )
        self.legend.layout.setContentsMargins(0, 0, 0, 3)  # not the style's ~10 px a side
        self.legend.setVisible(False)
        self._legend_shown = False
        self._items: dict[str, pg.GraphicsObject] = {}
        self._zero = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(self._text_colour, width=1))
        self._zero.setZValue(5)
        self.addItem(self._zero, ignoreBounds=True)
        self._cursor = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(GREY, width=1, style=Qt.PenStyle.DashLine)
        )
        self._cursor.setVisible(False)
        self.addItem(self._cursor, ignoreBounds=True)
        self._readout = pg.TextItem(
            "",
            color=self._text_colour,
            fill=pg.mkBrush(self._base_colour),
            border=pg.mkPen(GREY),
            anchor=(0, 0),
        )
        self._readout.setZValue(20)
        self._readout.setVisible(False)
        self.addItem(self._readout, ignoreBounds=True)
        self._hover_x: FloatArray = np.zeros(0)
        self._hover_text: Callable[[int], str] | None = None
        self._hover_index = -1
        self.readout_text = ""
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def sizeHint(self) -> QSize:
        """A modest size: a layout shares out the rest by its stretch factors.

        ``QGraphicsView`` hints its scene's size, which pyqtgraph keeps equal to the
        widget's: a layout would then keep a chart as squeezed as it once was.
        """
        return QSize(300, self.minimumHeight())

    # ---------------------------------------------------------------- styling

    def _apply_palette(self) -> None:
        palette = self.palette()
        self._base_colour = palette.color(QPalette.ColorRole.Base)
        self._text_colour = palette.color(QPalette.ColorRole.Text)
        self.setBackground(self._base_colour)
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF() * 0.85, 7.5))
        for name in ("left", "bottom"):
            axis = self.plotItem.getAxis(name)
            axis.setPen(pg.mkPen(GREY))
            axis.setTextPen(pg.mkPen(self._text_colour))
            axis.setStyle(tickFont=font, tickTextOffset=4)
        self.plotItem.getAxis("left").setWidth(48)
        self.plotItem.getAxis("bottom").setHeight(30)

    # ------------------------------------------------------------------- data

    def clear_series(self) -> None:
        """Removes every series (the axes, zero line and readout stay)."""
        for item in self._items.values():
            self.removeItem(item)
        self._items.clear()
        self.legend.clear()
        self._show_legend(False)
        self._hover_x = np.zeros(0)
        self._hover_text = None
        self._hide_readout()

    def _put(self, name: str, item: pg.GraphicsObject, legend: bool) -> None:
        old = self._items.pop(name, None)
        if old is not None:
            self.removeItem(old)
            self.legend.removeItem(old)
        self._items[name] = item
        self.addItem(item)
        if legend:
            self.legend.addItem(item, name)
            self._show_legend(True)

    def _show_legend(self, shown: bool) -> None:
        # In the layout only while it has entries: an empty row would still take room.
        if shown and not self._legend_shown:
            self.plotItem.layout.addItem(self.legend, 4, 1)
        elif not shown and self._legend_shown:
            self.plotItem.layout.removeItem(self.legend)
        self._legend_shown = shown
        self.legend.setVisible(shown)
        # the legend takes its rows from the plot: grow so the bars keep their room
        rows = math.ceil(len(self.legend.items) / self._legend_columns) if shown else 0
        self.setMinimumHeight(PLOT_MIN_HEIGHT + rows * LEGEND_ROW_HEIGHT)

    def series(self, name: str) -> pg.GraphicsObject | None:
        """The plot item drawn for ``name`` (tests check that data reached it)."""
        return self._items.get(name)

    @property
    def series_names(self) -> list[str]:
        """The names of the series drawn, in the order they were added."""
        return list(self._items)

    def set_bars(
        self,
        name: str,
        x: FloatArray,
        height: FloatArray,
        colour: QColor,
        *,
        width: float,
        y0: FloatArray | None = None,
        legend: bool = True,
    ) -> None:
        """Bars of ``height`` from ``y0`` (default 0) centred on ``x``."""
        base = np.zeros_like(height, dtype=float) if y0 is None else np.asarray(y0, dtype=float)
        fill = QColor(colour)
        fill.setAlpha(215)
        item = pg.BarGraphItem(
            x=np.asarray(x, dtype=float),
            height=np.asarray(height, dtype=float),
            y0=base,
            width=width,
            brush=pg.mkBrush(fill),
            pen=pg.mkPen(colour.darker(115), width=1),
            name=name,
        )
        self._put(name, item, legend)

    def set_line(
        self,
        name: str,
        x: FloatArray,
        y: FloatArray,
        colour: QColor,
        *,
        width: float = 2.0,
        step: bool = False,
        symbol: str | None = None,
        fill_to: float | None = None,
        legend: bool = True,
    ) -> None:
        """A line through ``(x, y)``; ``step`` draws it flat between points."""
        xs = np.asarray(x, dtype=float)
        ys = np.asarray(y, dtype=float)
        options: dict[str, object] = {"pen": pg.mkPen(colour, width=width), "name": name}
        if step and xs.size:
            # flat from each x to the next, the last value held to the end of its period
            spacing = float(np.median(np.diff(xs))) if xs.size > 1 else 86400.0
            edges = np.append(xs, xs[-1] + spacing)
            xs = np.repeat(edges, 2)[1:-1]
            ys = np.repeat(ys, 2)
        if symbol:
            options.update(symbol=symbol, symbolSize=6, symbolBrush=colour, symbolPen=colour)
        if fill_to is not None:
            tint = QColor(colour)
            tint.setAlpha(45)
            options.update(fillLevel=fill_to, brush=pg.mkBrush(tint))
        item = pg.PlotDataItem(xs, ys, **options)
        item.setZValue(10)
        self._put(name, item, legend)

    def set_points(
        self,
        name: str,
        x: FloatArray,
        y: FloatArray,
        colours: Sequence[QColor],
        *,
        size: float = 8.0,
        legend: bool = False,
    ) -> None:
        """Markers at ``(x, y)``, each in its own colour."""
        distinct = {colour.rgba() for colour in colours}
        brush: object = (
            pg.mkBrush(colours[0])
            if len(distinct) == 1
            else [pg.mkBrush(colour) for colour in colours]
        )
        item = pg.ScatterPlotItem(
            x=np.asarray(x, dtype=float),
            y=np.asarray(y, dtype=float),
            size=size,
            brush=brush,
            pen=pg.mkPen(self._base_colour, width=1),
            name=name,
        )
        item.setZValue(12)
        self._put(name, item, legend)

    def add_band(self, name: str, low: float, high: float, colour: QColor) -> None:
        """A tinted horizontal band from ``low`` to ``high`` (for example a score band)."""
        tint = QColor(colour)
        tint.setAlpha(28)
        region = pg.LinearRegionItem(
            values=(low, high),
            orientation="horizontal",
            brush=pg.mkBrush(tint),
            pen=pg.mkPen(None),
            movable=False,
        )
        region.setZValue(-10)
        for line in region.lines:
            line.setPen(pg.mkPen(None))
        self._put(name, region, legend=False)

    def set_month_ticks(self, months: FloatArray) -> None:
        """Labels a month axis: every third month by name (January with its year)."""
        major: list[tuple[float, str]] = []
        minor: list[tuple[float, str]] = []
        for epoch in np.asarray(months, dtype=float).tolist():
            when = datetime.fromtimestamp(epoch, UTC)
            if when.month % 3 == 1:
                text = (
                    when.strftime("%b %Y") if when.month == 1 or not major else when.strftime("%b")
                )
                major.append((epoch, text))
            else:
                minor.append((epoch, ""))
        self.plotItem.getAxis("bottom").setTicks([major, minor])

    def set_day_ticks(self, start: float, end: float) -> None:
        """Labels a day axis from ``start`` to ``end`` (epoch s) with about six dates."""
        days = max(int((end - start) // 86400), 1)
        step = next((s for s in (1, 2, 7, 14, 30, 61, 91, 182) if days / s <= 7), 365)
        first = math.floor(start / 86400)
        major = [
            (day * 86400.0, datetime.fromtimestamp(day * 86400, UTC).strftime("%b %d"))
            for day in range(first, first + days + 1, step)
        ]
        self.plotItem.getAxis("bottom").setTicks([major, []])

    def set_hover(self, x: FloatArray, text: Callable[[int], str]) -> None:
        """What the readout says at each x (the nearest one to the mouse is shown)."""
        self._hover_x = np.asarray(x, dtype=float)
        self._hover_text = text

    def finish(
        self,
        x_range: tuple[float, float] | None = None,
        y_range: tuple[float, float] | None = None,
    ) -> None:
        """Fits the view to the data (or the given ranges) and clamps panning to it."""
        vb = self.plotItem.vb
        if x_range is None:
            bounds = vb.childrenBounds()[0]
            x_range = (bounds[0], bounds[1]) if bounds is not None else (0.0, 1.0)
        low, high = x_range
        if math.isclose(low, high):
            low, high = low - 1.0, high + 1.0
        pad = (high - low) * 0.02
        vb.setLimits(xMin=low - pad, xMax=high + pad)
        vb.setXRange(low, high, padding=0.02)
        if y_range is not None:
            vb.setYRange(*y_range, padding=0.0)
        else:
            vb.enableAutoRange(axis=pg.ViewBox.YAxis)
            bounds = vb.childrenBounds()[1]
            if bounds is not None:
                bottom, top = min(bounds[0], 0.0), max(bounds[1], 0.0)
                if math.isclose(bottom, top):
                    top = bottom + 1.0
                vb.setYRange(bottom, top, padding=0.08)

    # ------------------------------------------------------------------ hover

    def _on_mouse_moved(self, position: QPointF) -> None:
        if self._hover_text is None or not self._hover_x.size:
            return
        vb = self.plotItem.vb
        if not vb.sceneBoundingRect().contains(position):
            self._hide_readout()
            return
        x = vb.mapSceneToView(position).x()
        self.hover_at(self._nearest(x))

    def _nearest(self, x: float) -> int:
        xs = self._hover_x
        index = int(np.clip(np.searchsorted(xs, x), 0, xs.size - 1))
        if index > 0 and abs(xs[index - 1] - x) <= abs(xs[index] - x):
            index -= 1
        return index

    def hover_at(self, index: int) -> None:
        """Shows the readout for the ``index``-th x (−1 hides it)."""
        if index < 0 or self._hover_text is None or index >= self._hover_x.size:
            self._hide_readout()
            return
        if index != self._hover_index:
            self._hover_index = index
            self.readout_text = self._hover_text(index)
            self._readout.setHtml(
                "<div style='padding:2px'>" + self.readout_text.replace("\n", "<br>") + "</div>"
            )
            self.hovered.emit(index)
        x = float(self._hover_x[index])
        (left, right), (_bottom, top) = self.plotItem.vb.viewRange()
        self._cursor.setPos(x)
        self._cursor.setVisible(True)
        self._readout.setAnchor((0, 0) if x < (left + right) / 2 else (1, 0))
        self._readout.setPos(x, top)
        self._readout.setVisible(True)

    def _hide_readout(self) -> None:
        if self._hover_index != -1:
            self.hovered.emit(-1)
        self._hover_index = -1
        self.readout_text = ""
        self._readout.setVisible(False)
        self._cursor.setVisible(False)

    def leaveEvent(self, event: QEvent) -> None:
        self._hide_readout()
        super().leaveEvent(event)

    # ----------------------------------------------------------------- export

    def export_png(self, path: str | Path, width: int | None = None) -> Path:
        """Writes the chart to ``path`` as PNG (twice the on-screen width by default)."""
        target = Path(path)
        if target.suffix.lower() != ".png":
            target = target.with_suffix(".png")
        self._hide_readout()
        exporter = ImageExporter(self.plotItem)
        exporter.parameters()["width"] = int(width or max(self.width() * 2, 800))
        exporter.export(str(target))
        if not target.exists():  # a failed exporter leaves nothing: fall back to a grab
            self.grab().save(str(target), "PNG")
        return target


class ChartCard(QFrame):
    """A chart with its title, a note, an empty state and an *Export PNG…* button.

    Signals:
        exported(str): a sentence about an export (where it went, or why it failed).
    """

    exported = Signal(str)

    def __init__(
        self,
        title: str,
        chart: Chart,
        *,
        empty_text: str = "Nothing to show yet.",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("chartCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.chart = chart
        self.file_stem = title.lower().replace(" ", "-")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 6)
        layout.setSpacing(4)
        top = QHBoxLayout()
        self.title = QLabel(title)
        self.title.setObjectName("chartTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        top.addWidget(self.title, 1)
        self.export_button = QToolButton()
        self.export_button.setText("Export PNG…")
        self.export_button.setToolTip(f"Saves “{title}” as a PNG image.")
        self.export_button.setAutoRaise(True)
        self.export_button.clicked.connect(self._ask_export)
        top.addWidget(self.export_button)
        layout.addLayout(top)
        self.note = QLabel()
        self.note.setObjectName("pageSubtitle")
        self.note.setWordWrap(True)
        self.note.hide()
        layout.addWidget(self.note)
        self.stack = QStackedWidget()
        self.empty = QLabel(empty_text)
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.stack.addWidget(chart)
        self.stack.addWidget(self.empty)
        layout.addWidget(self.stack, 1)

    def set_note(self, text: str) -> None:
        """A short line under the title (hidden when empty)."""
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def set_empty(self, empty: bool, text: str | None = None) -> None:
        """Shows the empty sentence instead of the chart (and disables export)."""
        if text is not None:
            self.empty.setText(text)
        self.stack.setCurrentWidget(self.empty if empty else self.chart)
        self.export_button.setEnabled(not empty)

    def _ask_export(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export chart", f"{self.file_stem}.png", "PNG image (*.png)"
        )
        if path:
            self.export_to(path)

    def export_to(self, path: str | Path) -> Path | None:
        """Exports the chart and says where (or why not) through :attr:`exported`."""
        try:
            written = self.chart.export_png(path)
        except OSError as error:
            self.exported.emit(f"The chart could not be saved: {error.strerror or error}.")
            return None
        self.exported.emit(f"Saved the chart to {written}.")
        return written
