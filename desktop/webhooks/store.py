"""The durable event store: events are committed before they are acknowledged.

:class:`EventWriter` is a group-commit writer. Request threads hand it an
:class:`Incoming` event and wait; one writer thread takes every event waiting (up to a
batch), writes them in one transaction, commits, and only then wakes the waiting threads
with the outcome. One commit per batch instead of one per request keeps the response time
flat under a burst, and the commit always precedes the 200.

A repeated ``event_id`` (same connection) is not stored again: its original row's
``deliveries`` count goes up and the caller is told it is a duplicate. Two processes
writing the same event at once are resolved by the unique constraint: the batch that
loses the race is retried and finds the other's row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection as DbConnection
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from desktop.errors import BillbridgeError
from desktop.storage.database import Database
from desktop.storage.models import Connection, WebhookEvent, WebhookReceiver
from desktop.timeutil import Clock
from desktop.webhooks.turns import WriteTurns

log = logging.getLogger(__name__)


class EventStatus:
    """The states of a stored event."""

    RECEIVED: Final[str] = "received"  # stored, waiting to be applied
    APPLIED: Final[str] = "applied"
    IGNORED: Final[str] = "ignored"  # nothing to change (a reminder, an older state)
    FAILED: Final[str] = "failed"  # applying failed; reason says why; replayable
    REJECTED: Final[str] = "rejected"  # answered 400; reason says why


ALL_STATUSES: Final[tuple[str, ...]] = (
    EventStatus.RECEIVED,
    EventStatus.APPLIED,
    EventStatus.IGNORED,
    EventStatus.FAILED,
    EventStatus.REJECTED,
)


class StoreUnavailable(BillbridgeError):
    """The workspace database could not store an event (the sender should retry)."""


@dataclass
class Incoming:
    """An event to store.

    Attributes:
        connection_id: the connection it belongs to.
        receiver_id: the receiver it came through.
        body: the raw body as text.
        event_id: Zoho's event id (``None`` for a rejected body).
        event_type: its type, when known.
        event_time: when it happened, when known.
        status: ``received`` or ``rejected``.
        reason: why it was rejected.
        meta: request facts worth keeping (content type, user agent, peer); never a
            credential.
    """

    connection_id: int
    receiver_id: int | None
    body: str
    event_id: str | None = None
    event_type: str | None = None
    event_time: datetime | None = None
    status: str = EventStatus.RECEIVED
    reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """The outcome of storing an event.

    Attributes:
        id: the stored row (the original one for a duplicate).
        duplicate: whether the event id had been stored before.
    """

    id: int
    duplicate: bool


_STOP = object()
#: How long a request waits for its event to be committed before answering 503.
STORE_TIMEOUT: Final[float] = 30.0


class EventWriter:
    """Stores events in batches on one thread; :meth:`store` returns after the commit.

    Args:
        database: the workspace.
        clock: stamps ``received_at``.
        turns: shared with the applier of the same process; storing takes the urgent
            turn (see :mod:`desktop.webhooks.turns`).
        on_stored: called (on the writer thread) after each batch that stored a new
            ``received`` event, for example to wake the applier.
        max_batch: the most events per transaction.
    """

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        turns: WriteTurns | None = None,
        on_stored: Callable[[], None] | None = None,
        max_batch: int = 256,
    ) -> None:
        self._database = database
        self._clock = clock
        self._turns = turns or WriteTurns(enabled=database.dialect == "sqlite")
        self._on_stored = on_stored
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        """Starts the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhook-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Writes what is waiting, then stops the thread."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def store(self, event: Incoming, timeout: float = 30.0) -> Stored:
        """Stores one event and returns once it is committed.

        Raises:
            StoreUnavailable: the database refused or the writer is stopped; nothing was
                acknowledged.
        """
        if self._closed or self._thread is None:
            raise StoreUnavailable("Billbridge is not accepting events right now.")
        future: Future[Stored] = Future()
        self._queue.put((event, future))
        try:
            return future.result(timeout)
        except TimeoutError:
            raise StoreUnavailable("Storing the event took too long.") from None

    async def store_async(self, event: Incoming) -> Stored:
        """Like :meth:`store`, for a caller on an asyncio loop (the HTTP server).

        The writer answers every request of a batch waiting on one loop with a single
        wake-up of that loop, not one per request.
        """
        if self._closed or self._thread is None:
            raise StoreUnavailable("Billbridge is not accepting events right now.")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Stored] = loop.create_future()
        self._queue.put((event, _LoopWaiter(loop, waiter)))
        timer = loop.call_later(STORE_TIMEOUT, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[tuple[Incoming, Waiter]]) -> None:
        events = [event for event, _waiter in batch]
        try:
            with self._turns.urgent():
                results: list[Stored | BaseException] = list(
                    write_events(self._database, events, self._clock)
                )
        except Exception as error:  # every waiting request must get an answer
            log.error("Storing %d webhook events failed", len(batch), exc_info=error)
            failure = StoreUnavailable("The workspace database could not store the event.")
            results = [failure] * len(batch)
        _answer([waiter for _event, waiter in batch], results)
        if self._on_stored is not None and any(
            isinstance(result, Stored)
            and not result.duplicate
            and event.status == EventStatus.RECEIVED
            for event, result in zip(events, results, strict=True)
        ):
            self._on_stored()


