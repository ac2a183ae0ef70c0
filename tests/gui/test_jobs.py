"""The background job runner: results, progress, cancel, error routing, refresh signals."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.errors import BillbridgeError
from desktop.jobs import JobContext, Progress
from desktop.storage.database import open_database
from desktop.views.jobs import JobRunner
from desktop.views.models.loader import QueryLoader


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    jobs = JobRunner()
    yield jobs
    jobs.shutdown()


def test_result_arrives_on_the_gui_thread(qtbot: QtBot, runner: JobRunner) -> None:
    seen: list[tuple[object, bool]] = []
    gui_thread = threading.current_thread()

    def work(_context: JobContext) -> int:
        assert threading.current_thread() is not gui_thread
        return 42

    with qtbot.waitSignal(runner.data_changed, timeout=5000):
        handle = runner.run(
            work,
            title="Answering",
            on_success=lambda value: seen.append((value, threading.current_thread() is gui_thread)),
        )
    assert seen == [(42, True)]
    assert handle.outcome == "ok"
    assert runner.running() == []


def test_progress_is_reported_with_rate(qtbot: QtBot, runner: JobRunner) -> None:
    reports: list[Progress] = []
    release = threading.Event()

    def work(context: JobContext) -> None:
        for done in range(1, 6):
            context.progress(done * 100, 500, "records")
        release.wait(5)

    handle = runner.run(work, title="Counting")
    handle.progressed.connect(reports.append)
    qtbot.waitUntil(lambda: bool(reports) and reports[-1].done == 500, timeout=5000)
    release.set()
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    assert reports[-1].total == 500


def test_cancel_is_cooperative(qtbot: QtBot, runner: JobRunner) -> None:
    started = threading.Event()

    def work(context: JobContext) -> None:
        started.set()
        while not context.cancel.wait(0.01):
            pass
        context.cancel.raise_if_cancelled()

    handle = runner.run(work, title="Waiting")
    assert started.wait(5)
    with qtbot.waitSignal(handle.cancelled, timeout=5000):
        handle.cancel()
    assert handle.outcome == "cancelled"


def test_errors_are_routed_once_as_sentences(qtbot: QtBot, runner: JobRunner) -> None:
    def typed(_context: JobContext) -> None:
        raise BillbridgeError("The key was refused; re-authorise this connection.")

    with qtbot.waitSignal(runner.error, timeout=5000) as blocker:
        runner.run(typed, title="Syncing Acme")
    assert blocker.args == ["Syncing Acme", "The key was refused; re-authorise this connection."]

    def unexpected(_context: JobContext) -> None:
        raise ZeroDivisionError("secret detail")

    with qtbot.waitSignal(runner.error, timeout=5000) as blocker:
        runner.run(unexpected, title="Recomputing")
    message = blocker.args[1]
    assert "ZeroDivisionError" in message
    assert "secret detail" not in message
    assert "Traceback" not in message


def test_one_job_per_key(qtbot: QtBot, runner: JobRunner) -> None:
    release = threading.Event()
    handle = runner.run(lambda _c: release.wait(5), title="Syncing Acme", key="sync:1")
    with pytest.raises(BillbridgeError, match="already running"):
        runner.run(lambda _c: None, title="Syncing Acme", key="sync:1")
    release.set()
    with qtbot.waitSignal(handle.finished, timeout=5000):
        pass
    assert not runner.is_running("sync:1")


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread priorities are a Linux thing")
def test_workers_run_at_a_lower_cpu_priority_than_the_window(qtbot: QtBot, tmp_path: Path) -> None:
    # On a busy machine the window's thread must get a core before the app's own workers.
    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    window = nice()
    runner = JobRunner()
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    loader = QueryLoader(database)
    try:
        with qtbot.waitSignal(runner.data_changed, timeout=5000):
            handle = runner.run(lambda _context: nice(), title="nice")
            seen: list[int] = []
            handle.succeeded.connect(seen.append)
        read: list[int] = []
        loader.submit(lambda _session: nice(), read.append)
        qtbot.waitUntil(lambda: bool(read), timeout=5000)
        assert seen[0] > window or seen[0] == 19
        assert read[0] > window or read[0] == 19
    finally:
        runner.shutdown()
        loader.shutdown()
        database.close()
