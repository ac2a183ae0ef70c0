"""The Accounts page: every account from every source, and the Account 360° of one.

The list is :class:`~desktop.views.models.accounts.AccountsTableModel` (lazily paged,
sorted and filtered in SQL); Enter or a double click opens the 360°, Escape goes back.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Select

from desktop.storage.database import Database
from desktop.storage.repositories.accounts import (
    INVOICE_STATUS_ORDER,
    SUBSCRIPTION_STATUS_ORDER,
    AccountFilter,
)
from desktop.storage.repositories.connection_overview import (
    ConnectionChoice,
    connection_choices,
)
from desktop.views.account_detail import AccountDetailView, AccountFetcher
from desktop.views.jobs import JobRunner
from desktop.views.models.accounts import ACCOUNT_ID_ROLE, COLUMNS, AccountsTableModel
from desktop.views.models.formatting import status_text
from desktop.views.models.loader import Loader
from desktop.views.page import EmptyState, Page
from desktop.views.widgets.common import Banner, SearchField, configure_table

COLUMN_WIDTHS = (230, 130, 110, 150, 150, 120, 110, 105)
NO_ACCOUNTS = "No accounts yet. Add a connection on the Connections page and run a sync."
NOT_SYNCED = "No accounts yet. Run Sync Now on the Connections page to read them in."
SYNCING = "No accounts yet: a sync is running, and its accounts appear here when it finishes."
NO_MATCH = (
    "No account matches the search and filters above. Change or clear them to see more accounts."
)


class AccountsTable(QTableView):
    """The accounts table; Enter opens the selected account."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.activated.emit(self.currentIndex())
            return
        super().keyPressEvent(event)


