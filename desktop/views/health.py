"""The Health page: the overview charts, the open alerts (with the rule editor) and segments.

Data is read on the job runner (:func:`desktop.views.health_data.load_overview`) and
drawn on the GUI thread; a refresh asked while one is loading runs once it ends, so the
newest data always wins. The page refreshes when it is shown and after every job that
may have changed data (a sync recomputes health and evaluates the alert rules first).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from desktop.errors import BillbridgeError
from desktop.jobs import JobContext
from desktop.storage.database import Database
from desktop.timeutil import Clock, utc_now
from desktop.views.alerts import AlertsView, AlertWatcher
from desktop.views.alerts_rules import RuleEditor, RulesDialog
from desktop.views.health_data import HealthOverview, load_overview
from desktop.views.health_overview import HealthOverviewView
from desktop.views.jobs import JobRunner
from desktop.views.models.formatting import time_text
from desktop.views.models.loader import Loader
from desktop.views.page import EmptyState, Page
from desktop.views.segments import SegmentsView
from desktop.views.widgets.common import Banner

LOAD_KEY = "health:overview"


class _FitArea(QScrollArea):
    """Fits its widget to the visible area, scrolling only below the widget's minimum."""

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        widget = self.widget()
        if widget is None:
            return
        least = widget.minimumSizeHint().expandedTo(widget.minimumSize())
        size = self.viewport().size()
        widget.resize(max(size.width(), least.width()), max(size.height(), least.height()))


def _scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area, so a small window can still show it."""
    area = _FitArea()
    area.setWidgetResizable(False)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    return area


class HealthPage(Page):
    """MRR and its movements, health bands, receivables, alerts and segments.

    Signals:
        open_account(int): show this account's 360° (from an alert).
        open_segment(str, object): show the Accounts page filtered to a segment
            (name, condition JSON).

    Attributes:
        watcher: notices new alerts (the composition root connects it to notifications).
    """

    title = "Health"
    subtitle = "MRR, its movements, financial health and risk across every source."

    open_account = Signal(int)
    open_segment = Signal(str, object)

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
        self._loading = False
        self._again = False
        self._shown_once = False

        corner = QWidget()
        top = QHBoxLayout(corner)
        top.setContentsMargins(0, 0, 0, 4)
        self.status = QLabel("")
        self.status.setObjectName("pageSubtitle")
        top.addWidget(self.status, 1)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Reads the figures again.")
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(self.refresh_button)
        self.banner = Banner()
        self.body.addWidget(self.banner)

        self.tabs = QTabWidget()
        self.tabs.setCornerWidget(corner)
        self.overview = HealthOverviewView()
        self.overview.message.connect(lambda text: self.banner.show_message(text, "ok"))
        self.empty = EmptyState(
            "Health appears once accounts and subscriptions have been synced: add a "
            "connection on the Connections page and run a sync."
        )
        overview_holder = QWidget()
        holder_layout = QHBoxLayout(overview_holder)
        holder_layout.setContentsMargins(0, 6, 0, 0)
        holder_layout.addWidget(self.overview)
        holder_layout.addWidget(self.empty)
        self.empty.hide()
        self.tabs.addTab(_scrolling(overview_holder), "Overview")
        self.alerts = AlertsView(loader, jobs, database, clock)
        self.alerts.open_account.connect(self.open_account)
        self.alerts.edit_rules.connect(self.show_rules)
        self.alerts.active_count.connect(self._alert_count)
        self.tabs.addTab(self.alerts, "Alerts")
        self.segments = SegmentsView(loader, jobs, database, clock)
        self.segments.open_accounts.connect(self.open_segment)
        self.tabs.addTab(_scrolling(self.segments), "Segments")
        self.tabs.currentChanged.connect(lambda _i: self._refresh_tab())
        self.body.addWidget(self.tabs, 1)

        self.rules = RuleEditor(loader, jobs, database, clock)
        self.rules.rules_changed.connect(self.alerts.reload)
        self.rules_dialog: RulesDialog | None = None
        self.watcher = AlertWatcher(loader, database, clock, parent=self)
        jobs.data_changed.connect(self.watcher.check)

    # ------------------------------------------------------------------ data

    def refresh(self) -> None:
        """Reads the overview again in the background, and the open tab's list."""
        if not self._shown_once:
            self._shown_once = True
            self.watcher.start()
        self._load_overview()
        self._refresh_tab()

    def _refresh_tab(self) -> None:
        current = self.tabs.currentIndex()
        if current == 1:
            self.alerts.reload()
        elif current == 2:
            self.segments.reload()
        else:
            self.alerts.reload()  # keeps the tab's count current

    def _load_overview(self) -> None:
        if self._loading:
            self._again = True
            return
        database, clock = self._database, self._clock

        def work(context: JobContext) -> HealthOverview:
            return load_overview(database, clock, context)

        try:
            handle = self._jobs.run(
                work,
                title="Reading health figures",
                key=LOAD_KEY,
                changes_data=False,
                on_success=self._loaded,
                on_error=lambda message: self.banner.show_message(message, "error"),
            )
        except BillbridgeError:
            self._again = True
            return
        self._loading = True
        self.refresh_button.setEnabled(False)
        self.status.setText("Reading the figures…")
        handle.finished.connect(self._load_finished)

    def _load_finished(self) -> None:
        self._loading = False
        self.refresh_button.setEnabled(True)
        if self._again:
            self._again = False
            self._load_overview()

    def _loaded(self, overview: object) -> None:
        if not isinstance(overview, HealthOverview):
            return
        self.banner.show_message("")
        self.overview.setVisible(overview.has_data)
        self.empty.setVisible(not overview.has_data)
        self.overview.show_overview(overview)
        self.status.setText(
            f"In {overview.currency} · read {time_text(overview.loaded_at)} "
            f"in {overview.seconds:.1f} s · hover a chart for its values"
        )

    def _alert_count(self, count: int) -> None:
        self.tabs.setTabText(1, f"Alerts ({count:,})" if count else "Alerts")

    # ------------------------------------------------------------------ rules

    def show_rules(self) -> None:
        """Opens the alert-rule editor."""
        if self.rules_dialog is None:
            self.rules_dialog = RulesDialog(self.rules, self)
        self.rules.reload()
        self.rules_dialog.show()
        self.rules_dialog.raise_()
        self.rules_dialog.activateWindow()

    def show_tab(self, name: str) -> None:
        """Switches to the ``Overview``, ``Alerts`` or ``Segments`` tab."""
        for index in range(self.tabs.count()):
            if self.tabs.tabText(index).startswith(name):
                self.tabs.setCurrentIndex(index)
                return
