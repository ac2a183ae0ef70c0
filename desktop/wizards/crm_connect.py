"""The *Connect Zoho CRM* dialog (and *Update credentials* of a CRM connection).

It collects the data centre, the OAuth client id and secret with a one-time grant code or
a refresh token, the CRM user who will own every record Billbridge creates, and — for the
sandbox or a proxy — the API and accounts server URLs. The fields are checked as they are
typed; *Connect* runs :meth:`desktop.crm.service.CrmIntegration.connect` (or
``update_credentials``) on the job runner, with a Cancel button, and shows what it found
(organization, owner, currencies) or the exact sentence that refused it: the owner is not
an active CRM user, CRM multi-currency is on and the base currencies differ, Zoho refused
the credentials. The core saves nothing when a check fails; a connect that is cancelled
after the core saved is undone, so Cancel always leaves nothing behind.
"""

from __future__ import annotations

import json
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.crm.connect import CrmCheck
from desktop.crm.service import CrmIntegration
from desktop.errors import BillbridgeError
from desktop.jobs import Cancelled, JobContext
from desktop.sync.connections import ConnectionInfo
from desktop.sync.zoho_oauth import DATA_CENTRES
from desktop.views.jobs import JobRunner
from desktop.wizards.crm_common import ERROR_STYLE, JobStrip, cancellable

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://\S+$")


def check_text(check: CrmCheck) -> str:
    """What connecting found, as sentences."""
    currencies = ", ".join(check.currencies)
    multi = f"multi-currency on ({currencies})" if check.multi_currency else "multi-currency off"
    lines = [
        f"✓ Connected to {check.org_name or 'the CRM organization'}.",
        f"Records Billbridge creates will be owned by {check.owner_name} <{check.owner_email}>.",
        (
            f"Base currency {check.base_currency}, {multi}; this workspace reports in "
            f"{check.workspace_currency}."
        ),
    ]
    lines += [f"⚠ {warning}" for warning in check.warnings]
    return "\n".join(lines)


