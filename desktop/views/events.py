"""The Events page: billing events the webhook receivers took in, and what became of them.

Each row is one stored event — when it arrived, its type, its outcome (waiting, applied,
ignored, failed, rejected) and the reason. Selecting one shows its body as it arrived and
what applying it changed; *Replay* applies it again on the job runner. The list refreshes
when data changes and, while the page is shown, every few seconds (events arrive from
the receiver, possibly in another process).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QWidget,
)
from sqlalchemy.orm import Session

from desktop.jobs import JobContext
from desktop.storage.database import Database
from desktop.timeutil import Clock
from desktop.views.events_receiver import ReceiverController
from desktop.views.jobs import JobRunner
from desktop.views.models.formatting import (
    ALERT_COLOUR,
    OK_COLOUR,
    WARN_COLOUR,
    count_text,
    time_text,
)
from desktop.views.models.loader import Loader
from desktop.views.models.table import ColumnSpec, RowsTableModel
from desktop.views.page import EmptyState, Page
from desktop.views.widgets.common import Banner, make_table
from desktop.webhooks.applier import EventApplier, Outcome, alert_hook
from desktop.webhooks.store import EventRow, EventStatus, event_body, list_events

EVENT_LIMIT = 500
#: How often the shown page reads the events again, in milliseconds.
REFRESH_MS = 5000

#: Replays one stored event (by its number) and returns what happened.
EventReplayer = Callable[[int], Outcome]


def replayer_for(database: Database, clock: Clock) -> EventReplayer:
    """Replays through a fresh applier that evaluates risk alerts afterwards."""

    def replay(event_row_id: int) -> Outcome:
        applier = EventApplier(database, clock, after_apply=alert_hook(database, clock))
        return applier.replay(event_row_id)

    return replay


OUTCOME_WORDS = {
    EventStatus.RECEIVED: "Waiting",
    EventStatus.APPLIED: "Applied",
    EventStatus.IGNORED: "Ignored",
    EventStatus.FAILED: "Failed",
    EventStatus.REJECTED: "Rejected",
}


def outcome_colour(row: EventRow) -> QColor | None:
    """Green applied, amber waiting/ignored, red failed/rejected."""
    return {
        EventStatus.APPLIED: OK_COLOUR,
        EventStatus.IGNORED: WARN_COLOUR,
        EventStatus.RECEIVED: WARN_COLOUR,
        EventStatus.FAILED: ALERT_COLOUR,
        EventStatus.REJECTED: ALERT_COLOUR,
    }.get(row.status)


def changes_text(row: EventRow) -> str:
    """What applying an event changed, in one line."""
    parts = []
    for kind, items in row.changes.items():
        if kind != "notes" and isinstance(items, list):
            parts.append(f"{kind}: {', '.join(str(item) for item in items)}")
    return "; ".join(parts)


EVENT_COLUMNS: list[ColumnSpec[EventRow]] = [
    ColumnSpec("#", lambda r: str(r.id), True, sort_key=lambda r: r.id),
    ColumnSpec("Received", lambda r: time_text(r.received_at), sort_key=lambda r: r.received_at),
    ColumnSpec("Connection", lambda r: r.connection_name),
    ColumnSpec("Type", lambda r: r.event_type or "(unreadable)"),
    ColumnSpec("Outcome", lambda r: OUTCOME_WORDS.get(r.status, r.status), colour=outcome_colour),
    ColumnSpec(
        "Deliveries", lambda r: count_text(r.deliveries), True, sort_key=lambda r: r.deliveries
    ),
    ColumnSpec(
        "Reason / changes",
        lambda r: r.reason or changes_text(r),
        tooltip=lambda r: r.reason or changes_text(r) or None,
    ),
]


class EventsPage(Page):
    """Received webhook events, newest first, with replay."""

    title = "Events"
    subtitle = (
        "Billing events Zoho Billing pushed to this workspace's webhook receivers: when they "
        "arrived, what they changed, and why any failed."
    )

    def __init__(
        self,
        loader: Loader,
        jobs: JobRunner,
        replayer: EventReplayer,
        receiver: ReceiverController | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._jobs = jobs
        self._replayer = replayer
        self._receiver = receiver
        self._generation = 0

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show:"))
        self.status_filter = QComboBox()
        self.status_filter.setAccessibleName("Outcome")
        self.status_filter.addItem("All events", None)
        for status, word in OUTCOME_WORDS.items():
            self.status_filter.addItem(word, status)
        self.status_filter.currentIndexChanged.connect(lambda _i: self.refresh())
        bar.addWidget(self.status_filter)
        self.replay_button = QPushButton("Replay")
        self.replay_button.setToolTip("Apply the selected event again")
        self.replay_button.setEnabled(False)
        self.replay_button.clicked.connect(self.replay_selected)
        bar.addWidget(self.replay_button)
        bar.addStretch(1)
        self.count_label = QLabel()
        self.count_label.setObjectName("pageSubtitle")
        bar.addWidget(self.count_label)
        self.body.addLayout(bar)

        self.receiver_label = QLabel()
        self.receiver_label.setObjectName("pageSubtitle")
        self.receiver_label.setWordWrap(True)
        self.body.addWidget(self.receiver_label)
        self.banner = Banner()
        self.body.addWidget(self.banner)

        self.events = RowsTableModel(EVENT_COLUMNS, self)
        self.table = make_table(self.events)
        for index, width in enumerate((60, 150, 140, 220, 80, 75)):
            self.table.setColumnWidth(index, width)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._selected())
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setAccessibleName("Event body")
        self.detail.setPlaceholderText("Select an event to see its body as it arrived.")
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.body.addWidget(self.splitter, 1)
        self.empty = EmptyState(
            "No events yet. Create a receiver with 'billbridge webhook create NAME', paste "
            "what it prints into a new webhook in Zoho Billing (Settings → Automation → "
            "Workflow Actions → Webhooks → + New Webhook), and run 'billbridge serve' or turn "
            "on the receiver in Settings."
        )
        self.body.addWidget(self.empty, 1)
        self.empty.hide()

        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        if receiver is not None:
            receiver.changed.connect(self._show_receiver)
        self._show_receiver()

    # ----------------------------------------------------------------- loading

    def refresh(self) -> None:
        """Reads the events again (the selection is kept)."""
        self._generation += 1
        generation = self._generation
        status = self.status_filter.currentData()

        def work(session: Session) -> list[EventRow]:
            return list_events(session, status=status, limit=EVENT_LIMIT)

        self._loader.submit(
            work,
            partial(self._events_in, generation),
            lambda message: self.banner.show_message(message, "error"),
        )

    def _events_in(self, generation: int, rows: list[EventRow]) -> None:
        if generation != self._generation:
            return
        selected = self.selected_event()
        self.events.set_rows(rows)
        self.count_label.setText(
            f"newest {len(rows):,} shown" if len(rows) >= EVENT_LIMIT else f"{len(rows):,} events"
        )
        filtered = self.status_filter.currentData() is not None
        nothing = not rows and not filtered
        self.empty.setVisible(nothing)
        self.splitter.setVisible(not nothing)
        if selected is not None:
            for index, row in enumerate(rows):
                if row.id == selected.id:
                    self.table.selectRow(index)
                    break
        self._selected()

    def _show_receiver(self) -> None:
        if self._receiver is None:
            self.receiver_label.setText("")
            return
        self.receiver_label.setText("In-app receiver: " + self._receiver.state)

    # --------------------------------------------------------------- selection

    def selected_event(self) -> EventRow | None:
        """The event the table's current row shows."""
        index = self.table.currentIndex()
        return self.events.row_at(index.row()) if index.isValid() else None

    def _selected(self) -> None:
        row = self.selected_event()
        self.replay_button.setEnabled(row is not None and row.status != EventStatus.RECEIVED)
        if row is None:
            self.detail.setPlainText("")
            return
        event_id = row.id
        self._loader.submit(
            lambda session: event_body(session, event_id),
            partial(self._body_in, row),
            lambda message: self.banner.show_message(message, "error"),
        )

    def _body_in(self, row: EventRow, body: str | None) -> None:
        current = self.selected_event()
        if current is None or current.id != row.id:
            return
        try:
            shown = json.dumps(json.loads(body or ""), indent=2, ensure_ascii=False)
        except ValueError:
            shown = body or ""
        lines = [f"Event {row.id}: {OUTCOME_WORDS.get(row.status, row.status)}"]
        if row.event_id:
            lines.append(f"Zoho event id: {row.event_id}")
        if row.reason:
            lines.append(f"Reason: {row.reason}")
        for kind, items in row.changes.items():
            if isinstance(items, list):
                lines.append(f"{kind.capitalize()}: {'; '.join(str(i) for i in items)}")
        if row.deliveries > 1:
            lines.append(f"Delivered {row.deliveries} times (applied at most once).")
        lines.extend(["", shown])
        self.detail.setPlainText("\n".join(lines))

    # ------------------------------------------------------------------ replay

    def replay_selected(self) -> None:
        """Applies the selected event again on the job runner."""
        row = self.selected_event()
        if row is None:
            return
        event_row_id = row.id
        replayer = self._replayer

        def work(_context: JobContext) -> Outcome:
            return replayer(event_row_id)

        self.replay_button.setEnabled(False)
        self._jobs.run(
            work,
            title=f"Replaying event {event_row_id}",
            key=f"webhook-replay:{event_row_id}",
            on_success=self._replayed,
            on_error=lambda message: self.banner.show_message(message, "error"),
        )

    def _replayed(self, outcome: Outcome) -> None:
        word = OUTCOME_WORDS.get(outcome.status, outcome.status).lower()
        reason = f": {outcome.reason}" if outcome.reason else "."
        kind = "ok" if outcome.status == EventStatus.APPLIED else "warning"
        self.banner.show_message(f"Event {outcome.id} {word}{reason}", kind)
        self.refresh()

    # ---------------------------------------------------------------- visibility

    def showEvent(self, event: QShowEvent) -> None:
        self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()
        super().hideEvent(event)
