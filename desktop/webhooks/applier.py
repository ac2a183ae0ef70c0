"""Applying stored events exactly once, across threads and processes.

Each event is applied in **one transaction whose first statement claims it**:
``UPDATE webhook_events SET status='applied' … WHERE id=… AND status='received'``. Only
one transaction can win that row (PostgreSQL locks it; SQLite lets one writer in at a
time), so an app and a ``billbridge serve`` on one database never both apply an event.
The record changes follow in the same transaction; if anything fails the whole
transaction rolls back — nothing is half-applied — and a second, separate transaction
marks the event ``failed`` with the reason. Replaying puts a finished event back to
``received`` and applies it again.

After a run of events the ``after_apply`` hook runs once (risk alerts, see
:func:`alert_hook`), not once per event, so a burst costs one evaluation.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from desktop.errors import BillbridgeError, NotFoundError
from desktop.storage.database import Database
from desktop.storage.models import Connection, ConnectionKind, ConnectionStatus, WebhookEvent
from desktop.sync.zoho_normalise import Unnormalisable
from desktop.timeutil import Clock
from desktop.webhooks.apply import apply_event
from desktop.webhooks.events import EventRejected, parse_event, peek_identity
from desktop.webhooks.store import EventStatus
from desktop.webhooks.turns import WriteTurns

log = logging.getLogger(__name__)

#: Statuses an admin can replay.
REPLAYABLE: Final[tuple[str, ...]] = (
    EventStatus.FAILED,
    EventStatus.REJECTED,
    EventStatus.APPLIED,
    EventStatus.IGNORED,
)

AfterApply = Callable[[], None]


class StopFlag(Protocol):
    """A ``threading.Event`` or a ``multiprocessing`` event."""

    def is_set(self) -> bool:
        """Whether stopping was asked for."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until set or the timeout passes."""
        ...


#: During a long run of events, risk alerts are evaluated at least this often (seconds).
AFTER_APPLY_EVERY: Final[float] = 10.0


@dataclass(frozen=True)
class Outcome:
    """What happened to one event.

    Attributes:
        id: the event's row id.
        status: its status afterwards (``applied``, ``ignored``, ``failed``,
            ``rejected``), or ``skipped`` when another thread or process had it.
        reason: why it failed, was rejected or ignored.
    """

    id: int
    status: str
    reason: str | None = None


