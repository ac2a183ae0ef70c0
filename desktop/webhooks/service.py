"""The running receiver: HTTP server, event writer and applier, started and stopped together.

Used by ``billbridge serve`` and by the app's *Run webhook receiver* setting::

    receiver = WebhookReceiverService(database, secrets, clock, host="127.0.0.1", port=8765)
    receiver.start()
    ...
    receiver.stop()   # stops taking requests, stores what was accepted, ends the applier
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

from desktop.secrets import SecretStore
from desktop.storage.database import Database
from desktop.timeutil import Clock
from desktop.webhooks.applier import AfterApply, EventApplier, alert_hook
from desktop.webhooks.http import MAX_BODY, ReceiverServer, WebhookEndpoint
from desktop.webhooks.receivers import ReceiverDirectory
from desktop.webhooks.store import EventWriter

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765


class WebhookReceiverService:
    """A webhook receiver serving one workspace.

    Args:
        database: the workspace.
        secrets: where receiver tokens are kept.
        clock: the clock.
        host: the address to listen on (``127.0.0.1`` unless told otherwise; put a TLS
            reverse proxy in front to take events from the internet).
        port: the port (0 picks a free one).
        environ: environment variables that may hold receiver tokens (default: this
            process's environment).
        after_apply: run once after each run of applied events; default: the health
            core's risk-alert evaluation when it exists.
        apply: whether this process applies events (a second process may only store).
        max_body: the body size limit in bytes.
    """

    def __init__(
        self,
        database: Database,
        secrets: SecretStore,
        clock: Clock,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        environ: Mapping[str, str] | None = None,
        after_apply: AfterApply | None = None,
        apply: bool = True,
        max_body: int = MAX_BODY,
    ) -> None:
        lock = threading.Lock()
        self.directory = ReceiverDirectory(
            database, secrets, environ=os.environ if environ is None else environ
        )
        self.applier: EventApplier | None = None
        if apply:
            self.applier = EventApplier(
                database,
                clock,
                write_lock=lock,
                after_apply=after_apply if after_apply is not None else alert_hook(database, clock),
            )
        self.writer = EventWriter(
            database,
            clock,
            write_lock=lock,
            on_stored=self.applier.wake if self.applier is not None else None,
        )
        endpoint = WebhookEndpoint(self.directory.get, self.writer.store_async, max_body=max_body)
        self.server = ReceiverServer(endpoint, host, port)
        self._running = False

    @property
    def url(self) -> str:
        """The base URL it listens on."""
        return self.server.url

    @property
    def running(self) -> bool:
        """Whether it has been started and not stopped."""
        return self._running

    def start(self) -> None:
        """Starts the writer, the applier and the HTTP server."""
        self.writer.start()
        if self.applier is not None:
            self.applier.start()
        self.server.start()
        self._running = True
        log.info("Webhook receiver listening on %s", self.url)

    def stop(self) -> None:
        """Stops taking requests, stores those already accepted, and stops applying.

        The event being applied is finished; events not applied yet stay stored as
        ``received`` and are applied by the next applier that starts on this workspace.
        """
        if not self._running:
            self.server.stop()
            return
        self._running = False
        self.server.stop()
        self.writer.stop()
        if self.applier is not None:
            self.applier.stop()
        log.info("Webhook receiver stopped")
