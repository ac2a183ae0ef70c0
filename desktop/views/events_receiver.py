"""Running the webhook receiver while the app is open: a controller and its Settings toggle.

:class:`ReceiverController` owns at most one running
:class:`~desktop.webhooks.service.WebhookReceiverService` (Qt-free) and remembers in the
window settings whether it should run and on which port, so it starts again with the app.
:class:`ReceiverToggle` is the *Run webhook receiver* row the Settings page shows.

A ``billbridge serve`` on the same database can run at the same time: each event is
stored once and applied once whichever process receives or applies it.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.errors import BillbridgeError
from desktop.secrets import SecretStore
from desktop.storage.database import Database
from desktop.timeutil import Clock
from desktop.views.page import Page
from desktop.webhooks.service import DEFAULT_PORT, WebhookReceiverService

log = logging.getLogger(__name__)

RUN_KEY = "webhooks/run"
PORT_KEY = "webhooks/port"


class ReceiverController(QObject):
    """Starts and stops the in-app webhook receiver.

    Signals:
        changed(): the receiver started, stopped or failed to start (see :attr:`state`).
    """

    changed = Signal()

    def __init__(
        self,
        database: Database,
        secrets: SecretStore,
        clock: Clock,
        settings: QSettings,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._database = database
        self._secrets = secrets
        self._clock = clock
        self._settings = settings
        self._service: WebhookReceiverService | None = None
        self.error: str | None = None

    @property
    def running(self) -> bool:
        """Whether the receiver is listening."""
        return self._service is not None

    @property
    def url(self) -> str | None:
        """Where it listens, while it runs."""
        return self._service.url if self._service is not None else None

    @property
    def port(self) -> int:
        """The port it uses (remembered between runs)."""
        value = self._settings.value(PORT_KEY, DEFAULT_PORT)
        try:
            port = int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return DEFAULT_PORT
        return port if 1 <= port <= 65535 else DEFAULT_PORT

    @property
    def state(self) -> str:
        """A sentence saying what the receiver is doing."""
        if self._service is not None:
            return f"Listening on {self._service.url} (this computer only)."
        if self.error:
            return self.error
        return "Not running. Zoho Billing events reach this workspace only while it runs."

    def restore(self) -> None:
        """Starts the receiver if it was running when the app last closed."""
        if str(self._settings.value(RUN_KEY, "false")).lower() == "true":
            self.start(self.port)

    def start(self, port: int) -> bool:
        """Starts listening on 127.0.0.1:``port``; returns whether it worked."""
        self.stop(remember=False)
        self._settings.setValue(PORT_KEY, port)
        try:
            service = WebhookReceiverService(
                self._database, self._secrets, self._clock, host="127.0.0.1", port=port
            )
            service.start()
        except OSError as error:
            self.error = (
                f"The webhook receiver cannot listen on port {port} "
                f"({error.strerror or 'refused'}); choose another port."
            )
            self._settings.setValue(RUN_KEY, "false")
            self.changed.emit()
            return False
        except BillbridgeError as error:
            self.error = str(error)
            self.changed.emit()
            return False
        self._service = service
        self.error = None
        self._settings.setValue(RUN_KEY, "true")
        self.changed.emit()
        return True

    def stop(self, *, remember: bool = True) -> None:
        """Stops listening (events not applied yet stay stored for the next start)."""
        service, self._service = self._service, None
        if service is not None:
            service.stop()
            if remember:
                self._settings.setValue(RUN_KEY, "false")
            self.changed.emit()

    def shutdown(self) -> None:
        """Stops on quit, remembering that it should run next time."""
        service, self._service = self._service, None
        if service is not None:
            service.stop()


class ReceiverToggle(QWidget):
    """*Run webhook receiver* with its port and a line saying what it is doing."""

    def __init__(self, controller: ReceiverController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        row = QHBoxLayout()
        self.checkbox = QCheckBox("Run webhook receiver while Billbridge is open, on port")
        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setValue(controller.port)
        self.port.setAccessibleName("Webhook receiver port")
        row.addWidget(self.checkbox)
        row.addWidget(self.port)
        row.addStretch(1)
        layout.addLayout(row)
        self.status = QLabel()
        self.status.setObjectName("pageSubtitle")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        hint = QLabel(
            "Create a receiver with 'billbridge webhook create NAME'; for events from the "
            "internet run 'billbridge serve' behind a TLS proxy instead."
        )
        hint.setObjectName("pageSubtitle")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.checkbox.toggled.connect(self._toggled)
        controller.changed.connect(self._show)
        self._show()

    def attach_to(self, page: Page) -> ReceiverToggle:
        """Adds this row to the end of a page's content (above its closing stretch)."""
        layout = page.body
        last = layout.itemAt(layout.count() - 1)
        position = layout.count() - 1 if last is not None and last.spacerItem() else layout.count()
        layout.insertWidget(position, self)
        return self

    def _toggled(self, on: bool) -> None:
        if on and not self._controller.running:
            self._controller.start(self.port.value())
        elif not on and self._controller.running:
            self._controller.stop()

    def _show(self) -> None:
        running = self._controller.running
        self.checkbox.blockSignals(True)
        self.checkbox.setChecked(running)
        self.checkbox.blockSignals(False)
        self.port.setEnabled(not running)
        self.status.setText(self._controller.state)
