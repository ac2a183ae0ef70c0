"""The Zoho CRM integration page, and the app's automatic CRM sync.

The page shows one CRM connection at a time (a chooser appears when there are several):
what connecting found (organization, owner, currencies), its state, when the next
automatic sync runs, its settings read-only (with *Edit settings…*, the setup wizard on
the saved settings), and the CRM connection's own sync history. Its actions run on the
job runner: *Sync Now* with progress and Cancel (refused with the lock's reason while the
automatic sync — or any other run — holds the connection), *Dry run*, Pause/Resume,
Disable/Reactivate and *Update credentials…*.

:class:`CrmAutoSync` ticks every few minutes while the app is open and runs
:meth:`desktop.crm.schedule.CrmSchedule.run_due` on the job runner; the schedule decides
what is due from each connection's interval (hourly by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.crm.connect import KIND
from desktop.crm.report import Action, Direction, ModuleCounts, SyncReport
from desktop.crm.schedule import CrmSchedule
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import CrmSettings
from desktop.errors import BillbridgeError
from desktop.jobs import JobContext
from desktop.sync.connections import ConnectionInfo
from desktop.sync.engine import RunSummary
from desktop.sync.locks import LockHolder
from desktop.views.jobs import JobRunner
from desktop.views.models.formatting import duration_text, status_text, time_text
from desktop.views.models.loader import Loader
from desktop.views.models.table import ColumnSpec, RowsTableModel
from desktop.views.page import EmptyState, Page
from desktop.views.schedule_ticker import ScheduleTicker
from desktop.views.widgets.common import Banner, make_table
from desktop.wizards.crm_common import JobStrip, ReportView
from desktop.wizards.crm_connect import CrmConnectDialog
from desktop.wizards.crm_wizard import CrmWizard

#: How often the app asks the schedule what is due (it runs only what is due).
AUTO_SYNC_TICK_MS = 5 * 60 * 1000
#: The first tick after start.
AUTO_SYNC_FIRST_MS = 60 * 1000
LOCK_POLL_MS = 5000


def _duration(run: RunSummary) -> str:
    if run.finished_at is None or run.started_at is None:
        return "running"
    return duration_text((run.finished_at - run.started_at).total_seconds())


HISTORY_COLUMNS: list[ColumnSpec[RunSummary]] = [
    ColumnSpec("Started", lambda r: time_text(r.started_at)),
    ColumnSpec("Kind", lambda r: status_text(r.kind)),
    ColumnSpec("Status", lambda r: status_text(r.status)),
    ColumnSpec("Read", lambda r: f"{r.fetched:,}", numeric=True),
    ColumnSpec("Created", lambda r: f"{r.created:,}", numeric=True),
    ColumnSpec("Updated", lambda r: f"{r.updated:,}", numeric=True),
    ColumnSpec(
        "Deleted",
        lambda r: f"{r.deleted:,}",
        numeric=True,
        tooltip=lambda r: "Linked records found deleted in Zoho CRM (now unlinked).",
    ),
    ColumnSpec("Failed", lambda r: f"{r.errors:,}", numeric=True),
    ColumnSpec("API calls", lambda r: f"{r.api_calls:,}", numeric=True),
    ColumnSpec("Took", _duration),
    ColumnSpec("Message", lambda r: r.message, tooltip=lambda r: r.message),
]


def report_from_details(details: dict[str, Any]) -> SyncReport:
    """A run's stored details (``SyncReport.to_json``) as a report again (counts only)."""
    report = SyncReport(dry_run=bool(details.get("dry_run")))
    for item in details.get("modules") or []:
        try:
            counts = ModuleCounts(
                Direction(str(item["direction"])),
                str(item["module"]),
                *(int(item.get(a.value, 0)) for a in Action),
            )
        except (KeyError, ValueError, TypeError):
            continue
        report.counts[(counts.direction.value, counts.module)] = counts
    report.notes = [str(n) for n in details.get("notes") or []]
    return report


