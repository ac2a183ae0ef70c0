"""The schedule ticker: asks a schedule what is due, on the job runner, one round at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.jobs import JobContext
from desktop.views.jobs import JobRunner
from desktop.views.schedule_ticker import ScheduleTicker


class SlowSchedule:
    """A schedule whose rounds block until released, recording the threads they ran on."""

    def __init__(self) -> None:
        self.rounds: list[str] = []
        self.release = threading.Event()

    def run_due(self, *, context: JobContext | None = None) -> list[Any]:
        self.rounds.append(threading.current_thread().name)
        self.release.wait(5)
        return ["ran"]


@pytest.fixture
def runner() -> Iterator[JobRunner]:
    jobs = JobRunner()
    yield jobs
    jobs.shutdown()


def test_rounds_run_in_the_background_and_never_overlap(qtbot: QtBot, runner: JobRunner) -> None:
    schedule = SlowSchedule()
    ticker = ScheduleTicker(
        schedule, runner, key="billing-schedule", title="Scheduled", tick_ms=3_600_000, first_ms=0
    )
    ticker.tick()
    qtbot.waitUntil(lambda: len(schedule.rounds) == 1, timeout=5000)
    ticker.tick()  # the first round is still running: no second one
    ticker.tick()
    assert runner.is_running("billing-schedule")
    with qtbot.waitSignal(ticker.ran, timeout=5000) as blocker:
        schedule.release.set()
    assert blocker.args == [["ran"]]
    assert len(schedule.rounds) == 1
    assert schedule.rounds[0] != threading.current_thread().name
    ticker.stop()


def test_start_ticks_after_the_first_delay(qtbot: QtBot, runner: JobRunner) -> None:
    schedule = SlowSchedule()
    schedule.release.set()
    ticker = ScheduleTicker(
        schedule, runner, key="crm-auto", title="Scheduled", tick_ms=3_600_000, first_ms=10
    )
    with qtbot.waitSignal(ticker.ran, timeout=5000):
        ticker.start()
    ticker.stop()
    assert schedule.rounds
