"""The running receiver: HTTP server, event writer and applier, started and stopped together.

Used by ``billbridge serve`` and by the app's *Run webhook receiver* setting::

    receiver = WebhookReceiverService(database, secrets, clock, host="127.0.0.1", port=8765)
    receiver.start()
    ...
    receiver.stop()   # stops taking requests, stores what was accepted, ends the applier
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from desktop.secrets import SecretStore
from desktop.storage.database import Database, open_database
from desktop.timeutil import Clock, utc_now
from desktop.webhooks.applier import AfterApply, EventApplier, alert_hook
from desktop.webhooks.http import MAX_BODY, ReceiverServer, WebhookEndpoint
from desktop.webhooks.receivers import ReceiverDirectory
from desktop.webhooks.store import EventWriter
from desktop.webhooks.turns import ProcessFlag, WriteTurns

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
#: How long an applier process whose parent is gone may take to stop before it ends itself.
ORPHAN_GRACE: Final[float] = 5.0
#: How often the receiver looks whether its applier process died (seconds).
RESTART_CHECK: Final[float] = 1.0
#: A child that lived less than this is restarted after a doubling delay, at most this.
RESTART_BACKOFF_MAX: Final[float] = 60.0


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
        apply: where stored events are applied: ``"thread"`` (in this process, the app's
            choice), ``"process"`` (a separate process started and stopped with the
            receiver, so applying never competes with answering for the interpreter
            lock — ``billbridge serve``'s choice) or ``"none"`` (another process applies).
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
        apply: str = "thread",
        max_body: int = MAX_BODY,
    ) -> None:
        if apply not in ("thread", "process", "none"):
            raise ValueError(apply)
        turns = WriteTurns(enabled=database.dialect == "sqlite", processes=apply == "process")
        self.turns = turns
        self.directory = ReceiverDirectory(
            database, secrets, environ=os.environ if environ is None else environ
        )
        self.applier: EventApplier | None = None
        self.applier_process: ApplierProcess | None = None
        on_stored: Callable[[], None] | None = None
        if apply == "thread":
            self.applier = EventApplier(
                database,
                clock,
                turns=turns,
                after_apply=after_apply if after_apply is not None else alert_hook(database, clock),
            )
            on_stored = self.applier.wake
        elif apply == "process":
            self.applier_process = ApplierProcess(database, turns)
            on_stored = self.applier_process.wake
        self.writer = EventWriter(database, clock, turns=turns, on_stored=on_stored)
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
        if self.applier_process is not None:
            self.applier_process.start()
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
        if self.applier_process is not None:
            self.applier_process.stop()
        log.info("Webhook receiver stopped")


class ApplierProcess:
    """An :class:`EventApplier` in a child process (spawned, lower priority).

    The child opens the workspace itself, applies what is waiting, then applies on each
    wake (the writer wakes it after storing) or poll, and evaluates risk alerts after
    each run. Stopping finishes the event being applied; a child that does not stop in
    time is terminated — its open transaction rolls back and the event stays waiting.

    A child that dies on its own (the OOM killer, SIGKILL) is started again: a watch
    thread looks every :data:`RESTART_CHECK` seconds, logs it and starts a new child,
    which applies what waits (the dead one's open transaction rolled back, so nothing is
    applied twice). A child that keeps dying young is restarted less and less often, at
    most every :data:`RESTART_BACKOFF_MAX` seconds. Should it have died holding the
    write turn, the receiver's writer takes the turn over (see
    :mod:`desktop.webhooks.turns`). Wake and stop are :class:`ProcessFlag` objects, which a
    child killed while waiting on them cannot wedge.

    A parent killed with SIGKILL cannot say stop: the child notices that its parent is
    gone, stops by itself, and if it is still there :data:`ORPHAN_GRACE` seconds later
    (waiting for something the dead parent held) ends at once — its open transaction
    rolls back the same way, and the next receiver on the workspace applies what waits.
    """

    def __init__(self, database: Database, turns: WriteTurns) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._url = database.url.render_as_string(hide_password=False)
        self._turns = turns
        self._wake = ProcessFlag()
        self._stop = ProcessFlag()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._started_at = 0.0
        self._restarts = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        """Starts the child, and the watch that restarts it should it die."""
        with self._lock:
            if self._process is not None:
                return
            self._stop.clear()
            self._closing.clear()
            self._spawn()
        self._watch = threading.Thread(
            target=self._restart_when_dead, name="webhook-applier-watch", daemon=True
        )
        self._watch.start()

    def _spawn(self) -> None:
        """Starts a child (the caller holds ``_lock``)."""
        process = self._context.Process(
            target=_apply_in_child,
            args=(self._url, self._turns, self._wake, self._stop, os.getpid()),
            name="webhook-applier",
            daemon=True,
        )
        process.start()
        self._process = process
        self._started_at = time.monotonic()

    def _restart_when_dead(self) -> None:
        delay = RESTART_CHECK
        while not self._closing.wait(delay):
            with self._lock:
                process = self._process
                if process is None or self._closing.is_set():
                    return
                if process.is_alive():  # also reaps a dead child
                    delay = RESTART_CHECK
                    continue
                young = time.monotonic() - self._started_at < RESTART_BACKOFF_MAX
                log.warning(
                    "The webhook applier process %s ended unexpectedly (exit code %s); "
                    "starting a new one",
                    process.pid,
                    process.exitcode,
                )
                self._restarts += 1
                self._spawn()
            delay = min(2 * delay, RESTART_BACKOFF_MAX) if young else RESTART_CHECK
            self._wake.set()

    def wake(self) -> None:
        """Asks the child to look for new events now."""
        self._wake.set()

    @property
    def pid(self) -> int | None:
        """The child's process id, once started."""
        process = self._process
        return None if process is None else process.pid

    @property
    def alive(self) -> bool:
        """Whether the child is running."""
        process = self._process
        return process is not None and process.is_alive()

    @property
    def restarts(self) -> int:
        """How many times a child that died was started again."""
        return self._restarts

    def stop(self, timeout: float = 15.0) -> None:
        """Asks the child to stop and waits; terminates it if it does not."""
        self._closing.set()
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.join()
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        self._stop.set()
        self._wake.set()
        process.join(timeout)
        if process.is_alive():
            log.warning("The webhook applier did not stop in time; terminating it")
            process.terminate()
            process.join(5)


