"""The automatic CRM sync: which CRM connections are due, and running them.

The app's scheduler (or a cron job running ``billbridge crm run-due``) calls
:meth:`CrmSchedule.run_due` every few minutes. A CRM connection is due when it is active
(not paused or disabled), its setup is saved, and its last automatic or manual sync
started at least ``interval_minutes`` (default 60) ago. Due runs use the trigger
``scheduled``, so a manual *Sync Now* during one is refused with the reason, and one that
finds a manual run in progress is skipped until the next tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from desktop.crm.connect import KIND
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import CrmSettings
from desktop.errors import BillbridgeError
from desktop.jobs import JobContext
from desktop.storage.models import Connection, ConnectionStatus, SyncRun
from desktop.sync.engine import RunSummary
from desktop.sync.locks import SyncBusy


@dataclass(frozen=True)
class ScheduledOutcome:
    """What happened to one due connection.

    Attributes:
        name: the connection.
        summary: the run's summary, when it ran.
        skipped: why it did not run (another run in progress …), else ``""``.
    """

    name: str
    summary: RunSummary | None = None
    skipped: str = ""


class CrmSchedule:
    """Automatic syncs of CRM connections.

    Args:
        integration: runs the syncs.
    """

    def __init__(self, integration: CrmIntegration) -> None:
        self.integration = integration

    def next_run_at(self, name: str) -> datetime | None:
        """When the connection's next automatic sync is due (``None``: never — paused,
        disabled or not set up; a moment in the past: due now)."""
        row = self.integration._row(name)
        settings = CrmSettings.from_json((row.settings or {}).get("crm"))
        if row.status != ConnectionStatus.ACTIVE.value or not settings.configured:
            return None
        with self.integration.database.session() as session:
            last = session.scalar(
                select(func.max(SyncRun.started_at)).where(
                    SyncRun.connection_id == row.id, SyncRun.kind != "fetch"
                )
            )
        if last is None:
            return self.integration.clock()
        return last + timedelta(minutes=settings.interval_minutes)

    def due(self, now: datetime | None = None) -> list[str]:
        """The CRM connections whose automatic sync is due, by name."""
        now = now or self.integration.clock()
        with self.integration.database.session() as session:
            names = list(
                session.scalars(
                    select(Connection.name)
                    .where(
                        Connection.kind == KIND,
                        Connection.status == ConnectionStatus.ACTIVE.value,
                    )
                    .order_by(Connection.name)
                )
            )
        out = []
        for name in names:
            moment = self.next_run_at(name)
            if moment is not None and moment <= now:
                out.append(name)
        return out

    def run_due(
        self, now: datetime | None = None, context: JobContext | None = None
    ) -> list[ScheduledOutcome]:
        """Runs every due connection once (a failure of one does not stop the others)."""
        outcomes = []
        for name in self.due(now):
            try:
                summary = self.integration.run(name, trigger="scheduled", context=context)
            except SyncBusy as busy:
                outcomes.append(ScheduledOutcome(name, skipped=str(busy)))
            except BillbridgeError as error:
                outcomes.append(ScheduledOutcome(name, skipped=str(error)))
            else:
                outcomes.append(ScheduledOutcome(name, summary=summary))
        return outcomes
