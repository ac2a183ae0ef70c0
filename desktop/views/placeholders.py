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


class HealthPage(_EmptyPage):
    title = "Health"
    subtitle = "MRR, its movements, financial health and risk across every source."
    empty_text = "Health appears once accounts and subscriptions have been synced."
