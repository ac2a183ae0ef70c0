"""The Connections page: each billing connection with its state, last and next run, and actions.

Sync Now runs on the job runner with a progress bar, rate and ETA and a Cancel button
(Cancelling… → Cancelled). A run held by someone else (a scheduled run, the CLI, another
machine) is read from the engine's lock table every few seconds; while one holds the
connection, Sync Now is disabled and the lock's sentence says why.

The poll reads only the lock table (a handful of rows), never the counts: counting a
100,000-account workspace every few seconds while a sync writes to it would compete with
the window for the CPU. The whole page is read again when the set of running syncs
changes, when a job ends (the main window's refresh) or when the page is shown.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from desktop.errors import BillbridgeError
from desktop.jobs import JobContext, Progress
from desktop.storage.repositories.connection_overview import ConnectionOverview, list_connections
from desktop.sync.locks import LockHolder
from desktop.timeutil import Clock, utc_now
from desktop.views.jobs import JobHandle, JobRunner
from desktop.views.models.formatting import (
    duration_text,
    key_text,
    status_text,
    time_text,
)
from desktop.views.models.loader import Loader
from desktop.views.page import EmptyState, Page
from desktop.views.widgets.common import Banner

LOCK_POLL_MS = 3000


@dataclass
class ConnectionsBackend:
    """What the page may ask of the core, each run on the job runner (Qt-free callables).

    Attributes:
        sync: runs a manual sync of a connection id (``None``: no engine available).
        set_status: sets a connection's status (active, paused, disabled).
        remove: removes a connection and everything synced from it, and its key.
        holders: who holds which connection's sync lock right now.
        open_wizard: opens the connection wizard: ``None`` to add a connection, or a
            connection whose credentials to update; returns whether something was saved.
        open_crm: starts *Connect Zoho CRM* (the Zoho CRM page takes over from there).
    """

    sync: Callable[[int, JobContext], object] | None = None
    set_status: Callable[[int, str], None] | None = None
    remove: Callable[[int], None] | None = None
    holders: Callable[[], list[LockHolder]] | None = None
    open_wizard: Callable[[QWidget, ConnectionOverview | None], bool] | None = None
    open_crm: Callable[[], None] | None = None


def rate_text(progress: Progress) -> str:
    """``1,200 of 5,000 records · 350 records/s · about 12 s left`` (what is known)."""
    parts = [
        f"{progress.done:,} of {progress.total:,} records"
        if progress.total
        else f"{progress.done:,} records"
    ]
    if progress.rate:
        parts.append(f"{progress.rate:,.0f} records/s")
    eta = progress.eta_seconds
    if eta is not None:
        parts.append(f"about {duration_text(eta)} left")
    return " · ".join(parts)


class ConnectionCard(QFrame):
    """One connection: facts, the running sync's progress, and its buttons."""

    def __init__(self, page: ConnectionsPage, overview: ConnectionOverview) -> None:
        super().__init__()
        self.page = page
        self.overview = overview
        self.handle: JobHandle | None = None
        self.setObjectName("connectionCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "QFrame#connectionCard { border: 1px solid palette(mid); border-radius: 6px; "
            "background: palette(base); }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)
        top = QHBoxLayout()
        self.name_label = QLabel()
        font = self.name_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name_label.setFont(font)
        top.addWidget(self.name_label)
        self.state_label = QLabel()
        top.addWidget(self.state_label)
        top.addStretch(1)
        layout.addLayout(top)
        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.facts)
        self.busy_label = QLabel()
        self.busy_label.setWordWrap(True)
        self.busy_label.hide()
        layout.addWidget(self.busy_label)

        progress_row = QHBoxLayout()
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(14)
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_sync)
        progress_row.addWidget(self.bar, 2)
        progress_row.addWidget(self.progress_label, 3)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        progress_row.setContentsMargins(0, 4, 0, 4)
        self.progress_box.hide()
        layout.addWidget(self.progress_box)
        self.result = Banner()
        layout.addWidget(self.result)

        buttons = QHBoxLayout()
        self.sync_button = QPushButton("Sync Now")
        self.sync_button.clicked.connect(self.sync_now)
        self.pause_button = QPushButton()
        self.pause_button.clicked.connect(self._toggle_pause)
        self.disable_button = QPushButton()
        self.disable_button.clicked.connect(self._toggle_disable)
        self.credentials_button = QPushButton("Update credentials…")
        self.credentials_button.clicked.connect(lambda: self.page.open_wizard(self.overview))
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self._remove)
        for button in (
            self.sync_button,
            self.pause_button,
            self.disable_button,
            self.credentials_button,
            self.remove_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.update_from(overview, None)

    def focus_chain(self) -> list[QWidget]:
        """The card's keyboard stops, top to bottom (hidden or disabled ones are skipped)."""
        return [
            self.cancel_button,
            self.sync_button,
            self.pause_button,
            self.disable_button,
            self.credentials_button,
            self.remove_button,
        ]

    # ------------------------------------------------------------------ state

    def update_from(self, overview: ConnectionOverview, holder: LockHolder | None) -> None:
        """Shows the latest facts and who (if anyone else) is running it."""
        self.overview = overview
        o = overview
        label = f"{o.name}"
        self.name_label.setText(label)
        status_words = {"active": "Active", "paused": "Paused", "disabled": "Disabled"}
        mode = "Daily sync at 00:00 UTC" if o.mode == "daily" else "Import only"
        self.state_label.setText(
            f"  {status_text(o.kind)} · {status_words.get(o.status, o.status)} · {mode}"
        )
        run = o.last_run
        if run is None:
            last = "Last run: never."
        else:
            took = duration_text(run.duration_seconds) if run.finished_at else "running"
            last = (
                f"Last run: {status_text(run.status)} at {time_text(run.started_at)} — "
                f"{run.fetched:,} fetched, {run.created:,} created, {run.updated:,} updated, "
                f"{run.deleted:,} deleted, {run.errors:,} errors, {run.api_calls:,} API calls "
                f"in {took}."
            )
        if o.status == "disabled":
            following = "No runs: the connection is disabled."
        elif o.status == "paused":
            following = "Scheduled runs are paused; Sync Now still works."
        elif o.next_run is not None:
            following = f"Next scheduled run: {time_text(o.next_run)}."
        else:
            following = "Import only: no scheduled run; Sync Now imports new records."
        key = key_text(o.secret_hint)
        self.facts.setText(
            f"{last}\n{following}\n{o.accounts:,} accounts · {o.open_errors:,} open sync errors "
            f"· {key}"
        )
        self.pause_button.setText("Resume" if o.status == "paused" else "Pause")
        self.pause_button.setEnabled(o.status != "disabled")
        if o.status == "disabled":
            pause_tip = "The connection is disabled; reactivate it first."
        elif o.status == "paused":
            pause_tip = "Starts the daily scheduled sync again."
        elif o.mode != "daily":
            pause_tip = "Import only: there is no scheduled sync to pause."
        else:
            pause_tip = "Stops the daily scheduled sync; Sync Now still works and data is kept."
        self.pause_button.setToolTip(pause_tip)
        self.disable_button.setText("Reactivate" if o.status == "disabled" else "Disable")
        self.disable_button.setToolTip(
            "Lets this connection sync again."
            if o.status == "disabled"
            else "Stops every sync of this connection, scheduled and Sync Now; data is kept."
        )
        self.show_holder(holder)

    def show_holder(self, holder: LockHolder | None) -> None:
        """Shows who (if anyone else) is running this connection, and its progress."""
        self._holder = holder
        self._update_sync_button()

    def _update_sync_button(self) -> None:
        holder = self._holder
        own = self.handle is not None
        foreign = holder is not None and not own
        if foreign and holder is not None:
            self.busy_label.setText("⏳ " + holder.sentence())
            self.busy_label.show()
            done = holder.progress.get("done")
            if isinstance(done, int):
                total = holder.progress.get("total")
                self.busy_label.setText(
                    self.busy_label.text()
                    + f" ({done:,}"
                    + (f" of {total:,}" if isinstance(total, int) else "")
                    + " records so far)"
                )
        else:
            self.busy_label.hide()
        reason = ""
        if self.page.backend.sync is None:
            reason = "Syncing needs the sync engine, which is not available."
        elif self.overview.status == "disabled":
            reason = "The connection is disabled; reactivate it to sync."
        elif foreign and holder is not None:
            reason = holder.sentence()
        elif own:
            reason = "This connection is syncing."
        self.sync_button.setEnabled(not reason)
        self.sync_button.setToolTip(reason or "Runs an incremental sync now.")

    # ----------------------------------------------------------------- actions

    def sync_now(self) -> None:
        """Starts a manual sync on the job runner."""
        sync = self.page.backend.sync
        if sync is None or not self.sync_button.isEnabled():
            return
        connection_id = self.overview.id
        self.result.show_message("")
        try:
            handle = self.page.jobs.run(
                lambda context: sync(connection_id, context),
                title=f"Syncing {self.overview.name}",
                key=f"sync:{connection_id}",
                on_success=self._synced,
                on_error=lambda message: self.result.show_message(message, "error"),
            )
        except BillbridgeError as error:  # a job of this connection is already running
            self.result.show_message(str(error), "error")
            return
        self.attach(handle)

    def attach(self, handle: JobHandle) -> None:
        """Follows a running sync job of this connection."""
        self.handle = handle
        self.bar.setRange(0, 0)
        self.progress_label.setText("Starting…")
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.progress_box.show()
        handle.progressed.connect(self._progressed)
        handle.cancelled.connect(self._cancelled)
        handle.finished.connect(self._finished)
        self._update_sync_button()

    def _progressed(self, progress: Progress) -> None:
        if progress.total:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(min(progress.done, progress.total))
        else:
            self.bar.setRange(0, 0)
        if self.handle is not None and self.handle.cancelling:
            return
        self.progress_label.setText(rate_text(progress))

    def cancel_sync(self) -> None:
        """Asks the running sync to stop after its current page."""
        if self.handle is None:
            return
        self.handle.cancel()
        self.cancel_button.setEnabled(False)
        self.progress_label.setText("Cancelling…")

    def _cancelled(self) -> None:
        self.result.show_message(
            "Cancelled. What was read before the cancel is kept; the next run resumes.", "warning"
        )

    def _synced(self, summary: object) -> None:
        line = getattr(summary, "line", None)
        text = line() if callable(line) else "The sync finished."
        status = getattr(summary, "status", "succeeded")
        self.result.show_message(str(text), "ok" if status == "succeeded" else "warning")

    def _finished(self) -> None:
        self.handle = None
        self.progress_box.hide()
        self._update_sync_button()

    def _toggle_pause(self) -> None:
        status = "active" if self.overview.status == "paused" else "paused"
        self.page.change_status(self.overview, status)

    def _toggle_disable(self) -> None:
        status = "active" if self.overview.status == "disabled" else "disabled"
        self.page.change_status(self.overview, status)

    def _remove(self) -> None:
        self.page.ask_remove(self.overview)


class ConnectionsPage(Page):
    """Every billing connection as a card, plus *Add connection*."""

    title = "Connections"
    subtitle = (
        "Billing systems this workspace reads from (read-only). Keys stay in the system keychain."
    )

    def __init__(
        self,
        loader: Loader,
        jobs: JobRunner,
        backend: ConnectionsBackend,
        clock: Clock = utc_now,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self.jobs = jobs
        self.backend = backend
        self._clock = clock
        self._generation = 0
        self._poll_generation = 0
        #: The (connection id, owner) of each lock seen by the last read.
        self._known_holders: frozenset[tuple[int, str]] = frozenset()
        self.cards: dict[int, ConnectionCard] = {}
        bar = QHBoxLayout()
        self.add_button = QPushButton("Add connection…")
        self.add_button.clicked.connect(lambda: self.open_wizard(None))
        self.add_button.setEnabled(backend.open_wizard is not None)
        bar.addWidget(self.add_button)
        self.add_crm_button = QPushButton("Add Zoho CRM…")
        self.add_crm_button.setToolTip(
            "Connects Zoho CRM: its Accounts and Contacts come in, and billing customers and "
            "subscriptions can go out (set up on the Zoho CRM page)."
        )
        if backend.open_crm is not None:
            self.add_crm_button.clicked.connect(backend.open_crm)
        self.add_crm_button.setVisible(backend.open_crm is not None)
        bar.addWidget(self.add_crm_button)
        bar.addStretch(1)
        self.body.addLayout(bar)
        self.banner = Banner()
        self.body.addWidget(self.banner)
        self.list_widget = QWidget()
        self.list_layout = QVBoxLayout(self.list_widget)
        self.list_layout.setContentsMargins(0, 0, 0, 0)
        self.list_layout.setSpacing(10)
        self.list_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes from card button to button
        scroll.setWidget(self.list_widget)
        self.body.addWidget(scroll, 1)
        self.empty = EmptyState(
            "No connections yet. Add one to read accounts, subscriptions and invoices from "
            "Zoho Billing, Recurly or Chargebee."
        )
        self.body.addWidget(self.empty)
        self.empty.hide()
        self._poll = QTimer(self)
        self._poll.setInterval(LOCK_POLL_MS)
        self._poll.timeout.connect(self.poll)
        jobs.job_started.connect(self._job_started)

    def showEvent(self, event: QShowEvent) -> None:
        self._poll.start()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._poll.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        """Reads the connections and the lock holders again."""
        self._generation += 1
        generation = self._generation
        now = self._clock()
        holders = self.backend.holders

        def work(session: Session) -> tuple[list[ConnectionOverview], list[LockHolder]]:
            return list_connections(session, now), (holders() if holders else [])

        self._loader.submit(
            work,
            partial(self._loaded, generation),
            lambda message: self.banner.show_message(message, "error"),
        )

    def poll(self) -> None:
        """Reads who runs what (the lock table only); reads everything if that changed."""
        holders = self.backend.holders
        if holders is None:
            return
        self._poll_generation += 1
        generation = self._poll_generation
        self._loader.submit(
            lambda _session: holders(),
            partial(self._polled, generation),
            lambda message: self.banner.show_message(message, "error"),
        )

    def _polled(self, generation: int, holders: list[LockHolder]) -> None:
        if generation != self._poll_generation:
            return
        if _holder_keys(holders) != self._known_holders:
            self.refresh()  # a run started or ended: its last run and counts changed
            return
        by_connection = {h.connection_id: h for h in holders}
        for connection_id, card in self.cards.items():
            card.show_holder(by_connection.get(connection_id))

    def _loaded(
        self, generation: int, result: tuple[list[ConnectionOverview], list[LockHolder]]
    ) -> None:
        if generation != self._generation:
            return
        overviews, holders = result
        self._known_holders = _holder_keys(holders)
        by_connection = {h.connection_id: h for h in holders}
        seen = set()
        for position, overview in enumerate(overviews):
            seen.add(overview.id)
            card = self.cards.get(overview.id)
            if card is None:
                card = ConnectionCard(self, overview)
                self.cards[overview.id] = card
                running = [job for job in self.jobs.running() if job.key == f"sync:{overview.id}"]
                if running:
                    card.attach(running[0])
            self.list_layout.insertWidget(position, card)
            card.update_from(overview, by_connection.get(overview.id))
        for connection_id in list(self.cards):
            if connection_id not in seen:
                self.cards.pop(connection_id).deleteLater()
        self.empty.setVisible(not overviews)
        self._chain_tab_order([self.cards[o.id] for o in overviews])

    def _chain_tab_order(self, cards: list[ConnectionCard]) -> None:
        """Tab goes through the cards in the order they are shown, not created."""
        chain: list[QWidget] = [self.add_button, self.add_crm_button]
        for card in cards:
            chain += card.focus_chain()
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _job_started(self, handle: JobHandle) -> None:
        key = handle.key or ""
        if key.startswith("sync:"):
            card = self.cards.get(int(key.split(":", 1)[1]))
            if card is not None and card.handle is None:
                card.attach(handle)

    # ----------------------------------------------------------------- actions

    def open_wizard(self, overview: ConnectionOverview | None) -> None:
        """Opens the connection wizard (to add, or to update one's credentials)."""
        if self.backend.open_wizard is None:
            return
        if self.backend.open_wizard(self, overview):
            self.refresh()

    def change_status(self, overview: ConnectionOverview, status: str) -> None:
        """Pauses, resumes, disables or reactivates a connection in the background."""
        set_status = self.backend.set_status
        if set_status is None:
            return
        connection_id = overview.id
        self.jobs.run(
            lambda _context: set_status(connection_id, status),
            title=f"Updating {overview.name}",
            on_success=lambda _r: self.refresh(),
            on_error=lambda message: self.banner.show_message(message, "error"),
        )

    def ask_remove(self, overview: ConnectionOverview) -> None:
        """Asks whether to delete the connection's data or keep it, then acts."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(f"Remove {overview.name}")
        box.setText(f"Remove the connection {overview.name}?")
        box.setInformativeText(
            f"It holds {overview.accounts:,} accounts with their users, subscriptions and "
            "invoices. Delete them with the connection and its key, or keep the data and "
            "only disable the connection (you can reactivate it later)."
        )
        delete = box.addButton("Delete it and its data", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep the data, disable it", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.remove_box = box
        box.exec()
        clicked = box.clickedButton()
        if clicked is delete:
            self.remove(overview, keep_data=False)
        elif clicked is keep:
            self.remove(overview, keep_data=True)

    def remove(self, overview: ConnectionOverview, *, keep_data: bool) -> None:
        """Deletes a connection with its data, or (keeping the data) disables it."""
        if keep_data:
            self.change_status(overview, "disabled")
            return
        remove = self.backend.remove
        if remove is None:
            return
        connection_id = overview.id
        self.jobs.run(
            lambda _context: remove(connection_id),
            title=f"Removing {overview.name}",
            on_success=lambda _r: self.refresh(),
            on_error=lambda message: self.banner.show_message(message, "error"),
        )


def _holder_keys(holders: list[LockHolder]) -> frozenset[tuple[int, str]]:
    return frozenset((h.connection_id, h.owner) for h in holders)
