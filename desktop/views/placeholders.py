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
