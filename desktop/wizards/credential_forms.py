"""The connection wizard's per-system credential forms, and the stack that shows one.

Each billing system has one form: its fields, what is wrong with them as a sentence, and
the settings and secret they describe. The wizard's credentials page shows the chosen
system's form in a :class:`FormStack`, which takes only the height of the form it shows
(a plain ``QStackedWidget`` is as tall as its tallest form), so the rows under it follow
each form closely.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QStackedWidget,
    QTextEdit,
    QWidget,
)

from desktop.errors import ConfigurationError
from desktop.sync.recurly import parse_recurly_secret
from desktop.sync.zoho_oauth import DATA_CENTRES
from desktop.wizards.probe import ZohoGrant

SITE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


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


def secret_edit(placeholder: str) -> QLineEdit:
    """A line edit that never shows what is typed."""
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    edit.setPlaceholderText(placeholder)
    return edit


def radio_row(*buttons: QRadioButton) -> QHBoxLayout:
    """Radio buttons side by side, Tab stopping at the chosen one."""
    tab_to_checked(*buttons)
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    return row


class CredentialForm(QWidget):
    """One system's credential fields, laid out as a form without margins.

    Attributes:
        form: the fields' form layout (label column on the left).
        uses_accounts_server: whether the system signs in through a separate accounts
            server (the page then shows its *Accounts server URL* row).
    """

    uses_accounts_server: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)

    def problem(self) -> str | None:
        """The first thing wrong with the fields, as a sentence (``None``: all fine)."""
        raise NotImplementedError

    def settings_and_secret(self) -> tuple[dict[str, Any], str | ZohoGrant]:
        """The system's settings and the secret the fields describe."""
        raise NotImplementedError

    def load(self, settings: dict[str, Any]) -> None:
        """Fills the fields from a saved connection's settings (secrets are never shown)."""
        raise NotImplementedError

    def refresh(self) -> None:
        """Shows the rows that apply to the current choices (called on every edit)."""

    def labels(self) -> list[QLabel]:
        """The form's row labels."""
        role = QFormLayout.ItemRole.LabelRole
        found = (self.form.itemAt(row, role) for row in range(self.form.rowCount()))
        return [
            label
            for item in found
            if item is not None and isinstance(label := item.widget(), QLabel)
        ]


class ChargebeeForm(CredentialForm):
    """Chargebee: site, environment and API key."""

    def __init__(self) -> None:
        super().__init__()
        self.site = QLineEdit()
        self.site.setPlaceholderText("acme (from https://acme.chargebee.com)")
        self.test_site = QRadioButton("Test site")
        self.live_site = QRadioButton("Live site")
        self.live_site.setChecked(True)
        self.key = secret_edit("API key (read-only key recommended)")
        self.form.addRow("Site:", self.site)
        self.form.addRow("Environment:", radio_row(self.test_site, self.live_site))
        self.form.addRow("API key:", self.key)

    def problem(self) -> str | None:
        site = self.site.text().strip().lower()
        if not site:
            return "Enter the Chargebee site."
        if not re.match(SITE_PATTERN, site):
            return "The site is the name in https://SITE.chargebee.com (letters, digits, -)."
        if not self.key.text().strip():
            return "Enter the API key."
        return None

    def settings_and_secret(self) -> tuple[dict[str, Any], str | ZohoGrant]:
        return {"site": self.site.text().strip().lower()}, self.key.text().strip()

    def load(self, settings: dict[str, Any]) -> None:
        self.site.setText(str(settings.get("site", "")))
        test = settings.get("environment") == "test"
        (self.test_site if test else self.live_site).setChecked(True)


