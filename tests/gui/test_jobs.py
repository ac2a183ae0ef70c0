"""The background job runner: results, progress, cancel, error routing, refresh signals."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from desktop.errors import BillbridgeError
from desktop.jobs import JobContext, Progress
from desktop.views.jobs import JobRunner


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
