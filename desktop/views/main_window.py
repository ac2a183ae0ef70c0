"""The main window: navigation on the left, pages on the right, a status bar below."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.jobs import Progress
from desktop.views.jobs import JobHandle, JobRunner
from desktop.views.page import Page
from desktop.views.style import STYLE_SHEET

#: Jobs that end within this many milliseconds of each other refresh the page once.
REFRESH_COALESCE_MS = 200


class MainWindow(QMainWindow):
    """The Billbridge main window.

    It gets its pages and collaborators from the composition root (``desktop.app``) and
    builds none itself. Window geometry and the last page are remembered in ``settings``.
    """

    def __init__(
        self,
        pages: list[Page],
        jobs: JobRunner,
        settings: QSettings,
        workspace: str,
        *,
        title_suffix: str = "",
    ) -> None:
        super().__init__()
        self.setStyleSheet(STYLE_SHEET)
        self.setWindowTitle("Billbridge" + (f" — {title_suffix}" if title_suffix else ""))
        self._jobs = jobs
        self._settings = settings
        self.pages = pages

        self.navigation = QListWidget()
        self.navigation.setObjectName("navigation")
        self.navigation.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.stack = QStackedWidget()
        for page in pages:
            QListWidgetItem(page.title, self.navigation)
            self.stack.addWidget(page)
        self.navigation.currentRowChanged.connect(self._show_page)

        sidebar = QWidget()
        sidebar.setObjectName("sidebar")
        sidebar.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        sidebar.setFixedWidth(190)
        side_layout = QVBoxLayout(sidebar)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(0)
        brand = QLabel("Billbridge")
        brand.setObjectName("brand")
        side_layout.addWidget(brand)
        side_layout.addWidget(self.navigation, 1)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(sidebar)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.workspace_label = QLabel(f"Workspace: {workspace}")
        self.sync_label = QLabel("No sync running")
        self.sync_bar = QProgressBar()
        self.sync_bar.setMaximumWidth(160)
        self.sync_bar.setTextVisible(False)
        self.sync_bar.hide()
        self.statusBar().addWidget(self.workspace_label, 1)
        self.statusBar().addPermanentWidget(self.sync_label)
        self.statusBar().addPermanentWidget(self.sync_bar)

        for index in range(min(len(pages), 9)):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{index + 1}"), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(lambda row=index: self.navigation.setCurrentRow(row))

        jobs.job_started.connect(self._on_job_started)
        jobs.job_finished.connect(self._on_jobs_changed)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_COALESCE_MS)
        self._refresh_timer.timeout.connect(self._refresh_current)
        jobs.data_changed.connect(self._on_data_changed)
        jobs.error.connect(self._on_job_error)

        self._restore()

    def _restore(self) -> None:
        geometry = self._settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1180, 740)
        row = self._settings.value("window/page", 0)
        try:
            index = int(row)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            index = 0
        self.navigation.setCurrentRow(index if 0 <= index < len(self.pages) else 0)

    def page_titles(self) -> list[str]:
        """The navigation entries, in order."""
        return [page.title for page in self.pages]

    def show_page(self, title: str) -> None:
        """Switches to the page with this title."""
        self.navigation.setCurrentRow(self.page_titles().index(title))

    @Slot(int)
    def _show_page(self, row: int) -> None:
        if row < 0:
            return
        self.stack.setCurrentIndex(row)
        self.pages[row].refresh()

    @Slot(object)
    def _on_job_started(self, handle: JobHandle) -> None:
        handle.progressed.connect(self._on_progress)
        self._on_jobs_changed()

    @Slot(object)
    def _on_progress(self, progress: Progress) -> None:
        if progress.total:
            self.sync_bar.setRange(0, progress.total)
            self.sync_bar.setValue(min(progress.done, progress.total))
        else:
            self.sync_bar.setRange(0, 0)

    @Slot()
    def _on_jobs_changed(self, _handle: object = None) -> None:
        running = self._jobs.running()
        if running:
            names = ", ".join(job.title for job in running[:2])
            more = f" and {len(running) - 2} more" if len(running) > 2 else ""
            self.sync_label.setText(f"Running: {names}{more}")
            self.sync_bar.setRange(0, 0)
            self.sync_bar.show()
        else:
            self.sync_label.setText("No sync running")
            self.sync_bar.hide()

    @Slot(str)
    def _on_data_changed(self, _title: str) -> None:
        # Several jobs ending together (the demo's first syncs, a retry burst) read once.
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    @Slot()
    def _refresh_current(self) -> None:
        current = self.stack.currentWidget()
        if isinstance(current, Page):
            current.refresh()

    @Slot(str, str)
    def _on_job_error(self, title: str, message: str) -> None:
        self.statusBar().showMessage(message, 15000)
        QMessageBox.warning(self, title, message)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/page", self.navigation.currentRow())
        self._settings.sync()
        super().closeEvent(event)
