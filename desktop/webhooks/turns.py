"""Taking turns at writing, so storing an event never queues behind applying one.

SQLite lets one writer in at a time. The receiver's writer (which must commit before a
request is answered) and the applier (which may wait) take turns through
:class:`WriteTurns`: the writer's turn is *urgent* and goes before any waiting applier
turn, and while the writer has been busy recently the applier nearly stops (it rests a
quarter of a second between events), so a burst of requests keeps the receiver's response
time flat and the applier catches up as soon as the burst is over.

Turns work between threads, or — built with ``processes=True`` — between a receiver
process and the applier process it starts (``billbridge serve`` applies in a separate
process so applying never competes with answering for the interpreter lock).

On PostgreSQL writers do not block one another, so turns are not needed (``enabled``
False makes them free) — the applier's claim still keeps an event from being applied
twice. Pacing still applies there: during a burst the applier leaves the processor to
answering.

A process killed while it holds a turn (SIGKILL) never gives it back. Whoever waits for a
background turn passes its stop flag and waits in short slices, so once stopping is asked
for (the applier process does so when its parent is gone) the wait ends with
:class:`TurnAbandoned` instead of lasting for ever.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

#: The least rest between background turns while requests are arriving (seconds).
BURST_REST = 0.25
#: How long one wait for a background turn lasts before the stop flag is looked at again.
WAIT_SLICE = 0.2


class _Waitable(Protocol):
    def wait(self, timeout: float | None = None) -> bool: ...


class _StopFlag(_Waitable, Protocol):
    def is_set(self) -> bool: ...


class TurnAbandoned(Exception):
    """Stopping was asked for while waiting for a background turn; no turn was taken."""


class _Box:
    """A value with a ``.value`` attribute, like ``multiprocessing.Value`` (threads only)."""

    def __init__(self, value: Any) -> None:
        self.value = value


class WriteTurns:
    """Urgent and background turns at one database.

    Args:
        enabled: take turns at all (SQLite); when ``False`` every turn is immediate.
        busy_window: seconds after an urgent turn during which background turns pace
            themselves.
        processes: share the turns with child processes (spawned with
            ``multiprocessing``'s *spawn* context; pass the object to the child).
    """

    def __init__(
        self, *, enabled: bool = True, busy_window: float = 0.2, processes: bool = False
    ) -> None:
        self.enabled = enabled
        self._busy_window = busy_window
        if processes:
            context = multiprocessing.get_context("spawn")
            self._condition: Any = context.Condition(context.Lock())
            self._held: Any = context.Value("b", 0, lock=False)
            self._urgent_waiting: Any = context.Value("i", 0, lock=False)
            self._last_urgent: Any = context.Value("d", 0.0, lock=False)
        else:
            self._condition = threading.Condition()
            self._held = _Box(0)
            self._urgent_waiting = _Box(0)
            self._last_urgent = _Box(0.0)

    @contextmanager
    def urgent(self) -> Iterator[None]:
        """A turn that goes before every waiting background turn."""
        if not self.enabled:
            try:
                yield
            finally:
                self._last_urgent.value = time.monotonic()  # pacing still applies
            return
        with self._condition:
            self._urgent_waiting.value += 1
            while self._held.value:
                self._condition.wait()
            self._urgent_waiting.value -= 1
            self._held.value = 1
        try:
            yield
        finally:
            with self._condition:
                self._held.value = 0
                self._last_urgent.value = time.monotonic()
                self._condition.notify_all()

    @contextmanager
    def background(self, stop: _StopFlag | None = None) -> Iterator[None]:
        """A turn taken only when no urgent turn is waiting.

        Args:
            stop: when set while waiting, the wait ends (looked at every
                :data:`WAIT_SLICE` seconds): the holder may be a killed process that
                never gives the turn back.

        Raises:
            TurnAbandoned: ``stop`` was set before the turn came.
        """
        if not self.enabled:
            yield
            return
        while not self._condition.acquire(True, WAIT_SLICE):
            if stop is not None and stop.is_set():
                raise TurnAbandoned
        try:
            while self._held.value or self._urgent_waiting.value:
                if stop is not None and stop.is_set():
                    raise TurnAbandoned
                self._condition.wait(WAIT_SLICE)
            self._held.value = 1
        finally:
            self._condition.release()
        try:
            yield
        finally:
            with self._condition:
                self._held.value = 0
                self._condition.notify_all()

    def urgent_waiting(self) -> bool:
        """Whether an urgent turn is waiting now (a background turn should end soon)."""
        return self.enabled and int(self._urgent_waiting.value) > 0

    def busy(self) -> bool:
        """Whether an urgent turn ended within the busy window."""
        last = float(self._last_urgent.value)
        return last > 0 and time.monotonic() - last < self._busy_window

    def pace(self, last_turn: float, stop: _Waitable | None = None) -> None:
        """While urgent work is flowing, rests between background turns: at least
        :data:`BURST_REST` and three times the last turn, so during a burst applying
        nearly stops (a few events a second) and answering gets the machine; applying
        resumes at full speed as soon as the burst is over."""
        if self.busy() and last_turn > 0:
            rest = max(3 * last_turn, BURST_REST)
            if stop is not None:
                stop.wait(rest)
            else:
                time.sleep(rest)
