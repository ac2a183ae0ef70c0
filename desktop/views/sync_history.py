"""The Sync history page: every run with its counts, API calls, duration and status.

Opening a run (Enter or a double click) shows its Sync errors below the list.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from desktop.storage.repositories.connection_overview import (
    ConnectionChoice,
    ErrorItem,
    RunSummary,
    connection_choices,
    count_runs,
    list_errors,
    list_runs,
)
from desktop.views.models.formatting import (
    ALERT_COLOUR,
    OK_COLOUR,
    WARN_COLOUR,
    count_text,
    duration_text,
    status_text,
    time_text,
)
from desktop.views.models.loader import Loader
from desktop.views.models.table import ColumnSpec, RowsTableModel
from desktop.views.page import EmptyState, Page
from desktop.views.widgets.common import Banner, make_table

RUN_LIMIT = 1000


def run_colour(run: RunSummary) -> QColor | None:
    """Green for succeeded, amber for partial/cancelled, red for failed."""
    return {
        "succeeded": OK_COLOUR,
        "partial": WARN_COLOUR,
        "cancelled": WARN_COLOUR,
        "interrupted": WARN_COLOUR,
        "failed": ALERT_COLOUR,
    }.get(run.status)


RUN_COLUMNS: list[ColumnSpec[RunSummary]] = [
    ColumnSpec("Started", lambda r: time_text(r.started_at), sort_key=lambda r: r.started_at),
    ColumnSpec("Connection", lambda r: r.connection_name),
    ColumnSpec("Kind", lambda r: status_text(r.kind)),
    ColumnSpec("Trigger", lambda r: status_text(r.trigger)),
    ColumnSpec("Status", lambda r: status_text(r.status), colour=run_colour),
    ColumnSpec("Fetched", lambda r: count_text(r.fetched), True, sort_key=lambda r: r.fetched),
    ColumnSpec("Created", lambda r: count_text(r.created), True, sort_key=lambda r: r.created),
    ColumnSpec("Updated", lambda r: count_text(r.updated), True, sort_key=lambda r: r.updated),
    ColumnSpec("Deleted", lambda r: count_text(r.deleted), True, sort_key=lambda r: r.deleted),
    ColumnSpec(
        "Errors",
        lambda r: count_text(r.errors),
        True,
        colour=lambda r: ALERT_COLOUR if r.errors else None,
        sort_key=lambda r: r.errors,
    ),
    ColumnSpec(
        "API calls", lambda r: count_text(r.api_calls), True, sort_key=lambda r: r.api_calls
    ),
    ColumnSpec(
        "Duration",
        lambda r: duration_text(r.duration_seconds) if r.finished_at else "running…",
        True,
        sort_key=lambda r: r.duration_seconds,
    ),
    ColumnSpec("Message", lambda r: r.message or "", tooltip=lambda r: r.message),
]

ERROR_COLUMNS: list[ColumnSpec[ErrorItem]] = [
    ColumnSpec("When", lambda e: time_text(e.created_at), sort_key=lambda e: e.created_at),
    ColumnSpec("Connection", lambda e: e.connection_name),
    ColumnSpec("Stream", lambda e: status_text(e.stream)),
    ColumnSpec("Record id", lambda e: e.source_id or "(unknown)"),
    ColumnSpec("Reason", lambda e: e.reason, tooltip=lambda e: e.reason),
    ColumnSpec(
        "State",
        lambda e: "Resolved" if e.resolved_at else "Open",
        colour=lambda e: OK_COLOUR if e.resolved_at else None,
    ),
]


def size_error_columns(table: QTableView) -> None:
    """Widths for a table of :data:`ERROR_COLUMNS`: the reason takes the room left, so the
    state stays in view (the full reason is the cell's tooltip)."""
    header = table.horizontalHeader()
    for index, width in enumerate((148, 130, 110, 130)):
        table.setColumnWidth(index, width)
    header.setStretchLastSection(False)
    header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
    table.setColumnWidth(5, 80)


class SyncHistoryPage(Page):
    """Every sync run, newest first; a run's errors below when it is opened."""

    title = "Sync history"
    subtitle = "Every sync run with its counts, API calls, duration and result."

    def __init__(self, loader: Loader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._generation = 0
        bar = QHBoxLayout()
        self.connection_filter = QComboBox()
        self.connection_filter.setAccessibleName("Connection")
        self.connection_filter.addItem("All connections", None)
        self.connection_filter.currentIndexChanged.connect(lambda _i: self.refresh())
        bar.addWidget(QLabel("Show runs of:"))
        bar.addWidget(self.connection_filter)
        bar.addStretch(1)
        self.count_label = QLabel()
        self.count_label.setObjectName("pageSubtitle")
        bar.addWidget(self.count_label)
        self.body.addLayout(bar)
        self.banner = Banner()
        self.body.addWidget(self.banner)

        self.runs = RowsTableModel(RUN_COLUMNS, self)
        self.table = make_table(self.runs)
        # at 1280×800 every column fits beside the navigation; Message (last, elided with
        # a tooltip) starts narrow and stretches into the room left
        widths = (148, 130, 85, 75, 80, 62, 62, 62, 62, 52, 64, 80, 60)
        for index, width in enumerate(widths):
            self.table.setColumnWidth(index, width)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.table.activated.connect(self._open_index)
        self.table.doubleClicked.connect(self._open_index)
        self.empty = EmptyState("No sync has run yet. Use Sync Now on the Connections page.")

        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        self.run_label = QLabel("Open a run (Enter or double click) to see its errors.")
        self.run_label.setObjectName("pageSubtitle")
        self.run_label.setWordWrap(True)
        lower_layout.addWidget(self.run_label)
        self.errors = RowsTableModel(ERROR_COLUMNS, self)
        self.errors_table = make_table(self.errors)
        size_error_columns(self.errors_table)
        self.errors_table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        lower_layout.addWidget(self.errors_table, 1)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(lower)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.body.addWidget(self.splitter, 1)
        self.body.addWidget(self.empty, 1)
        self.empty.hide()
        self.opened_run: RunSummary | None = None

    def refresh(self) -> None:
        """Reads the runs (and the open run's errors) again."""
        self._generation += 1
        generation = self._generation
        connection_id = self.connection_filter.currentData()
        self._loader.submit(connection_choices, self._fill_connections)

        def work(session: Session) -> tuple[list[RunSummary], int]:
            return (
                list_runs(session, connection_id=connection_id, limit=RUN_LIMIT),
                count_runs(session, connection_id=connection_id),
            )

        self._loader.submit(
            work,
            partial(self._runs_in, generation),
            lambda message: self.banner.show_message(message, "error"),
        )

    def _fill_connections(self, choices: list[ConnectionChoice]) -> None:
        current = self.connection_filter.currentData()
        self.connection_filter.blockSignals(True)
        self.connection_filter.clear()
        self.connection_filter.addItem("All connections", None)
        for choice in choices:
            self.connection_filter.addItem(choice.name, choice.id)
        self.connection_filter.setCurrentIndex(max(self.connection_filter.findData(current), 0))
        self.connection_filter.blockSignals(False)

    def _runs_in(self, generation: int, result: tuple[list[RunSummary], int]) -> None:
        if generation != self._generation:
            return
        runs, total = result
        self.runs.set_rows(runs)
        shown = f"{len(runs):,} of {total:,} runs (newest first)" if total > len(runs) else ""
        self.count_label.setText(shown or f"{total:,} run{'s' if total != 1 else ''}")
        nothing = total == 0
        self.empty.setVisible(nothing)
        self.splitter.setVisible(not nothing)
        if self.opened_run is not None:
            still = [r for r in runs if r.id == self.opened_run.id]
            if still:
                self.open_run(still[0])

    def _open_index(self, index: QModelIndex) -> None:
        run = self.runs.row_at(index.row())
        if run is not None:
            self.open_run(run)

    def open_run(self, run: RunSummary) -> None:
        """Shows one run's errors below the list."""
        self.opened_run = run
        self.run_label.setText(
            f"Run {run.id} of {run.connection_name}, started {time_text(run.started_at)}: "
            f"{status_text(run.status)}. "
            + (run.message + " " if run.message else "")
            + (f"{run.errors:,} record(s) failed:" if run.errors else "No record failed.")
        )
        run_id = run.id
        self._loader.submit(
            partial(list_errors, run_id=run_id),
            self.errors.set_rows,
            lambda message: self.banner.show_message(message, "error"),
        )
