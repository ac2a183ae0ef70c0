"""The connection wizard: System → Credentials (with Test connection) → Account identifier →
Sync mode → Summary. It only collects; Finish writes the connection and its secret once.

Every page loads in ``initializePage``, enables Next live through ``isComplete`` (emitting
``completeChanged``) and blocks in ``validatePage``. *Test connection* runs
:func:`desktop.wizards.probe.probe` as an asyncio task in the app's qasync loop; it can be
cancelled, any edit invalidates it, and Next stays disabled until the credentials in the
fields have passed. After saving, a key is never shown again: the summary and the
Connections page show only its last four characters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from desktop.errors import BillbridgeError, ConfigurationError
from desktop.sync.base import AuthorisationError, FieldInfo
from desktop.sync.connections import connection_secret_hint
from desktop.views.models.formatting import ALERT_COLOUR, key_text, readable
from desktop.wizards.credential_forms import (
    ChargebeeForm,
    CredentialForm,
    FormStack,
    RecurlyForm,
    ZohoForm,
    tab_to_checked,
)
from desktop.wizards.credential_forms import (  # kept importable from here
    recurly_map_problem as recurly_map_problem,
)
from desktop.wizards.probe import DEFAULT_DEADLINE, ProbeResult, ZohoGrant, probe

SYSTEMS: tuple[tuple[str, str, str], ...] = (
    (
        "zoho-billing",
        "Zoho Billing",
        "Reads customers (accounts), contact persons (users), plans, subscriptions and invoices.",
    ),
    ("recurly", "Recurly", "Reads accounts, their users, plans, subscriptions and invoices."),
    ("chargebee", "Chargebee", "Reads customers (accounts), plans, subscriptions and invoices."),
)
PROMISE = (
    "Billbridge only reads (HTTP GET): it never changes anything in your billing system. "
    "Keys are kept in the system keychain, never in the workspace."
)


@dataclass
class WizardResult:
    """What Finish saves.

    Attributes:
        name: the connection's name.
        kind: ``zoho-billing``, ``recurly`` or ``chargebee``.
        settings: validated settings (identifier choice included).
        mode: ``daily`` or ``import-only``.
        secret: the secret to store in the keychain (never shown).
        connection_id: the connection whose credentials are updated (``None``: a new one).
    """

    name: str
    kind: str
    settings: dict[str, Any]
    mode: str
    secret: str = field(repr=False)
    connection_id: int | None = None


#: Saves a result (connection service → keychain + workspace); raises BillbridgeError.
SaveFunction = Callable[[WizardResult], None]


class SystemPage(QWizardPage):
    """Step 1: which billing system, and the connection's name."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Which billing system?")
        self.setSubTitle(PROMISE)
        layout = QVBoxLayout(self)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for kind, label, line in SYSTEMS:
            button = QRadioButton(label)
            button.setObjectName(f"system-{kind}")
            self.group.addButton(button)
            self.buttons[kind] = button
            layout.addWidget(button)
            hint = QLabel(line)
            hint.setWordWrap(True)
            hint.setIndent(24)
            hint.setObjectName("pageSubtitle")
            layout.addWidget(hint)
        self.group.buttonToggled.connect(lambda *_a: self.completeChanged.emit())
        tab_to_checked(*self.buttons.values())
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("for example Acme Chargebee")
        form.addRow("Connection name:", self.name)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addStretch(1)
        self.registerField("name*", self.name)

    def kind(self) -> str | None:
        """The chosen system."""
        for kind, button in self.buttons.items():
            if button.isChecked():
                return kind
        return None

    def isComplete(self) -> bool:
        return self.kind() is not None and bool(self.name.text().strip())


