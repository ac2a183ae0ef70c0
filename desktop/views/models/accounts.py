"""The Accounts table model: windowed paging over SQL, so 100,000 accounts open at once.

The model knows the number of matching accounts (one ``COUNT``) and keeps only the pages
a view has looked at. A row whose page is not loaded yet shows "Loading…"; asking for it
queues the page on the :class:`~desktop.views.models.loader.Loader`, and the rows appear
(``dataChanged``) when it answers. Sorting and filtering are done in SQL by
:mod:`desktop.storage.repositories.accounts`; changing either starts a new generation,
and answers from older generations are dropped.

Rows are formatted (money, dates, statuses, tooltips) on the loader's thread, with the
page they belong to: :meth:`AccountsTableModel.data`, which Qt calls for every cell and
role on each repaint, only looks values up, so painting stays cheap while a sync runs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from sqlalchemy.orm import Session

from desktop.storage.repositories import accounts as repo
from desktop.storage.repositories.accounts import AccountFilter, AccountRow, AccountSort
from desktop.views.models.formatting import ALERT_COLOUR, date_text, money_text, status_text
from desktop.views.models.loader import Loader

PAGE_SIZE = 100  # a screen shows ~30 rows; a smaller page is a shorter read
MAX_CACHED_PAGES = 100
#: Pages a refresh reads again: the most recently shown (a screen spans at most two);
#: the others are dropped and read again when scrolled to.
REFRESH_PAGES = 2
LOADING = "Loading…"
#: The role holding an account's database id.
ACCOUNT_ID_ROLE = Qt.ItemDataRole.UserRole + 1

AnyIndex = QModelIndex | QPersistentModelIndex
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ANSWERED_ROLES = frozenset((_DISPLAY, _FOREGROUND, _ALIGNMENT, _TOOLTIP, int(ACCOUNT_ID_ROLE)))


@dataclass(frozen=True)
class Column:
    """One column of the Accounts table."""

    title: str
    sort: AccountSort
    numeric: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("Name", AccountSort.NAME),
    Column("Identifier", AccountSort.IDENTIFIER),
    Column("MRR", AccountSort.MRR, numeric=True),
    Column("Plans", AccountSort.PLANS),
    Column("Subscription status", AccountSort.SUBSCRIPTION_STATUS),
    Column("Invoice status", AccountSort.INVOICE_STATUS),
    Column("Amount due", AccountSort.AMOUNT_DUE, numeric=True),
    Column("Next renewal", AccountSort.NEXT_RENEWAL),
    Column("Sources", AccountSort.SOURCES),
)


@dataclass(frozen=True)
class ShownRow:
    """One account as the table shows it, formatted once when its page is read.

    Attributes:
        row: the account's values.
        display: the text of each column.
        tooltips: the tooltip of each column (``None``: none).
        alerting: whether each column is drawn in the alert colour.
    """

    row: AccountRow
    display: tuple[str, ...]
    tooltips: tuple[str | None, ...]
    alerting: tuple[bool, ...]


def shown_rows(rows: list[AccountRow]) -> list[ShownRow]:
    """Formats a page of accounts (runs on the loader's thread, off the window's)."""
    columns = range(len(COLUMNS))
    return [
        ShownRow(
            row,
            tuple(_display(row, c) for c in columns),
            tuple(_tooltip(row, c) for c in columns),
            tuple(_alerting(row, c) for c in columns),
        )
        for row in rows
    ]


def _read_page(session: Session, query: _Query, page: int) -> list[ShownRow]:
    return shown_rows(
        repo.list_accounts(
            session, query.flt, query.sort, query.descending, page * PAGE_SIZE, PAGE_SIZE
        )
    )


@dataclass(frozen=True)
class _Query:
    flt: AccountFilter
    sort: AccountSort
    descending: bool


class AccountsTableModel(QAbstractTableModel):
    """Accounts as a lazily paged table.

    Signals:
        total_changed(int): the number of matching accounts changed (after a count).
        loading_changed(bool): whether a count or a page is being read.
        failed(str): reading failed (a sentence).
    """

    total_changed = Signal(int)
    loading_changed = Signal(bool)
    failed = Signal(str)

    def __init__(self, loader: Loader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._query = _Query(AccountFilter(), AccountSort.NAME, False)
        self._total = 0
        self._counted = False
        self._pages: OrderedDict[int, list[ShownRow]] = OrderedDict()
        self._pending: set[int] = set()
        self._wanted: set[int] = set()
        self._generation = 0
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(0)
        self._flush.timeout.connect(self._request_wanted)

    # ------------------------------------------------------------------ state

    @property
    def total(self) -> int:
        """How many accounts match the current filter (0 until counted)."""
        return self._total

    @property
    def loading(self) -> bool:
        """Whether a count or page request is outstanding."""
        return not self._counted or bool(self._pending)

    @property
    def account_filter(self) -> AccountFilter:
        """The filter in force."""
        return self._query.flt

    def set_filter(self, flt: AccountFilter) -> None:
        """Shows only matching accounts (re-counted in SQL)."""
        if flt != self._query.flt:
            self._query = replace(self._query, flt=flt)
            self.reload()

    def account_at(self, row: int) -> AccountRow | None:
        """The loaded row, or ``None`` if its page is not loaded yet."""
        shown = self._shown_at(row)
        return shown.row if shown is not None else None

    def _shown_at(self, row: int) -> ShownRow | None:
        number = row // PAGE_SIZE
        page = self._pages.get(number)
        if page is None:
            return None
        self._pages.move_to_end(number)  # most recently shown last (refresh and eviction)
        offset = row % PAGE_SIZE
        return page[offset] if offset < len(page) else None

    def reload(self) -> None:
        """Forgets every page and counts again (filter or order changed)."""
        self.beginResetModel()
        self._generation += 1
        self._pages.clear()
        self._pending.clear()
        self._wanted.clear()
        self._total = 0
        self._counted = False
        self.endResetModel()
        self._start_count(keep=False)

    def refresh(self) -> None:
        """Reads the count and the pages on screen again, keeping the view where it is.

        Only the :data:`REFRESH_PAGES` most recently shown pages are read again; reading
        every cached page (up to 10,000 rows) would keep the loader thread busy for a
        second and, through the GIL, stall the window.
        """
        self._generation += 1
        self._pending.clear()
        self._start_count(keep=True)

    # ------------------------------------------------------------- loading

    def _start_count(self, *, keep: bool) -> None:
        generation = self._generation
        query = self._query
        pages = list(self._pages)[-REFRESH_PAGES:] if keep else [0]

        def work(session: Session) -> tuple[int, dict[int, list[ShownRow]]]:
            total = repo.count_accounts(session, query.flt)
            loaded = {
                page: _read_page(session, query, page) for page in pages if page * PAGE_SIZE < total
            }
            return total, loaded

        self._pending.add(-1)
        self.loading_changed.emit(True)
        self._loader.submit(
            work,
            lambda result: self._counted_in(generation, result),
            lambda message: self._failed(generation, message),
        )

    def _counted_in(self, generation: int, result: tuple[int, dict[int, list[ShownRow]]]) -> None:
        if generation != self._generation:
            return
        total, loaded = result
        self._pending.discard(-1)
        self._counted = True
        if total > self._total:
            self.beginInsertRows(QModelIndex(), self._total, total - 1)
            self._total = total
            self._pages = OrderedDict((p, self._pages[p]) for p in self._pages if p in loaded)
            self._pages.update(loaded)
            self.endInsertRows()
        elif total < self._total:
            self.beginRemoveRows(QModelIndex(), total, self._total - 1)
            self._total = total
            self._pages = OrderedDict(loaded)
            self.endRemoveRows()
        else:
            self._pages = OrderedDict(loaded)
        if self._total:
            self.dataChanged.emit(self.index(0, 0), self.index(self._total - 1, len(COLUMNS) - 1))
        self.total_changed.emit(self._total)
        self._emit_loading()

    def _want(self, page: int) -> None:
        if page in self._pages or page in self._pending or page in self._wanted:
            return
        self._wanted.add(page)
        if not self._flush.isActive():
            self._flush.start()

    def _request_wanted(self) -> None:
        wanted, self._wanted = sorted(self._wanted), set()
        if not self._counted:
            return
        for page in wanted:
            if page in self._pages or page in self._pending:
                continue
            self._pending.add(page)
            generation = self._generation
            query = self._query

            def work(session: Session, page: int = page, query: _Query = query) -> list[ShownRow]:
                return _read_page(session, query, page)

            self._loader.submit(
                work,
                partial(self._page_in, generation, page),
                partial(self._failed, generation),
            )
        self._emit_loading()

    def _page_in(self, generation: int, page: int, rows: list[ShownRow]) -> None:
        if generation != self._generation:
            return
        self._pending.discard(page)
        self._pages[page] = rows
        while len(self._pages) > MAX_CACHED_PAGES:
            self._pages.popitem(last=False)
        first = page * PAGE_SIZE
        last = min(first + PAGE_SIZE, self._total) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))
        self._emit_loading()

    def _failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._pending.clear()
        self._counted = True
        self._emit_loading()
        self.failed.emit(message)

    def _emit_loading(self) -> None:
        self.loading_changed.emit(self.loading)

    # ---------------------------------------------------------- Qt overrides

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._total

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.TextAlignmentRole and COLUMNS[section].numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # Qt asks for about six roles of every visible cell on each repaint: answer the
        # roles this model has nothing for first, and compare plain ints, not enums.
        role = int(role)
        if role not in _ANSWERED_ROLES:
            return None
        row = index.row()
        if not 0 <= row < self._total:
            return None
        shown = self._shown_at(row)
        column = index.column()
        if shown is None:
            if role == _DISPLAY and column == 0:
                self._want(row // PAGE_SIZE)
                return LOADING
            return None
        if role == _DISPLAY:
            return shown.display[column]
        if role == _FOREGROUND:
            return ALERT_COLOUR if shown.alerting[column] else None
        if role == _ALIGNMENT:
            return _RIGHT if COLUMNS[column].numeric else None
        if role == _TOOLTIP:
            return shown.tooltips[column]
        return shown.row.id  # ACCOUNT_ID_ROLE

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        query = _Query(self._query.flt, COLUMNS[column].sort, order == Qt.SortOrder.DescendingOrder)
        if query != self._query:
            self._query = query
            self.reload()


def _display(row: AccountRow, column: int) -> str:
    if column == 0:
        name = row.name or "(no name)"
        return f"{name} ✎" if row.edited else name
    if column == 1:
        return row.identifier
    if column == 2:
        if not row.mrr_minor and not row.mixed_currencies:
            return ""
        return money_text(row.mrr_minor, row.mrr_currency, mixed=row.mixed_currencies)
    if column == 3:
        return ", ".join(row.plans)
    if column == 4:
        return status_text(row.subscription_status)
    if column == 5:
        return status_text(row.invoice_status)
    if column == 6:
        return money_text(row.amount_due_minor, row.due_currency) if row.amount_due_minor else ""
    if column == 7:
        return date_text(row.next_renewal)
    return ", ".join(row.sources)


def _tooltip(row: AccountRow, column: int) -> str | None:
    if column == 0:
        base = row.email or ""
        return f"{base}\nHas manual edits." if row.edited else base or None
    if column == 4 and row.subscription_count:
        return f"{row.subscription_count} subscription(s); the most telling status is shown."
    if column in (3, 8):
        return _display(row, column) or None
    return None


def _alerting(row: AccountRow, column: int) -> bool:
    if column == 4:
        return row.subscription_status == "unpaid"
    if column == 5:
        return row.invoice_status == "overdue"
    if column == 6:
        return row.invoice_status == "overdue" and row.amount_due_minor > 0
    return False