class CrmConnectDialog(QDialog):
    """Connects a Zoho CRM org, or replaces a CRM connection's credentials.

    Args:
        integration: the CRM operations (called on the job runner only).
        jobs: the job runner.
        existing: the name of the connection whose credentials to update (``None``: a new
            connection).
        owner_email: the current owner, prefilled when updating.

    Attributes:
        info: the saved connection (after a successful connect).
        check: what the last successful check found.
    """

    def __init__(
        self,
        integration: CrmIntegration,
        jobs: JobRunner,
        *,
        existing: str | None = None,
        owner_email: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.integration = integration
        self.jobs = jobs
        self.existing = existing
        self.info: ConnectionInfo | None = None
        self.check: CrmCheck | None = None
        self._closed = False
        self.setWindowTitle(
            f"Update the credentials of {existing}" if existing else "Connect Zoho CRM"
        )
        self.resize(620, 520)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Create a Self Client in the Zoho API console with the scopes ZohoCRM.modules.ALL, "
            "ZohoCRM.settings.ALL, ZohoCRM.users.READ and ZohoCRM.org.READ, then paste its "
            "client id and secret and a grant code (used once) or a refresh token. The secret "
            "is kept in the system keychain."
        )
        intro.setWordWrap(True)
        intro.setObjectName("pageSubtitle")
        layout.addWidget(intro)
        form = QFormLayout()
        self.name = QLineEdit(existing or "Zoho CRM")
        self.name.setEnabled(existing is None)
        self.data_centre = QComboBox()
        for key, (api, _accounts) in DATA_CENTRES.items():
            self.data_centre.addItem(f"{key.upper()} — {api.removeprefix('https://www.')}", key)
        self.data_centre.setEnabled(existing is None)
        self.client_id = QLineEdit()
        self.client_id.setPlaceholderText("1000.XXXX from the Zoho API console")
        self.client_secret = QLineEdit()
        self.client_secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.client_secret.setPlaceholderText("client secret")
        self.grant = QRadioButton("Grant code")
        self.refresh = QRadioButton("Refresh token")
        self.grant.setChecked(True)
        choice = QHBoxLayout()
        choice.addWidget(self.grant)
        choice.addWidget(self.refresh)
        choice.addStretch(1)
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.owner = QLineEdit(owner_email)
        self.owner.setPlaceholderText("the CRM user who owns the records Billbridge creates")
        self.base_url = QLineEdit()
        self.base_url.setPlaceholderText("optional: the sandbox or a proxy")
        self.auth_url = QLineEdit()
        self.auth_url.setPlaceholderText("optional: Zoho accounts server override")
        self.base_url.setEnabled(existing is None)
        self.auth_url.setEnabled(existing is None)
        form.addRow("Connection name:", self.name)
        form.addRow("Data centre:", self.data_centre)
        form.addRow("Client id:", self.client_id)
        form.addRow("Client secret:", self.client_secret)
        form.addRow("Authorise with:", choice)
        form.addRow("Code or token:", self.token)
        form.addRow("Owner e-mail:", self.owner)
        form.addRow("API base URL:", self.base_url)
        form.addRow("Accounts server URL:", self.auth_url)
        layout.addLayout(form)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(ERROR_STYLE)
        layout.addWidget(self.problem)
        self.strip = JobStrip()
        layout.addWidget(self.strip)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.outcome)
        layout.addStretch(1)
        self.buttons = QDialogButtonBox()
        self.connect_button = QPushButton("Update" if existing else "Connect")
        self.connect_button.setDefault(True)
        self.buttons.addButton(self.connect_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.connect_button.clicked.connect(self.start)
        self.close_button.clicked.connect(self.reject)
        layout.addWidget(self.buttons)
        for edit in self.findChildren(QLineEdit):
            edit.textChanged.connect(self._changed)
        self.grant.toggled.connect(self._changed)
        self._changed()

    # ------------------------------------------------------------------ fields

    def input_problem(self) -> str | None:
        """The first thing wrong with the fields (``None``: ready to connect)."""
        if self.existing is None and not self.name.text().strip():
            return "Name the connection."
        if not self.client_id.text().strip():
            return "Enter the client id from the Zoho API console."
        if not self.client_secret.text().strip():
            return "Enter the client secret."
        if not self.token.text().strip():
            return (
                "Paste the grant code from the Self Client."
                if self.grant.isChecked()
                else "Paste the refresh token."
            )
        if not _EMAIL.match(self.owner.text().strip()):
            return "Enter the e-mail of the CRM user who will own the records Billbridge creates."
        for edit, what in ((self.base_url, "API base URL"), (self.auth_url, "accounts URL")):
            text = edit.text().strip()
            if text and not _URL.match(text):
                return f"The {what} must start with https:// (http:// only on 127.0.0.1)."
        return None

    def secret(self) -> str:
        """The JSON secret the fields describe (never shown)."""
        key = "grant_code" if self.grant.isChecked() else "refresh_token"
        return json.dumps(
            {
                "client_id": self.client_id.text().strip(),
                "client_secret": self.client_secret.text().strip(),
                key: self.token.text().strip(),
            }
        )

    def _changed(self, *_args: object) -> None:
        self.token.setPlaceholderText(
            "paste the Self Client grant code (used once)"
            if self.grant.isChecked()
            else "paste the refresh token"
        )
        if not self.strip.busy and self.check is None:
            self.outcome.setText("")  # an edit makes the last outcome stale
        self._update_buttons()

    def _update_buttons(self) -> None:
        problem = self.input_problem()
        self.problem.setText(problem or "")
        self.connect_button.setEnabled(problem is None and not self.strip.busy)

    # ---------------------------------------------------------------- connect

    def start(self) -> None:
        """Runs the connect (or credentials update) on the job runner."""
        if self.input_problem() or self.strip.busy or self.info is not None:
            return
        integration = self.integration
        secret = self.secret()
        owner = self.owner.text().strip()
        existing = self.existing
        name = self.name.text().strip()
        data_centre = str(self.data_centre.currentData())
        base_url = self.base_url.text().strip() or None
        auth_url = self.auth_url.text().strip() or None

        def work(context: JobContext) -> tuple[ConnectionInfo | None, CrmCheck]:
            crm = cancellable(integration, context.cancel)
            if existing is not None:
                return None, crm.update_credentials(existing, secret, owner)
            info, check = crm.connect(
                name=name,
                secret=secret,
                owner_email=owner,
                data_centre=data_centre,
                base_url=base_url,
                auth_url=auth_url,
            )
            if context.cancel.cancelled:  # saved just as Cancel was pressed: undo it
                integration.connections.remove(info.id)
                raise Cancelled()
            return info, check

        self.outcome.setText("")
        self.outcome.setStyleSheet("")
        try:
            handle = self.jobs.run(
                work,
                title=f"Connecting {name}" if existing is None else f"Updating {existing}",
                key=f"crm-connect:{existing or name}",
                on_success=self._done,
                on_error=self._failed,
            )
        except BillbridgeError as error:
            self._failed(str(error))
            return
        handle.cancelled.connect(self._cancelled)
        self.strip.follow(
            handle, "Checking the credentials, the owner and the currencies with Zoho CRM…"
        )
        handle.finished.connect(lambda: None if self._closed else self._update_buttons())
        self._update_buttons()

    def _done(self, result: tuple[ConnectionInfo | None, CrmCheck]) -> None:
        info, check = result
        if self._closed:  # cancelled a moment too late: undo the save
            if info is not None:
                remove = self.integration.connections.remove
                self.jobs.run(lambda _c: remove(info.id), title=f"Removing {info.name}")
            return
        self.info, self.check = info, check
        self.outcome.setStyleSheet("")
        self.outcome.setText(
            check_text(check) + ("\nThe new credentials are saved." if self.existing else "")
        )
        self.connect_button.hide()
        self.close_button.hide()
        done = self.buttons.addButton(
            "Close" if self.existing else "Set up the sync…",
            QDialogButtonBox.ButtonRole.AcceptRole,
        )
        done.clicked.connect(self.accept)
        done.setDefault(True)

    def _failed(self, message: str) -> None:
        if self._closed:
            return
        self.outcome.setStyleSheet(ERROR_STYLE)
        self.outcome.setText(f"✗ {message} Nothing was saved.")

    def _cancelled(self) -> None:
        if self._closed:
            return
        self.outcome.setStyleSheet("")
        self.outcome.setText("Cancelled; nothing was saved.")

    def reject(self) -> None:
        """Cancels a running check (nothing is kept) and closes."""
        self.strip.cancel()
        self._closed = True
        super().reject()

    def accept(self) -> None:
        """Closes after a successful connect."""
        self._closed = True
        super().accept()
