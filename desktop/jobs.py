"""Plain-Python job primitives shared by the core and the Qt job runner.

Long work (a sync, a recompute) is a function ``fn(context: JobContext) -> T``. It
reports through ``context.progress(...)`` and checks ``context.cancel`` between pages or
batches. The core never knows whether a terminal, a Qt window or a test is listening.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from desktop.errors import BillbridgeError


class Cancelled(BillbridgeError):
    """The job was cancelled on request; data written so far is consistent."""

    exit_code = 130

    def __init__(self, message: str = "Cancelled.") -> None:
        super().__init__(message)


class CancelToken:
    """A cooperative cancel flag, safe to set from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Asks the job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancel was asked for."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raises :class:`Cancelled` if cancel was asked for."""
        if self._event.is_set():
            raise Cancelled()

    def wait(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``; returns ``True`` early if cancelled meanwhile."""
        return self._event.wait(seconds)


@dataclass(frozen=True)
class Progress:
    """One progress report.

    Attributes:
        done: units finished so far (records, pages, steps).
        total: units expected, or ``None`` while unknown (show an indeterminate bar).
        message: what is happening, as a short phrase.
        rate: units per second over a rolling window, when known.
    """

    done: int
    total: int | None = None
    message: str = ""
    rate: float | None = None

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the current rate, when both total and rate are known."""
        if self.total is None or not self.rate:
            return None
        return max(0.0, (self.total - self.done) / self.rate)


ProgressCallback = Callable[[Progress], None]


def _ignore(_progress: Progress) -> None:
    return None


@dataclass
class RateMeter:
    """A rolling-window rate (units per second) over the last ``window`` seconds."""

    window: float = 5.0
    _samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, done: int, now: float | None = None) -> float | None:
        """Records a cumulative count and returns the current rate."""
        stamp = time.monotonic() if now is None else now
        self._samples.append((stamp, done))
        while len(self._samples) > 2 and stamp - self._samples[0][0] > self.window:
            self._samples.pop(0)
        first_time, first_done = self._samples[0]
        if stamp - first_time <= 0:
            return None
        return (done - first_done) / (stamp - first_time)


@dataclass
class JobContext:
    """What a job gets: where to report progress and the token to check for cancel."""

    progress_callback: ProgressCallback = _ignore
    cancel: CancelToken = field(default_factory=CancelToken)
    _meter: RateMeter = field(default_factory=RateMeter)

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Reports progress; the rate is computed here so every front end shows the same."""
        rate = self._meter.add(done)
        self.progress_callback(Progress(done, total, message, rate))
