"""The headless service: the webhook receiver and the schedules, started and stopped together."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping, Sequence
from types import FrameType

from desktop.jobs import CancelToken
from desktop.secrets import SecretStore
from desktop.serve.schedules import Schedule, ScheduleLoop
from desktop.storage.database import Database
from desktop.timeutil import Clock
from desktop.webhooks.service import WebhookReceiverService

log = logging.getLogger(__name__)


class HeadlessService:
    """What ``billbridge serve`` runs.

    Args:
        database: the workspace.
        secrets: the secret store (receiver tokens, connection secrets).
        clock: the clock.
        host: the receiver's address.
        port: the receiver's port (0 picks a free one).
        schedules: the schedules to run (see :mod:`desktop.serve.schedules`).
        cancel: the token the schedules' runs were given; :meth:`stop` sets it.
        environ: where receiver tokens may be given instead of the keychain.
        schedule_interval: seconds between schedule rounds.
    """

    def __init__(
        self,
        database: Database,
        secrets: SecretStore,
        clock: Clock,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        schedules: Sequence[Schedule] = (),
        cancel: CancelToken | None = None,
        environ: Mapping[str, str] | None = None,
        schedule_interval: float = 60.0,
    ) -> None:
        self.receiver = WebhookReceiverService(
            database, secrets, clock, host=host, port=port, environ=environ, apply="process"
        )
        self.schedules = ScheduleLoop(schedules, clock, cancel=cancel, interval=schedule_interval)
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        """The receiver's base URL."""
        return self.receiver.url

    def start(self) -> None:
        """Starts the receiver, then the schedules."""
        self.receiver.start()
        self.schedules.start()

    def stop(self) -> None:
        """Stops the schedules (cancelling a run in progress) and the receiver."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.schedules.stop()
        self.receiver.stop()

    def serve_until(self, stop: threading.Event) -> None:
        """Runs until ``stop`` is set, then stops cleanly."""
        self.start()
        try:
            while not stop.wait(1.0):
                pass
        finally:
            self.stop()


def stop_on_signals(stop: threading.Event) -> None:
    """Sets ``stop`` on SIGTERM, SIGINT (Ctrl-C) and SIGHUP (main thread only)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("Stopping on signal %s", signal.Signals(signum).name)
        stop.set()

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, handler)
