"""The sandbox clock: real UTC time by default, or a manual clock tests can move.

The dataset's "now" (the end of its 24-month history), access-token expiry, rate-limit
windows and the ``updated_at`` stamped by mutations all read this clock.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the sandbox the current time."""

    def now(self) -> datetime:
        """Returns the current time, aware and in UTC."""
        ...


class SystemClock:
    """The real UTC clock, optionally shifted by :meth:`advance`."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> datetime:
        """Returns the shifted real time."""
        return datetime.fromtimestamp(time.time() + self._offset, UTC)

    def advance(self, seconds: float | timedelta) -> None:
        """Moves this clock forward (or back, with a negative value)."""
        self._offset += seconds.total_seconds() if isinstance(seconds, timedelta) else seconds


class ManualClock:
    """A clock that only moves when told to; thread-safe.

    Args:
        start: the initial time; naive values are taken as UTC.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Returns the current manual time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float | timedelta) -> None:
        """Moves the clock forward by ``seconds`` (a number or a timedelta)."""
        delta = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        with self._lock:
            self._now += delta

    def set(self, when: datetime) -> None:
        """Jumps to ``when``."""
        with self._lock:
            self._now = when if when.tzinfo else when.replace(tzinfo=UTC)


def epoch(clock: Clock) -> int:
    """Returns the clock's current time in whole epoch seconds."""
    return int(clock.now().timestamp())


def advance(clock: Clock, seconds: float) -> None:
    """Advances any clock that supports it; raises a sentence for one that does not."""
    move = getattr(clock, "advance", None)
    if move is None:
        raise TypeError("This sandbox clock cannot be advanced; give the sandbox a ManualClock.")
    move(seconds)
