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

**A process killed while it holds a turn** (SIGKILL, the OOM killer) never gives it back,
so a turn records its holder's process id and nobody waits on a condition variable a
dead process could leave broken (``multiprocessing.Condition`` hangs its next
``notify`` for ever when a waiter dies asleep in it): waiters wait on a semaphore in
:data:`WAIT_SLICE` slices and look again.

* An urgent waiter (the receiver's writer) that has waited a slice checks whether the
  holder is alive and takes the turn over from a dead one. That is safe: the dead
  holder's open transaction is already gone — SQLite ignores the uncommitted writes of a
  process that died (its locks go with it), and PostgreSQL rolls back the transaction of
  a connection that drops.
* A background waiter (the applier) passes its stop flag, so once stopping is asked for
  (the applier process does so when its parent is gone) the wait ends with
  :class:`TurnAbandoned` instead of lasting for ever. It takes nothing over: urgent turns
  are held only by the receiver, whose death ends its applier anyway.

What is still not covered: a process killed in the few instructions during which it
holds the turns' own small lock (reading or setting the holder); the next waiter then
waits for ever.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from desktop.sync.locks import process_alive

log = logging.getLogger(__name__)

#: The least rest between background turns while requests are arriving (seconds).
BURST_REST = 0.25
#: How long one wait for a turn lasts before the waiter looks again (seconds): at the stop
#: flag (background) or at whether the holder is still alive (urgent).
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


def _signal(semaphore: Any) -> None:
    """Releases a semaphore bounded at one; already released is fine."""
    with contextlib.suppress(ValueError):
        semaphore.release()


def _bounded_zero(context: Any) -> Any:
    """A semaphore at 0 that never counts above 1 (``threading`` or ``multiprocessing``)."""
    semaphore = context.BoundedSemaphore(1)
    semaphore.acquire()
    return semaphore


class ProcessFlag:
    """A ``multiprocessing.Event`` that a process killed while waiting on it cannot break.

    ``multiprocessing.Event`` is built on a condition variable: when a process dies
    asleep in ``wait()``, the next ``set()`` waits for it to wake — for ever. This flag is
    a shared value plus a semaphore, which no dead process can wedge. Meant for one
    waiting process (the applier child) and any number of setters.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._flag: Any = context.Value("b", 0, lock=False)
        self._signal: Any = _bounded_zero(context)

    def set(self) -> None:
        """Sets the flag and wakes the waiter."""
        self._flag.value = 1
        _signal(self._signal)

    def clear(self) -> None:
        """Clears the flag."""
        self._flag.value = 0
        self._signal.acquire(False)

    def is_set(self) -> bool:
        """Whether the flag is set."""
        return bool(self._flag.value)

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until the flag is set or ``timeout`` passes; returns whether it is set."""
        if self._flag.value:
            return True
        if self._signal.acquire(True, timeout) and self._flag.value:
            _signal(self._signal)  # stays set for the next wait, like an Event
        return bool(self._flag.value)


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
            context: Any = multiprocessing.get_context("spawn")
            self._lock: Any = context.Lock()
            self._holder: Any = context.Value("i", 0, lock=False)
            self._urgent_waiting: Any = context.Value("i", 0, lock=False)
            self._last_urgent: Any = context.Value("d", 0.0, lock=False)
        else:
            context = threading
            self._lock = threading.Lock()
            self._holder = _Box(0)
            self._urgent_waiting = _Box(0)
            self._last_urgent = _Box(0.0)
        self._urgent_free: Any = _bounded_zero(context)
        self._background_free: Any = _bounded_zero(context)

    def holder(self) -> int:
        """The process id holding a turn now (0: nobody)."""
        return int(self._holder.value)

    @contextmanager
    def urgent(self) -> Iterator[None]:
        """A turn that goes before every waiting background turn.

        Takes the turn over when its holder died holding it (see the module docstring).
        """
        if not self.enabled:
            try:
                yield
            finally:
                self._last_urgent.value = time.monotonic()  # pacing still applies
            return
        me = os.getpid()
        with self._lock:
            self._urgent_waiting.value += 1
        try:
            while not self._take(me, urgent=True):
                if self._urgent_free.acquire(True, WAIT_SLICE):
                    continue
                holder = self.holder()
                if holder and not process_alive(holder) and self._take_over(holder, me):
                    break
        finally:
            with self._lock:
                self._urgent_waiting.value -= 1
        try:
            yield
        finally:
            self._give_back(me, urgent=True)

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
        me = os.getpid()
        while not self._take(me, urgent=False, stop=stop):
            if stop is not None and stop.is_set():
                raise TurnAbandoned
            self._background_free.acquire(True, WAIT_SLICE)
        try:
            yield
        finally:
            self._give_back(me, urgent=False)

    def _locked(self, stop: _StopFlag | None) -> bool:
        """Takes the small lock, in slices when there is a stop flag (False: stopping)."""
        if stop is None:
            self._lock.acquire()
            return True
        while not self._lock.acquire(True, WAIT_SLICE):
            if stop.is_set():
                return False
        return True

    def _take(self, me: int, *, urgent: bool, stop: _StopFlag | None = None) -> bool:
        """Takes the turn if it is free (and, for a background turn, nobody urgent waits)."""
        if not self._locked(stop):
            return False
        try:
            if self._holder.value or (not urgent and self._urgent_waiting.value):
                return False
            self._holder.value = me
            return True
        finally:
            self._lock.release()

    def _take_over(self, dead: int, me: int) -> bool:
        """Takes the turn from ``dead`` if it still holds it."""
        with self._lock:
            if self._holder.value != dead:
                return False
            self._holder.value = me
        log.warning(
            "Process %d died holding the database write turn; process %d takes it over",
            dead,
            me,
        )
        return True

    def _give_back(self, me: int, *, urgent: bool) -> None:
        with self._lock:
            if self._holder.value == me:
                self._holder.value = 0
            if urgent:
                self._last_urgent.value = time.monotonic()
        _signal(self._urgent_free)
        _signal(self._background_free)

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