class RecurlyForm(CredentialForm):
    """Recurly: one site (subdomain and key) or several (a site map), and the region.

    Attributes:
        map_error_line: the site map's line that a problem points at (``None``: none).
    """

    def __init__(self) -> None:
        super().__init__()
        self.map_error_line: int | None = None
        self.one_site = QRadioButton("One site")
        self.many_sites = QRadioButton("Several sites")
        self.one_site.setChecked(True)
        self.form.addRow("Sites:", radio_row(self.one_site, self.many_sites))
        self.site = QLineEdit()
        self.site.setPlaceholderText("subdomain, as in https://SUBDOMAIN.recurly.com")
        self.key = secret_edit("private API key")
        self.site_map = QPlainTextEdit()
        self.site_map.setPlaceholderText('{\n  "acme": "API key",\n  "acme-eu": "API key"\n}')
        self.site_map.setTabChangesFocus(True)
        self.site_map.setMaximumHeight(110)
        self.region = QComboBox()
        self.region.addItem("United States (US)", "us")
        self.region.addItem("Europe (EU)", "eu")
        self.form.addRow("Subdomain:", self.site)
        self.form.addRow("API key:", self.key)
        self.form.addRow("Site map:", self.site_map)
        self.form.addRow("Region:", self.region)

    def problem(self) -> str | None:
        if self.many_sites.isChecked():
            message, _line = recurly_map_problem(self.site_map.toPlainText())
            return message or None
        if not re.match(SITE_PATTERN, self.site.text().strip().lower()):
            return "Enter the site's subdomain (letters, digits and hyphens)."
        if not self.key.text().strip():
            return "Enter the site's API key."
        return None

    def settings_and_secret(self) -> tuple[dict[str, Any], str | ZohoGrant]:
        settings: dict[str, Any] = {"region": self.region.currentData()}
        if self.many_sites.isChecked():
            return settings, self.site_map.toPlainText()
        settings["site"] = self.site.text().strip()
        return settings, self.key.text().strip()

    def load(self, settings: dict[str, Any]) -> None:
        sites = settings.get("sites") or []
        (self.many_sites if len(sites) > 1 else self.one_site).setChecked(True)
        self.site.setText(str(settings.get("subdomain") or (sites[0] if sites else "")))
        self.region.setCurrentIndex(max(self.region.findData(settings.get("region")), 0))

    def refresh(self) -> None:
        many = self.many_sites.isChecked()
        self.form.setRowVisible(self.site, not many)
        self.form.setRowVisible(self.key, not many)
        self.form.setRowVisible(self.site_map, many)
        self._highlight_map()

    def _highlight_map(self) -> None:
        selections: list[QTextEdit.ExtraSelection] = []
        line: int | None = None
        if self.many_sites.isChecked():
            _message, line = recurly_map_problem(self.site_map.toPlainText())
            if line is not None:
                block = self.site_map.document().findBlockByLineNumber(line - 1)
                selection = QTextEdit.ExtraSelection()
                fmt = QTextCharFormat()
                fmt.setBackground(QColor(214, 69, 65, 70))
                fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
                selection.format = fmt
                selection.cursor = QTextCursor(block)
                selections.append(selection)
        self.map_error_line = line if selections else None
        self.site_map.setExtraSelections(selections)


class ZohoForm(CredentialForm):
    """Zoho Billing: data centre, organization, OAuth client and a grant code or token."""

    uses_accounts_server = True

    def __init__(self) -> None:
        super().__init__()
        self.data_centre = QComboBox()
        for key, (api, _accounts) in DATA_CENTRES.items():
            self.data_centre.addItem(f"{key.upper()} — {api.removeprefix('https://www.')}", key)
        self.org_id = QLineEdit()
        self.org_id.setPlaceholderText("digits, from Settings → Organization Profile")
        self.client_id = QLineEdit()
        self.client_id.setPlaceholderText("1000.XXXX from the Zoho API console")
        self.client_secret = secret_edit("client secret")
        self.grant = QRadioButton("Grant code")
        self.refresh_token = QRadioButton("Refresh token")
        self.grant.setChecked(True)
        self.token = secret_edit("paste the Self Client grant code (used once)")
        self.form.addRow("Data centre:", self.data_centre)
        self.form.addRow("Organization id:", self.org_id)
        self.form.addRow("Client id:", self.client_id)
        self.form.addRow("Client secret:", self.client_secret)
        self.form.addRow("Authorise with:", radio_row(self.grant, self.refresh_token))
        self.form.addRow("Code or token:", self.token)

    def problem(self) -> str | None:
        if not self.org_id.text().strip().isdigit():
            return "The organization id is the number shown under Settings → Organization Profile."
        if not self.client_id.text().strip() or not self.client_secret.text().strip():
            return "Enter the OAuth client id and client secret from the Zoho API console."
        if not self.token.text().strip():
            return "Paste a grant code or a refresh token."
        return None

    def settings_and_secret(self) -> tuple[dict[str, Any], str | ZohoGrant]:
        settings: dict[str, Any] = {
            "org_id": self.org_id.text().strip(),
            "data_centre": self.data_centre.currentData(),
        }
        client_id = self.client_id.text().strip()
        client_secret = self.client_secret.text().strip()
        token = self.token.text().strip()
        if self.grant.isChecked():
            return settings, ZohoGrant(client_id, client_secret, token)
        return settings, json.dumps(
            {"client_id": client_id, "client_secret": client_secret, "refresh_token": token}
        )

    def load(self, settings: dict[str, Any]) -> None:
        self.org_id.setText(str(settings.get("org_id", "")))
        index = self.data_centre.findData(settings.get("data_centre"))
        self.data_centre.setCurrentIndex(max(index, 0))

    def refresh(self) -> None:
        self.token.setPlaceholderText(
            "paste the Self Client grant code (used once)"
            if self.grant.isChecked()
            else "paste the refresh token"
        )


class FormStack(QStackedWidget):
    """A stack of forms that is as tall as the form it shows, not as its tallest form."""

    def __init__(self) -> None:
        super().__init__()
        self.currentChanged.connect(lambda _index: self.updateGeometry())

    def sizeHint(self) -> QSize:
        current = self.currentWidget()
        return current.sizeHint() if current is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:
        current = self.currentWidget()
        return current.minimumSizeHint() if current is not None else super().minimumSizeHint()
