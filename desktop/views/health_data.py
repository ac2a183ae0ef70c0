"""What the Health page shows, read in one background call (Qt-free).

:func:`load_overview` gathers the 24-month movement series, the band history, today's
receivables ageing and the current month's metrics; the page hands the result to its
charts on the GUI thread. Nothing here touches a widget, so it runs on the job runner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from desktop.health import (
    AgeingBuckets,
    BandHistory,
    MonthMetrics,
    MovementSeries,
    band_history,
    mrr_movements,
    receivables_ageing,
)
from desktop.jobs import JobContext
from desktop.money import minor_digits
from desktop.storage.database import Database
from desktop.timeutil import Clock, utc_now

MONTHS = 24


@dataclass(frozen=True)
class HealthOverview:
    """Everything the Health page's overview draws.

    Attributes:
        series: MRR and its movements month by month (oldest first).
        bands: accounts per band on each recompute day.
        ageing: what is due now, by days past due.
        metrics: this month's metrics (the last of ``series``).
        loaded_at: when it was read.
        seconds: how long reading took.
    """

    series: MovementSeries
    bands: BandHistory
    ageing: AgeingBuckets
    metrics: MonthMetrics
    loaded_at: datetime
    seconds: float

    @property
    def currency(self) -> str:
        """The reporting currency of every amount."""
        return self.series.currency

    @property
    def scale(self) -> float:
        """Minor units per major unit of :attr:`currency` (charts plot major units)."""
        return float(10 ** minor_digits(self.currency or "USD"))

    @property
    def has_data(self) -> bool:
        """Whether there is anything to chart (some MRR, a band day or money due)."""
        return bool(
            self.series.mrr.any()
            or self.bands.days.size
            or self.ageing.amount.any()
            or self.ageing.invoices.any()
        )

    def notes(self) -> list[str]:
        """Sentences to read with the figures (missing rates, derived months)."""
        found: list[str] = list(self.metrics.notes)
        if self.ageing.excluded:
            codes = ", ".join(sorted(e.currency or "unknown" for e in self.ageing.excluded))
            found.append(
                f"Receivables in {codes} are left out of the ageing chart: set an exchange "
                f"rate to {self.currency} in Settings → Reporting currency and exchange "
                "rates to include them."
            )
        return list(dict.fromkeys(found))


def load_overview(
    database: Database, clock: Clock = utc_now, context: JobContext | None = None
) -> HealthOverview:
    """Reads the overview (seconds on a large workspace: run it in the background)."""
    job = context or JobContext()
    started = time.perf_counter()
    job.progress(0, 3, "Reading MRR movements")
    series = mrr_movements(database, MONTHS, clock=clock)
    job.cancel.raise_if_cancelled()
    job.progress(1, 3, "Reading health history")
    bands = band_history(database, clock=clock)
    job.cancel.raise_if_cancelled()
    job.progress(2, 3, "Reading receivables")
    ageing = receivables_ageing(database, currency=series.currency, clock=clock)
    job.progress(3, 3, "Done")
    return HealthOverview(
        series=series,
        bands=bands,
        ageing=ageing,
        metrics=series.metrics[-1],
        loaded_at=clock(),
        seconds=time.perf_counter() - started,
    )
