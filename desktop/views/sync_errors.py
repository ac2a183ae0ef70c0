"""The Sync errors page: records that failed to sync, filtered by connection and stream.

*Retry* re-fetches the selected record's account from its source on the job runner and
marks the error resolved when the fetch succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)
from sqlalchemy.orm import Session

from desktop.jobs import JobContext
from desktop.storage.repositories.connection_overview import (
    ConnectionChoice,
    ErrorItem,
    connection_choices,
    error_streams,
    list_errors,
)
from desktop.views.jobs import JobRunner
from desktop.views.models.formatting import status_text
from desktop.views.models.loader import Loader
from desktop.views.models.table import RowsTableModel
from desktop.views.page import EmptyState, Page
from desktop.views.sync_history import ERROR_COLUMNS, size_error_columns
from desktop.views.widgets.common import Banner, make_table

#: Retries one sync error: (error, job context) → a sentence saying what happened.
ErrorRetrier = Callable[[ErrorItem, JobContext], str]


class SyncErrorsPage(Page):
    """Per-record sync failures with reason, source and record id; retry one."""

    title = "Sync errors"
    subtitle = "Records that failed to sync, with the reason, source and record id."

    def __init__(
        self,
        loader: Loader,
        jobs: JobRunner,
        retrier: ErrorRetrier | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._jobs = jobs
        self._retrier = retrier
        self._generation = 0
        bar = QHBoxLayout()
        self.connection_filter = QComboBox()
        self.connection_filter.setAccessibleName("Connection")
        self.connection_filter.addItem("All connections", None)
        self.stream_filter = QComboBox()
        self.stream_filter.setAccessibleName("Stream")
        self.stream_filter.addItem("All streams", None)
        self.show_resolved = QCheckBox("Show resolved")
        for combo in (self.connection_filter, self.stream_filter):
            combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.show_resolved.toggled.connect(lambda _on: self.refresh())
        self.retry_button = QPushButton("Retry this record")
        self.retry_button.setEnabled(False)
        self.retry_button.clicked.connect(self.retry_selected)
        bar.addWidget(self.connection_filter)
        bar.addWidget(self.stream_filter)
        bar.addWidget(self.show_resolved)
        bar.addStretch(1)
        self.body.addLayout(bar)
        self.banner = Banner()
        self.body.addWidget(self.banner)
        self.errors = RowsTableModel(ERROR_COLUMNS, self)
        self.table = make_table(self.errors)
        size_error_columns(self.table)
        self.table.selectionModel().currentRowChanged.connect(lambda *_a: self._update_retry())
        self.errors.modelReset.connect(self._update_retry)
        self.table.horizontalHeader().setSortIndicator(0, Qt.SortOrder.DescendingOrder)
        self.table.activated.connect(lambda _index: self.retry_selected())
        self.body.addWidget(self.table, 1)
        self.empty = EmptyState("No sync errors. Every record of every run was written.")
        self.body.addWidget(self.empty, 1)
        self.empty.hide()
        # Retry sits under the list it acts on: reading order and Tab order are then the
        # same (filters, the list, Retry for the row picked in it).
        foot = QHBoxLayout()
        self.count_label = QLabel()
        self.count_label.setObjectName("pageSubtitle")
        foot.addWidget(self.count_label, 1)
        foot.addWidget(self.retry_button)
        self.body.addLayout(foot)
        self.setTabOrder(self.table, self.retry_button)

    def refresh(self) -> None:
        """Reads the errors again with the filters in force."""
        self._generation += 1
        generation = self._generation
        connection_id = self.connection_filter.currentData()
        stream = self.stream_filter.currentData()
        resolved = self.show_resolved.isChecked()

        def work(session: Session) -> tuple[list[ConnectionChoice], list[str], list[ErrorItem]]:
            return (
                connection_choices(session),
                error_streams(session),
                list_errors(
                    session,
                    connection_id=connection_id,
                    stream=stream,
                    include_resolved=resolved,
                ),
            )

        self._loader.submit(
            work,
            partial(self._loaded, generation),
            lambda message: self.banner.show_message(message, "error"),
        )

    def _loaded(
        self,
        generation: int,
        result: tuple[list[ConnectionChoice], list[str], list[ErrorItem]],
    ) -> None:
        if generation != self._generation:
            return
        choices, streams, errors = result
        _refill(self.connection_filter, "All connections", [(c.name, c.id) for c in choices])
        _refill(self.stream_filter, "All streams", [(status_text(s), s) for s in streams])
        self.errors.set_rows(errors)
        filtered = (
            self.connection_filter.currentData() is not None
            or self.stream_filter.currentData() is not None
        )
        nothing = not errors and not filtered and not self.show_resolved.isChecked()
        self.empty.setVisible(nothing)
        self.table.setVisible(not nothing)
        open_count = sum(1 for e in errors if e.resolved_at is None)
        self.count_label.setText(f"{len(errors):,} shown, {open_count:,} open")

    def selected_error(self) -> ErrorItem | None:
        """The error of the current row."""
        return self.errors.row_at(self.table.currentIndex().row())

    def _update_retry(self) -> None:
        error = self.selected_error()
        if self._retrier is None:
            self.retry_button.setEnabled(False)
            self.retry_button.setToolTip("Retrying needs the sync engine, which is not available.")
            return
        enabled = error is not None and error.resolved_at is None and bool(error.source_id)
        self.retry_button.setEnabled(enabled)
        self.retry_button.setToolTip(
            "Fetches this record's account again from its source."
            if enabled
            else "Select an open error with a record id."
        )

    def retry_selected(self) -> None:
        """Retries the selected error in the background."""
        error = self.selected_error()
        retrier = self._retrier
        if error is None or retrier is None or not self.retry_button.isEnabled():
            return
        self.retry_button.setEnabled(False)
        self.banner.show_message(
            f"Fetching {error.source_id} again from {error.connection_name}…", "info"
        )

        def work(context: JobContext) -> str:
            return retrier(error, context)

        self._jobs.run(
            work,
            title=f"Retrying {error.source_id}",
            key=f"retry:{error.id}",
            on_success=lambda sentence: self.banner.show_message(str(sentence), "ok"),
            on_error=lambda message: self.banner.show_message(message, "error"),
        ).finished.connect(self.refresh)


def _refill(combo: QComboBox, everything: str, items: list[tuple[str, object]]) -> None:
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(everything, None)
    for text, data in items:
        combo.addItem(text, data)
    combo.setCurrentIndex(max(combo.findData(current), 0))
    combo.blockSignals(False)
    combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
