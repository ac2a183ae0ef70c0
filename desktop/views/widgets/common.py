"""Small shared widgets: a table set up the Billbridge way, a banner, a debounced search."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QLineEdit, QTableView, QWidget


def make_table(
    model: QAbstractItemModel, *, sortable: bool = True, parent: QWidget | None = None
) -> QTableView:
    """A read-only, row-selecting table with fixed row heights (fast on many rows)."""
    return configure_table(QTableView(parent), model, sortable=sortable)


def configure_table(
    view: QTableView, model: QAbstractItemModel, *, sortable: bool = True
) -> QTableView:
    """Sets ``view`` up as :func:`make_table` does (for QTableView subclasses)."""
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.setTabKeyNavigation(False)
    view.verticalHeader().hide()
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 10)
    view.horizontalHeader().setHighlightSections(False)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setDefaultAlignment(
        Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
    )
    if sortable:
        view.setSortingEnabled(True)
    return view


_TINTS = {"info": (52, 120, 200), "warning": (212, 140, 20), "error": (214, 69, 65),
          "ok": (46, 160, 67)}  # fmt: skip


class Banner(QLabel):
    """A wrapped sentence on a tinted background: ``info``, ``warning`` or ``error``."""

    def __init__(self, text: str = "", kind: str = "info", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.kind = kind
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.set_kind(kind)
        self.setVisible(bool(text))

    def set_kind(self, kind: str) -> None:
        """Switches the tint (translucent, so it reads on light and dark palettes)."""
        red, green, blue = _TINTS.get(kind, _TINTS["info"])
        self.kind = kind
        self.setObjectName(f"banner-{kind}")
        self.setStyleSheet(
            f"QLabel {{ background: rgba({red}, {green}, {blue}, 38); "
            f"border: 1px solid rgba({red}, {green}, {blue}, 150); border-radius: 4px; "
            "padding: 8px 10px; color: palette(text); }"
        )

    def show_message(self, text: str, kind: str = "info") -> None:
        """Shows ``text`` with the given tint (hides the banner when empty)."""
        self.set_kind(kind)
        self.setText(text)
        self.setVisible(bool(text))


class SearchField(QLineEdit):
    """A search box that reports its text once typing pauses.

    Signals:
        search_changed(str): the text, 250 ms after the last keystroke (or at once on Enter).
    """

    search_changed = Signal(str)

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText(placeholder)
        self.setClearButtonEnabled(True)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._emit)
        self.textChanged.connect(lambda _text: self._timer.start())
        self.returnPressed.connect(self._emit)

    def _emit(self) -> None:
        self._timer.stop()
        self.search_changed.emit(self.text())