def watch_parent(
    parent: int,
    stop: Any,
    wake: Any,
    *,
    grace: float = ORPHAN_GRACE,
    interval: float = 0.5,
    end: Callable[[int], object] = os._exit,
) -> None:
    """Waits until ``parent`` is no longer this process's parent, then stops this process.

    Asks the applier to stop (``stop`` and ``wake`` set) and, should the process still be
    running ``grace`` seconds later, ends it with ``end(1)`` (:func:`os._exit`): what a
    stuck applier had open rolls back, so no event is lost or applied twice. The timer
    starts before the events are set, as setting them may itself wait for a lock the dead
    parent held.
    """
    while os.getppid() == parent:
        time.sleep(interval)
    log.warning("The webhook receiver process is gone; its applier process stops")
    ender = threading.Timer(grace, end, args=(1,))
    ender.daemon = True
    ender.start()
    stop.set()
    wake.set()


def _apply_in_child(url: str, turns: WriteTurns, wake: Any, stop: Any, parent: int) -> None:
    """The applier process: applies events until ``stop`` is set or ``parent`` is gone."""
    with contextlib.suppress(OSError):
        os.nice(5)  # answering requests comes first
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    threading.Thread(
        target=watch_parent, args=(parent, stop, wake), name="parent-watch", daemon=True
    ).start()
    database = open_database(url, migrate=False)
    try:
        applier = EventApplier(
            database, utc_now, turns=turns, after_apply=alert_hook(database, utc_now)
        )
        applier.run_until(stop, wake)
    finally:
        database.close()
