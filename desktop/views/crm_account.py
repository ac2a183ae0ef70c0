"""Zoho CRM on the Account 360°: *Fetch this contact from Zoho CRM* and *Search in Zoho CRM…*.

:class:`CrmAccountActions` is a "Zoho CRM" menu button the app adds to the account view's
header. Its menu opens with the account's CRM state, read on the job runner as it opens:
the record it is linked to, or — when a pull found it deleted in Zoho CRM — when it was
deleted and that it is no longer linked (the full sentence in the tooltip). *Fetch* pulls
the account's linked CRM record now (on the job runner) and
reloads the account; an account without a CRM link gets the core's sentence saying to
search and link it first. *Search* opens :class:`CrmSearchDialog`: a query (an e-mail, a
word, or a ``(criteria)``) → the CRM's candidates → *Link* the chosen one to the account.
The same dialog, in pick mode, hands CRM Contact ids to the wizard's step 4.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.crm.deletions import AccountCrmState
from desktop.crm.service import CrmCandidate, CrmIntegration
from desktop.errors import BillbridgeError
from desktop.jobs import JobContext
from desktop.sync.engine import RunSummary
from desktop.views.account_detail import AccountDetailView
from desktop.views.jobs import JobRunner
from desktop.views.models.table import ColumnSpec, RowsTableModel
from desktop.views.widgets.common import Banner, make_table
from desktop.wizards.crm_common import JobStrip

CANDIDATE_COLUMNS: list[ColumnSpec[CrmCandidate]] = [
    ColumnSpec("Name", lambda c: c.name),
    ColumnSpec("E-mail", lambda c: c.email or ""),
    ColumnSpec("Company", lambda c: c.company or ""),
    ColumnSpec("CRM id", lambda c: c.crm_id),
    ColumnSpec(
        "Linked to",
        lambda c: f"account {c.linked_account_id}" if c.linked_account_id is not None else "",
    ),
]


def state_line(state: AccountCrmState) -> str:
    """One short menu line: the linked record, the latest deletion, or "Not linked"."""
    if state.linked:
        module, crm_id = state.linked[0]
        extra = f" · {len(state.deleted)} other deleted in Zoho CRM" if state.deleted else ""
        return f"Linked to {module[:-1]} {crm_id}{extra}"
    if state.deleted:
        gone = state.deleted[0]
        more = f" (+{len(state.deleted) - 1} more)" if len(state.deleted) > 1 else ""
        return (
            f"{gone.module[:-1]} deleted in Zoho CRM on {gone.deleted_at:%Y-%m-%d %H:%M} UTC{more}"
        )
    return "Not linked to a Zoho CRM record"


class CrmSearchDialog(QDialog):
    """Searches Zoho CRM; links the chosen record to an account, or hands back picked ids.

    Args:
        integration: the CRM operations (called on the job runner only).
        jobs: the job runner.
        name: the CRM connection.
        account_id: the account to link (``None``: pick mode, for the wizard).
        query: the first query (the account's e-mail or name).

    Attributes:
        picked: the CRM ids chosen in pick mode.
        linked: the candidate linked (link mode).
    """

    def __init__(
        self,
        integration: CrmIntegration,
        jobs: JobRunner,
        name: str,
        *,
        account_id: int | None = None,
        account_label: str = "",
        query: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.integration = integration
        self.jobs = jobs
        self.name = name
        self.account_id = account_id
        self.picked: list[str] = []
        self.linked: CrmCandidate | None = None
        self._closed = False
        self._generation = 0
        self.setWindowTitle(
            f"Search in Zoho CRM ({name})"
            if account_id is None
            else f"Search in Zoho CRM for {account_label or f'account {account_id}'}"
        )
        self.resize(760, 460)
        layout = QVBoxLayout(self)
        hint = QLabel(
            "Search by e-mail, by a word (at least two letters) or with CRM criteria such as "
            "(Last_Name:equals:Mori). A record created in CRM a moment ago may not be found "
            "yet: Zoho indexes new records with a delay."
        )
        hint.setWordWrap(True)
        hint.setObjectName("pageSubtitle")
        layout.addWidget(hint)
        row = QHBoxLayout()
        self.module = QComboBox()
        self.module.addItem("Contacts", "Contacts")
        self.module.addItem("Accounts", "Accounts")
        self.module.setEnabled(account_id is not None)
        self.query = QLineEdit(query)
        self.query.setPlaceholderText("e-mail, word or (criteria)")
        self.query.returnPressed.connect(self.search)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.search)
        row.addWidget(self.module)
        row.addWidget(self.query, 1)
        row.addWidget(self.search_button)
        layout.addLayout(row)
        self.strip = JobStrip()
        layout.addWidget(self.strip)
        self.model: RowsTableModel[CrmCandidate] = RowsTableModel(CANDIDATE_COLUMNS, self)
        self.table = make_table(self.model, sortable=False)
        if account_id is None:
            self.table.setSelectionMode(self.table.SelectionMode.ExtendedSelection)
        self.table.selectionModel().selectionChanged.connect(self._update)
        self.table.doubleClicked.connect(lambda _index: self.choose())
        layout.addWidget(self.table, 1)
        self.banner = Banner()
        layout.addWidget(self.banner)
        buttons = QDialogButtonBox()
        self.choose_button = QPushButton("Link to this account" if account_id else "Add")
        buttons.addButton(self.choose_button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.reject)
        self.choose_button.clicked.connect(self.choose)
        layout.addWidget(buttons)
        self.query.textChanged.connect(self._update)
        self._update()

    def _update(self, *_args: object) -> None:
        self.search_button.setEnabled(len(self.query.text().strip()) >= 2)
        self.choose_button.setEnabled(bool(self.selected()) and not self.strip.busy)

    def selected(self) -> list[CrmCandidate]:
        """The selected candidates."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [c for r in rows if (c := self.model.row_at(r)) is not None]

    def search(self) -> None:
        """Searches Zoho CRM on the job runner (a newer search replaces a pending one)."""
        text = self.query.text().strip()
        if len(text) < 2:
            return
        integration, name, module = self.integration, self.name, str(self.module.currentData())
        self._generation += 1
        generation = self._generation
        if self.strip.handle is not None:
            self.strip.handle.cancel()
        self.banner.show_message("")

        def work(_context: JobContext) -> list[CrmCandidate]:
            return integration.search(name, text, module=module)

        handle = self.jobs.run(
            work,
            title=f"Searching Zoho CRM for {text}",
            on_success=partial(self._found, generation, text),
            on_error=partial(self._failed, generation),
            changes_data=False,
        )
        self.strip.follow(handle, f"Searching {module} for “{text}”…")
        handle.finished.connect(self._update)

    def _found(self, generation: int, text: str, candidates: list[CrmCandidate]) -> None:
        if self._closed or generation != self._generation:
            return
        self.model.set_rows(candidates)
        self.table.resizeColumnsToContents()
        if candidates:
            self.table.selectRow(0)
        else:
            self.banner.show_message(f"Zoho CRM found nothing for “{text}”.", "info")
        self._update()

    def _failed(self, generation: int, message: str) -> None:
        if not self._closed and generation == self._generation:
            self.banner.show_message(message, "error")

    def choose(self) -> None:
        """Links the selected record (link mode) or hands back the selected ids (pick mode)."""
        chosen = self.selected()
        if not chosen:
            return
        if self.account_id is None:
            self.picked = [c.crm_id for c in chosen]
            self._closed = True
            self.accept()
            return
        candidate = chosen[0]
        integration, name, account_id = self.integration, self.name, self.account_id

        def work(_context: JobContext) -> None:
            integration.link(name, account_id, candidate.crm_id, module=candidate.module)

        try:
            handle = self.jobs.run(
                work,
                title=f"Linking account {account_id} to Zoho CRM",
                key=f"crm-link:{account_id}",
                on_success=lambda _r: self._linked(candidate),
                on_error=lambda message: self.banner.show_message(message, "error"),
            )
        except BillbridgeError as error:
            self.banner.show_message(str(error), "error")
            return
        self.strip.follow(handle, f"Linking to {candidate.name}…", can_cancel=False)
        handle.finished.connect(self._update)
        self._update()

    def _linked(self, candidate: CrmCandidate) -> None:
        self.linked = candidate
        if not self._closed:
            self._closed = True
            self.accept()

    def reject(self) -> None:
        """Closes; a running search is cancelled."""
        self._closed = True
        self.strip.cancel()
        super().reject()


class CrmAccountActions(QToolButton):
    """The Account 360°'s "Zoho CRM" menu: fetch the linked contact, or search and link.

    Args:
        detail: the account view (its account, banner and reload).
        integration: the CRM operations.
        jobs: the job runner.
    """

    def __init__(
        self,
        detail: AccountDetailView,
        integration: CrmIntegration,
        jobs: JobRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.detail = detail
        self.integration = integration
        self.jobs = jobs
        self.names: list[str] = []
        self.setText("Zoho CRM")
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setMenu(QMenu(self))
        self.menu().aboutToShow.connect(self.refresh_state)
        self.run_dialog: Callable[[QDialog], object] = lambda dialog: dialog.exec()
        self.last_dialog: CrmSearchDialog | None = None
        self.state_actions: dict[str, QAction] = {}
        self.set_connections([])

    def set_connections(self, names: list[str]) -> None:
        """The CRM connections the menu offers (hidden when there are none)."""
        self.names = list(names)
        menu = self.menu()
        menu.clear()
        self.state_actions = {}
        for name in self.names:
            state = menu.addAction(f"{name}: …" if len(self.names) > 1 else "…")
            state.setEnabled(False)
            self.state_actions[name] = state
        if self.names:
            menu.addSeparator()
        for name in self.names:
            prefix = f"{name}: " if len(self.names) > 1 else ""
            fetch = menu.addAction(f"{prefix}Fetch this contact from Zoho CRM")
            fetch.triggered.connect(partial(self.fetch, name))
            search = menu.addAction(f"{prefix}Search in Zoho CRM…")
            search.triggered.connect(partial(self.search, name))
        self.setVisible(bool(self.names))

    def refresh_state(self) -> None:
        """Reads the account's CRM links and deletions (on the job runner) into the menu."""
        account_id = self.detail.account_id
        if account_id is None or not self.names:
            return
        integration = self.integration
        names = list(self.names)

        def work(_context: JobContext) -> list[AccountCrmState]:
            return [integration.account_state(name, account_id) for name in names]

        try:
            self.jobs.run(
                work,
                title=f"Reading the Zoho CRM links of account {account_id}",
                key=f"crm-state:{account_id}",
                on_success=partial(self.show_state, account_id),
                on_error=lambda message: self.setToolTip(message),
                changes_data=False,
            )
        except BillbridgeError:
            return  # a read of the same account is under way; it fills the menu

    def show_state(self, account_id: int, states: list[AccountCrmState]) -> None:
        """Shows each connection's state in its menu line (full sentences as tooltips)."""
        if account_id != self.detail.account_id:
            return
        tips = []
        for state in states:
            action = self.state_actions.get(state.connection)
            if action is None:
                continue
            prefix = f"{state.connection}: " if len(self.names) > 1 else ""
            action.setText(prefix + state_line(state))
            lines = state.sentences() or ["This account is not linked to a Zoho CRM record."]
            action.setToolTip("\n".join(lines))
            tips.extend(lines)
        self.setToolTip("\n".join(tips))
        menu = self.menu()
        if menu.isVisible():  # longer lines: keep the open menu on the screen
            menu.adjustSize()
            screen = menu.screen().availableGeometry()
            menu.move(
                max(screen.left(), min(menu.x(), screen.right() - menu.width() + 1)), menu.y()
            )

    def fetch(self, name: str) -> None:
        """Pulls the account's linked CRM record now, then reloads the account."""
        account_id = self.detail.account_id
        if account_id is None:
            return
        integration = self.integration

        def work(_context: JobContext) -> RunSummary:
            return integration.fetch(name, account_id=account_id)

        self.detail.banner.show_message("Fetching this contact from Zoho CRM…", "info")
        try:
            handle = self.jobs.run(
                work,
                title=f"Fetching account {account_id} from {name}",
                key=f"crm-fetch:{name}:{account_id}",
                on_success=lambda summary: self.detail.banner.show_message(
                    f"Fetched from Zoho CRM ({name}): {summary.created:,} created, "
                    f"{summary.updated:,} updated.",
                    "ok",
                ),
                on_error=lambda message: self.detail.banner.show_message(message, "error"),
            )
        except BillbridgeError as error:
            self.detail.banner.show_message(str(error), "error")
            return
        handle.finished.connect(self.detail.reload)

    def search(self, name: str) -> None:
        """Opens *Search in Zoho CRM* for the account shown."""
        account_id = self.detail.account_id
        if account_id is None:
            return
        detail = self.detail.detail
        label = detail.display_name if detail is not None else ""
        query = (detail.value("email") or detail.display_name) if detail is not None else ""
        dialog = CrmSearchDialog(
            self.integration,
            self.jobs,
            name,
            account_id=account_id,
            account_label=label,
            query=query or "",
            parent=self.window(),
        )
        self.last_dialog = dialog
        dialog.accepted.connect(partial(self._linked, dialog))
        self.run_dialog(dialog)

    def _linked(self, dialog: CrmSearchDialog) -> None:
        linked = dialog.linked
        if linked is None:
            return
        self.detail.banner.show_message(
            f"Linked to the Zoho CRM {linked.module[:-1]} {linked.name} ({linked.crm_id}); "
            "Fetch this contact pulls it now.",
            "ok",
        )
        self.detail.reload()
