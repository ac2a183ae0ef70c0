"""Applying stored events exactly once, across threads and processes.

Events are applied **in batches**: one transaction takes up to ``batch`` waiting events,
oldest first, and applies each inside its own savepoint whose first statement claims it:
``UPDATE webhook_events SET status='applied' … WHERE id=… AND status='received'``. Only
one transaction can win that row (PostgreSQL locks it — the batch's candidates are
selected ``FOR UPDATE SKIP LOCKED``, so two appliers take different events; SQLite lets
one writer in at a time), so an app and a ``billbridge serve`` on one database never both
apply an event.

An event that fails rolls back to its savepoint — its claim and every change it made —
and is marked ``failed`` (or ``rejected``) with the reason in the same transaction; its
neighbours' changes stay and are committed together: nothing is half-applied and one bad
event never undoes the others. Should the batch's transaction fail as a whole (the
database refused the commit, a deadlock), nothing of it is kept and its events are
applied again one transaction each, so a failure is pinned on the event that causes it.
Replaying puts a finished event back to ``received`` and applies it again.

On SQLite the batch gives way as soon as the receiver's writer waits for its turn (see
:mod:`desktop.webhooks.turns`): it commits what it has applied and the rest waits for the
next batch, so storing an event never waits for a whole batch. Waiting for a turn ends
when stopping is asked for (the turn's holder may have been killed): nothing was taken,
and the waiting events stay ``received`` for the next applier.

After a run of batches the ``after_apply`` hook runs once (risk alerts, see
:func:`alert_hook`), and during a long run at most every :data:`AFTER_APPLY_EVERY`
seconds, not once per event, so a burst costs a few evaluations.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from desktop.errors import BillbridgeError, NotFoundError
from desktop.storage.database import Database
from desktop.storage.models import Connection, ConnectionKind, ConnectionStatus, WebhookEvent
from desktop.sync.writer import PageWriter
from desktop.sync.zoho_normalise import Unnormalisable
from desktop.timeutil import Clock
from desktop.webhooks.apply import apply_event, writer_for
from desktop.webhooks.events import EventRejected, parse_event, peek_identity
from desktop.webhooks.grouped import Group, GroupWriteMismatch, fits_group
from desktop.webhooks.store import EventStatus
from desktop.webhooks.turns import TurnAbandoned, WriteTurns

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
#: The most events applied in one transaction.
BATCH: Final[int] = 200
#: The most while events are arriving, so the receiver's writer never waits long.
BUSY_BATCH: Final[int] = 20


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
        batch: the most events applied in one transaction.
        grouped: write runs of events that only update records with one write per stream
            (see :mod:`desktop.webhooks.grouped`); ``False`` applies every event alone.
    """

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        turns: WriteTurns | None = None,
        after_apply: AfterApply | None = None,
        poll_seconds: float = 2.0,
        batch: int = BATCH,
        grouped: bool = True,
    ) -> None:
        self._database = database
        self._clock = clock
        self._turns = turns or WriteTurns(enabled=database.dialect == "sqlite")
        self._after_apply = after_apply
        self._poll = poll_seconds
        self._batch = batch
        self._grouped = grouped
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writers: dict[tuple[object, ...], PageWriter] = {}

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
        """Applies every ``received`` event, oldest first, in batches; then ``after_apply``.

        During a long run ``after_apply`` also runs every :data:`AFTER_APPLY_EVERY`
        seconds, so alerts do not wait for the end of a burst.
        """
        outcomes: list[Outcome] = []
        pending_after, last_after = False, time.monotonic()
        while stop is None or not stop.is_set():
            started = time.monotonic()
            batch = self.apply_batch(stop=stop)
            if not batch:
                break
            outcomes.extend(batch)
            if any(outcome.status == EventStatus.APPLIED for outcome in batch):
                pending_after = True
            if pending_after and time.monotonic() - last_after > AFTER_APPLY_EVERY:
                self._run_after_apply()
                pending_after, last_after = False, time.monotonic()
            self._turns.pace(time.monotonic() - started, stop)
        if pending_after:
            self._run_after_apply()
        return outcomes

    def apply_batch(
        self, limit: int | None = None, *, stop: StopFlag | None = None
    ) -> list[Outcome]:
        """Applies up to ``limit`` waiting events, oldest first, in one transaction.

        Each event is claimed and applied in its own savepoint; a failing one is rolled
        back alone and recorded as ``failed`` (see the module docstring). Returns the
        outcomes (empty when nothing waits, or when ``stop`` is set while waiting for the
        write turn). Does not run ``after_apply``.
        """
        limit = limit or self._batch
        if self._turns.busy():
            limit = min(limit, BUSY_BATCH)  # short turns while the receiver is storing
        try:
            with self._turns.background(stop), self._database.transaction() as session:
                return self._apply_batch(session, limit, stop)
        except TurnAbandoned:
            return []
        except Exception as error:
            log.warning(
                "A batch of webhook events could not be committed (%s); applying them one by one",
                type(error).__name__,
            )
        with self._database.session() as session:
            ids = list(session.scalars(self._candidates(limit)))
        outcomes: list[Outcome] = []
        for event_row_id in ids:
            if stop is not None and stop.is_set():
                break
            try:
                outcomes.append(self.apply_one(event_row_id, stop=stop))
            except TurnAbandoned:
                break
        return outcomes

    @staticmethod
    def _candidates(limit: int) -> Select[int]:
        return (
            select(WebhookEvent.id)
            .where(WebhookEvent.status == EventStatus.RECEIVED)
            .order_by(WebhookEvent.id)
            .limit(limit)
        )

    def _apply_batch(self, session: Session, limit: int, stop: StopFlag | None) -> list[Outcome]:
        query = (
            select(
                WebhookEvent.id,
                WebhookEvent.connection_id,
                WebhookEvent.event_id,
                WebhookEvent.body,
            )
            .where(WebhookEvent.status == EventStatus.RECEIVED)
            .order_by(WebhookEvent.id)
            .limit(limit)
        )
        if self._database.dialect == "postgresql":
            # another applier's batch keeps its events; this one takes the next ones
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
        outcomes: list[Outcome] = []
        group: Group | None = None
        for row_id, connection_id, event_id, body in rows:
            if (outcomes or (group is not None and group.planned)) and (
                (stop is not None and stop.is_set()) or self._turns.urgent_waiting()
            ):
                break  # commit what is applied; the rest waits for the next batch
            if event_id is not None and self._grouped:
                if group is not None and group.connection.id != connection_id:
                    outcomes.extend(self._write_group(session, group))
                    group = None
                group, added = self._try_group(session, group, row_id, connection_id, body)
                if added:
                    continue
            if group is not None:
                outcomes.extend(self._write_group(session, group))
                group = None
            outcomes.append(self._apply_in_savepoint(session, row_id))
        if group is not None:
            outcomes.extend(self._write_group(session, group))
        return outcomes

    def _try_group(
        self, session: Session, group: Group | None, row_id: int, connection_id: int, body: str
    ) -> tuple[Group | None, bool]:
        """Adds the event to ``group`` (of its connection, or a new one) when it fits.

        Returns:
            The group, and whether the event was added to it.
        """
        try:
            parsed = parse_event(body.encode("utf-8"))
        except EventRejected:
            return group, False
        connection = session.get(Connection, connection_id)
        if connection is None:
            return group, False
        writer = self._writer(connection)
        if not fits_group(connection, parsed, writer):
            return group, False
        target = group if group is not None else Group(connection, writer, self._clock())
        try:
            target.add(session, row_id, parsed)
        except Exception:  # the ordinary path applies it (and records why it fails)
            return group, False
        return target, True

    def _write_group(self, session: Session, group: Group) -> list[Outcome]:
        """Writes a group in its own savepoint; if that fails, its events go one by one."""
        if not group.planned:
            return []
        savepoint = session.begin_nested()
        try:
            written = group.write(session)
            savepoint.commit()
            return [Outcome(row_id, status, reason) for row_id, status, reason in written]
        except Exception as error:
            savepoint.rollback()
            if not isinstance(error, GroupWriteMismatch):
                log.warning(
                    "Writing %d webhook events together failed (%s); applying them one by one",
                    len(group.planned),
                    type(error).__name__,
                )
        return [self._apply_in_savepoint(session, row_id) for row_id in group.row_ids]

    def _apply_in_savepoint(self, session: Session, event_row_id: int) -> Outcome:
        savepoint = session.begin_nested()
        try:
            outcome = self._claim_and_apply(session, event_row_id, shared_writer=True)
            savepoint.commit()
            return outcome
        except (EventRejected, Unnormalisable, BillbridgeError) as error:
            savepoint.rollback()
            return self._mark_failure(session, event_row_id, error, str(error))
        except Exception as error:
            savepoint.rollback()  # raises if the whole transaction is lost: batch retried
            log.error("Applying webhook event %s failed", event_row_id, exc_info=error)
            return self._mark_failure(session, event_row_id, error, _unexpected(error))

    def _run_after_apply(self) -> None:
        if self._after_apply is None:
            return
        try:
            self._after_apply()
        except Exception as error:  # alerts failing must not stop events
            log.error("Evaluating alerts after webhook events failed", exc_info=error)

    def apply_one(self, event_row_id: int, *, stop: StopFlag | None = None) -> Outcome:
        """Claims and applies one ``received`` event (``skipped`` if someone else has it).

        Raises:
            TurnAbandoned: ``stop`` was set while waiting for the write turn (the event
                stays ``received``).
        """
        try:
            with self._turns.background(stop), self._database.transaction() as session:
                return self._claim_and_apply(session, event_row_id)
        except TurnAbandoned:
            raise
        except (EventRejected, Unnormalisable, BillbridgeError) as error:
            return self._record_failure(event_row_id, error, str(error), stop)
        except Exception as error:
            log.error("Applying webhook event %s failed", event_row_id, exc_info=error)
            return self._record_failure(event_row_id, error, _unexpected(error), stop)

    def _writer(self, connection: Connection) -> PageWriter:
        """A writer per connection (and thread), kept so its statements compile once."""
        key = (
            threading.get_ident(),
            connection.id,
            connection.mode,
            json.dumps(connection.settings or {}, sort_keys=True, default=str),
        )
        writer = self._writers.get(key)
        if writer is None:
            if len(self._writers) > 64:
                self._writers.clear()
            writer = self._writers[key] = writer_for(connection)
        return writer

    def _claim_and_apply(
        self, session: Session, event_row_id: int, *, shared_writer: bool = False
    ) -> Outcome:
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
        writer = self._writer(connection) if shared_writer else None
        changes = apply_event(session, connection, parsed, now, writer)
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

    def _record_failure(
        self, event_row_id: int, error: BaseException, reason: str, stop: StopFlag | None = None
    ) -> Outcome:
        with self._turns.background(stop), self._database.transaction() as session:
            return self._mark_failure(session, event_row_id, error, reason)

    @staticmethod
    def _mark_failure(
        session: Session, event_row_id: int, error: BaseException, reason: str
    ) -> Outcome:
        """Marks a still-waiting event ``failed`` (``rejected`` if it does not parse)."""
        status = EventStatus.REJECTED if isinstance(error, EventRejected) else EventStatus.FAILED
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


def _unexpected(error: BaseException) -> str:
    return (
        f"Applying the event failed unexpectedly ({type(error).__name__}); "
        "the details are in the log."
    )


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
