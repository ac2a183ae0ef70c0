"""The Settings page: what this workspace is and where its secrets live."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from desktop import __version__
from desktop.views.page import Page


class SettingsPage(Page):
    """Shows the workspace database, the secret store and the version."""

    title = "Settings"
    subtitle = "This workspace and how Billbridge keeps its keys."

    def __init__(
        self, workspace: str, secret_store: str, dialect: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        form = QFormLayout()
        self.workspace_label = QLabel(workspace)
        self.workspace_label.setWordWrap(True)
        form.addRow("Workspace database:", self.workspace_label)
        form.addRow(
            "Database kind:",
            QLabel("PostgreSQL (shared)" if dialect == "postgresql" else "SQLite (this computer)"),
        )
        form.addRow("Keys are kept in:", QLabel(secret_store))
        form.addRow("Billbridge version:", QLabel(__version__))
        self.body.addLayout(form)
        self.body.addStretch(1)