class AccountsPage(Page):
    """Accounts list with search and filters, and the Account 360°."""

    title = "Accounts"
    subtitle = "Every customer account from every connected billing system, merged by identifier."

    def __init__(
        self,
        loader: Loader,
        jobs: JobRunner,
        database: Database,
        fetcher: AccountFetcher | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._jobs = jobs
        self._has_connections = False
        self._loaded_once = False
        self._segment: tuple[str, Select[Any]] | None = None
        self.model = AccountsTableModel(loader, self)

        self.stack = QStackedWidget()
        self.body.addWidget(self.stack, 1)

        list_page = QWidget()
        list_layout = QHBoxLayout()
        list_layout.setContentsMargins(0, 0, 0, 0)
        self.search = SearchField("Search name, identifier, e-mail or company  (Ctrl+F)")
        self.search.setMinimumWidth(120)
        self.search.search_changed.connect(self._apply_filter)
        self.connection_filter = QComboBox()
        self.connection_filter.setAccessibleName("Source")
        self.connection_filter.addItem("All sources", None)
        self.subscription_filter = QComboBox()
        self.subscription_filter.setAccessibleName("Subscription status")
        self.subscription_filter.addItem("Any subscription", None)
        for status in SUBSCRIPTION_STATUS_ORDER:
            self.subscription_filter.addItem(f"Subscription: {status_text(status)}", status)
        self.invoice_filter = QComboBox()
        self.invoice_filter.setAccessibleName("Invoice status")
        self.invoice_filter.addItem("Any invoice", None)
        for status in INVOICE_STATUS_ORDER:
            self.invoice_filter.addItem(f"Invoice: {status_text(status)}", status)
        # the status filters ask for their longest choice's width, so the one picked reads
        # in full ("Subscription: Unpaid (past due)") when there is room (the search field
        # gives way); the sources one, whose names can be long, asks for "All sources". A
        # narrow window still shrinks each to six characters.
        for combo in (self.connection_filter, self.subscription_filter, self.invoice_filter):
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(6)
            combo.setMinimumWidth(combo.minimumSizeHint().width())
            combo.currentIndexChanged.connect(self._apply_filter)
        self.connection_filter.setMinimumContentsLength(len("All sources"))
        for combo in (self.subscription_filter, self.invoice_filter):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.count_label = QLabel()
        self.count_label.setObjectName("pageSubtitle")
        list_layout.addWidget(self.search, 2)
        list_layout.addWidget(self.connection_filter)
        list_layout.addWidget(self.subscription_filter)
        list_layout.addWidget(self.invoice_filter)

        column = QVBoxLayout(list_page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(list_layout)
        self.banner = Banner()
        column.addWidget(self.banner)
        self.segment_banner = Banner()
        self.segment_banner.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.segment_banner.linkActivated.connect(lambda _link: self.show_segment("", None))
        column.addWidget(self.segment_banner)
        self.table = AccountsTable()
        configure_table(self.table, self.model, sortable=False)
        header = self.table.horizontalHeader()
        for index, width in enumerate(COLUMN_WIDTHS):
            self.table.setColumnWidth(index, width)
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.activated.connect(self._open_index)
        self.table.doubleClicked.connect(self._open_index)
        self.empty = EmptyState(NO_ACCOUNTS)
        self.list_stack = QStackedWidget()
        self.list_stack.addWidget(self.table)
        self.list_stack.addWidget(self.empty)
        column.addWidget(self.list_stack, 1)
        column.addWidget(self.count_label)
        self.stack.addWidget(list_page)

        self.detail = AccountDetailView(loader, jobs, database, fetcher)
        self.detail.back_requested.connect(self.show_list)
        self.detail.edits_saved.connect(lambda _id: self.model.refresh())
        self.stack.addWidget(self.detail)

        self.model.total_changed.connect(self._update_count)
        jobs.job_started.connect(self._update_count)
        jobs.job_finished.connect(self._update_count)
        self.model.loading_changed.connect(lambda _loading: self._update_count())
        self.model.failed.connect(lambda message: self.banner.show_message(message, "error"))

        find = QShortcut(QKeySequence.StandardKey.Find, self)
        find.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.activated.connect(self._focus_search)

        self.setTabOrder(self.search, self.connection_filter)
        self.setTabOrder(self.connection_filter, self.subscription_filter)
        self.setTabOrder(self.subscription_filter, self.invoice_filter)
        self.setTabOrder(self.invoice_filter, self.table)

    # ------------------------------------------------------------------ data

    def refresh(self) -> None:
        """Re-reads the list (first time: loads it) and the open account."""
        self._loader.submit(connection_choices, self._fill_connections)
        if not self._loaded_once:
            self._loaded_once = True
            self.model.reload()
        else:
            self.model.refresh()
        if self.stack.currentWidget() is self.detail:
            self.detail.reload()

    def _fill_connections(self, choices: list[ConnectionChoice]) -> None:
        self._has_connections = bool(choices)
        self._update_count()
        current = self.connection_filter.currentData()
        self.connection_filter.blockSignals(True)
        self.connection_filter.clear()
        self.connection_filter.addItem("All sources", None)
        for choice in choices:
            self.connection_filter.addItem(choice.name, choice.id)
        index = self.connection_filter.findData(current)
        self.connection_filter.setCurrentIndex(max(index, 0))
        self.connection_filter.blockSignals(False)

    def current_filter(self) -> AccountFilter:
        """The filter the controls describe."""
        return AccountFilter(
            text=self.search.text(),
            connection_id=self.connection_filter.currentData(),
            subscription_status=self.subscription_filter.currentData(),
            invoice_status=self.invoice_filter.currentData(),
            within=self._segment[1] if self._segment else None,
            within_label=self._segment[0] if self._segment else "",
        )

    def show_segment(self, name: str, accounts: Select[Any] | None) -> None:
        """Narrows the list to a segment's accounts (``None`` shows every account again)."""
        self._segment = (name, accounts) if accounts is not None else None
        self.segment_banner.show_message(
            f"Showing the accounts of the segment “{name}”. <a href='all'>Show every account</a>"
            if accounts is not None
            else ""
        )
        self.show_list()
        self._apply_filter()

    def _apply_filter(self, *_args: object) -> None:
        self.banner.show_message("")
        self.model.set_filter(self.current_filter())

    def _update_count(self, *_args: object) -> None:
        total = self.model.total
        filtered = self.current_filter() != AccountFilter()
        if self.model.loading and not total:
            text = "Loading…"
        elif filtered:
            text = f"{total:,} matching account{'s' if total != 1 else ''}"
        else:
            text = f"{total:,} account{'s' if total != 1 else ''}"
        self.count_label.setText(text)
        nothing = total == 0 and not self.model.loading
        self.empty.setText(self._empty_text(filtered))
        self.list_stack.setCurrentWidget(self.empty if nothing else self.table)
        if nothing and filtered:
            self.count_label.setText("No account matches")

    def _empty_text(self, filtered: bool) -> str:
        """Why the list is empty and what to do, as things stand."""
        if filtered:
            return NO_MATCH
        if any((job.key or "").startswith("sync:") for job in self._jobs.running()):
            return SYNCING
        return NOT_SYNCED if self._has_connections else NO_ACCOUNTS

    # ------------------------------------------------------------ navigation

    def _focus_search(self) -> None:
        self.show_list()
        self.search.setFocus()
        self.search.selectAll()

    def _open_index(self, index: QModelIndex) -> None:
        account_id = self.model.data(index, ACCOUNT_ID_ROLE)
        if isinstance(account_id, int):
            self.open_account(account_id)

    def open_account(self, account_id: int) -> None:
        """Shows the Account 360° of one account."""
        self.detail.show_account(account_id)
        self.stack.setCurrentWidget(self.detail)
        self.detail.back_button.setFocus()

    def show_list(self) -> None:
        """Back to the list, with the focus on the table."""
        self.stack.setCurrentIndex(0)
        self.table.setFocus()

    @property
    def column_titles(self) -> list[str]:
        """The list's column headers."""
        return [column.title for column in COLUMNS]
