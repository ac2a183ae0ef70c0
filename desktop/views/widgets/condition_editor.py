"""The condition editor shared by the alert-rule and segment editors.

:class:`LiveConditionEditor` holds the condition rows
(:class:`~desktop.views.health_conditions.ConditionEditor`), a bold preview line under
them and a banner. While the rows change it validates the condition with the core: an
incomplete one shows the core's :class:`~desktop.health.ConditionError` sentence as a
warning and counts nothing; a complete one is counted in the background once typing
pauses (:class:`LiveCounter`, the newest request wins), and the editor that owns it turns
the result into the preview's sentence. :class:`ListBesideEditor` lays out both editors
the same way: the saved list with its buttons on the left, the editor on the right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.errors import BillbridgeError
from desktop.health import FIELDS, ConditionError
from desktop.jobs import JobContext
from desktop.views.health_conditions import ConditionEditor
from desktop.views.jobs import JobRunner
from desktop.views.widgets.common import Banner

#: Builds the background count of a validated condition (runs on the job runner).
Preview = Callable[[Any], Callable[[], Any]]


class ListBesideEditor:
    """The saved list (a table over its buttons) on the left of an editor, in a splitter.

    Fill :attr:`editor_layout`, then :meth:`attach` the whole to the owning widget.

    Args:
        table: the saved rules or segments.
        buttons: the buttons under the table (New, Delete …).

    Attributes:
        editor_layout: the editor side's layout (empty until the caller fills it).
    """

    def __init__(self, table: QTableView, buttons: Sequence[QPushButton]) -> None:
        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(table, 1)
        left_buttons = QHBoxLayout()
        for button in buttons:
            left_buttons.addWidget(button)
        left_buttons.addStretch(1)
        left_layout.addLayout(left_buttons)
        self._splitter.addWidget(left)
        self._right = QWidget()
        self.editor_layout = QVBoxLayout(self._right)
        self.editor_layout.setContentsMargins(8, 0, 0, 0)

    def attach(self, owner: QWidget) -> None:
        """Makes the list and the filled editor ``owner``'s whole content (list 2 : editor 3)."""
        self._splitter.addWidget(self._right)
        self._splitter.setStretchFactor(0, 2)
        self._splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(owner)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._splitter)


class LiveConditionEditor(QWidget):
    """Condition rows with a live count under them and the sentence of what is missing.

    Args:
        purpose: ``"alert"`` or ``"segment"`` (which fields the rows offer).
        jobs: the job runner the counts run on.
        preview: builds the count of a validated condition.
        title: the count job's title ("Counting matching accounts").
        key: the count job's key (one count at a time per editor).
        preview_name: the preview line's object name (for style sheets and tests).
        counting: what the preview line says while a first count runs ("" for nothing).
        note_slow: whether to say, as information, that a slow field makes the count
            take a few seconds.
        preview_scale: how much larger than the normal font the preview line is.

    Signals:
        changed(): the condition changed (before it is validated and counted).
        counted(object): the newest count's result.

    Attributes:
        conditions: the condition rows.
        preview: the line under the rows (the owner sets its sentence on ``counted``).
        banner: the validation sentence, and whatever else the owner reports.
        counter: the background counter.
    """

    changed = Signal()
    counted = Signal(object)

    def __init__(
        self,
        purpose: str,
        jobs: JobRunner,
        preview: Preview,
        *,
        title: str,
        key: str,
        preview_name: str = "",
        counting: str = "",
        note_slow: bool = False,
        preview_scale: float = 1.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._preview = preview
        self._counting = counting
        self._note_slow = note_slow
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.conditions = ConditionEditor(purpose)
        self.conditions.changed.connect(self._condition_changed)
        layout.addWidget(self.conditions)
        self.preview = QLabel("")
        self.preview.setObjectName(preview_name)
        font = self.preview.font()
        font.setBold(True)
        if preview_scale != 1.0:
            font.setPointSizeF(font.pointSizeF() * preview_scale)
        self.preview.setFont(font)
        layout.addWidget(self.preview)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.counter = LiveCounter(jobs, title, key)
        self.counter.result.connect(self.counted)
        self.counter.failed.connect(self._count_failed)
        self.counter.busy.connect(self._count_busy)

    def is_valid(self) -> bool:
        """Whether the condition is complete and valid."""
        try:
            self.conditions.parsed()
        except ConditionError:
            return False
        return True

    def checked(self) -> Any | None:
        """The validated condition, or ``None`` after showing why it is not valid."""
        try:
            return self.conditions.parsed()
        except ConditionError as error:
            self.banner.show_message(str(error), "warning")
            return None

    def _condition_changed(self) -> None:
        self.changed.emit()
        try:
            condition = self.conditions.parsed()
        except ConditionError as error:
            self.counter.cancel()
            self.preview.setText("")
            self.banner.show_message(str(error), "warning")
            return
        if self._note_slow:
            slow = [FIELDS[row.spec.name].label for row in self.conditions.rows if row.spec.slow]
            self.banner.show_message(
                f"{slow[0]} sums every invoice, so the count may take a few seconds."
                if slow
                else "",
                "info",
            )
        else:
            self.banner.show_message("")
        self.counter.request(self._preview(condition))

    def _count_failed(self, message: str) -> None:
        self.preview.setText("")
        self.banner.show_message(message, "warning")

    def _count_busy(self, busy: bool) -> None:
        text = self.preview.text() or self._counting
        if busy and text and not self.preview.text().endswith("…"):
            self.preview.setText(text + " …")


class LiveCounter(QObject):
    """Runs a preview on the job runner once requests pause; the newest request wins.

    Args:
        jobs: the job runner.
        title: the job's title ("Counting matching accounts").
        key: the job key (one preview at a time per counter).
        delay_ms: how long requests must pause before the preview runs.

    Signals:
        result(object): the newest request's result.
        failed(str): the newest request failed (a sentence).
        busy(bool): a preview is waiting or running.
    """

    result = Signal(object)
    failed = Signal(str)
    busy = Signal(bool)

    def __init__(
        self,
        jobs: JobRunner,
        title: str,
        key: str,
        delay_ms: int = 300,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._jobs = jobs
        self._title = title
        self._key = key
        self._work: Callable[[], Any] | None = None
        self._generation = 0
        self._running = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._start)

    def request(self, work: Callable[[], Any]) -> None:
        """Asks for ``work()`` to run once requests pause (replaces a waiting request)."""
        self._work = work
        self._generation += 1
        self.busy.emit(True)
        self._timer.start()

    def cancel(self) -> None:
        """Forgets a waiting request (a running one's result is ignored)."""
        self._timer.stop()
        self._work = None
        self._generation += 1
        self.busy.emit(False)

    def _start(self) -> None:
        work = self._work
        if work is None or self._running:
            return  # a running preview starts the newest one when it ends
        self._work = None
        self._running = True
        generation = self._generation

        def run(_context: JobContext) -> Any:
            return work()

        try:
            handle = self._jobs.run(
                run,
                title=self._title,
                key=self._key,
                changes_data=False,
                on_success=lambda value: self._done(generation, True, value),
                on_error=lambda message: self._done(generation, False, message),
            )
        except BillbridgeError as error:
            self._running = False
            self.failed.emit(str(error))
            return
        handle.cancelled.connect(lambda: self._done(generation, False, None))

    def _done(self, generation: int, ok: bool, value: Any) -> None:
        self._running = False
        if self._work is not None:
            self._start()
            return
        if generation != self._generation:
            return
        self.busy.emit(False)
        if ok:
            self.result.emit(value)
        elif value is not None:
            self.failed.emit(str(value))
