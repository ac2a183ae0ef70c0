"""Short read queries off the GUI thread, with their results handed back on it.

Item models ask for pages and details through a :class:`Loader`. Reads are short (tens of
milliseconds) and must never appear as jobs in the status bar, so they do not go through
the job runner (:mod:`desktop.views.jobs`), which is for long, visible, cancellable work.
They run on one dedicated thread, each with its own Session, so a slow aggregate never
blocks the window and never queues behind a sync; the thread runs at a lower CPU
priority than the window's (:func:`~desktop.views.jobs.lower_thread_priority`). A model
that asks again before an answer arrives simply ignores the stale answer (it tags
requests with a generation).

Tests can use :class:`ImmediateLoader`, which runs the query at once on the calling
thread (the STYLE's synchronous fake executor).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from PySide6.QtCore import QObject, Qt, Signal, Slot
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from desktop.errors import BillbridgeError
from desktop.storage.database import Database
from desktop.views.jobs import lower_thread_priority

log = logging.getLogger(__name__)

T = TypeVar("T")
Query = Callable[[Session], T]
ResultCallback = Callable[[Any], None]
ErrorCallback = Callable[[str], None]


class Loader(Protocol):
    """Runs a read query with its own Session and calls back on the GUI thread."""

    def submit(
        self,
        query: Callable[[Session], Any],
        on_result: ResultCallback,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """Runs ``query(session)``; then ``on_result(value)`` or ``on_error(sentence)``."""
        ...


def describe_failure(error: BaseException) -> str:
    """A sentence for a failed read; unexpected errors are logged with their traceback."""
    if isinstance(error, BillbridgeError):
        return str(error)
    if isinstance(error, SQLAlchemyError):
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return f"The workspace database could not be read: {detail}."
    log.error("a read query failed", exc_info=error)
    return f"Reading the workspace failed unexpectedly ({type(error).__name__}); see the log."


class QueryLoader(QObject):
    """Runs read queries on one background thread (see the module docstring).

    Signals:
        failed(str): a query without its own error callback failed (a sentence).
    """

    failed = Signal(str)
    _answered = Signal(object, object, object)  # callback, error callback, (ok, value)

    def __init__(self, database: Database, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._database = database
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="query", initializer=lower_thread_priority
        )
        self._closed = False
        self._answered.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def submit(
        self,
        query: Callable[[Session], Any],
        on_result: ResultCallback,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """Queues ``query``; does nothing once the loader has shut down."""
        if self._closed:
            return
        future = self._executor.submit(self._run, query)
        future.add_done_callback(lambda done: self._finished(done, on_result, on_error))

    def _run(self, query: Callable[[Session], Any]) -> Any:
        with self._database.session() as session:
            return query(session)

    def _finished(
        self, future: Future[Any], on_result: ResultCallback, on_error: ErrorCallback | None
    ) -> None:
        if future.cancelled() or self._closed:
            return
        error = future.exception()
        if error is None:
            self._answered.emit(on_result, on_error, (True, future.result()))
        else:
            self._answered.emit(on_result, on_error, (False, describe_failure(error)))

    @Slot(object, object, object)
    def _deliver(
        self, on_result: ResultCallback, on_error: ErrorCallback | None, outcome: Any
    ) -> None:
        if self._closed:
            return
        ok, value = outcome
        if ok:
            on_result(value)
        elif on_error is not None:
            on_error(value)
        else:
            self.failed.emit(value)

    def shutdown(self) -> None:
        """Drops queued queries and waits for the running one to end."""
        self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)


class ImmediateLoader:
    """Runs queries at once on the calling thread (tests and scripts)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self.errors: list[str] = []

    def submit(
        self,
        query: Callable[[Session], Any],
        on_result: ResultCallback,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """Runs ``query`` now and calls back before returning."""
        try:
            with self._database.session() as session:
                value = query(session)
        except Exception as error:  # routed as a sentence, like QueryLoader
            message = describe_failure(error)
            self.errors.append(message)
            if on_error is not None:
                on_error(message)
            return
        on_result(value)