class EventApplier:
    """Applies ``received`` events; optionally on its own thread, woken on arrival.

    Args:
        database: the workspace.
        clock: stamps ``applied_at`` and is "today" for overdue invoices.
        turns: shared with the :class:`~desktop.webhooks.store.EventWriter` of the same
            process: applying takes background turns and paces itself while events are
            arriving (see :mod:`desktop.webhooks.turns`).
        after_apply: called once after each run that applied something.
        poll_seconds: how often the thread looks for events stored by other processes.
    """

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        turns: WriteTurns | None = None,
        after_apply: AfterApply | None = None,
        poll_seconds: float = 2.0,
        batch: int = 200,
    ) -> None:
        self._database = database
        self._clock = clock
        self._turns = turns or WriteTurns(enabled=database.dialect == "sqlite")
        self._after_apply = after_apply
        self._poll = poll_seconds
        self._batch = batch
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- thread

    def start(self) -> None:
        """Starts the background thread (applies what is waiting, then on each wake)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="webhook-applier", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finishes the event being applied and stops the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """Asks the thread to look for new events now."""
        self._wake.set()

    def _run(self) -> None:
        self.run_until(self._stop, self._wake)

    def run_until(self, stop: StopFlag, wake: StopFlag | None = None) -> None:
        """Applies what arrives until ``stop`` is set (looks again on ``wake`` or a poll).

        ``wake`` must also offer ``clear()`` (a threading or multiprocessing event).
        """
        while not stop.is_set():
            clear = getattr(wake, "clear", None)
            if callable(clear):
                clear()
            try:
                self.apply_pending(stop=stop)
            except Exception as error:  # the loop must survive a database outage
                log.error("Applying webhook events failed; retrying", exc_info=error)
            if wake is not None:
                wake.wait(self._poll)
            else:
                stop.wait(self._poll)

    # ---------------------------------------------------------------- applying

    def apply_pending(self, *, stop: StopFlag | None = None) -> list[Outcome]:
        """Applies every ``received`` event, oldest first, then runs ``after_apply``.

        During a long run ``after_apply`` also runs every :data:`AFTER_APPLY_EVERY`
        seconds, so alerts do not wait for the end of a burst.
        """
        outcomes: list[Outcome] = []
        pending_after, last_after = False, time.monotonic()
        while stop is None or not stop.is_set():
            with self._database.session() as session:
                ids = list(
                    session.scalars(
                        select(WebhookEvent.id)
                        .where(WebhookEvent.status == EventStatus.RECEIVED)
                        .order_by(WebhookEvent.id)
                        .limit(self._batch)
                    )
                )
            if not ids:
                break
            for event_id in ids:
                if stop is not None and stop.is_set():
                    break
                started = time.monotonic()
                outcome = self.apply_one(event_id)
                outcomes.append(outcome)
                if outcome.status == EventStatus.APPLIED:
                    pending_after = True
                if pending_after and time.monotonic() - last_after > AFTER_APPLY_EVERY:
                    self._run_after_apply()
                    pending_after, last_after = False, time.monotonic()
                self._turns.pace(time.monotonic() - started, stop)
        if pending_after:
            self._run_after_apply()
        return outcomes

    def _run_after_apply(self) -> None:
        if self._after_apply is None:
            return
        try:
            self._after_apply()
        except Exception as error:  # alerts failing must not stop events
            log.error("Evaluating alerts after webhook events failed", exc_info=error)

    def apply_one(self, event_row_id: int) -> Outcome:
        """Claims and applies one ``received`` event (``skipped`` if someone else has it)."""
        try:
            with self._turns.background(), self._database.transaction() as session:
                return self._claim_and_apply(session, event_row_id)
        except (EventRejected, Unnormalisable, BillbridgeError) as error:
            return self._record_failure(event_row_id, error, str(error))
        except Exception as error:
            log.error("Applying webhook event %s failed", event_row_id, exc_info=error)
            reason = (
                f"Applying the event failed unexpectedly ({type(error).__name__}); "
                "the details are in the log."
            )
            return self._record_failure(event_row_id, error, reason)

    def _claim_and_apply(self, session: Session, event_row_id: int) -> Outcome:
        now = self._clock()
        claimed = session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event_row_id, WebhookEvent.status == EventStatus.RECEIVED)
            .values(
                status=EventStatus.APPLIED,
                attempts=WebhookEvent.attempts + 1,
                applied_at=now,
                reason=None,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return Outcome(event_row_id, "skipped")
        event = session.get(WebhookEvent, event_row_id, populate_existing=True)
        assert event is not None
        connection = session.get(Connection, event.connection_id)
        if connection is None:
            raise NotFoundError("The event's connection no longer exists.")
        if connection.kind != ConnectionKind.ZOHO_BILLING.value:
            raise BillbridgeError(f"{connection.name} is not a Zoho Billing connection.")
        if connection.status == ConnectionStatus.DISABLED.value:
            raise BillbridgeError(
                f"The connection {connection.name} is disabled; enable it and replay the event."
            )
        parsed = parse_event(event.body.encode("utf-8"))
        if event.event_id is None:
            self._adopt_identity(session, event, parsed.event_id)
        event.event_type = parsed.event_type
        event.event_time = parsed.event_time
        changes = apply_event(session, connection, parsed, now)
        event.changes = changes.as_dict()
        if not changes.changed:
            event.status = EventStatus.IGNORED
            event.reason = " ".join(changes.notes) or "The event changes nothing Billbridge keeps."
        session.flush()
        return Outcome(event_row_id, event.status, event.reason)

    @staticmethod
    def _adopt_identity(session: Session, event: WebhookEvent, event_id: str) -> None:
        """A once-rejected event that parses now takes its event id, unless already held."""
        holder = session.scalar(
            select(WebhookEvent.id).where(
                WebhookEvent.connection_id == event.connection_id,
                WebhookEvent.event_id == event_id,
            )
        )
        if holder is not None and holder != event.id:
            raise BillbridgeError(
                f"Event {event_id} was also received as stored event {holder}; that one counts."
            )
        event.event_id = event_id

    def _record_failure(self, event_row_id: int, error: BaseException, reason: str) -> Outcome:
        status = EventStatus.REJECTED if isinstance(error, EventRejected) else EventStatus.FAILED
        with self._turns.background(), self._database.transaction() as session:
            result = session.execute(
                update(WebhookEvent)
                .where(
                    WebhookEvent.id == event_row_id,
                    WebhookEvent.status == EventStatus.RECEIVED,
                )
                .values(status=status, reason=reason, attempts=WebhookEvent.attempts + 1)
                .execution_options(synchronize_session=False)
            )
        if getattr(result, "rowcount", 0) != 1:
            return Outcome(event_row_id, "skipped")
        return Outcome(event_row_id, status, reason)

    # ----------------------------------------------------------------- replay

    def replay(self, event_row_id: int) -> Outcome:
        """Applies a stored event again (a failed, rejected, applied or ignored one).

        Raises:
            NotFoundError: no such event.
            BillbridgeError: it is waiting to be applied already.
        """
        with self._turns.background(), self._database.transaction() as session:
            reset = session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id == event_row_id, WebhookEvent.status.in_(REPLAYABLE))
                .values(status=EventStatus.RECEIVED, reason=None)
                .execution_options(synchronize_session=False)
            )
            if getattr(reset, "rowcount", 0) != 1:
                status = session.scalar(
                    select(WebhookEvent.status).where(WebhookEvent.id == event_row_id)
                )
                if status is None:
                    raise NotFoundError(f"There is no stored event {event_row_id}.")
                raise BillbridgeError(
                    f"Event {event_row_id} is waiting to be applied already; it needs no replay."
                )
        outcome = self.apply_one(event_row_id)
        if outcome.status == EventStatus.APPLIED:
            self._run_after_apply()
        return outcome


def describe_body(body: str) -> str:
    """A short label for a stored body: its event id and type when readable."""
    event_id, event_type = peek_identity(body.encode("utf-8"))
    return " ".join(part for part in (event_type, event_id) if part) or "unreadable body"


def alert_hook(database: Database, clock: Clock) -> AfterApply | None:
    """The health core's risk-alert evaluation, when this build has it.

    Calls ``desktop.health.alerts.evaluate_alerts(database, clock)`` (or the same
    function exported by ``desktop.health``); ``None`` when neither exists yet.
    """
    for module_name in ("desktop.health.alerts", "desktop.health"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        evaluate = getattr(module, "evaluate_alerts", None)
        if callable(evaluate):
            return lambda: evaluate(database, clock)
    return None
