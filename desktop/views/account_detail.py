"""The Account 360°: one account's users, subscriptions, invoices, sources and manual edits.

Reads come from :func:`desktop.storage.repositories.account_detail.load_account` through
the read loader; saving edits and *Fetch this account from <source>* run on the job
runner (writes never happen on the GUI thread).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import partial

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.jobs import JobContext
from desktop.storage.database import Database
from desktop.storage.repositories.account_detail import (
    AccountDetail,
    InvoiceItem,
    SourceLink,
    SubscriptionItem,
    UserItem,
    load_account,
    save_edits_in,
)
from desktop.storage.repositories.accounts import EDITABLE_FIELDS, MRR_STATUSES
from desktop.views.account_charts import AccountCharts
from desktop.views.jobs import JobRunner
from desktop.views.models.formatting import (
    ALERT_COLOUR,
    date_text,
    money_text,
    status_text,
    time_text,
)
from desktop.views.models.loader import Loader
from desktop.views.models.table import ColumnSpec, RowsTableModel
from desktop.views.widgets.common import Banner, make_table

#: Fetches one account from a connection: (connection id, source id, job context) → sentence.
AccountFetcher = Callable[[int, str, JobContext], str]

FIELD_LABELS = {"name": "Name", "email": "E-mail", "company": "Company", "phone": "Phone"}

USER_COLUMNS: list[ColumnSpec[UserItem]] = [
    ColumnSpec("Name", lambda u: u.name + (" (primary)" if u.is_primary else "")),
    ColumnSpec("E-mail", lambda u: u.email or ""),
    ColumnSpec("Phone", lambda u: u.phone or ""),
    ColumnSpec("Source", lambda u: u.connection_name),
]
SUBSCRIPTION_COLUMNS: list[ColumnSpec[SubscriptionItem]] = [
    ColumnSpec("Subscription", lambda s: s.number),
    ColumnSpec("Plan", lambda s: s.plan),
    ColumnSpec(
        "Status",
        lambda s: status_text(s.status),
        colour=lambda s: ALERT_COLOUR if s.status == "unpaid" else None,
    ),
    ColumnSpec("Quantity", lambda s: "" if s.quantity is None else str(s.quantity), numeric=True),
    ColumnSpec(
        "Amount",
        lambda s: f"{money_text(s.amount_minor, s.currency)} {s.interval}".strip(),
        numeric=True,
        sort_key=lambda s: s.amount_minor or 0,
    ),
    ColumnSpec(
        "MRR", lambda s: money_text(s.mrr_minor, s.currency), True, sort_key=lambda s: s.mrr_minor
    ),
    ColumnSpec("Started", lambda s: date_text(s.started_at)),
    ColumnSpec("Next billing", lambda s: date_text(s.next_billing_at)),
    ColumnSpec("Cancelled", lambda s: date_text(s.cancelled_at)),
    ColumnSpec("Source", lambda s: s.connection_name),
]
INVOICE_COLUMNS: list[ColumnSpec[InvoiceItem]] = [
    ColumnSpec("Invoice", lambda i: i.number),
    ColumnSpec(
        "Status",
        lambda i: status_text(i.status),
        colour=lambda i: ALERT_COLOUR if i.status == "overdue" else None,
    ),
    ColumnSpec(
        "Total",
        lambda i: money_text(i.total_minor, i.currency),
        True,
        sort_key=lambda i: i.total_minor,
    ),
    ColumnSpec(
        "Paid",
        lambda i: money_text(i.amount_paid_minor, i.currency),
        True,
        sort_key=lambda i: i.amount_paid_minor,
    ),
    ColumnSpec(
        "Due",
        lambda i: money_text(i.amount_due_minor, i.currency) if i.amount_due_minor else "",
        True,
        sort_key=lambda i: i.amount_due_minor,
    ),
    ColumnSpec("Issued", lambda i: date_text(i.issued_on)),
    ColumnSpec("Due on", lambda i: date_text(i.due_on)),
    ColumnSpec("Paid on", lambda i: date_text(i.paid_at)),
    ColumnSpec("Source", lambda i: i.connection_name),
]
SOURCE_COLUMNS: list[ColumnSpec[SourceLink]] = [
    ColumnSpec("Connection", lambda s: s.connection_name),
    ColumnSpec("System", lambda s: status_text(s.kind)),
    ColumnSpec("Sync mode", lambda s: "Daily sync" if s.mode == "daily" else "Import only"),
    ColumnSpec("Id at the source", lambda s: s.source_id),
    ColumnSpec("Identifier", lambda s: s.identifier),
    ColumnSpec("Changed at the source", lambda s: time_text(s.source_updated_at)),
    ColumnSpec("Last synced", lambda s: time_text(s.synced_at)),
    ColumnSpec("State", lambda s: "Deleted at the source" if s.deleted else "Present"),
]


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def edit_problem(values: Mapping[str, str | None]) -> str | None:
    """The first problem with edited attributes, as a sentence, or ``None``.

    An account needs a name (lists and alerts show it); an e-mail address, when given,
    must look like one.
    """
    if "name" in values and not (values["name"] or "").strip():
        return "Give the account a name; an account without one shows only its identifier."
    email = (values.get("email") or "").strip()
    if email and not _EMAIL.match(email):
        return f"“{email}” is not an e-mail address (like billing@example.com)."
    return None


def _count(value: int, noun: str) -> str:
    """``1 user``, ``3 users``."""
    return f"{value:,} {noun}{'' if value == 1 else 's'}"


class AccountDetailView(QWidget):
    """The Account 360° for one account at a time.

    Signals:
        back_requested(): the person wants the list again (button, Escape or Alt+Left).
        edits_saved(int): manual edits of this account id were saved.
    """

    back_requested = Signal()
    edits_saved = Signal(int)

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
        self._database = database
        self._fetcher = fetcher
        self._account_id: int | None = None
        self._generation = 0
        self._load_error = False
        self.detail: AccountDetail | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)

        top = QHBoxLayout()
        self.back_button = QPushButton("← Accounts")
        self.back_button.setToolTip("Back to the list (Esc)")
        self.back_button.clicked.connect(self.back_requested)
        top.addWidget(self.back_button)
        self.heading = QLabel()
        self.heading.setObjectName("accountHeading")
        font = self.heading.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.heading.setFont(font)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.heading, 1)
        self.fetch_button = QToolButton()
        self.fetch_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.fetch_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.fetch_button.clicked.connect(self._fetch_first)
        top.addWidget(self.fetch_button)
        self._top = top
        self._header_last: QWidget = self.fetch_button
        layout.addLayout(top)

        self.facts = QLabel()
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.facts)
        self.banner = Banner()
        layout.addWidget(self.banner)
        self.edit_warning = Banner(kind="warning")
        layout.addWidget(self.edit_warning)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_overview(), "Overview")
        self.users = RowsTableModel(USER_COLUMNS, self)
        self.subscriptions = RowsTableModel(SUBSCRIPTION_COLUMNS, self)
        self.invoices = RowsTableModel(INVOICE_COLUMNS, self)
        self.sources = RowsTableModel(SOURCE_COLUMNS, self)
        self.users_view = make_table(self.users)
        self.subscriptions_view = make_table(self.subscriptions)
        self.invoices_view = make_table(self.invoices)
        self.sources_view = make_table(self.sources)
        # names and e-mail addresses in full at 1280×800 (Source, last, stretches)
        for index, width in enumerate((240, 300, 150)):
            self.users_view.setColumnWidth(index, width)
        # the connection's name, "Changed at the source" and both times in full at 1280×800
        for index, width in enumerate((140, 90, 90, 115, 115, 165, 165)):
            self.sources_view.setColumnWidth(index, width)
        # room for "Unpaid (past due)" and "299.00 USD every month" at 1280×800; Source,
        # last, stretches into what is left
        widths = (105, 95, 125, 65, 175, 100, 85, 88, 80, 60)
        for index, width in enumerate(widths):
            self.subscriptions_view.setColumnWidth(index, width)
        self.tabs.addTab(self.users_view, "Users")
        self.tabs.addTab(self.subscriptions_view, "Subscriptions")
        self.tabs.addTab(self.invoices_view, "Invoices")
        self.tabs.addTab(self.sources_view, "Sources")
        self.health_charts = AccountCharts(loader, database)
        self.tabs.addTab(self.health_charts, "Health")
        layout.addWidget(self.tabs, 1)

        for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Alt+Left")):
            shortcut = QShortcut(keys, self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self.back_requested)

    def _build_overview(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors: dict[str, QLineEdit] = {}
        self.markers: dict[str, QLabel] = {}
        for name in EDITABLE_FIELDS:
            editor = QLineEdit()
            editor.setObjectName(f"edit-{name}")
            editor.textEdited.connect(self._update_buttons)
            marker = QLabel()
            marker.setObjectName("editMarker")
            marker.setWordWrap(True)
            row = QVBoxLayout()
            row.setSpacing(2)
            row.addWidget(editor)
            row.addWidget(marker)
            form.addRow(f"{FIELD_LABELS[name]}:", row)
            self.editors[name] = editor
            self.markers[name] = marker
        self.identifier_label = QLabel()
        self.identifier_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Identifier:", self.identifier_label)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save edits")
        self.save_button.clicked.connect(self.save_edits)
        self.revert_button = QPushButton("Undo changes")
        self.revert_button.clicked.connect(self._fill_editors)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.revert_button)
        buttons.addStretch(1)
        form.addRow("", buttons)
        grid.addLayout(form, 0, 0)
        grid.setColumnStretch(0, 3)
        self.summary = QLabel()
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.summary.setWordWrap(True)
        grid.addWidget(self.summary, 0, 1)
        grid.setColumnStretch(1, 2)
        grid.setRowStretch(1, 1)
        return page

    def add_header_action(self, widget: QWidget) -> None:
        """Adds a button beside *Fetch this account* (the app adds the Zoho CRM actions).

        Tab reaches it right after the header's other buttons, before the tabs.
        """
        self._top.addWidget(widget)
        self.setTabOrder(self._header_last, widget)
        self._header_last = widget

    # ------------------------------------------------------------------ loading

    @property
    def account_id(self) -> int | None:
        """The account shown."""
        return self._account_id

    def show_account(self, account_id: int) -> None:
        """Loads and shows an account (the previous one stays until it arrives)."""
        if account_id != self._account_id:
            self.tabs.setCurrentIndex(0)
            self.banner.show_message("")
        self._account_id = account_id
        self.reload()

    def reload(self) -> None:
        """Reads the shown account again."""
        if self._account_id is None:
            return
        self._generation += 1
        generation = self._generation
        account_id = self._account_id
        self._loader.submit(
            partial(load_account, account_id=account_id),
            partial(self._loaded, generation),
            partial(self._load_failed, generation),
        )

    def _load_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self._load_error = True
            self.banner.show_message(message, "error")

    def _loaded(self, generation: int, detail: AccountDetail) -> None:
        if generation != self._generation:
            return
        self.detail = detail
        self.heading.setText(detail.display_name)
        live = [s for s in detail.subscriptions if s.status in MRR_STATUSES]
        currencies = {s.currency for s in live if s.currency}
        mrr = sum(s.mrr_minor for s in live)
        due_by_currency: dict[str | None, int] = {}
        for invoice in detail.invoices:
            if invoice.amount_due_minor:
                due_by_currency[invoice.currency] = (
                    due_by_currency.get(invoice.currency, 0) + invoice.amount_due_minor
                )
        mrr_text = money_text(mrr, next(iter(currencies), None), mixed=len(currencies) > 1)
        due = ", ".join(money_text(v, c) for c, v in sorted(due_by_currency.items(), key=str))
        parts = [
            f"Identifier {detail.identifier}",
            f"MRR {mrr_text}" if live and mrr_text else "no MRR",
            _count(len(detail.subscriptions), "subscription"),
            _count(len(detail.users), "user"),
            f"{due} due" if due else "nothing due",
        ]
        self.facts.setText(" · ".join(parts))
        self.summary.setText(
            "<b>Sources</b><br>"
            + "<br>".join(
                f"{s.connection_name} ({status_text(s.kind)}): {s.source_id}"
                + (" — deleted at the source" if s.deleted else "")
                for s in detail.sources
            )
            if detail.sources
            else "This account has no source (it was only edited locally)."
        )
        self.identifier_label.setText(detail.identifier)
        if self._load_error:
            self._load_error = False
            self.banner.show_message("")
        self._fill_editors()
        self._update_warning()
        self.users.set_rows(detail.users)
        self.subscriptions.set_rows(detail.subscriptions)
        self.invoices.set_rows(detail.invoices)
        self.sources.set_rows(detail.sources)
        self.health_charts.show_account(detail.id, detail.invoices)
        self.tabs.setTabText(1, f"Users ({len(detail.users)})")
        self.tabs.setTabText(2, f"Subscriptions ({len(detail.subscriptions)})")
        self.tabs.setTabText(3, f"Invoices ({len(detail.invoices)})")
        self.tabs.setTabText(4, f"Sources ({len(detail.sources)})")
        self._build_fetch_menu(detail)

    def _build_fetch_menu(self, detail: AccountDetail) -> None:
        live = [s for s in detail.sources if not s.deleted]
        menu = self.fetch_button.menu()
        if menu is not None:
            self.fetch_button.setMenu(None)  # type: ignore[arg-type]  # Qt accepts nullptr
            menu.deleteLater()
        if self._fetcher is None or not live:
            self.fetch_button.setText("Fetch this account")
            self.fetch_button.setEnabled(False)
            self.fetch_button.setToolTip(
                "No source to fetch from."
                if self._fetcher is not None
                else "Fetching needs the sync engine, which is not available."
            )
            return
        self.fetch_button.setEnabled(True)
        self.fetch_button.setToolTip("Reads this account again from its billing system now.")
        if len(live) == 1:
            self.fetch_button.setPopupMode(QToolButton.ToolButtonPopupMode.DelayedPopup)
            self.fetch_button.setText(f"Fetch this account from {live[0].connection_name}")
            return
        self.fetch_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.fetch_button.setText("Fetch this account from…")
        new_menu = QMenu(self.fetch_button)
        for link in live:
            action = new_menu.addAction(link.connection_name)
            action.triggered.connect(partial(self.fetch_from, link))
        self.fetch_button.setMenu(new_menu)

    def _fill_editors(self) -> None:
        detail = self.detail
        if detail is None:
            return
        for name, editor in self.editors.items():
            editor.setText(detail.value(name) or "")
            marker = self.markers[name]
            if name in detail.edits:
                synced = detail.synced.get(name) or "(empty)"
                when = date_text(detail.edited_at.get(name))
                marker.setText(f"✎ Edited here on {when}; the source says: {synced}")
            else:
                marker.setText("")
            marker.setVisible(name in detail.edits)
        self._update_buttons()

    def _update_warning(self) -> None:
        detail = self.detail
        if detail is None or not detail.edits:
            self.edit_warning.show_message("")
            return
        if detail.overwriting_connections:
            names = ", ".join(detail.overwriting_connections)
            self.edit_warning.show_message(
                f"This account has manual edits (marked ✎). {names} syncs daily at 00:00 UTC "
                "and will overwrite them at its next run.",
                "warning",
            )
        else:
            self.edit_warning.show_message(
                "This account has manual edits (marked ✎); its sources import only, so the "
                "edits are kept.",
                "info",
            )

    def pending_edits(self) -> dict[str, str | None]:
        """The editor values that differ from what is shown as saved."""
        if self.detail is None:
            return {}
        return {
            name: editor.text()
            for name, editor in self.editors.items()
            if editor.text().strip() != (self.detail.value(name) or "")
        }

    def _update_buttons(self) -> None:
        dirty = bool(self.pending_edits())
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)

    # ----------------------------------------------------------------- actions

    def save_edits(self) -> None:
        """Saves the changed attributes as manual edits, in the background."""
        values = self.pending_edits()
        if not values or self._account_id is None:
            return
        problem = edit_problem(values)
        if problem is not None:
            self.banner.show_message(problem, "error")
            return
        self.banner.show_message("")
        account_id = self._account_id
        database = self._database
        self.save_button.setEnabled(False)

        def work(_context: JobContext) -> dict[str, object]:
            return save_edits_in(database, account_id, values)

        self._jobs.run(
            work,
            title=f"Saving edits of {self.heading.text()}",
            on_success=lambda _changed: self._saved(account_id),
            on_error=lambda message: self.banner.show_message(message, "error"),
        )

    def _saved(self, account_id: int) -> None:
        self.edits_saved.emit(account_id)
        if account_id == self._account_id:
            self.reload()

    def _fetch_first(self) -> None:
        if self.detail is None or self.fetch_button.menu() is not None:
            return
        live = [s for s in self.detail.sources if not s.deleted]
        if live:
            self.fetch_from(live[0])

    def fetch_from(self, link: SourceLink) -> None:
        """Reads this account again from one source, on the job runner."""
        fetcher = self._fetcher
        if fetcher is None:
            return
        key = f"fetch:{link.connection_id}:{link.source_id}"
        if self._jobs.is_running(key):
            return
        self.fetch_button.setEnabled(False)
        self.banner.show_message(f"Fetching this account from {link.connection_name}…", "info")

        def work(context: JobContext) -> str:
            return fetcher(link.connection_id, link.source_id, context)

        handle = self._jobs.run(
            work,
            title=f"Fetching {self.heading.text()} from {link.connection_name}",
            key=key,
            on_success=lambda sentence: self.banner.show_message(str(sentence), "ok"),
            on_error=lambda message: self.banner.show_message(message, "error"),
        )
        handle.finished.connect(self._fetch_finished)

    def _fetch_finished(self) -> None:
        self.fetch_button.setEnabled(True)
        self.reload()
