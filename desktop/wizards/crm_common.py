"""Pieces the Zoho CRM dialogs, wizard and integration page share.

* :func:`cancellable` — the integration with the job's cancel token wired into every CRM
  client it builds, so *Cancel* stops a connect, a metadata load or a sync at its next
  request (the core's own ``context`` covers runs; this covers the calls that take none).
* :class:`JobStrip` — an inline "Loading…" / progress row with a Cancel button that
  follows one :class:`~desktop.views.jobs.JobHandle` (Cancelling… → Cancelled).
* :class:`ReportView` — a :class:`~desktop.crm.report.SyncReport` as a table of
  create / update / skip / fail / unchanged / deleted in CRM per direction and module,
  plus its failures and the linked records found deleted in CRM.
"""

from __future__ import annotations

import copy

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.crm.client import CrmClient
from desktop.crm.connect import CrmEndpoint
from desktop.crm.report import Action, Direction, SyncReport
from desktop.crm.service import CrmIntegration
from desktop.jobs import CancelToken, Progress
from desktop.sync.zoho_oauth import ZohoCredentials
from desktop.views.jobs import JobHandle

#: Label of each report column, in order.
REPORT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("create", "Create"),
    ("update", "Update"),
    ("skip", "Skip"),
    ("fail", "Fail"),
    ("unchanged", "Unchanged"),
    ("delete", "Deleted in CRM"),
)
ERROR_STYLE = "color: rgb(214, 69, 65);"
OK_STYLE = "color: rgb(46, 140, 60);"


def cancellable(integration: CrmIntegration, token: CancelToken) -> CrmIntegration:
    """A shallow copy of ``integration`` whose CRM clients check ``token`` before each call.

    The copy shares the database, secrets, locks and connection service.
    """
    base = integration.client_factory
    copied = copy.copy(integration)

    def factory(
        endpoint: CrmEndpoint, credentials: ZohoCredentials, _cancel: CancelToken
    ) -> CrmClient:
        return base(endpoint, credentials, token)

    copied.client_factory = factory
    return copied


class JobStrip(QWidget):
    """One line that follows a background job: a bar, a sentence and Cancel.

    Shows at once with an indeterminate bar (metadata loads have no total); a progress
    report with a total makes the bar determinate. Cancel asks the job to stop and shows
    *Cancelling…*; the owner shows the outcome.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(12)
        self.bar.setMaximumWidth(180)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        layout.addWidget(self.bar)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.cancel_button)
        self.handle: JobHandle | None = None
        self._hide_timer = QTimer(self)
        self._hide_timer.setSingleShot(True)
        self._hide_timer.setInterval(0)
        self._hide_timer.timeout.connect(self._hide_if_idle)
        self.hide()

    def follow(self, handle: JobHandle, message: str, *, can_cancel: bool = True) -> None:
        """Shows ``message`` and follows ``handle`` until it finishes.

        Connect the owner's own ``finished`` slots after this call: they then see
        :attr:`busy` False.
        """
        self.handle = handle
        self.bar.setRange(0, 0)
        self.label.setText(message)
        self.cancel_button.setVisible(can_cancel)
        self.cancel_button.setEnabled(True)
        handle.progressed.connect(self._progressed)
        handle.finished.connect(self._finished)
        self.show()

    @property
    def busy(self) -> bool:
        """Whether a followed job is running."""
        return self.handle is not None

    def cancel(self) -> None:
        """Asks the followed job to stop (cooperatively)."""
        if self.handle is None:
            return
        self.handle.cancel()
        self.cancel_button.setEnabled(False)
        self.label.setText("Cancelling…")

    def _progressed(self, progress: Progress) -> None:
        if self.handle is not None and self.handle.cancelling:
            return
        if progress.total:
            self.bar.setRange(0, progress.total)
            self.bar.setValue(min(progress.done, progress.total))
        if progress.message:
            self.label.setText(progress.message)

    def _finished(self) -> None:
        self.handle = None
        # Hidden on the next turn so the owner's slots on ``finished`` see ``busy`` False.
        self._hide_timer.start()

    def _hide_if_idle(self) -> None:
        if self.handle is None:
            self.hide()


class ReportView(QWidget):
    """A sync report (or dry run) as counts per direction and module, plus its failures.

    Signals:
        shown(): a report was put on screen.
    """

    shown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        layout.addWidget(self.heading)
        self.table = QTableWidget(0, 2 + len(REPORT_COLUMNS))
        self.table.setHorizontalHeaderLabels(
            ["Direction", "Module", *(label for _key, label in REPORT_COLUMNS)]
        )
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.table, 0, Qt.AlignmentFlag.AlignLeft)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.problems)
        self.report: SyncReport | None = None
        self.hide()

    def show_report(self, report: SyncReport) -> None:
        """Fills the table from ``report`` and shows it."""
        self.report = report
        verb = "would" if report.dry_run else "did"
        totals = ", ".join(
            f"{report.total(Action(key)):,} {label[0].lower()}{label[1:]}"
            for key, label in REPORT_COLUMNS
            if key != "unchanged"
        )
        self.heading.setText(
            ("Dry run — nothing was written. " if report.dry_run else "")
            + f"The sync {verb}: {totals}."
            + (" " + " ".join(report.notes) if report.notes else "")
        )
        rows = list(report.counts.values())
        self.table.setRowCount(len(rows))
        for row, counts in enumerate(rows):
            arrow = (
                "Zoho CRM → Billbridge"
                if counts.direction is Direction.PULL
                else ("Billbridge → Zoho CRM")
            )
            cells = [arrow, counts.module, *(f"{getattr(counts, k):,}" for k, _l in REPORT_COLUMNS)]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column >= 2:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.table.resizeRowsToContents()
        header = self.table.horizontalHeader()
        height = header.sizeHint().height() + 2 * self.table.frameWidth()
        height += sum(self.table.rowHeight(r) for r in range(len(rows)))
        width = sum(header.sectionSize(c) for c in range(self.table.columnCount()))
        self.table.setFixedSize(width + 2 * self.table.frameWidth(), max(height, 40))
        failed = [i for i in report.items if i.action is Action.FAIL][:8]
        skipped = [i for i in report.items if i.action is Action.SKIP and i.reason][:4]
        lines = [f"✗ {i.module} {i.label}: {i.reason}" for i in failed]
        lines += [f"– skip {i.module} {i.label}: {i.reason}" for i in skipped]
        deleted = [i for i in report.items if i.action is Action.DELETE][:4]
        lines += [f"– unlinked {i.module} {i.label}: {i.reason}" for i in deleted]
        self.problems.setText("\n".join(lines))
        self.problems.setVisible(bool(lines))
        self.show()
        self.shown.emit()

    def count(self, direction: str, module: str, action: str) -> int:
        """One cell of the shown report (tests and the summary read it)."""
        if self.report is None:
            return 0
        counts = self.report.counts.get((direction, module))
        return int(getattr(counts, action)) if counts is not None else 0