class CredentialsPage(QWizardPage):
    """Step 2: the system's credentials, validated live, and *Test connection*.

    The chosen system's form (:mod:`desktop.wizards.credential_forms`) sits in a stack that
    takes only that form's height, followed by the optional URLs, the first problem with
    the fields, and the test's button and outcome.
    """

    def __init__(self, wizard: ConnectionWizard) -> None:
        super().__init__()
        self.wizard_ = wizard
        self.setTitle("Credentials")
        self.setSubTitle(
            "Where your billing system is and the key Billbridge reads it with; Test "
            "connection checks both before you go on."
        )
        self.result: ProbeResult | None = None
        self.task: asyncio.Task[ProbeResult] | None = None
        layout = QVBoxLayout(self)
        self.chargebee = ChargebeeForm()
        self.recurly = RecurlyForm()
        self.zoho = ZohoForm()
        self.forms: dict[str, CredentialForm] = {
            "chargebee": self.chargebee,
            "recurly": self.recurly,
            "zoho-billing": self.zoho,
        }
        self.stack = FormStack()
        for form in self.forms.values():
            self.stack.addWidget(form)
        layout.addWidget(self.stack)
        advanced = QFormLayout()
        self.base_url = QLineEdit()
        self.base_url.setPlaceholderText(
            "optional: a proxy or the sandbox (http only on 127.0.0.1)"
        )
        self.auth_url = QLineEdit()
        self.auth_url.setPlaceholderText("optional: Zoho accounts server override")
        advanced.addRow("API base URL:", self.base_url)
        advanced.addRow("Accounts server URL:", self.auth_url)
        self.advanced = advanced
        layout.addLayout(advanced)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        red = readable(ALERT_COLOUR, self.palette().color(QPalette.ColorRole.Window))
        self.problem.setStyleSheet(f"color: {red.name()};")
        layout.addWidget(self.problem)
        row = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.start_test)
        self.cancel_test_button = QPushButton("Cancel test")
        self.cancel_test_button.clicked.connect(self.cancel_test)
        self.cancel_test_button.hide()
        row.addWidget(self.test_button)
        row.addWidget(self.cancel_test_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.outcome)
        layout.addStretch(1)
        for edit in self.findChildren(QLineEdit):
            edit.textChanged.connect(self._changed)
        for combo in self.findChildren(QComboBox):
            combo.currentIndexChanged.connect(self._changed)
        for radio in self.findChildren(QRadioButton):
            radio.toggled.connect(self._changed)
        self.recurly.site_map.textChanged.connect(self._changed)

    def form(self) -> CredentialForm:
        """The chosen system's form."""
        return self.forms[self.wizard_.kind()]

    # ------------------------------------------------------------- lifecycle

    def initializePage(self) -> None:
        form = self.form()
        self.stack.setCurrentWidget(form)
        self.advanced.setRowVisible(self.auth_url, form.uses_accounts_server)
        self._align_labels(form)
        existing = self.wizard_.existing_settings
        if existing:
            self.base_url.setText(str(existing.get("base_url", "")))
            self.auth_url.setText(str(existing.get("auth_url", "")))
            form.load(existing)
        self._changed()

    def _align_labels(self, form: CredentialForm) -> None:
        """Gives the form's labels and the URL rows' labels one column width."""
        labels = form.labels() + [
            label
            for field in (self.base_url, self.auth_url)
            if isinstance(label := self.advanced.labelForField(field), QLabel)
        ]
        for label in labels:
            label.setMinimumWidth(0)
        width = max(label.sizeHint().width() for label in labels if not label.isHidden())
        for label in labels:
            label.setMinimumWidth(width)

    def cleanupPage(self) -> None:
        self.cancel_test()

    def _changed(self, *_args: object) -> None:
        if self.task is None:
            self.result = None
            self.outcome.setText("")
        for form in self.forms.values():
            form.refresh()
        problem = self.input_problem()
        # a form nothing is typed in yet says nothing is wrong (Test stays disabled)
        shown = problem if problem and self._started() else ""
        self.problem.setText(shown)
        self.problem.setVisible(bool(shown))  # no empty line above Test connection
        self.test_button.setEnabled(self.task is None and not problem)
        self.completeChanged.emit()

    def _started(self) -> bool:
        """Whether anything is typed in the chosen system's form."""
        form = self.form()
        if any(edit.text().strip() for edit in form.findChildren(QLineEdit)):
            return True
        return form is self.recurly and bool(self.recurly.site_map.toPlainText().strip())

    @property
    def map_error_line(self) -> int | None:
        """The Recurly site map's line that the problem points at (``None``: none)."""
        return self.recurly.map_error_line

    def input_problem(self) -> str | None:
        """The first thing wrong with the fields, as a sentence (``None``: all fine)."""
        return self.form().problem()

    def settings_and_secret(self) -> tuple[dict[str, Any], str | ZohoGrant]:
        """The settings and secret the fields describe."""
        form = self.form()
        settings: dict[str, Any] = {}
        if self.base_url.text().strip():
            settings["base_url"] = self.base_url.text().strip()
        form_settings, secret = form.settings_and_secret()
        settings.update(form_settings)
        if form.uses_accounts_server and self.auth_url.text().strip():
            settings["auth_url"] = self.auth_url.text().strip()
        return settings, secret

    # ------------------------------------------------------------------ test

    def start_test(self) -> None:
        """Starts *Test connection* as a task in the running asyncio loop."""
        if self.task is not None or self.input_problem():
            return
        settings, secret = self.settings_and_secret()
        kind = self.wizard_.kind()
        name = self.wizard_.connection_name()
        self.outcome.setText(f"Testing {name}… (this can take a few seconds)")
        self.test_button.setEnabled(False)
        self.cancel_test_button.show()
        self.cancel_test_button.setEnabled(True)
        self.task = asyncio.get_event_loop().create_task(
            probe(
                kind,
                name,
                settings,
                secret,
                client=self.wizard_.client,
                transport=self.wizard_.transport,
                deadline=self.wizard_.deadline,
            )
        )
        self.task.add_done_callback(self._test_done)

    def cancel_test(self) -> None:
        """Cancels a running test (the fields stay as they are)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            self.outcome.setText("Cancelling the test…")
            self.cancel_test_button.setEnabled(False)

    def _test_done(self, task: asyncio.Task[ProbeResult]) -> None:
        self.task = None
        self.cancel_test_button.hide()
        try:
            result = task.result()
        except asyncio.CancelledError:
            self.result = None
            self.outcome.setText("Test cancelled; nothing was saved.")
        except AuthorisationError as error:
            self.result = None
            status = getattr(error, "status", None) or 401
            word = "Forbidden" if status == 403 else "Unauthorized"
            self.outcome.setText(f"✗ The key was refused ({status} {word}). {error}")
        except BillbridgeError as error:
            self.result = None
            self.outcome.setText(f"✗ {error}")
        except Exception as error:  # a sentence, never a traceback
            self.result = None
            self.outcome.setText(
                f"✗ The test failed unexpectedly ({type(error).__name__}); see the log."
            )
        else:
            self.result = result
            counts = ", ".join(
                f"~{count:,} {stream}" for stream, count in result.check.counts.items()
            )
            details = ", ".join(result.check.details)
            self.outcome.setText(
                f"✓ Connected to {result.check.label}"
                + (f" ({details})" if details else "")
                + (f": {counts}." if counts else ".")
            )
        self.test_button.setEnabled(not self.input_problem())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.result is not None and self.task is None and not self.input_problem()

    def validatePage(self) -> bool:
        return self.isComplete()


class IdentifierPage(QWizardPage):
    """Step 3: which value identifies an account — the native id or a custom field."""

    def __init__(self, wizard: ConnectionWizard) -> None:
        super().__init__()
        self.wizard_ = wizard
        self.setTitle("Account identifier")
        self.setSubTitle(
            "The value that identifies an account everywhere in Billbridge. It never changes "
            "once set; prefer your product's tenant id when a custom field holds it."
        )
        layout = QVBoxLayout(self)
        self.native = QRadioButton("The billing system's own customer id")
        self.custom = QRadioButton("A custom field:")
        self.native.setChecked(True)
        tab_to_checked(self.native, self.custom)
        self.fields = QComboBox()
        self.samples = QLabel()
        self.samples.setWordWrap(True)
        self.samples.setObjectName("pageSubtitle")
        layout.addWidget(self.native)
        layout.addWidget(self.custom)
        layout.addWidget(self.fields)
        layout.addWidget(self.samples)
        layout.addStretch(1)
        self.native.toggled.connect(self._update)
        self.fields.currentIndexChanged.connect(self._update)

    def initializePage(self) -> None:
        result = self.wizard_.credentials.result
        self.fields.clear()
        found: list[FieldInfo] = result.fields if result else []
        for info in found:
            self.fields.addItem(f"{info.object_name}: {info.field_name}", info)
        self.custom.setEnabled(bool(found))
        if not found:
            self.native.setChecked(True)
            problem = result.fields_problem if result else None
            self.samples.setText(
                problem or "The source has no custom fields on accounts or subscriptions."
            )
        current = self.wizard_.existing_settings
        if current.get("id_source") == "custom-field":
            for index in range(self.fields.count()):
                info = self.fields.itemData(index)
                if info.field_name == current.get("id_field"):
                    self.custom.setChecked(True)
                    self.fields.setCurrentIndex(index)
        self._update()

    def chosen(self) -> FieldInfo | None:
        """The chosen custom field (``None``: the native id)."""
        if self.native.isChecked():
            return None
        info = self.fields.currentData()
        return info if isinstance(info, FieldInfo) else None

    def _update(self, *_args: object) -> None:
        self.fields.setEnabled(self.custom.isChecked())
        info = self.fields.currentData()
        if isinstance(info, FieldInfo):
            samples = ", ".join(info.samples[:6]) or "(no values yet)"
            if self.custom.isEnabled():
                self.samples.setText(f"Sample values of {info.field_name}: {samples}")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.native.isChecked() or self.chosen() is not None


class SyncModePage(QWizardPage):
    """Step 4: Daily sync or Import only."""

    def __init__(self, wizard: ConnectionWizard) -> None:
        super().__init__()
        self.wizard_ = wizard
        self.setTitle("Sync mode")
        self.setSubTitle("How this connection keeps the workspace up to date.")
        layout = QVBoxLayout(self)
        self.daily = QRadioButton("Daily sync at 00:00 UTC")
        daily_hint = QLabel(
            "Keeps the workspace up to date every night. Overwrites manual edits of synced "
            "account attributes."
        )
        self.import_only = QRadioButton("Import only")
        import_hint = QLabel(
            "Imports once (Sync Now adds new records later). Manual edits are kept."
        )
        for hint in (daily_hint, import_hint):
            hint.setWordWrap(True)
            hint.setIndent(24)
            hint.setObjectName("pageSubtitle")
        self.daily.setChecked(True)
        tab_to_checked(self.daily, self.import_only)
        for widget in (self.daily, daily_hint, self.import_only, import_hint):
            layout.addWidget(widget)
        layout.addStretch(1)

    def initializePage(self) -> None:
        if self.wizard_.existing_mode == "import-only":
            self.import_only.setChecked(True)

    def mode(self) -> str:
        """``daily`` or ``import-only``."""
        return "daily" if self.daily.isChecked() else "import-only"


class SummaryPage(QWizardPage):
    """Step 5: what Finish will save (the key only by its last four characters)."""

    def __init__(self, wizard: ConnectionWizard) -> None:
        super().__init__()
        self.wizard_ = wizard
        self.setTitle("Summary")
        self.setSubTitle("Finish saves the connection and keeps its key in the system keychain.")
        layout = QVBoxLayout(self)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.text)
        layout.addStretch(1)

    def initializePage(self) -> None:
        result = self.wizard_.build_result()
        check = self.wizard_.credentials.result
        system = dict((k, label) for k, label, _line in SYSTEMS)[result.kind]
        ident = self.wizard_.identifier.chosen()
        site = result.settings.get("site")
        key = key_text(connection_secret_hint(result.kind, result.secret, site if site else None))
        rows = [
            ("Name", result.name),
            ("System", system),
            ("Source", check.check.label if check else ""),
            (
                "Account identifier",
                f"custom field {ident.field_name} on {ident.object_name}s"
                if ident
                else "the billing system's customer id",
            ),
            (
                "Sync mode",
                "Daily sync at 00:00 UTC (overwrites manual edits)"
                if result.mode == "daily"
                else "Import only (manual edits kept)",
            ),
            ("Key", f"{key} — kept in the system keychain"),
        ]
        self.text.setText(
            "<table cellpadding='4'>"
            + "".join(f"<tr><td><b>{k}</b></td><td>{_escape(v)}</td></tr>" for k, v in rows)
            + "</table>"
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ConnectionWizard(QWizard):
    """Adds a billing connection, or updates one's credentials (``existing`` given).

    Args:
        save: writes the result (called once, from :meth:`accept`).
        client: the app's shared ``httpx.AsyncClient`` for *Test connection*.
        transport: an httpx transport instead (tests: the sandbox's).
        existing: ``(connection id, name, kind, settings, mode)`` to update credentials.
        deadline: seconds before a test is reported as a timeout.
    """

    def __init__(
        self,
        save: SaveFunction,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        existing: tuple[int, str, str, dict[str, Any], str] | None = None,
        deadline: float = DEFAULT_DEADLINE,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._save = save
        self.client = client
        self.transport = transport
        self.deadline = deadline
        self.existing = existing
        self.existing_settings: dict[str, Any] = dict(existing[3]) if existing else {}
        self.existing_mode = existing[4] if existing else "daily"
        self.saved: WizardResult | None = None
        self.setWindowTitle(
            f"Update the credentials of {existing[1]}" if existing else "Add a billing connection"
        )
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.resize(640, 560)
        self.system = SystemPage()
        self.credentials = CredentialsPage(self)
        self.identifier = IdentifierPage(self)
        self.sync_mode = SyncModePage(self)
        self.summary = SummaryPage(self)
        pages: list[QWizardPage] = (
            [self.credentials, self.identifier, self.summary]
            if existing
            else [self.system, self.credentials, self.identifier, self.sync_mode, self.summary]
        )
        for page in pages:
            self.addPage(page)
        if existing:
            self.system.name.setText(existing[1])
            self.system.buttons[existing[2]].setChecked(True)

    def kind(self) -> str:
        """The chosen system."""
        return self.system.kind() or "chargebee"

    def connection_name(self) -> str:
        """The connection's name as typed."""
        return self.system.name.text().strip()

    def build_result(self) -> WizardResult:
        """What Finish will save (needs a passed test)."""
        probe_result = self.credentials.result
        if probe_result is None:
            raise ConfigurationError("Test the connection before saving it.")
        settings = dict(probe_result.settings)
        ident = self.identifier.chosen()
        if ident is None:
            settings["id_source"] = "native"
        else:
            settings.update(
                {
                    "id_source": "custom-field",
                    "id_object": ident.object_name,
                    "id_field": ident.field_name,
                }
            )
        return WizardResult(
            name=self.connection_name(),
            kind=self.kind(),
            settings=settings,
            mode=self.existing_mode if self.existing else self.sync_mode.mode(),
            secret=probe_result.secret,
            connection_id=self.existing[0] if self.existing else None,
        )

    def accept(self) -> None:
        """Writes the connection and its secret, once; stays open on a failure."""
        try:
            result = self.build_result()
            self._save(result)
        except BillbridgeError as error:
            QMessageBox.warning(self, "Nothing was saved", str(error))
            return
        self.saved = result
        super().accept()

    def reject(self) -> None:
        """Cancels any running test; writes nothing."""
        self.credentials.cancel_test()
        super().reject()