@dataclass(frozen=True)
class _LoopWaiter:
    """A request waiting on an asyncio loop."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Stored]


Waiter = Future[Stored] | _LoopWaiter


def _expire(waiter: asyncio.Future[Stored]) -> None:
    if not waiter.done():
        waiter.set_exception(StoreUnavailable("Storing the event took too long."))


def _settle(pairs: list[tuple[asyncio.Future[Stored], Stored | BaseException]]) -> None:
    """Answers the requests of one loop (runs on that loop)."""
    for future, result in pairs:
        if future.done():
            continue  # timed out meanwhile
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _answer(waiters: list[Waiter], results: list[Stored | BaseException]) -> None:
    """Answers each waiter; one wake-up per asyncio loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Stored], Any]]] = {}
    for waiter, result in zip(waiters, results, strict=True):
        if isinstance(waiter, _LoopWaiter):
            by_loop.setdefault(waiter.loop, []).append((waiter.future, result))
        elif isinstance(result, BaseException):
            waiter.set_exception(result)
        else:
            waiter.set_result(result)
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(_settle, pairs)


def write_events(
    database: Database, events: Sequence[Incoming], clock: Clock, attempts: int = 3
) -> list[Stored]:
    """Stores events in one transaction; duplicates are counted, not stored again.

    Retries when another process stored one of the same events at the same moment.
    """
    for attempt in range(attempts):
        try:
            with (
                database.engine.connect() as connection,
                _synced(connection),
                Session(connection) as session,
                session.begin(),
            ):
                return _write_batch(session, events, clock)
        except IntegrityError:
            if attempt == attempts - 1:
                raise
            log.info("An event was stored by another process meanwhile; retrying the batch")
    raise AssertionError("unreachable")


