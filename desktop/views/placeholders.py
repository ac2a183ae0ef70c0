"""Pages whose full content lands in later work, each with a truthful empty state."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from desktop.views.page import EmptyState, Page


class _EmptyPage(Page):
    empty_text = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty = EmptyState(self.empty_text)
        self.body.addWidget(self.empty, 1)


class ConnectionsPage(_EmptyPage):
    title = "Connections"
    subtitle = (
        "Billing systems and CRM this workspace reads from. Keys stay in the system keychain."
    )
    empty_text = "No connections yet. Use 'billbridge connection add' to add one."


class SyncHistoryPage(_EmptyPage):
    title = "Sync history"
    subtitle = "Every sync run with its counts, API calls, duration and result."
    empty_text = "No sync has run yet."


class SyncErrorsPage(_EmptyPage):
    title = "Sync errors"
    subtitle = "Records that failed to sync, with the reason, source and record id."
    empty_text = "No sync errors."


class HealthPage(_EmptyPage):
    title = "Health"
    subtitle = "MRR, its movements, financial health and risk across every source."
    empty_text = "Health appears once accounts and subscriptions have been synced."