def settings_lines(settings: CrmSettings) -> list[tuple[str, str]]:
    """The saved settings as label/value lines, without asking the CRM (view ids only)."""
    if not settings.configured:
        return [("Setup", "Not set up yet: choose Set up the sync… to run the five steps.")]
    lines = [
        (
            "Module",
            settings.module.label
            + (" (with contacts without an account)" if settings.include_orphans else ""),
        ),
        ("Extent", settings.extent.label),
        ("Duplicates", settings.duplicates.label),
    ]
    for module in settings.module.crm_modules:
        lines.append((f"{module} view", f"view {settings.views.get(module, '?')}"))
    for module in settings.module.crm_modules:
        pairs = ", ".join(f"{m.crm_field} → {m.local_field}" for m in settings.mapping(module))
        lines.append((f"{module} fields", pairs or "defaults"))
    lines.append(("Automatic sync", f"every {settings.interval_minutes} minutes"))
    return lines


@dataclass
class CrmState:
    """What the page shows of the CRM connections (read on the job runner).

    Attributes:
        connections: every CRM connection.
        name: the one shown.
        settings: its integration settings.
        history: its sync runs, newest first.
        next_run: when its next automatic sync is due (``None``: never).
        holder: who holds its sync lock right now.
    """

    connections: list[ConnectionInfo] = field(default_factory=list)
    name: str | None = None
    settings: CrmSettings = field(default_factory=CrmSettings)
    history: list[RunSummary] = field(default_factory=list)
    next_run: datetime | None = None
    holder: LockHolder | None = None

    @property
    def info(self) -> ConnectionInfo | None:
        """The shown connection."""
        return next((c for c in self.connections if c.name == self.name), None)


def read_state(integration: CrmIntegration, schedule: CrmSchedule, wanted: str | None) -> CrmState:
    """Reads the page's state (blocking; the job runner calls it)."""
    connections = [c for c in integration.connections.list() if c.kind == KIND]
    if not connections:
        return CrmState()
    info = next((c for c in connections if c.name == wanted), connections[0])
    name = info.name
    return CrmState(
        connections=connections,
        name=name,
        settings=integration.settings(name),
        history=integration.history(name, limit=30),
        next_run=schedule.next_run_at(name),
        holder=integration.locks.holder(info.id),
    )


