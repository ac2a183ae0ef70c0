"""What runs after every sync run: recompute health, then evaluate the alert rules.

One function for every caller — the app's sync jobs, ``billbridge sync`` and the
schedules of ``billbridge serve`` — handed to the sync engine as its ``after_run`` hook::

    engine = SyncEngine(database, secrets, clock, after_run=after_sync_hook(database, clock))

The hook never fails a sync: a recompute or an evaluation that goes wrong is logged and
the sync's own result stands (the next run recomputes everything anyway).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from desktop.errors import BillbridgeError
from desktop.health.alerts import AlertView, evaluate_alerts
from desktop.health.recompute import RecomputeResult, recompute_health
from desktop.jobs import Cancelled, JobContext
from desktop.storage.database import Database
from desktop.timeutil import Clock, utc_now

log = logging.getLogger(__name__)

#: The engine's hook: called with the run's summary and the run's job context.
AfterRun = Callable[[object, JobContext], None]


@dataclass(frozen=True)
class HealthRefresh:
    """What a refresh did: the recompute's result and the alerts it raised."""

    recompute: RecomputeResult
    raised: tuple[AlertView, ...]


def refresh_health(
    database: Database, clock: Clock = utc_now, context: JobContext | None = None
) -> HealthRefresh:
    """Recomputes every score and this month's metrics, then evaluates the alert rules."""
    result = recompute_health(database, clock=clock, context=context)
    raised = evaluate_alerts(database, clock)
    return HealthRefresh(result, tuple(raised))


def after_sync_hook(database: Database, clock: Clock = utc_now) -> AfterRun:
    """The sync engine's ``after_run`` hook for ``database`` (see the module docstring).

    Runs of several connections finishing together refresh one after the other.
    """
    lock = threading.Lock()

    def after_run(summary: object, context: JobContext) -> None:
        name = getattr(summary, "connection", "a connection")
        with lock:
            try:
                refresh = refresh_health(database, clock, context)
            except Cancelled:
                log.info("Health was not recomputed after the sync of %s: cancelled.", name)
                return
            except BillbridgeError as error:
                log.warning("Health was not recomputed after the sync of %s: %s", name, error)
                return
            except Exception:
                log.exception("Recomputing health after the sync of %s failed.", name)
                return
        log.info(
            "Health after the sync of %s: %s accounts scored in %.1f s, %d new alerts.",
            name,
            f"{refresh.recompute.accounts:,}",
            refresh.recompute.seconds,
            len(refresh.raised),
        )

    return after_run
