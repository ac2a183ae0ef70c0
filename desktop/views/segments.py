"""Segments: saved filters over accounts, edited with a live count and MRR.

The editor counts the accounts and sums their MRR in the background
(:func:`desktop.health.count_and_mrr`) once typing pauses; saving, deleting and CSV
export run on the job runner. *Open as accounts list* asks the window (through
:attr:`SegmentsView.open_accounts`) to show the Accounts page filtered to the segment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QWidget,
)
from sqlalchemy.orm import Session

from desktop.health import (
    SegmentPreview,
    SegmentView,
    count_and_mrr,
    delete_segment,
    export_csv,
    list_segments,
    save_segment,
)
from desktop.jobs import JobContext
from desktop.money import format_money
from desktop.storage.database import Database
from desktop.timeutil import Clock, utc_now
from desktop.views.jobs import JobRunner
from desktop.views.models.formatting import date_text
from desktop.views.models.loader import Loader
from desktop.views.models.table import ColumnSpec, RowsTableModel
from desktop.views.widgets.common import make_table
from desktop.views.widgets.condition_editor import ListBesideEditor, LiveConditionEditor

SEGMENT_COLUMNS: list[ColumnSpec[SegmentView]] = [
    ColumnSpec("Segment", lambda s: s.name, tooltip=lambda s: s.description),
    ColumnSpec("Conditions", lambda s: s.summary, tooltip=lambda s: s.summary),
    ColumnSpec("Changed", lambda s: date_text(s.updated_at)),
]

#: A starting point for a new segment.
NEW_SEGMENT: dict[str, Any] = {
    "all": [{"field": "account.health_band", "op": "in", "value": ["amber", "red"]}]
}


def export_to_file(database: Database, condition: Any, path: Path, clock: Clock = utc_now) -> str:
    """Writes a segment's accounts to ``path`` as CSV; returns a sentence."""
    with path.open("w", encoding="utf-8", newline="") as out:
        rows = export_csv(database, condition, out, clock)
    return f"Exported {rows:,} account{'s' if rows != 1 else ''} to {path}."


