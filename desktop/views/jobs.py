"""The one background job runner every long task in the app goes through.

Usage::

    handle = runner.run(
        lambda ctx: engine.sync(connection_id, ctx),
        title="Syncing Acme",
        key=f"sync:{connection_id}",  # at most one job per key
        on_success=show_summary,
    )
    handle.progressed.connect(bar.update)   # Progress objects, throttled to ~10/s
    handle.cancel()                         # cooperative: checked between pages

The function runs on a worker thread and gets a :class:`~desktop.jobs.JobContext`; it
must not touch widgets. Results, progress and errors come back to the GUI thread as
queued signals. Errors are routed to one place (:attr:`JobRunner.error`) as sentences;
unexpected exceptions are logged with their traceback and shown as a sentence only.
Every finished job emits :attr:`JobRunner.data_changed` so views refresh.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from desktop.errors import BillbridgeError
from desktop.jobs import Cancelled, CancelToken, JobContext, Progress

log = logging.getLogger(__name__)

#: How much the app's worker threads (jobs, reads) lower their CPU priority, so that on a
#: busy machine the window's thread gets a core first (Linux: niceness is per thread).
WORKER_NICENESS = 5


def lower_thread_priority(step: int = WORKER_NICENESS) -> None:
    """Lowers the calling thread's CPU priority (a thread-pool initializer; Linux only)."""
    if not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError):  # a platform or sandbox may refuse: not an error
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + step))


JobFunction = Callable[[JobContext], Any]


class JobHandle(QObject):
    """A running job as the GUI sees it.

    Signals:
        progressed(Progress): throttled progress reports.
        succeeded(object): the function's return value.
        failed(str): a sentence saying what went wrong.
        cancelled(): the job stopped because cancel was asked for.
        finished(): emitted last, whatever the outcome.
    """

    progressed = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()
    _completed = Signal(str, object)  # outcome, payload — emitted from the worker thread

    def __init__(self, title: str, key: str | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.key = key
        self.token = CancelToken()
        self.last_progress: Progress | None = None
        self.started_at = time.monotonic()
        self.outcome: str | None = None
        self._pending: Progress | None = None
        self._lock = threading.Lock()
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._flush_progress)
        self._on_completed: Callable[[str, Any], None] | None = None
        # Delivered to a decorated slot of this object (it lives on the GUI thread), not
        # to a bare lambda: PySide6 crashed now and then delivering a worker thread's
        # emit to a context-less lambda while the GUI thread was tearing widgets down.
        self._completed.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def cancelling(self) -> bool:
        """Whether cancel was asked for and the job has not stopped yet."""
        return self.token.cancelled and self.outcome is None

    def cancel(self) -> None:
        """Asks the job to stop at its next check (between pages or batches)."""
        self.token.cancel()

    def _report(self, progress: Progress) -> None:
        # Worker thread: keep only the latest report; the GUI timer picks it up.
        with self._lock:
            self._pending = progress

    @Slot(str, object)
    def _deliver(self, outcome: str, payload: Any) -> None:
        if self._on_completed is not None:
            self._on_completed(outcome, payload)

    @Slot()
    def _flush_progress(self) -> None:
        with self._lock:
            progress, self._pending = self._pending, None
        if progress is not None:
            self.last_progress = progress
            self.progressed.emit(progress)


class JobRunner(QObject):
    """Runs functions on background threads and reports back on the GUI thread.

    Signals:
        job_started(JobHandle): a job began.
        job_finished(JobHandle): a job ended (any outcome).
        data_changed(str): a job finished that may have changed stored data (its title).
        error(str, str): a job failed: (title, sentence). Shown once by the main window.
    """

    job_started = Signal(object)
    job_finished = Signal(object)
    data_changed = Signal(str)
    error = Signal(str, str)

    def __init__(self, max_workers: int = 4, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="job", initializer=lower_thread_priority
        )
        self._jobs: list[JobHandle] = []
        self._closed = False

    def running(self) -> list[JobHandle]:
        """The jobs that have not finished yet."""
        return list(self._jobs)

    def is_running(self, key: str) -> bool:
        """Whether a job with this key is running."""
        return any(job.key == key for job in self._jobs)

    def run(
        self,
        fn: JobFunction,
        *,
        title: str,
        key: str | None = None,
        on_success: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        changes_data: bool = True,
    ) -> JobHandle:
        """Starts ``fn`` in the background and returns its handle.

        Args:
            fn: the work; takes a JobContext, returns a result.
            title: a short phrase naming the job ("Syncing Acme").
            key: jobs with the same key never run at once.
            on_success: called on the GUI thread with the result.
            on_error: called on the GUI thread with the error sentence; when given, the
                runner's :attr:`error` signal is not emitted for this job.
            changes_data: whether to emit :attr:`data_changed` when the job ends.

        Raises:
            BillbridgeError: if a job with the same key is already running or the runner
                has shut down.
        """
        if self._closed:
            raise BillbridgeError("Billbridge is closing; the job was not started.")
        if key is not None and self.is_running(key):
            raise BillbridgeError(f"{title} is already running.")
        handle = JobHandle(title, key, self)
        handle._on_completed = lambda outcome, payload: self._complete(
            handle, outcome, payload, on_success, on_error, changes_data
        )
        self._jobs.append(handle)
        handle._timer.start()
        context = JobContext(progress_callback=handle._report, cancel=handle.token)
        future = self._executor.submit(fn, context)
        future.add_done_callback(lambda done: self._finish_in_worker(handle, done))
        self.job_started.emit(handle)
        return handle

    @staticmethod
    def _finish_in_worker(handle: JobHandle, future: Future[Any]) -> None:
        error = future.exception()
        if error is None:
            handle._completed.emit("ok", future.result())
        elif isinstance(error, Cancelled):
            handle._completed.emit("cancelled", None)
        elif isinstance(error, BillbridgeError):
            handle._completed.emit("error", str(error))
        else:
            log.error("%s failed", handle.title, exc_info=error)
            handle._completed.emit(
                "error",
                f"{handle.title} failed unexpectedly ({type(error).__name__}); the details "
                "are in the log.",
            )

    def _complete(
        self,
        handle: JobHandle,
        outcome: str,
        payload: Any,
        on_success: Callable[[Any], None] | None,
        on_error: Callable[[str], None] | None,
        changes_data: bool,
    ) -> None:
        handle._timer.stop()
        handle._flush_progress()
        handle.outcome = outcome
        if handle in self._jobs:
            self._jobs.remove(handle)
        if outcome == "ok":
            if on_success is not None:
                on_success(payload)
            handle.succeeded.emit(payload)
        elif outcome == "cancelled":
            handle.cancelled.emit()
        else:
            message = str(payload)
            if on_error is not None:
                on_error(message)
            else:
                self.error.emit(handle.title, message)
            handle.failed.emit(message)
        handle.finished.emit()
        self.job_finished.emit(handle)
        if changes_data:
            self.data_changed.emit(handle.title)
        handle.deleteLater()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancels every job, waits for the workers to stop, and refuses new jobs."""
        self._closed = True
        for job in self._jobs:
            job.cancel()
            job._timer.stop()
        deadline = time.monotonic() + timeout
        self._executor.shutdown(wait=False, cancel_futures=True)
        for thread in list(getattr(self._executor, "_threads", ())):
            thread.join(max(0.0, deadline - time.monotonic()))
