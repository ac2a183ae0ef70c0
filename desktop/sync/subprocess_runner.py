"""Runs a sync, or the fetch of one account, in a child Python process (Qt-free).

Why: the sync engine parses JSON and builds SQLAlchemy statements in Python. Run on a
thread of the desktop app, it competes with the window's main thread for the GIL, and
every call from Qt into Python (a timer, a paint asking a model for data) waits for it:
the window stalls for hundreds of milliseconds. In a child process the sync has its own
interpreter and the window keeps its GIL; the child also lowers its CPU priority
(:data:`CHILD_NICENESS`), so on a busy machine the window gets a core first.

Usage (from a job function; it blocks until the child ends)::

    runner = SubprocessSyncRunner(database, secrets)
    summary = runner.run(connection_id, trigger="manual", context=context)
    summary = runner.fetch_account(connection_id, "cus_123", context=context)

It behaves like :class:`~desktop.sync.engine.SyncEngine`: it returns the same
:class:`~desktop.sync.engine.RunSummary`, raises the same sentences
(:class:`~desktop.jobs.Cancelled`, :class:`~desktop.sync.base.SyncFailure` …), reports
progress through the :class:`~desktop.jobs.JobContext` and stops when its cancel token
is set. The child takes the connection's lock itself, so the lock table shows who runs.

The protocol, one JSON object per line:

* parent → child (stdin): first the request ``{"action": "sync" | "fetch", "db": URL,
  "connection": id, "full": bool, "trigger": str, "source_id": str | null, "secret":
  str | null, "after_run": bool}``, then ``{"cancel": true}`` to cancel. End of input
  also cancels (the parent went away). The database URL and the secret travel only
  here: never in the child's arguments or environment, where other users of the machine
  could read them.
* child → parent (stdout): ``{"progress": {"done", "total", "message"}}`` (at most about
  ten a second), then exactly one of ``{"summary": {...}}`` or ``{"error": {"type",
  "message", "exit_code"}}``. The child's log goes to stderr, which the parent copies
  into its own log.

Cancelling is cooperative, as in the engine (checked between pages; the page and its
cursor are committed together, and the run is recorded as cancelled). If the child does
not stop within ``cancel_grace`` seconds it is sent SIGTERM (also a cooperative cancel in
the child; a second SIGTERM ends it at once), then SIGKILL: a killed run is closed as
interrupted by the next run, which resumes from the last committed page.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

from desktop.errors import (
    BillbridgeError,
    ConfigurationError,
    NotFoundError,
    SecretStoreError,
    WorkspaceError,
)
from desktop.jobs import Cancelled, CancelToken, JobContext, Progress
from desktop.secrets import MemorySecretStore, SecretStore
from desktop.storage.database import Database, open_database
from desktop.sync.base import (
    AuthorisationError,
    SourceResponseError,
    SourceUnreachable,
    SyncFailure,
)
from desktop.sync.engine import AfterRun, RunSummary, SyncEngine

log = logging.getLogger(__name__)

#: The module the child runs (``python -m``).
CHILD_MODULE: Final = "desktop.sync.subprocess_runner"
#: Seconds between two progress lines from the child.
PROGRESS_INTERVAL: Final = 0.1
#: How much the child lowers its CPU priority, so the window wins when cores are scarce.
CHILD_NICENESS: Final = 10

#: Error types the parent raises again as themselves; any other becomes a SyncFailure.
_ERRORS: Final[dict[str, type[BillbridgeError]]] = {
    cls.__name__: cls
    for cls in (
        Cancelled,
        NotFoundError,
        ConfigurationError,
        WorkspaceError,
        SecretStoreError,
        AuthorisationError,
        SourceUnreachable,
        SourceResponseError,
        SyncFailure,
    )
}


def runs_out_of_process(database: Database) -> bool:
    """Whether a child process can open this workspace (an in-memory SQLite cannot)."""
    url = database.url
    return not (url.drivername.startswith("sqlite") and url.database in (None, "", ":memory:"))


# ---------------------------------------------------------------------- parent


class SubprocessSyncRunner:
    """Runs engine work in a child process (see the module docstring).

    Args:
        database: the workspace (the child opens the same URL).
        secrets: where the parent reads a connection's secret to hand to the child.
        python: the interpreter for the child (default: this one).
        cancel_grace: seconds a cancelled child gets to stop before SIGTERM.
        terminate_grace: seconds after SIGTERM before SIGKILL.
        after_run: whether the child runs the after-sync hook of ``billbridge sync``
            (recompute health, evaluate alerts) after each finished run, as the app's
            engine does; that work then stays out of the window's process too.
    """

    def __init__(
        self,
        database: Database,
        secrets: SecretStore,
        *,
        python: str | None = None,
        cancel_grace: float = 30.0,
        terminate_grace: float = 5.0,
        after_run: bool = True,
    ) -> None:
        if not runs_out_of_process(database):
            raise ConfigurationError(
                "An in-memory workspace cannot be synced in a separate process."
            )
        self.database = database
        self.secrets = secrets
        self.python = python or sys.executable
        self.cancel_grace = cancel_grace
        self.terminate_grace = terminate_grace
        self.after_run = after_run
        #: The running children, by connection id (tests look at them).
        self.children: dict[int, subprocess.Popen[bytes]] = {}

    def run(
        self,
        connection: int | str,
        *,
        full: bool = False,
        trigger: str = "manual",
        context: JobContext | None = None,
    ) -> RunSummary:
        """Syncs one connection in a child process; like :meth:`SyncEngine.run`."""
        return self._call("sync", connection, context, full=full, trigger=trigger)

    def fetch_account(
        self,
        connection: int | str,
        source_id: str,
        *,
        trigger: str = "fetch",
        context: JobContext | None = None,
    ) -> RunSummary:
        """Refreshes one account in a child process; like :meth:`SyncEngine.fetch_account`."""
        return self._call("fetch", connection, context, trigger=trigger, source_id=source_id)

    # ------------------------------------------------------------------ internals

    def _call(
        self,
        action: str,
        connection: int | str,
        context: JobContext | None,
        *,
        trigger: str,
        full: bool = False,
        source_id: str | None = None,
    ) -> RunSummary:
        context = context or JobContext()
        context.cancel.raise_if_cancelled()
        row = SyncEngine(self.database, self.secrets).connection(connection)
        request = {
            "action": action,
            "db": self.database.url.render_as_string(hide_password=False),
            "connection": row.id,
            "full": full,
            "trigger": trigger,
            "source_id": source_id,
            "secret": self.secrets.read(row.secret_ref),
            "after_run": self.after_run,
        }
        child = subprocess.Popen(
            [self.python, "-m", CHILD_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=_package_root(),
            env=_child_environment(),
        )
        assert child.stdin is not None
        assert child.stdout is not None
        assert child.stderr is not None
        self.children[row.id] = child
        stopper = _Stopper(child, context.cancel, self.cancel_grace, self.terminate_grace)
        copier = threading.Thread(
            target=_copy_log, args=(child.stderr, row.name), name="sync-child-log", daemon=True
        )
        copier.start()
        try:
            with contextlib.suppress(OSError):  # a child that died at once says why on stdout
                _send(child.stdin, request)
            stopper.start()
            outcome = _read_outcome(child.stdout, context)
            code = child.wait()
        finally:
            stopper.finish()
            if child.poll() is None:  # the reader failed: do not leave the child behind
                child.kill()
                child.wait()
            copier.join(timeout=5)
            with contextlib.suppress(OSError):
                child.stdin.close()
            child.stdout.close()
            self.children.pop(row.id, None)
        return _result(outcome, code, row.name, stopper.stopped)


def _package_root() -> str:
    """The folder holding the ``desktop`` package (so ``-m`` finds it uninstalled)."""
    return str(Path(__file__).resolve().parents[2])


def _child_environment() -> dict[str, str]:
    """This process's environment, with the package importable and output unbuffered."""
    env = dict(os.environ)
    root = _package_root()
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = root + (os.pathsep + existing if existing else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _send(stream: IO[bytes], message: dict[str, Any]) -> None:
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()


def _copy_log(stream: IO[bytes], name: str) -> None:
    """Copies the child's log lines (stderr) into this process's log."""
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            log.warning("sync process of %s: %s", name, line)
    stream.close()


def _read_outcome(stream: IO[bytes], context: JobContext) -> dict[str, Any] | None:
    """Forwards progress lines; returns the last line (summary or error), if any."""
    outcome: dict[str, Any] | None = None
    for raw in stream:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("sync process wrote an unreadable line (%d bytes)", len(raw))
            continue
        if not isinstance(message, dict):
            continue
        progress = message.get("progress")
        if isinstance(progress, dict):
            context.progress(
                int(progress.get("done") or 0),
                progress.get("total"),
                str(progress.get("message") or ""),
            )
        elif "summary" in message or "error" in message:
            outcome = message
    return outcome


def _result(outcome: dict[str, Any] | None, code: int, name: str, stopped: bool) -> RunSummary:
    """The child's summary, or its error raised again as the same kind of sentence."""
    if outcome is not None and isinstance(outcome.get("summary"), dict):
        return summary_from_json(outcome["summary"])
    if outcome is not None and isinstance(outcome.get("error"), dict):
        error = outcome["error"]
        kind = _ERRORS.get(str(error.get("type")), SyncFailure)
        message = str(error.get("message") or "")
        if kind is Cancelled:
            raise Cancelled(message or "Cancelled.")
        raised = kind(message)
        raised.exit_code = int(error.get("exit_code") or raised.exit_code)
        raise raised
    if stopped:
        raise Cancelled()
    raise SyncFailure(
        f"The sync of {name} stopped unexpectedly (its process ended with code {code}); "
        "what was written is kept. See the log."
    )


class _Stopper:
    """Watches the cancel token: asks the child to stop, then SIGTERM, then SIGKILL."""

    def __init__(
        self,
        child: subprocess.Popen[bytes],
        token: CancelToken,
        cancel_grace: float,
        terminate_grace: float,
    ) -> None:
        self.child = child
        self.token = token
        self.cancel_grace = cancel_grace
        self.terminate_grace = terminate_grace
        self.stopped = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sync-child-cancel", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self.token.wait(0.1):
            if self._done.is_set():
                return
        if self._done.is_set():
            return
        self.stopped = True
        assert self.child.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            _send(self.child.stdin, {"cancel": True})
        if self._done.wait(self.cancel_grace):
            return
        self._signal(signal.SIGTERM)  # a cooperative cancel too, in case stdin is stuck
        if self._done.wait(self.terminate_grace):
            return
        self._signal(signal.SIGKILL)

    def _signal(self, signal_number: signal.Signals) -> None:
        if self.child.poll() is not None:
            return
        log.warning(
            "the sync process %d did not stop when cancelled; sending %s",
            self.child.pid,
            signal_number.name,
        )
        with contextlib.suppress(OSError):
            self.child.send_signal(signal_number)


def summary_to_json(summary: RunSummary) -> dict[str, Any]:
    """A run summary as JSON-ready values (times as ISO 8601)."""
    values = asdict(summary)
    for key in ("started_at", "finished_at"):
        stamp = values.get(key)
        values[key] = stamp.isoformat() if isinstance(stamp, datetime) else None
    return values


def summary_from_json(values: dict[str, Any]) -> RunSummary:
    """The inverse of :func:`summary_to_json` (unknown keys are ignored)."""
    known = {f.name for f in fields(RunSummary)}
    data = {k: v for k, v in values.items() if k in known}
    for key in ("started_at", "finished_at"):
        if isinstance(data.get(key), str):
            data[key] = datetime.fromisoformat(data[key])
    return RunSummary(**data)


# ---------------------------------------------------------------------- child


class _Channel:
    """The child's side of the protocol: JSON lines on the saved standard output."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._last = 0.0
        self._pending: Progress | None = None

    def send(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._stream.write(json.dumps(message, ensure_ascii=False) + "\n")
            self._stream.flush()

    def progress(self, progress: Progress) -> None:
        """Sends progress at most every :data:`PROGRESS_INTERVAL` seconds."""
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL:
            self._pending = progress
            return
        self._last = now
        self._pending = None
        self._send_progress(progress)

    def flush_progress(self) -> None:
        """Sends the last report held back by the throttle."""
        if self._pending is not None:
            self._send_progress(self._pending)
            self._pending = None

    def _send_progress(self, progress: Progress) -> None:
        self.send(
            {
                "progress": {
                    "done": progress.done,
                    "total": progress.total,
                    "message": progress.message,
                }
            }
        )


def _listen_for_cancel(stream: IO[str], token: CancelToken) -> None:
    """Cancels on ``{"cancel": true}`` or at the end of input (the parent is gone)."""
    for line in stream:
        with contextlib.suppress(ValueError):
            if json.loads(line).get("cancel"):
                break
    token.cancel()


def _cancel_on_sigterm(token: CancelToken) -> None:
    """First SIGTERM cancels cooperatively; a second one ends the process at once."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        if token.cancelled:
            os._exit(143)
        token.cancel()

    signal.signal(signal.SIGTERM, handler)


def child_main(
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    open_db: Callable[[str], Database] | None = None,
) -> int:
    """The child's entry point: reads one request, runs it, reports; returns the exit code."""
    stdin = stdin or sys.stdin
    if stdout is None:
        # The protocol keeps the real standard output; anything else printed goes to stderr.
        stdout = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        with contextlib.suppress(OSError, AttributeError):  # not on every platform
            os.nice(CHILD_NICENESS)
    channel = _Channel(stdout)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        request = json.loads(stdin.readline() or "{}")
    except ValueError:
        request = {}
    if not isinstance(request, dict) or request.get("action") not in ("sync", "fetch"):
        channel.send(_error_line(ConfigurationError("The sync process got no request.")))
        return 2
    token = CancelToken()
    threading.Thread(
        target=_listen_for_cancel, args=(stdin, token), name="cancel", daemon=True
    ).start()
    if threading.current_thread() is threading.main_thread():
        _cancel_on_sigterm(token)
    context = JobContext(progress_callback=channel.progress, cancel=token)
    database: Database | None = None
    try:
        database = (open_db or _open)(str(request["db"]))
        engine = SyncEngine(database, MemorySecretStore(), after_run=_hook(request, database))
        secret = request.get("secret")
        if request["action"] == "sync":
            summary = engine.run(
                int(request["connection"]),
                full=bool(request.get("full")),
                trigger=str(request.get("trigger") or "manual"),
                context=context,
                secret_override=secret,
            )
        else:
            summary = engine.fetch_account(
                int(request["connection"]),
                str(request["source_id"]),
                trigger=str(request.get("trigger") or "fetch"),
                context=context,
                secret_override=secret,
            )
    except BillbridgeError as error:
        channel.flush_progress()
        channel.send(_error_line(error))
        return error.exit_code
    except Exception as error:
        logging.getLogger(__name__).exception("the sync process failed")
        channel.send(
            {
                "error": {
                    "type": "unexpected",
                    "message": f"The sync stopped on an unexpected error "
                    f"({type(error).__name__}); what was written is kept. See the log.",
                    "exit_code": 2,
                }
            }
        )
        return 2
    finally:
        if database is not None:
            database.close()
    channel.flush_progress()
    channel.send({"summary": summary_to_json(summary)})
    return 0


def _hook(request: dict[str, Any], database: Database) -> AfterRun | None:
    """The after-sync hook the parent's engine has (health and alerts), if asked for."""
    if not request.get("after_run"):
        return None
    from desktop.health.after_sync import after_sync_hook

    return after_sync_hook(database)


def _open(url: str) -> Database:
    # The app opened (and migrated) this workspace before starting the child.
    return open_database(url, migrate=False)


def _error_line(error: BillbridgeError) -> dict[str, Any]:
    return {
        "error": {
            "type": type(error).__name__,
            "message": str(error),
            "exit_code": error.exit_code,
        }
    }


if __name__ == "__main__":
    sys.exit(child_main())