@contextmanager
def _synced(connection: DbConnection) -> Iterator[None]:
    """On SQLite, makes this connection's commits reach the disk before they return.

    The workspace runs SQLite in WAL mode with ``synchronous=NORMAL``: a commit survives
    the process being killed, but the last ones may be lost with the machine's power. An
    acknowledged event must survive both, so the writer's commits use
    ``synchronous=FULL`` (one fsync per group of events); the connection goes back to the
    pool as it was. PostgreSQL commits are durable already (``synchronous_commit``).
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA synchronous=FULL")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
        connection.commit()


def _write_batch(session: Session, events: Sequence[Incoming], clock: Clock) -> list[Stored]:
    keys = {(e.connection_id, e.event_id) for e in events if e.event_id is not None}
    existing = _ids_of(session, keys)
    now = clock()
    repeats: dict[int, int] = {}
    # index in ``events`` -> index in ``new_rows`` (several for a key repeated in the batch)
    slots: dict[int, int] = {}
    new_rows: list[dict[str, Any]] = []
    first_in_batch: dict[tuple[int, str], int] = {}
    for index, event in enumerate(events):
        key = (event.connection_id, event.event_id) if event.event_id is not None else None
        if key is not None and key in existing:
            repeats[existing[key]] = repeats.get(existing[key], 0) + 1
            continue
        if key is not None and key in first_in_batch:
            new_rows[first_in_batch[key]]["deliveries"] += 1
            slots[index] = first_in_batch[key]
            continue
        if key is not None:
            first_in_batch[key] = len(new_rows)
        slots[index] = len(new_rows)
        new_rows.append(
            {
                "connection_id": event.connection_id,
                "receiver_id": event.receiver_id,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "event_time": event.event_time,
                "status": event.status,
                "reason": event.reason,
                "body": event.body,
                "meta": event.meta,
                "changes": {},
                "deliveries": 1,
                "attempts": 0,
                "received_at": now,
                "applied_at": None,
            }
        )
    new_ids = _insert_rows(session, new_rows)
    for row_id, count in repeats.items():
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == row_id)
            .values(deliveries=WebhookEvent.deliveries + count)
        )
    results: list[Stored] = []
    handed_out: set[int] = set()
    for index, event in enumerate(events):
        if index in slots:
            row_id = new_ids[slots[index]]
            results.append(Stored(row_id, duplicate=row_id in handed_out))
            handed_out.add(row_id)
        else:
            assert event.event_id is not None
            results.append(Stored(existing[(event.connection_id, event.event_id)], duplicate=True))
    return results


def _ids_of(session: Session, keys: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """Stored row ids by (connection, event id), one indexed query per connection."""
    by_connection: dict[int, list[str]] = {}
    for connection_id, wanted in keys:
        by_connection.setdefault(connection_id, []).append(wanted)
    found: dict[tuple[int, str], int] = {}
    for connection_id, event_ids in by_connection.items():
        rows = session.execute(
            select(WebhookEvent.event_id, WebhookEvent.id).where(
                WebhookEvent.connection_id == connection_id,
                WebhookEvent.event_id.in_(event_ids),
            )
        )
        for event_id, row_id in rows:
            found[(connection_id, str(event_id))] = int(row_id)
    return found


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Inserts new rows; returns their ids in order.

    Rows with an event id go in one ``executemany`` (no per-row ``RETURNING``, which
    SQLite would run row by row) and their ids are read back by event id in one query;
    the rare rejected bodies (no event id) are inserted one by one with ``RETURNING``.
    """
    if not rows:
        return []
    table = WebhookEvent.__table__
    assert isinstance(table, Table)
    connection = session.connection()
    keyed = [row for row in rows if row["event_id"] is not None]
    ids_by_key: dict[tuple[int, str], int] = {}
    if keyed:
        connection.execute(insert(table), keyed)
        ids_by_key = _ids_of(session, {(row["connection_id"], row["event_id"]) for row in keyed})
    ids: list[int] = []
    for row in rows:
        if row["event_id"] is not None:
            ids.append(ids_by_key[(row["connection_id"], row["event_id"])])
        else:
            inserted = connection.execute(insert(table).returning(table.c.id), row).scalar_one()
            ids.append(int(inserted))
    return ids


# ----------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class EventRow:
    """A stored event as the Events page and the CLI show it.

    Attributes:
        id: its row id (what replay takes).
        received_at: when it arrived (first delivery).
        connection_name: the connection it belongs to.
        receiver_name: the receiver it came through, if it still exists.
        event_id: Zoho's event id.
        event_type: its type.
        status: its outcome (see :class:`EventStatus`).
        reason: why it failed, was rejected or ignored.
        deliveries: how many times it was delivered.
        attempts: how many times applying it was tried.
        applied_at: when it was last applied.
        changes: what applying it changed.
    """

    id: int
    received_at: datetime
    connection_name: str
    receiver_name: str | None
    event_id: str | None
    event_type: str | None
    status: str
    reason: str | None
    deliveries: int
    attempts: int
    applied_at: datetime | None
    changes: dict[str, Any]


def list_events(session: Session, *, status: str | None = None, limit: int = 500) -> list[EventRow]:
    """The newest stored events first, optionally of one status."""
    query = (
        select(WebhookEvent, Connection.name, WebhookReceiver.name)
        .join(Connection, Connection.id == WebhookEvent.connection_id)
        .outerjoin(WebhookReceiver, WebhookReceiver.id == WebhookEvent.receiver_id)
        .order_by(WebhookEvent.id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookEvent.status == status)
    return [
        EventRow(
            id=event.id,
            received_at=event.received_at,
            connection_name=connection_name,
            receiver_name=receiver_name,
            event_id=event.event_id,
            event_type=event.event_type,
            status=event.status,
            reason=event.reason,
            deliveries=event.deliveries,
            attempts=event.attempts,
            applied_at=event.applied_at,
            changes=dict(event.changes or {}),
        )
        for event, connection_name, receiver_name in session.execute(query).all()
    ]


def count_by_status(session: Session) -> dict[str, int]:
    """How many stored events there are in each status."""
    rows = session.execute(
        select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
    ).all()
    return {status: count for status, count in rows}


def event_body(session: Session, event_row_id: int) -> str | None:
    """The raw body of a stored event, as it arrived."""
    return session.scalar(select(WebhookEvent.body).where(WebhookEvent.id == event_row_id))
