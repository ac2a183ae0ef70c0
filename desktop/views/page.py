"""The base of every page in the main window: a title, a subtitle and a refresh hook."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


class Page(QWidget):
    """A page of the main window.

    Attributes:
        title: the name shown in the navigation and the page header.
    """

    title = "Page"
    subtitle = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(24, 20, 24, 16)
        self._layout.setSpacing(12)
        header = QLabel(self.title)
        header.setObjectName("pageTitle")
        font = header.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        header.setFont(font)
        self._layout.addWidget(header)
        if self.subtitle:
            sub = QLabel(self.subtitle)
            sub.setObjectName("pageSubtitle")
            sub.setWordWrap(True)
            sub.setForegroundRole(sub.foregroundRole())
            self._layout.addWidget(sub)

    @property
    def body(self) -> QVBoxLayout:
        """The layout below the header, where the page puts its content."""
        return self._layout

    def refresh(self) -> None:
        """Reloads what the page shows from storage (called when data changed)."""


class EmptyState(QLabel):
    """A centred, wrapped sentence for a page or list that has nothing to show yet."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setObjectName("emptyState")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setMinimumHeight(120)
        # it takes the page's spare height, so a page whose only other content is a row of
        # buttons keeps its title and buttons at the top instead of spreading them out
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
