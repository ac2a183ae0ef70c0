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
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from desktop.errors import BillbridgeError, ConfigurationError
from desktop.sync.base import AuthorisationError, FieldInfo
from desktop.sync.connections import connection_secret_hint
from desktop.sync.recurly import parse_recurly_secret
from desktop.sync.zoho_oauth import DATA_CENTRES
from desktop.views.models.formatting import key_text
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
SITE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


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


def recurly_map_problem(text: str) -> tuple[str, int | None]:
    """Why a Recurly site map is not usable, and on which line (1-based), or ``("", None)``."""
    if not text.strip():
        return "Enter a JSON object of subdomain → API key.", None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return (
            (
                f"Line {error.lineno}, column {error.colno}: {error.msg}. Write it as "
                '{"subdomain": "API key", …}.'
            ),
            error.lineno,
        )
    try:
        parse_recurly_secret(text)
    except ConfigurationError as error:
        line = None
        if isinstance(data, dict):
            for key in data:
                if f"{key!r}" in str(error) or f'"{key}"' in str(error):
                    line = _line_of(text, f'"{key}"')
        return str(error), line
    return "", None


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def tab_to_checked(*buttons: QRadioButton) -> None:
    """Tab stops only at the checked button of a radio group; the arrow keys move within it.

    Qt lets Tab land on a group's first button whether or not it is checked (then a Space
    changes the choice by accident); this keeps the Tab stop on the chosen one, or on the
    first one while none is chosen.
    """

    def update(*_args: object) -> None:
        chosen = next((b for b in buttons if b.isChecked()), buttons[0])
        for button in buttons:
            button.setFocusPolicy(
                Qt.FocusPolicy.StrongFocus if button is chosen else Qt.FocusPolicy.ClickFocus
            )

    for button in buttons:
        button.toggled.connect(update)
    update()


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
    """Step 2: the system's credentials, validated live, and *Test connection*."""

    def __init__(self, wizard: ConnectionWizard) -> None:
        super().__init__()
        self.wizard_ = wizard
        self.setTitle("Credentials")
        self.result: ProbeResult | None = None
        self.map_error_line: int | None = None
        self.task: asyncio.Task[ProbeResult] | None = None
        layout = QVBoxLayout(self)
        self.stack = QStackedWidget()
        self.stack.addWidget(self._chargebee())
        self.stack.addWidget(self._recurly())
        self.stack.addWidget(self._zoho())
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
        self.problem.setStyleSheet("color: rgb(214, 69, 65);")
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
        self.recurly_map.textChanged.connect(self._changed)

    # ---------------------------------------------------------------- forms

    @staticmethod
    def _secret_edit(placeholder: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setPlaceholderText(placeholder)
        return edit

    def _chargebee(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.cb_site = QLineEdit()
        self.cb_site.setPlaceholderText("acme (from https://acme.chargebee.com)")
        self.cb_test = QRadioButton("Test site")
        self.cb_live = QRadioButton("Live site")
        self.cb_live.setChecked(True)
        tab_to_checked(self.cb_test, self.cb_live)
        env = QHBoxLayout()
        env.addWidget(self.cb_test)
        env.addWidget(self.cb_live)
        env.addStretch(1)
        self.cb_key = self._secret_edit("API key (read-only key recommended)")
        form.addRow("Site:", self.cb_site)
        form.addRow("Environment:", env)
        form.addRow("API key:", self.cb_key)
        return page

    def _recurly(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.rc_one = QRadioButton("One site")
        self.rc_many = QRadioButton("Several sites")
        self.rc_one.setChecked(True)
        tab_to_checked(self.rc_one, self.rc_many)
        choice = QHBoxLayout()
        choice.addWidget(self.rc_one)
        choice.addWidget(self.rc_many)
        choice.addStretch(1)
        form.addRow("Sites:", choice)
        self.rc_site = QLineEdit()
        self.rc_site.setPlaceholderText("subdomain, as in https://SUBDOMAIN.recurly.com")
        self.rc_key = self._secret_edit("private API key")
        self.recurly_map = QPlainTextEdit()
        self.recurly_map.setPlaceholderText('{\n  "acme": "API key",\n  "acme-eu": "API key"\n}')
        self.recurly_map.setTabChangesFocus(True)
        self.recurly_map.setMaximumHeight(110)
        self.rc_region = QComboBox()
        self.rc_region.addItem("United States (US)", "us")
        self.rc_region.addItem("Europe (EU)", "eu")
        form.addRow("Subdomain:", self.rc_site)
        form.addRow("API key:", self.rc_key)
        form.addRow("Site map:", self.recurly_map)
        form.addRow("Region:", self.rc_region)
        self.rc_form = form
        return page

    def _zoho(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.zo_dc = QComboBox()
        for key, (api, _accounts) in DATA_CENTRES.items():
            self.zo_dc.addItem(f"{key.upper()} — {api.removeprefix('https://www.')}", key)
        self.zo_org = QLineEdit()
        self.zo_org.setPlaceholderText("digits, from Settings → Organization Profile")
        self.zo_client_id = QLineEdit()
        self.zo_client_id.setPlaceholderText("1000.XXXX from the Zoho API console")
        self.zo_client_secret = self._secret_edit("client secret")
        self.zo_grant = QRadioButton("Grant code")
        self.zo_refresh = QRadioButton("Refresh token")
        self.zo_grant.setChecked(True)
        tab_to_checked(self.zo_grant, self.zo_refresh)
        choice = QHBoxLayout()
        choice.addWidget(self.zo_grant)
        choice.addWidget(self.zo_refresh)
        choice.addStretch(1)
        self.zo_token = self._secret_edit("paste the Self Client grant code (used once)")
        form.addRow("Data centre:", self.zo_dc)
        form.addRow("Organization id:", self.zo_org)
        form.addRow("Client id:", self.zo_client_id)
        form.addRow("Client secret:", self.zo_client_secret)
        form.addRow("Authorise with:", choice)
        form.addRow("Code or token:", self.zo_token)
        return page

    # ------------------------------------------------------------- lifecycle

    def initializePage(self) -> None:
        kind = self.wizard_.kind()
        self.stack.setCurrentIndex({"chargebee": 0, "recurly": 1, "zoho-billing": 2}[kind])
        # Only Zoho signs in through a separate accounts server.
        self.advanced.setRowVisible(self.auth_url, kind == "zoho-billing")
        existing = self.wizard_.existing_settings
        if existing:
            self._load(kind, existing)
        self._changed()

    def _load(self, kind: str, settings: dict[str, Any]) -> None:
        self.base_url.setText(str(settings.get("base_url", "")))
        self.auth_url.setText(str(settings.get("auth_url", "")))
        if kind == "chargebee":
            self.cb_site.setText(str(settings.get("site", "")))
            (self.cb_test if settings.get("environment") == "test" else self.cb_live).setChecked(
                True
            )
        elif kind == "recurly":
            sites = settings.get("sites") or []
            (self.rc_many if len(sites) > 1 else self.rc_one).setChecked(True)
            self.rc_site.setText(str(settings.get("subdomain") or (sites[0] if sites else "")))
            self.rc_region.setCurrentIndex(max(self.rc_region.findData(settings.get("region")), 0))
        else:
            self.zo_org.setText(str(settings.get("org_id", "")))
            self.zo_dc.setCurrentIndex(max(self.zo_dc.findData(settings.get("data_centre")), 0))

    def cleanupPage(self) -> None:
        self.cancel_test()

    def _changed(self, *_args: object) -> None:
        if self.task is None:
            self.result = None
            self.outcome.setText("")
        kind = self.wizard_.kind()
        many = kind == "recurly" and self.rc_many.isChecked()
        for widget in (self.rc_site, self.rc_key):
            widget.setVisible(not many)
            self.rc_form.labelForField(widget).setVisible(not many)
        self.recurly_map.setVisible(many)
        self.rc_form.labelForField(self.recurly_map).setVisible(many)
        self.zo_token.setPlaceholderText(
            "paste the Self Client grant code (used once)"
            if self.zo_grant.isChecked()
            else "paste the refresh token"
        )
        self.problem.setText(self.input_problem() or "")
        self._highlight_map()
        self.test_button.setEnabled(self.task is None and not self.input_problem())
        self.completeChanged.emit()

    def input_problem(self) -> str | None:
        """The first thing wrong with the fields, as a sentence (``None``: all fine)."""
        kind = self.wizard_.kind()
        if kind == "chargebee":
            site = self.cb_site.text().strip().lower()
            if not site:
                return "Enter the Chargebee site."
            if not re.match(SITE_PATTERN, site):
                return "The site is the name in https://SITE.chargebee.com (letters, digits, -)."
            if not self.cb_key.text().strip():
                return "Enter the API key."
            return None
        if kind == "recurly":
            if self.rc_many.isChecked():
                message, _line = recurly_map_problem(self.recurly_map.toPlainText())
                return message or None
            if not re.match(SITE_PATTERN, self.rc_site.text().strip().lower()):
                return "Enter the site's subdomain (letters, digits and hyphens)."
            if not self.rc_key.text().strip():
                return "Enter the site's API key."
            return None
        if not self.zo_org.text().strip().isdigit():
            return "The organization id is the number shown under Settings → Organization Profile."
        if not self.zo_client_id.text().strip() or not self.zo_client_secret.text().strip():
            return "Enter the OAuth client id and client secret from the Zoho API console."
        if not self.zo_token.text().strip():
            return "Paste a grant code or a refresh token."
        return None

    def _highlight_map(self) -> None:
        selections: list[QTextEdit.ExtraSelection] = []
        line: int | None = None
        if self.rc_many.isChecked():
            _message, line = recurly_map_problem(self.recurly_map.toPlainText())
            if line is not None:
                block = self.recurly_map.document().findBlockByLineNumber(line - 1)
                selection = QTextEdit.ExtraSelection()
                fmt = QTextCharFormat()
                fmt.setBackground(QColor(214, 69, 65, 70))
                fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
                selection.format = fmt
                cursor = QTextCursor(block)
                selection.cursor = cursor
                selections.append(selection)
        self.map_error_line = line if selections else None
        self.recurly_map.setExtraSelections(selections)

    def settings_and_secret(self) -> tuple[dict[str, Any], str | ZohoGrant]:
        """The settings and secret the fields describe."""
        kind = self.wizard_.kind()
        settings: dict[str, Any] = {}
        if self.base_url.text().strip():
            settings["base_url"] = self.base_url.text().strip()
        if kind == "chargebee":
            settings["site"] = self.cb_site.text().strip().lower()
            return settings, self.cb_key.text().strip()
        if kind == "recurly":
            settings["region"] = self.rc_region.currentData()
            if self.rc_many.isChecked():
                return settings, self.recurly_map.toPlainText()
            settings["site"] = self.rc_site.text().strip()
            return settings, self.rc_key.text().strip()
        settings["org_id"] = self.zo_org.text().strip()
        settings["data_centre"] = self.zo_dc.currentData()
        if self.auth_url.text().strip():
            settings["auth_url"] = self.auth_url.text().strip()
        client_id = self.zo_client_id.text().strip()
        client_secret = self.zo_client_secret.text().strip()
        token = self.zo_token.text().strip()
        if self.zo_grant.isChecked():
            return settings, ZohoGrant(client_id, client_secret, token)
        return settings, json.dumps(
            {"client_id": client_id, "client_secret": client_secret, "refresh_token": token}
        )

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
