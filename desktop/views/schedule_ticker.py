"""Running a schedule while the app is open: a timer asks it what is due.

Both the daily billing syncs (:class:`desktop.sync.scheduler.SyncScheduler`) and the
automatic CRM syncs (:class:`desktop.crm.schedule.CrmSchedule`) decide for themselves
what is due; the ticker only asks them every few minutes, on the job runner, and never
starts a round while the previous one is still running. ``billbridge serve`` asks the
same schedules on a server, and the sync lock keeps the two from running one connection
twice.
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.errors import BillbridgeError
from desktop.jobs import JobContext


class Schedule(Protocol):
    """Anything that runs what is due now and returns the outcomes."""

    def run_due(self, *, context: JobContext | None = None) -> list[Any]:
        """Runs every due sync once."""
        ...


class ScheduleTicker(QObject):
    """Asks a schedule what is due every ``tick_ms`` and runs it on the job runner.

    Signals:
        ran(list): the outcomes of one round.
    """

    ran = Signal(list)

    def __init__(
        self,
        schedule: Schedule,
        jobs: Any,
        *,
        key: str,
        title: str,
        tick_ms: int,
        first_ms: int,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.schedule = schedule
        self.jobs = jobs
        self.key = key
        self.title = title
        self.timer = QTimer(self)
        self.timer.setInterval(tick_ms)
        self.timer.timeout.connect(self.tick)
        self._first_ms = first_ms

    def start(self) -> None:
        """Starts ticking (the first tick comes after a short delay)."""
        QTimer.singleShot(self._first_ms, self, self.tick)
        self.timer.start()

    def stop(self) -> None:
        """Stops ticking (a running sync finishes or is cancelled by the runner)."""
        self.timer.stop()

    def tick(self) -> None:
        """Runs whatever is due now, unless the previous round is still running."""
        if self.jobs.is_running(self.key):
            return
        schedule = self.schedule

        def work(context: JobContext) -> list[Any]:
            return schedule.run_due(context=context)

        try:
            self.jobs.run(work, title=self.title, key=self.key, on_success=self.ran.emit)
        except BillbridgeError:  # closing
            return
