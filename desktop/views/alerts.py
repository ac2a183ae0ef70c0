"""Open alerts: the list (acknowledge, snooze, open the account) and new-alert notifications.

The list reads :func:`desktop.health.list_alerts` through the read loader; acknowledging
and snoozing are writes, so they run on the job runner. :class:`AlertWatcher` asks the
core every minute (and after every job) whether active alerts appeared since it last
looked, and :class:`DesktopNotifier` tells the person: a system-tray message where the
desktop has a tray, otherwise the main window's status bar.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from functools import partial

from PySide6.QtCore import QDateTime, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QStyle,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from desktop.health import (
    AlertNews,
    AlertState,
    AlertView,
    acknowledge_alert,
    list_alerts,
    new_alerts_since,
    snooze_alert,
)
from desktop.jobs import JobContext
from desktop.storage.database import Database
from desktop.timeutil import Clock, ensure_utc, utc_now
from desktop.views.jobs import JobRunner
from desktop.views.models.formatting import ALERT_COLOUR, WARN_COLOUR, status_text, time_text
from desktop.views.models.loader import Loader
from desktop.views.models.table import ColumnSpec, RowsTableModel
from desktop.views.page import EmptyState
from desktop.views.widgets.common import Banner, make_table

#: The list's state filter: label → states.
STATE_FILTERS: tuple[tuple[str, tuple[AlertState, ...]], ...] = (
    ("Active", (AlertState.ACTIVE,)),
    ("Snoozed", (AlertState.SNOOZED,)),
    ("Acknowledged", (AlertState.ACKNOWLEDGED,)),
    ("All open", (AlertState.ACTIVE, AlertState.SNOOZED, AlertState.ACKNOWLEDGED)),
    ("Resolved", (AlertState.RESOLVED,)),
)
LIST_LIMIT = 2000


def _state_text(alert: AlertView) -> str:
    if alert.state is AlertState.SNOOZED and alert.snoozed_until is not None:
        return f"Snoozed until {time_text(alert.snoozed_until)}"
    if alert.state is AlertState.RESOLVED and alert.resolved_at is not None:
        return f"Resolved {time_text(alert.resolved_at)}"
    return status_text(alert.state.value)


ALERT_COLUMNS: list[ColumnSpec[AlertView]] = [
    ColumnSpec(
        "Severity",
        lambda a: status_text(a.severity),
        colour=lambda a: (
            ALERT_COLOUR
            if a.severity == "critical"
            else (WARN_COLOUR if a.severity == "warning" else None)
        ),
    ),
    ColumnSpec("Account", lambda a: a.account_name),
    ColumnSpec("Rule", lambda a: a.rule_name),
    ColumnSpec("Reason", lambda a: a.reason, tooltip=lambda a: a.reason),
    ColumnSpec("Since", lambda a: time_text(a.raised_at), sort_key=lambda a: a.raised_at),
    ColumnSpec("State", _state_text),
]


def snooze_choices(now: datetime) -> list[tuple[str, datetime]]:
    """The snooze menu: one hour, tomorrow 09:00 UTC, three days, a week."""
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(9), UTC)
    return [
        ("For 1 hour", now + timedelta(hours=1)),
        ("Until tomorrow 09:00 UTC", tomorrow),
        ("For 3 days", now + timedelta(days=3)),
        ("For 1 week", now + timedelta(weeks=1)),
    ]


class SnoozeDialog(QDialog):
    """Asks until when (UTC) to snooze an alert."""

    def __init__(self, now: datetime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Snooze alert")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Hide this alert until (UTC):"))
        self.edit = QDateTimeEdit()
        self.edit.setTimeSpec(Qt.TimeSpec.UTC)
        self.edit.setCalendarPopup(True)
        self.edit.setDisplayFormat("yyyy-MM-dd HH:mm")
        start = QDateTime.fromSecsSinceEpoch(
            int((now + timedelta(days=1)).timestamp()), Qt.TimeSpec.UTC
        )
        self.edit.setMinimumDateTime(
            QDateTime.fromSecsSinceEpoch(int(now.timestamp()), Qt.TimeSpec.UTC)
        )
        self.edit.setDateTime(start)
        layout.addWidget(self.edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def until(self) -> datetime:
        """The chosen time, aware UTC."""
        return datetime.fromtimestamp(self.edit.dateTime().toSecsSinceEpoch(), UTC)


class AlertsView(QWidget):
    """The open alerts with their actions.

    Signals:
        open_account(int): the person wants to see an alert's account.
        edit_rules(): the person asked for the rule editor.
        active_count(int): how many active alerts the last load found.
    """

    open_account = Signal(int)
    edit_rules = Signal()
    active_count = Signal(int)

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
        self._generation = 0
        self.model: RowsTableModel[AlertView] = RowsTableModel(ALERT_COLUMNS, self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        self.state_filter = QComboBox()
        for label, states in STATE_FILTERS:
            self.state_filter.addItem(label, states)
        self.state_filter.currentIndexChanged.connect(lambda _i: self.reload())
        top.addWidget(self.state_filter)
        self.count_label = QLabel()
        self.count_label.setObjectName("pageSubtitle")
        top.addWidget(self.count_label, 1)
        self.rules_button = QPushButton("Alert rules…")
        self.rules_button.setToolTip("Add, change, switch off or delete alert rules.")
        self.rules_button.clicked.connect(self.edit_rules)
        top.addWidget(self.rules_button)
        layout.addLayout(top)
        self.banner = Banner()
        layout.addWidget(self.banner)

        self.table = make_table(self.model)
        for column, width in enumerate((70, 160, 220, 360, 160)):
            self.table.setColumnWidth(column, width)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        self.table.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        self.empty = EmptyState("No active alerts. Alerts appear here when a rule matches.")
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty, 1)
        self.empty.hide()

        buttons = QHBoxLayout()
        self.acknowledge_button = QPushButton("Acknowledge")
        self.acknowledge_button.setToolTip(
            "Mark as seen: it stays open while it is true, but is no longer active."
        )
        self.acknowledge_button.clicked.connect(self.acknowledge_selected)
        self.snooze_button = QToolButton()
        self.snooze_button.setText("Snooze")
        self.snooze_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.snooze_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.snooze_menu = QMenu(self.snooze_button)
        self.snooze_menu.aboutToShow.connect(self._fill_snooze_menu)
        self.snooze_button.setMenu(self.snooze_menu)
        self.open_button = QPushButton("Open account")
        self.open_button.clicked.connect(self.open_selected)
        for button in (self.acknowledge_button, self.snooze_button, self.open_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self._update_buttons()

    # ---------------------------------------------------------------- loading

    @property
    def states(self) -> tuple[AlertState, ...]:
        """The states the list shows."""
        states: tuple[AlertState, ...] = self.state_filter.currentData()
        return states

    def reload(self) -> None:
        """Reads the alerts again."""
        self._generation += 1
        generation = self._generation
        database, clock, states = self._database, self._clock, self.states
        counting = states != (AlertState.ACTIVE,)

        def query(_session: Session) -> tuple[list[AlertView], int | None]:
            alerts = list_alerts(database, clock=clock, states=states, limit=LIST_LIMIT)
            active = None
            if counting:
                active = len(list_alerts(database, clock=clock, limit=LIST_LIMIT))
            return alerts, active

        self._loader.submit(
            query,
            partial(self._loaded, generation),
            lambda message: self.banner.show_message(message, "error"),
        )

    def _loaded(self, generation: int, answer: tuple[list[AlertView], int | None]) -> None:
        if generation != self._generation:
            return
        alerts, active = answer
        selected = self.selected()
        self.model.set_rows(alerts)
        if selected is not None:
            row = next((i for i, a in enumerate(alerts) if a.id == selected.id), -1)
            if row >= 0:
                self.table.selectRow(row)
        more = "+" if len(alerts) >= LIST_LIMIT else ""
        label = self.state_filter.currentText().lower()
        self.count_label.setText(
            f"{len(alerts):,}{more} {label} alert{'s' if len(alerts) != 1 else ''}"
        )
        empty = not alerts
        self.empty.setText(
            "No active alerts. Alerts appear here when a rule matches."
            if self.states == (AlertState.ACTIVE,)
            else f"No {label} alerts."
        )
        self.table.setVisible(not empty)
        self.empty.setVisible(empty)
        self.active_count.emit(len(alerts) if active is None else active)
        self._update_buttons()

    # ---------------------------------------------------------------- actions

    def selected(self) -> AlertView | None:
        """The selected alert, if any."""
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def _update_buttons(self) -> None:
        alert = self.selected()
        open_alert = alert is not None and alert.state is not AlertState.RESOLVED
        self.acknowledge_button.setEnabled(
            open_alert and alert is not None and alert.acknowledged_at is None
        )
        self.snooze_button.setEnabled(open_alert)
        self.open_button.setEnabled(alert is not None)

    def open_selected(self) -> None:
        """Asks to show the selected alert's account."""
        alert = self.selected()
        if alert is not None:
            self.open_account.emit(alert.account_id)

    def _change(self, title: str, work: Callable[[], AlertView]) -> None:
        def job(_context: JobContext) -> AlertView:
            return work()

        self._jobs.run(
            job,
            title=title,
            on_success=lambda _view: self.reload(),
            on_error=lambda message: self.banner.show_message(message, "error"),
        )

    def acknowledge_selected(self) -> None:
        """Acknowledges the selected alert (in the background)."""
        alert = self.selected()
        if alert is None:
            return
        self._change(
            f"Acknowledging an alert on {alert.account_name}",
            partial(acknowledge_alert, self._database, alert.id, self._clock),
        )

    def snooze_selected(self, until: datetime) -> None:
        """Snoozes the selected alert until ``until`` (aware UTC)."""
        alert = self.selected()
        if alert is None:
            return
        self._change(
            f"Snoozing an alert on {alert.account_name}",
            partial(snooze_alert, self._database, alert.id, until, self._clock),
        )

    def _fill_snooze_menu(self) -> None:
        self.snooze_menu.clear()
        for label, until in snooze_choices(ensure_utc(self._clock())):
            action = self.snooze_menu.addAction(label)
            action.triggered.connect(partial(self.snooze_selected, until))
        self.snooze_menu.addSeparator()
        self.snooze_menu.addAction("Until a time…").triggered.connect(self._ask_snooze)

    def _ask_snooze(self) -> None:
        dialog = SnoozeDialog(ensure_utc(self._clock()), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.snooze_selected(dialog.until())
        dialog.deleteLater()


class AlertWatcher(QObject):
    """Notices active alerts raised since it last looked (any process may raise them).

    The first look only learns where the alerts are; later looks report what is new.

    Signals:
        new_alerts(object): an :class:`~desktop.health.AlertNews` with ``count`` > 0.
    """

    new_alerts = Signal(object)

    def __init__(
        self,
        loader: Loader,
        database: Database,
        clock: Clock = utc_now,
        interval_ms: int = 60_000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._database = database
        self._clock = clock
        self.last_id: int | None = None
        self._asking = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)

    def start(self) -> None:
        """Looks now and then every interval."""
        self.check()
        self._timer.start()

    def stop(self) -> None:
        """Stops looking."""
        self._timer.stop()

    def check(self, *_args: object) -> None:
        """Looks for new active alerts."""
        if self._asking:
            return
        self._asking = True
        database, clock, after = self._database, self._clock, self.last_id

        def query(_session: Session) -> AlertNews:
            return new_alerts_since(database, after, clock=clock)

        self._loader.submit(query, self._answered, lambda _message: self._failed())

    def _failed(self) -> None:
        self._asking = False

    def _answered(self, news: AlertNews) -> None:
        self._asking = False
        first = self.last_id is None
        self.last_id = max(news.newest_id, self.last_id or 0)
        if not first and news.count:
            self.new_alerts.emit(news)


def news_text(news: AlertNews) -> tuple[str, str]:
    """A notification's title and text for new alerts."""
    count = news.count
    title = f"{count:,} new alert{'s' if count != 1 else ''}"
    lines = [f"{alert.account_name}: {alert.rule_name}" for alert in news.sample]
    if not lines:
        lines.append("See the Alerts tab of the Health page.")
    elif count > len(news.sample):
        lines.append(f"and {count - len(news.sample):,} more on the Health page.")
    return title, "\n".join(lines)


class DesktopNotifier(QObject):
    """Shows a desktop notification, or a status-bar message where there is no tray.

    Args:
        fallback: shows a sentence in the window (the status bar) when the desktop has
            no system tray (a headless or minimal desktop). Never raises.
    """

    def __init__(self, fallback: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fallback = fallback
        self._tray: QSystemTrayIcon | None = None
        self.last_message = ""

    def notify(self, title: str, text: str) -> None:
        """Tells the person ``title`` (with ``text`` where there is room)."""
        self.last_message = title
        try:
            if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages():
                if self._tray is None:
                    app = QApplication.instance()
                    style = app.style() if isinstance(app, QApplication) else None
                    icon = (
                        style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
                        if style is not None
                        else QApplication.windowIcon()
                    )
                    self._tray = QSystemTrayIcon(icon, self)
                    self._tray.setToolTip("Billbridge")
                self._tray.show()
                self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Warning, 10_000)
                return
        except RuntimeError:  # a tray that vanished: fall back below
            pass
        first_line = text.splitlines()[0] if text else ""
        self._fallback(f"{title}: {first_line}" if first_line else title)

    def hide(self) -> None:
        """Removes the tray icon (on quit)."""
        if self._tray is not None:
            self._tray.hide()
