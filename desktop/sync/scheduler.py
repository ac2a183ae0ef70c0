"""When billing connections sync on their own: the daily run at 00:00 UTC.

Qt-free, with an injected clock, so the app's timer, ``billbridge serve`` (through
:func:`build_schedule`, the hook :mod:`desktop.serve.schedules` looks for) and tests all
use the same rules:

* an **active daily** connection runs at every 00:00 UTC after it was added. A midnight
  that passed while nothing was running (the app closed, the server down) is caught up
  once, at the next tick — not once per missed day;
* an **active import-only** connection runs once, as soon as it is seen, until one run
  has completed (succeeded, or finished with some records failed); never again after;
* **paused** and **disabled** connections, and CRM connections (their own schedule), never;
* a scheduled run that did not complete (failed, cancelled, interrupted by a kill) is tried
  again ``retry_after`` later (default one hour), the same day;
* a run that fails before it starts (no key stored …) is tried again ``retry_after``
  later too (remembered by this scheduler, since no run row records it);
* a run refused because another one holds the connection (a manual *Sync Now* at
  midnight) leaves nothing behind and is simply due again at the next tick.

Usage from the app's timer (on the job runner, never the GUI thread)::

    scheduler = SyncScheduler(database, secrets, clock)
    for outcome in scheduler.run_due(clock(), engine, context=JobContext(cancel=token)):
        ...
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Final

from sqlalchemy import func, select

from desktop.errors import BillbridgeError
from desktop.jobs import Cancelled, CancelToken, JobContext
from desktop.secrets import SecretStore
from desktop.storage.database import Database
from desktop.storage.models import Connection, ConnectionStatus, RunStatus, SyncMode, SyncRun
from desktop.sync.engine import AfterRun, RunSummary, SyncEngine
from desktop.sync.locks import SyncBusy
from desktop.sync.registry import BILLING_KINDS
from desktop.timeutil import Clock, utc_now

log = logging.getLogger(__name__)

#: Runs that count as done for the day (or, import-only, for good).
COMPLETED: Final[frozenset[str]] = frozenset({RunStatus.SUCCEEDED.value, RunStatus.PARTIAL.value})
#: Schedule runs' trigger (a manual run during one is refused naming it).
TRIGGER: Final[str] = "scheduled"


def last_midnight(now: datetime) -> datetime:
    """The latest 00:00 UTC at or before ``now`` (aware UTC)."""
    return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)


@dataclass(frozen=True)
class DueRun:
    """A connection the scheduler would run now, and why.

    Attributes:
        name: the connection's name.
        reason: ``daily``, ``import`` (the one-time import) or ``retry``.
    """

    name: str
    reason: str


@dataclass(frozen=True)
class ScheduledOutcome:
    """What happened to one due connection.

    Attributes:
        name: the connection.
        summary: the run's summary, when it ran to the end.
        skipped: why it did not run or stopped (another run in progress, a failure), else "".
    """

    name: str
    summary: RunSummary | None = None
    skipped: str = ""


@dataclass(frozen=True)
class _Facts:
    name: str
    mode: str
    created_at: datetime
    last_started: datetime | None  # the last scheduled run
    last_status: str | None
    completed_ever: bool  # any run (not a fetch) that completed


class SyncScheduler:
    """Decides and runs the scheduled billing syncs (see the module docstring).

    Args:
        database: the workspace.
        secrets: where the connections' secrets are (for the engine it builds).
        clock: the time (tests inject a fixed one).
        engine: the engine to run with (default: one built on ``database``).
        cancel: the token given to runs started without a context.
        retry_after: how long after an incomplete scheduled run it is tried again.
        after_run: the engine's after-run hook, when this scheduler builds the engine.
    """

    name = "daily billing syncs at 00:00 UTC"

    def __init__(
        self,
        database: Database,
        secrets: SecretStore,
        clock: Clock = utc_now,
        *,
        engine: SyncEngine | None = None,
        cancel: CancelToken | None = None,
        retry_after: timedelta = timedelta(hours=1),
        after_run: AfterRun | None = None,
    ) -> None:
        self.database = database
        self.secrets = secrets
        self.clock = clock
        self.cancel = cancel or CancelToken()
        self.retry_after = retry_after
        self._engine = engine
        self._after_run = after_run
        # failures that left no run row (no key stored, connection misconfigured …)
        self._refused_at: dict[str, datetime] = {}

    # ------------------------------------------------------------------ decisions

    def _facts(self) -> list[_Facts]:
        scheduled = (
            select(SyncRun.connection_id, func.max(SyncRun.id).label("last_id"))
            .where(SyncRun.trigger == TRIGGER)
            .group_by(SyncRun.connection_id)
            .subquery()
        )
        completed = (
            select(SyncRun.connection_id)
            .where(SyncRun.kind != "fetch", SyncRun.status.in_(COMPLETED))
            .distinct()
            .subquery()
        )
        last = SyncRun.__table__.alias("last_run")
        query = (
            select(
                Connection.name,
                Connection.mode,
                Connection.created_at,
                last.c.started_at,
                last.c.status,
                completed.c.connection_id.is_not(None),
            )
            .outerjoin(scheduled, scheduled.c.connection_id == Connection.id)
            .outerjoin(last, last.c.id == scheduled.c.last_id)
            .outerjoin(completed, completed.c.connection_id == Connection.id)
            .where(
                Connection.kind.in_(BILLING_KINDS),
                Connection.status == ConnectionStatus.ACTIVE.value,
            )
            .order_by(Connection.name)
        )
        with self.database.session() as session:
            return [_Facts(*row) for row in session.execute(query).all()]

    def _decide(self, facts: _Facts, now: datetime) -> tuple[str | None, datetime | None]:
        """(why it is due now, or ``None``; the moment it is or will next be due, if ever)."""
        incomplete = facts.last_started is not None and facts.last_status not in COMPLETED
        retry_at = (
            facts.last_started + self.retry_after if facts.last_started and incomplete else None
        )
        if facts.mode == SyncMode.IMPORT_ONLY.value:
            if facts.completed_ever:
                return None, None
            if retry_at is None:
                return "import", now
            return ("retry", retry_at) if retry_at <= now else (None, retry_at)
        midnight = last_midnight(now)
        anchor = max(facts.created_at, facts.last_started or facts.created_at)
        if anchor < midnight:
            return "daily", midnight
        following = midnight + timedelta(days=1)
        if retry_at is not None:
            return ("retry", retry_at) if retry_at <= now else (None, min(retry_at, following))
        return None, following

    def due(self, now: datetime | None = None) -> list[DueRun]:
        """The connections to run at ``now``, by name."""
        now = now or self.clock()
        found = []
        for facts in self._facts():
            reason, _ = self._decide(facts, now)
            refused = self._refused_at.get(facts.name)
            if refused is not None and now < refused + self.retry_after:
                continue
            if reason is not None:
                found.append(DueRun(facts.name, reason))
        return found

    def next_run_at(self, name: str, now: datetime | None = None) -> datetime | None:
        """When ``name`` next runs on its own (``None``: never — paused, disabled,
        an import that is done, or not a billing connection)."""
        now = now or self.clock()
        for facts in self._facts():
            if facts.name == name:
                return self._decide(facts, now)[1]
        return None

    # ------------------------------------------------------------------ running

    def engine(self) -> SyncEngine:
        """The engine runs go through (built on first use when none was given)."""
        if self._engine is None:
            self._engine = SyncEngine(
                self.database, self.secrets, self.clock, after_run=self._after_run
            )
        return self._engine

    def run_due(
        self,
        now: datetime | None = None,
        engine: SyncEngine | None = None,
        *,
        context: JobContext | None = None,
    ) -> list[ScheduledOutcome]:
        """Runs every due connection once, one after the other.

        A failure of one connection is recorded on its run and does not stop the others;
        a cancel stops the round after the run in progress.
        """
        now = now or self.clock()
        engine = engine or self.engine()
        context = context or JobContext(cancel=self.cancel)
        outcomes: list[ScheduledOutcome] = []
        for item in self.due(now):
            if context.cancel.cancelled:
                break
            try:
                summary = engine.run(item.name, trigger=TRIGGER, context=context)
            except SyncBusy as busy:
                outcomes.append(ScheduledOutcome(item.name, skipped=str(busy)))
            except Cancelled:
                outcomes.append(ScheduledOutcome(item.name, skipped="Cancelled."))
                break
            except BillbridgeError as error:
                log.warning("The scheduled sync of %s failed: %s", item.name, error)
                self._refused_at[item.name] = now
                outcomes.append(ScheduledOutcome(item.name, skipped=str(error)))
            else:
                self._refused_at.pop(item.name, None)
                outcomes.append(ScheduledOutcome(item.name, summary=summary))
        return outcomes


def build_schedule(
    database: Database, secrets: SecretStore, clock: Clock, cancel: CancelToken
) -> SyncScheduler:
    """The billing schedule for ``billbridge serve`` (:mod:`desktop.serve.schedules`).

    Runs recompute health and evaluate alerts afterwards, like ``billbridge sync``.
    """
    from desktop.health.after_sync import after_sync_hook

    return SyncScheduler(
        database, secrets, clock, cancel=cancel, after_run=after_sync_hook(database, clock)
    )