class CrmPage(Page):
    """The Zoho CRM integration page (see the module docstring).

    Signals:
        connections_changed(list): the CRM connections' names, after each refresh.
    """

    title = "Zoho CRM"
    subtitle = (
        "Zoho CRM and your billing data, joined: CRM Accounts and Contacts come in as "
        "accounts, and — both ways — billing customers and subscriptions go out as Contacts "
        "and Deals."
    )
    connections_changed = Signal(list)

    def __init__(
        self,
        loader: Loader,
        integration: CrmIntegration,
        schedule: CrmSchedule,
        jobs: JobRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.loader = loader
        self.integration = integration
        self.schedule = schedule
        self.jobs = jobs
        self.state = CrmState()
        self._generation = 0
        self._summary_cache: dict[tuple[str, str], list[tuple[str, str]]] = {}
        #: Runs a modal dialog (tests replace it so nothing blocks).
        self.run_dialog: Callable[[QDialog], object] = lambda dialog: dialog.exec()
        self.last_dialog: QDialog | None = None

        bar = QHBoxLayout()
        self.chooser = QComboBox()
        self.chooser.currentTextChanged.connect(self._chosen)
        self.chooser.hide()
        self.connect_button = QPushButton("Connect Zoho CRM…")
        self.connect_button.clicked.connect(self.connect_new)
        bar.addWidget(self.chooser)
        bar.addStretch(1)
        bar.addWidget(self.connect_button)
        self.body.addLayout(bar)
        self.banner = Banner()
        self.body.addWidget(self.banner)
        self.empty = EmptyState(
            "No Zoho CRM connection yet. Connect Zoho CRM to bring its Accounts and Contacts "
            "in and, if you like, push billing customers and subscriptions out."
        )
        self.body.addWidget(self.empty)
        self.detail = self._build_detail()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.detail)
        self.scroll_area = scroll
        self.body.addWidget(scroll, 1)
        scroll.hide()
        self._poll = QTimer(self)
        self._poll.setInterval(LOCK_POLL_MS)
        self._poll.timeout.connect(self.refresh)
        jobs.job_started.connect(lambda _h: self._update_buttons())
        jobs.job_finished.connect(lambda _h: self._update_buttons())

    def _build_detail(self) -> QWidget:
        detail = QWidget()
        layout = QVBoxLayout(detail)
        layout.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        self.name_label = QLabel()
        font = self.name_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name_label.setFont(font)
        self.state_label = QLabel()
        head.addWidget(self.name_label)
        head.addWidget(self.state_label)
        head.addStretch(1)
        layout.addLayout(head)
        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.facts)
        self.busy_label = QLabel()
        self.busy_label.setWordWrap(True)
        self.busy_label.hide()
        layout.addWidget(self.busy_label)
        buttons = QHBoxLayout()
        self.sync_button = QPushButton("Sync Now")
        self.sync_button.clicked.connect(self.sync_now)
        self.dry_run_button = QPushButton("Dry run")
        self.dry_run_button.setToolTip("Shows what a sync would do; writes nothing.")
        self.dry_run_button.clicked.connect(self.dry_run)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self._toggle_pause)
        self.disable_button = QPushButton("Disable")
        self.disable_button.clicked.connect(self._toggle_disable)
        self.credentials_button = QPushButton("Update credentials…")
        self.credentials_button.clicked.connect(self.update_credentials)
        self.edit_button = QPushButton("Edit settings…")
        self.edit_button.clicked.connect(self.edit_settings)
        for button in (
            self.sync_button,
            self.dry_run_button,
            self.pause_button,
            self.disable_button,
            self.credentials_button,
            self.edit_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.strip = JobStrip()
        layout.addWidget(self.strip)
        self.result = Banner()
        layout.addWidget(self.result)
        self.report = ReportView()
        layout.addWidget(self.report)
        columns = QHBoxLayout()
        settings_box = QGroupBox("Settings")
        settings_layout = QVBoxLayout(settings_box)
        self.settings_text = QLabel()
        self.settings_text.setWordWrap(True)
        self.settings_text.setTextFormat(Qt.TextFormat.RichText)
        self.settings_text.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.settings_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        settings_layout.addWidget(self.settings_text)
        settings_layout.addStretch(1)
        history_box = QGroupBox("Sync history (this CRM connection's runs)")
        history_layout = QVBoxLayout(history_box)
        self.history = RowsTableModel(HISTORY_COLUMNS, self)
        self.history_view = make_table(self.history, sortable=False)
        self.history_view.setMinimumHeight(220)
        history_layout.addWidget(self.history_view)
        columns.addWidget(settings_box, 1)
        columns.addWidget(history_box, 2)
        layout.addLayout(columns, 1)
        return detail

    # ------------------------------------------------------------------ state

    def showEvent(self, event: Any) -> None:
        self._poll.start()
        super().showEvent(event)

    def hideEvent(self, event: Any) -> None:
        self._poll.stop()
        super().hideEvent(event)

    @property
    def name(self) -> str | None:
        """The CRM connection shown."""
        return self.state.name

    def refresh(self) -> None:
        """Reads the CRM connections and the shown one's runs on the read loader."""
        self._generation += 1
        generation = self._generation
        integration, schedule = self.integration, self.schedule
        wanted = self.chooser.currentText() or self.state.name
        self._loader_submit(
            lambda _session: read_state(integration, schedule, wanted),
            partial(self._loaded, generation),
        )

    def _loader_submit(self, query: Callable[[Any], Any], done: Callable[[Any], None]) -> None:
        self.loader.submit(query, done, lambda message: self.banner.show_message(message, "error"))

    def _loaded(self, generation: int, state: CrmState) -> None:
        if generation != self._generation:
            return
        self.state = state
        names = [c.name for c in state.connections]
        self.chooser.blockSignals(True)
        self.chooser.clear()
        self.chooser.addItems(names)
        if state.name:
            self.chooser.setCurrentText(state.name)
        self.chooser.blockSignals(False)
        self.chooser.setVisible(len(names) > 1)
        self.empty.setVisible(not names)
        self.scroll_area.setVisible(bool(names))
        self.connections_changed.emit(names)
        info = state.info
        if info is None:
            return
        settings = dict(info.settings)
        words = {"active": "Active", "paused": "Paused", "disabled": "Disabled"}
        self.name_label.setText(info.name)
        self.state_label.setText(f"  Zoho CRM · {words.get(info.status, info.status)}")
        currencies = ", ".join(settings.get("crm_currencies") or [])
        multi = (
            f"multi-currency on ({currencies})"
            if settings.get("crm_multi_currency")
            else "multi-currency off"
        )
        if info.status == "disabled":
            following = "Disabled: no syncs run; data, links and settings are kept."
        elif info.status == "paused":
            following = "Automatic syncs are paused; Sync Now still works."
        elif not state.settings.configured:
            following = "No automatic sync until the setup is finished."
        elif state.next_run is not None:
            following = f"Next automatic sync: {time_text(state.next_run)}."
        else:
            following = "No automatic sync is planned."
        key = f"key {info.secret_hint}" if info.secret_hint else "no key stored"
        self.facts.setText(
            f"Organization {settings.get('crm_org') or '?'} · data centre "
            f"{str(settings.get('data_centre') or 'us').upper()} · owner "
            f"{settings.get('owner_name') or ''} <{settings.get('owner_email') or '?'}> · "
            f"base currency {settings.get('crm_base_currency') or '?'}, {multi} · {key}\n"
            f"{following}"
        )
        self.pause_button.setText("Resume" if info.status == "paused" else "Pause")
        self.disable_button.setText("Reactivate" if info.status == "disabled" else "Disable")
        self.edit_button.setText(
            "Edit settings…" if state.settings.configured else "Set up the sync…"
        )
        self._show_settings(info.name, state.settings)
        self.history.set_rows(state.history)
        self.history_view.resizeColumnsToContents()
        self._update_buttons()

    def _show_settings(self, name: str, settings: CrmSettings) -> None:
        key = (name, repr(settings.to_json()))
        lines = self._summary_cache.get(key)
        if lines is None:
            lines = settings_lines(settings)
            if settings.configured:
                self._load_summary(name, key)
        self.settings_text.setText(
            "<table cellpadding='3'>"
            + "".join(
                f"<tr><td valign='top'><b>{_escape(k)}</b></td><td>{_escape(v)}</td></tr>"
                for k, v in lines
            )
            + "</table>"
        )

    def _load_summary(self, name: str, key: tuple[str, str]) -> None:
        """Reads the view names from the CRM once per saved settings (background)."""
        if self.jobs.is_running(f"crm-summary:{name}"):
            return
        integration = self.integration

        def work(_context: JobContext) -> list[tuple[str, str]]:
            lines: list[tuple[str, str]] = integration.setup(name).summary()
            return lines

        def done(lines: list[tuple[str, str]]) -> None:
            self._summary_cache[key] = lines
            if self.state.name == name:
                self._show_settings(name, self.state.settings)

        try:
            self.jobs.run(
                work,
                title=f"Reading the Zoho CRM views of {name}",
                key=f"crm-summary:{name}",
                on_success=done,
                on_error=lambda _message: None,  # the ids stay shown
                changes_data=False,
            )
        except BillbridgeError:
            return

    def _chosen(self, name: str) -> None:
        if name and name != self.state.name:
            self.state.name = name
            self.refresh()

    def refusal(self) -> str:
        """Why Sync Now cannot run right now ("" when it can)."""
        info = self.state.info
        if info is None:
            return "There is no Zoho CRM connection."
        if info.status == "disabled":
            return "The integration is disabled; reactivate it to sync."
        if not self.state.settings.configured:
            return "Finish the setup (Set up the sync…) before syncing."
        if self.strip.busy:
            return "This integration is syncing."
        if self.jobs.is_running("crm-auto"):
            return "The automatic Zoho CRM sync is running; Sync Now waits until it finishes."
        holder = self.state.holder
        if holder is not None:
            return holder.sentence()
        return ""

    def _update_buttons(self) -> None:
        info = self.state.info
        reason = self.refusal()
        self.sync_button.setEnabled(not reason)
        self.sync_button.setToolTip(reason or "Syncs now (pull, then push when both ways).")
        holder = self.state.holder
        foreign = holder is not None and not self.strip.busy
        busy_reason = ""
        if foreign and holder is not None:
            busy_reason = holder.sentence()
        elif self.jobs.is_running("crm-auto") and not self.strip.busy:
            busy_reason = "The automatic Zoho CRM sync is running."
        self.busy_label.setText(f"⏳ {busy_reason}" if busy_reason else "")
        self.busy_label.setVisible(bool(busy_reason))
        runnable = info is not None and info.status != "disabled"
        configured = self.state.settings.configured
        self.dry_run_button.setEnabled(runnable and configured and not self.strip.busy)
        self.pause_button.setEnabled(info is not None and info.status != "disabled")
        self.disable_button.setEnabled(info is not None)
        self.credentials_button.setEnabled(info is not None)
        self.edit_button.setEnabled(info is not None and not self.strip.busy)

    # ---------------------------------------------------------------- actions

    def sync_now(self) -> None:
        """Runs a manual sync with progress and Cancel (refused with the reason if busy)."""
        name = self.state.name
        reason = self.refusal()
        if name is None or reason:
            if reason:
                self.result.show_message(reason, "warning")
            return
        integration = self.integration

        def work(context: JobContext) -> RunSummary:
            return integration.run(name, context=context)

        self._start(
            work,
            f"Syncing {name} with Zoho CRM",
            f"crm-sync:{name}",
            "Syncing with Zoho CRM…",
            self._synced,
            cancelled="Cancelled. What was written before the cancel is kept.",
        )

    def _synced(self, summary: RunSummary) -> None:
        self.result.show_message(
            summary.line(), "ok" if summary.status == "succeeded" else "warning"
        )
        self.report.show_report(report_from_details(summary.details))

    def dry_run(self) -> None:
        """Previews a sync with the saved settings (writes nothing)."""
        name = self.state.name
        if name is None:
            return
        integration = self.integration

        def work(context: JobContext) -> SyncReport:
            return integration.preview(name, context=context)

        self._start(
            work,
            f"Dry run of {name}",
            f"crm-dry-run:{name}",
            "Dry run: reading Zoho CRM and comparing…",
            self.report.show_report,
            cancelled="Dry run cancelled.",
            changes_data=False,
        )

    def _start(
        self,
        work: Callable[[JobContext], Any],
        title: str,
        key: str,
        message: str,
        done: Callable[[Any], None],
        *,
        cancelled: str,
        changes_data: bool = True,
    ) -> None:
        self.result.show_message("")
        self.report.hide()
        try:
            handle = self.jobs.run(
                work,
                title=title,
                key=key,
                on_success=done,
                on_error=lambda text: self.result.show_message(text, "error"),
                changes_data=changes_data,
            )
        except BillbridgeError as error:
            self.result.show_message(str(error), "error")
            return
        handle.cancelled.connect(lambda: self.result.show_message(cancelled, "warning"))
        self.strip.follow(handle, message)
        handle.finished.connect(self._after_job)
        self._update_buttons()

    def _after_job(self) -> None:
        self._update_buttons()
        self.refresh()

    def _set_state(self, verb: str, action: Callable[[str], None]) -> None:
        name = self.state.name
        if name is None:
            return
        try:
            self.jobs.run(
                lambda _context: action(name),
                title=f"{verb} {name}",
                on_success=lambda _r: self.refresh(),
                on_error=lambda text: self.result.show_message(text, "error"),
            )
        except BillbridgeError as error:
            self.result.show_message(str(error), "error")

    def _toggle_pause(self) -> None:
        info = self.state.info
        if info is None:
            return
        if info.status == "paused":
            self._set_state("Resuming", self.integration.resume)
        else:
            self._set_state("Pausing", self.integration.pause)

    def _toggle_disable(self) -> None:
        info = self.state.info
        if info is None:
            return
        if info.status == "disabled":
            self._set_state("Reactivating", self.integration.reactivate)
        else:
            self._set_state("Disabling", self.integration.disable)

    # ---------------------------------------------------------------- dialogs

    def connect_new(self) -> None:
        """*Connect Zoho CRM…*, then the setup wizard on the new connection."""
        dialog = CrmConnectDialog(self.integration, self.jobs, parent=self.window())
        dialog.accepted.connect(partial(self._connected, dialog))
        self._run(dialog)

    def _connected(self, dialog: CrmConnectDialog) -> None:
        if dialog.info is None:
            return
        self.state.name = dialog.info.name
        self.chooser.blockSignals(True)
        self.chooser.addItem(dialog.info.name)
        self.chooser.setCurrentText(dialog.info.name)
        self.chooser.blockSignals(False)
        self.refresh()
        self.open_wizard(dialog.info.name)

    def update_credentials(self) -> None:
        """*Update credentials…* of the shown connection."""
        info = self.state.info
        if info is None:
            return
        dialog = CrmConnectDialog(
            self.integration,
            self.jobs,
            existing=info.name,
            owner_email=str(info.settings.get("owner_email") or ""),
            parent=self.window(),
        )
        dialog.accepted.connect(self.refresh)
        self._run(dialog)

    def edit_settings(self) -> None:
        """*Edit settings…*: the setup wizard on the saved settings."""
        if self.state.name is not None:
            self.open_wizard(self.state.name)

    def open_wizard(self, name: str) -> None:
        """Opens the setup wizard of a CRM connection."""
        wizard = CrmWizard(
            self.integration,
            self.jobs,
            name,
            find_contacts=partial(self._find_contacts, name),
            parent=self.window(),
        )
        wizard.accepted.connect(self._wizard_saved)
        self._run(wizard)

    def _wizard_saved(self) -> None:
        self.result.show_message("The Zoho CRM settings are saved.", "ok")
        self.refresh()

    def _find_contacts(self, name: str, parent: QWidget) -> list[str]:
        from desktop.views.crm_account import CrmSearchDialog

        dialog = CrmSearchDialog(self.integration, self.jobs, name, parent=parent)
        dialog.exec()
        return list(dialog.picked)

    def _run(self, dialog: QDialog) -> None:
        self.last_dialog = dialog
        dialog.finished.connect(dialog.deleteLater)
        self.run_dialog(dialog)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class CrmAutoSync(ScheduleTicker):
    """Runs the due automatic CRM syncs on the job runner while the app is open."""

    def __init__(
        self,
        schedule: CrmSchedule,
        jobs: JobRunner,
        *,
        tick_ms: int = AUTO_SYNC_TICK_MS,
        first_ms: int = AUTO_SYNC_FIRST_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(
            schedule,
            jobs,
            key="crm-auto",
            title="Automatic Zoho CRM sync",
            tick_ms=tick_ms,
            first_ms=first_ms,
            parent=parent,
        )
