"""A small table model over a list of plain rows, described by column specs.

Used wherever the rows are few enough to hold at once (an account's invoices, the sync
runs of a workspace, its sync errors): the page loads them through a repository function
and hands them over with :meth:`RowsTableModel.set_rows`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette

from desktop.views.models.formatting import readable

R = TypeVar("R")
AnyIndex = QModelIndex | QPersistentModelIndex
#: The role holding the row object itself.
ROW_ROLE = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class ColumnSpec(Generic[R]):
    """How one column shows a row.

    Attributes:
        title: the header.
        text: the cell's text.
        numeric: right-aligned (money, counts, durations).
        tooltip: an optional tooltip.
        colour: an optional foreground colour (for example red for a failure).
        sort_key: the value sorting uses (defaults to the text).
    """

    title: str
    text: Callable[[R], str]
    numeric: bool = False
    tooltip: Callable[[R], str | None] | None = None
    colour: Callable[[R], QColor | None] | None = None
    sort_key: Callable[[R], Any] | None = None


class RowsTableModel(QAbstractTableModel, Generic[R]):
    """A read-only table over ``rows`` with the given columns."""

    def __init__(self, columns: Sequence[ColumnSpec[R]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._rows: list[R] = []

    @property
    def rows(self) -> list[R]:
        """The rows shown, in order."""
        return list(self._rows)

    def set_rows(self, rows: Sequence[R]) -> None:
        """Replaces every row."""
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def row_at(self, row: int) -> R | None:
        """The row object at ``row``, if any."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        column = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.row_at(index.row())
        if row is None or not 0 <= index.column() < len(self._columns):
            return None
        column = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(row)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and column.colour is not None:
            colour = column.colour(row)
            if colour is None:
                return None
            palette = QGuiApplication.palette()  # rows alternate Base and AlternateBase
            return readable(
                colour,
                palette.color(QPalette.ColorRole.Base),
                palette.color(QPalette.ColorRole.AlternateBase),
            )
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self._columns):
            return
        spec = self._columns[column]
        key = spec.sort_key or spec.text

        def safe(row: R) -> tuple[int, Any]:
            value = key(row)
            return (1, "") if value is None or value == "" else (0, value)

        self.layoutAboutToBeChanged.emit()
        before = list(self._rows)
        positions = sorted(
            range(len(before)),
            key=lambda i: safe(before[i]),
            reverse=order == Qt.SortOrder.DescendingOrder,
        )
        self._rows = [before[i] for i in positions]
        new_row = {old: new for new, old in enumerate(positions)}
        old_indexes = self.persistentIndexList()
        new_indexes = [
            self.index(new_row[index.row()], index.column()) if index.isValid() else index
            for index in old_indexes
        ]
        self.changePersistentIndexList(old_indexes, new_indexes)
        self.layoutChanged.emit()
