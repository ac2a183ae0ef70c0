"""Running schedules from a long-lived process.

A **schedule** is anything with a ``name`` and ``run_due(now)``: it decides itself what
is due at ``now`` (for example every active daily billing connection whose last
scheduled run was before today's 00:00 UTC) and runs it. The sync engine's per-connection
lock makes it safe for an app and a ``billbridge serve`` on one database to both try.

:class:`ScheduleLoop` calls every schedule once a minute (on the minute) from one
thread, one after the other; an error in one schedule is logged and never stops the
loop. Stopping cancels a run in progress through the token it was given.

Hooks: :data:`SCHEDULES` lists the builders. The billing schedule comes from
``desktop.sync.scheduler`` once it exists (a ``build_schedule(database, secrets, clock,
cancel)`` function, or a class with ``run_due(now)`` taking ``(database, secrets)`` and
optionally ``clock`` / ``cancel``); the CRM schedule from
:class:`desktop.crm.schedule.CrmSchedule`. Adding a schedule is one builder and one line.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from desktop.jobs import CancelToken, JobContext
from desktop.secrets import SecretStore
from desktop.storage.database import Database
from desktop.timeutil import Clock

log = logging.getLogger(__name__)


class Schedule(Protocol):
    """Something that runs what is due at a moment."""

    name: str

    def run_due(self, now: datetime) -> Any:
        """Runs whatever is due at ``now`` (aware UTC)."""
        ...


class NamedSchedule:
    """A schedule made from a name and a function of the time.

    Args:
        name: a phrase for logs and the start-up summary.
        run_due: called with the current time.
    """

    def __init__(self, name: str, run_due: Callable[[datetime], Any]) -> None:
        self.name = name
        self._run_due = run_due

    def run_due(self, now: datetime) -> Any:
        return self._run_due(now)


class ScheduleLoop:
    """Calls each schedule's ``run_due`` every ``interval`` seconds on a background thread.

    Args:
        schedules: what to run.
        clock: the time given to ``run_due``.
        cancel: set by :meth:`stop`; schedules should pass it to the runs they start.
        interval: seconds between rounds (60: once a minute).
    """

    def __init__(
        self,
        schedules: Sequence[Schedule],
        clock: Clock,
        *,
        cancel: CancelToken | None = None,
        interval: float = 60.0,
    ) -> None:
        self.schedules = list(schedules)
        self._clock = clock
        self.cancel = cancel or CancelToken()
        self._interval = interval
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def start(self) -> None:
        """Starts the loop (the first round runs at once)."""
        if self._thread is None and self.schedules:
            self._thread = threading.Thread(target=self._run, name="schedules", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Cancels a run in progress and waits for the loop to end."""
        self.cancel.cancel()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_round(self) -> None:
        """Runs every schedule once, now."""
        for schedule in self.schedules:
            if self.cancel.cancelled:
                return
            try:
                schedule.run_due(self._clock())
            except Exception as error:  # one schedule failing never stops the others
                log.error("The schedule %r failed", schedule.name, exc_info=error)
        self.rounds += 1

    def _run(self) -> None:
        while not self.cancel.cancelled:
            self.run_round()
            now = self._clock()
            wait = self._interval - (now.timestamp() % self._interval)
            if self.cancel.wait(max(wait, 0.05)):
                return


def _build(
    module_name: str,
    database: Database,
    secrets: SecretStore,
    clock: Clock,
    cancel: CancelToken,
) -> Schedule | None:
    """A schedule from ``module_name``'s ``build_schedule`` or scheduler class, if any."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    builder = getattr(module, "build_schedule", None)
    if callable(builder):
        built: Schedule = builder(database, secrets, clock, cancel)
        return built
    for attribute in ("Scheduler", "SyncScheduler", "BillingScheduler", "CrmScheduler"):
        found = getattr(module, attribute, None)
        if not (inspect.isclass(found) and hasattr(found, "run_due")):
            continue
        cls: Callable[..., Any] = found
        parameters = inspect.signature(cls).parameters
        extra: dict[str, Any] = {}
        if "clock" in parameters:
            extra["clock"] = clock
        if "cancel" in parameters:
            extra["cancel"] = cancel
        instance = cls(database, secrets, **extra)
        name = getattr(instance, "name", None) or module_name.rsplit(".", 1)[-1]
        return NamedSchedule(str(name), instance.run_due)
    return None


def billing_schedule(
    database: Database, secrets: SecretStore, clock: Clock, cancel: CancelToken
) -> Schedule | None:
    """Daily billing syncs at 00:00 UTC, from the sync engine's scheduler (if present)."""
    return _build("desktop.sync.scheduler", database, secrets, clock, cancel)


def crm_schedule(
    database: Database, secrets: SecretStore, clock: Clock, cancel: CancelToken
) -> Schedule | None:
    """Automatic CRM syncs (hourly by default) from :mod:`desktop.crm.schedule`."""
    try:
        from desktop.crm.schedule import CrmSchedule
        from desktop.crm.service import CrmIntegration
    except ImportError:
        return None
    schedule = CrmSchedule(CrmIntegration(database, secrets, clock))

    def run_due(now: datetime) -> Any:
        return schedule.run_due(now, JobContext(cancel=cancel))

    return NamedSchedule("CRM syncs (hourly unless set otherwise)", run_due)


ScheduleBuilder = Callable[[Database, SecretStore, Clock, CancelToken], "Schedule | None"]

#: The schedules ``billbridge serve`` runs, with the phrase shown when one is missing.
SCHEDULES: tuple[tuple[ScheduleBuilder, str], ...] = (
    (billing_schedule, "daily billing syncs at 00:00 UTC"),
    (crm_schedule, "hourly CRM syncs"),
)


def default_schedules(
    database: Database, secrets: SecretStore, clock: Clock, cancel: CancelToken
) -> tuple[list[Schedule], list[str]]:
    """The schedules this build has, and phrases naming the ones it lacks."""
    schedules: list[Schedule] = []
    missing: list[str] = []
    for builder, phrase in SCHEDULES:
        schedule = builder(database, secrets, clock, cancel)
        if schedule is None:
            missing.append(phrase)
        else:
            schedules.append(schedule)
    return schedules, missing