class SegmentsView(QWidget):
    """Saved segments on the left; the segment being edited on the right.

    Signals:
        open_accounts(str, object): show the Accounts page filtered to a segment:
            (its name, its condition JSON).
    """

    open_accounts = Signal(str, object)

    def __init__(
        self,
        loader: Loader,
        jobs: JobRunner,
        database: Database,
        clock: Clock = utc_now,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._jobs = jobs
        self._database = database
        self._clock = clock
        self._current: SegmentView | None = None
        self._select_after_load: str | None = None
        self._dirty = False
        self.last_preview: SegmentPreview | None = None
        self.model: RowsTableModel[SegmentView] = RowsTableModel(SEGMENT_COLUMNS, self)

        self.table = make_table(self.model, sortable=False)
        self.table.setColumnWidth(0, 170)
        self.table.setColumnWidth(1, 220)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.new_button = QPushButton("New segment")
        self.new_button.clicked.connect(self.new_segment)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self._delete)
        split = ListBesideEditor(self.table, [self.new_button, self.delete_button])
        right_layout = split.editor_layout
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. At-risk Pro customers")
        self.name.textEdited.connect(self._edited)
        self.description = QLineEdit()
        self.description.setPlaceholderText("optional")
        self.description.textEdited.connect(self._edited)
        form.addRow("Name:", self.name)
        form.addRow("Description:", self.description)
        right_layout.addLayout(form)

        def count(condition: Any) -> Callable[[], SegmentPreview]:
            return lambda: count_and_mrr(database, condition, clock)

        self.editor = LiveConditionEditor(
            "segment",
            jobs,
            count,
            title="Counting the segment",
            key="health:segment-count",
            preview_name="segmentPreview",
            note_slow=True,
            preview_scale=1.15,
        )
        self.editor.changed.connect(self._edited)
        self.editor.counted.connect(self._show_preview)
        self.conditions = self.editor.conditions
        self.preview = self.editor.preview
        self.banner = self.editor.banner
        right_layout.addWidget(self.editor)
        right_layout.addStretch(1)
        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open as accounts list")
        self.open_button.clicked.connect(self.open_as_list)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self._ask_export)
        self.save_as_button = QPushButton("Save as new")
        self.save_as_button.clicked.connect(lambda: self.save(as_new=True))
        self.save_button = QPushButton("Save segment")
        self.save_button.clicked.connect(lambda: self.save(as_new=False))
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_as_button)
        buttons.addWidget(self.save_button)
        right_layout.addLayout(buttons)
        split.attach(self)
        self.new_segment()

    # ---------------------------------------------------------------- loading

    def reload(self, select_name: str | None = None) -> None:
        """Reads the saved segments again."""
        self._select_after_load = select_name or (self._current.name if self._current else None)
        database = self._database

        def query(_session: Session) -> list[SegmentView]:
            return list_segments(database)

        self._loader.submit(
            query, self._loaded, lambda message: self.banner.show_message(message, "error")
        )

    def _loaded(self, segments: list[SegmentView]) -> None:
        self.model.set_rows(segments)
        wanted = self._select_after_load
        row = next((i for i, s in enumerate(segments) if s.name == wanted), -1)
        if row >= 0:
            self.table.selectRow(row)
            if not self._dirty:
                self._show_segment(segments[row])
        self._update_buttons()

    def _row_changed(self, current: Any, _previous: Any) -> None:
        segment = self.model.row_at(current.row()) if current.isValid() else None
        if segment is not None and (self._current is None or segment.id != self._current.id):
            self._show_segment(segment)

    def _show_segment(self, segment: SegmentView) -> None:
        self._current = segment
        self.name.setText(segment.name)
        self.description.setText(segment.description or "")
        self.conditions.set_condition(segment.condition_json)
        self._dirty = False
        self._update_buttons()

    def new_segment(self) -> None:
        """Starts a new segment from a simple example condition."""
        self._current = None
        self.table.clearSelection()
        self.name.clear()
        self.description.clear()
        self.conditions.set_condition(NEW_SEGMENT)
        self._dirty = True
        self._update_buttons()

    # ---------------------------------------------------------------- editing

    def _edited(self, *_args: object) -> None:
        self._dirty = True
        self._update_buttons()

    def _show_preview(self, preview: object) -> None:
        if not isinstance(preview, SegmentPreview):
            return
        self.last_preview = preview
        accounts = f"{preview.accounts:,} account{'s' if preview.accounts != 1 else ''}"
        self.preview.setText(
            f"{accounts} · MRR {format_money(preview.mrr_minor, preview.currency)}"
        )

    def _update_buttons(self) -> None:
        valid = self.editor.is_valid()
        named = bool(self.name.text().strip())
        self.save_button.setEnabled(valid and named and self._dirty)
        self.save_as_button.setEnabled(valid and named and self._current is not None)
        self.delete_button.setEnabled(self._current is not None)
        self.open_button.setEnabled(valid)
        self.export_button.setEnabled(valid)

    # ---------------------------------------------------------------- actions

    def save(self, as_new: bool = False) -> None:
        """Saves the segment (a copy when ``as_new``)."""
        condition = self.editor.checked()
        if condition is None:
            return
        name = self.name.text().strip()
        segment_id = None if as_new or self._current is None else self._current.id
        database = self._database
        description = self.description.text().strip() or None

        def job(_context: JobContext) -> SegmentView:
            return save_segment(
                database,
                name=name,
                condition=condition,
                segment_id=segment_id,
                description=description,
            )

        self._jobs.run(
            job,
            title=f"Saving the segment {name}",
            on_success=self._saved,
            on_error=lambda message: self.banner.show_message(message, "error"),
        )

    def _saved(self, segment: object) -> None:
        if isinstance(segment, SegmentView):
            self._current = segment
            self._dirty = False
            self.banner.show_message(f"Saved the segment “{segment.name}”.", "ok")
            self.reload(segment.name)

    def _delete(self) -> None:
        segment = self._current
        if segment is None:
            return
        answer = QMessageBox.question(
            self, "Delete segment", f"Delete the segment “{segment.name}”?"
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_now()

    def delete_now(self) -> None:
        """Deletes the shown segment without asking (the button asks first)."""
        segment = self._current
        if segment is None:
            return

        def job(_context: JobContext) -> None:
            delete_segment(self._database, segment.id)

        self._jobs.run(
            job,
            title=f"Deleting the segment {segment.name}",
            on_success=lambda _r: self._deleted(),
            on_error=lambda message: self.banner.show_message(message, "error"),
        )

    def _deleted(self) -> None:
        self.new_segment()
        self.reload()

    def open_as_list(self) -> None:
        """Asks to show the segment's accounts on the Accounts page."""
        if self.editor.checked() is None:
            return
        condition = self.conditions.condition_json()
        name = self.name.text().strip() or "Unsaved segment"
        self.open_accounts.emit(name, condition)

    def _ask_export(self) -> None:
        stem = (self.name.text().strip() or "segment").lower().replace(" ", "-")
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export segment", f"{stem}.csv", "CSV file (*.csv)"
        )
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """Writes the segment's accounts to ``path`` as CSV, in the background."""
        condition = self.editor.checked()
        if condition is None:
            return
        database, clock = self._database, self._clock

        def job(_context: JobContext) -> str:
            return export_to_file(database, condition, path, clock)

        self._jobs.run(
            job,
            title="Exporting a segment",
            changes_data=False,
            on_success=lambda sentence: self.banner.show_message(str(sentence), "ok"),
            on_error=lambda message: self.banner.show_message(message, "error"),
        )
