"""An applier process killed on its own (OOM, SIGKILL) never silences the receiver."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import sys
import threading
import time
from multiprocessing.connection import Connection as Pipe

import httpx
import pytest
from sqlalchemy import select, text, update

from desktop.secrets import KeyringSecretStore
from desktop.storage.database import Database, open_database
from desktop.storage.models import Subscription, WebhookEvent
from desktop.webhooks.service import WebhookReceiverService
from desktop.webhooks.store import Incoming, write_events
from desktop.webhooks.turns import ProcessFlag, WriteTurns, process_alive
from tests.unit.webhooks.webhook_seed import SUBSCRIPTION_ID, Seeded, clock, event_body

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="signals, /proc")

PATH = "/webhooks/zoho-billing/acme-zoho"
#: How long a request may take to be answered once the applier is dead (seconds).
ANSWER_WITHIN = 5.0


def _renewal(event_id: str) -> bytes:
    return event_body(
        event_id,
        "subscription_renewed",
        {"subscription": {"subscription_id": SUBSCRIPTION_ID, "status": "live"}},
    )


def _store(seeded: Seeded, prefix: str, count: int) -> None:
    write_events(
        seeded.database,
        [
            Incoming(
                seeded.connection_id, None, _renewal(f"{prefix}-{k}").decode(), f"{prefix}-{k}"
            )
            for k in range(count)
        ],
        clock,
    )


def _statuses(database: Database) -> list[tuple[str | None, str, int]]:
    with database.session() as session:
        return [
            (row.event_id, row.status, row.attempts)
            for row in session.scalars(select(WebhookEvent).order_by(WebhookEvent.id))
        ]


def _hold_and_write(url: str, turns: WriteTurns, event_row_id: int, report: Pipe) -> None:
    """A child that takes the background turn, claims an event uncommitted, and hangs."""
    database = open_database(url, migrate=False)
    with turns.background(), database.transaction() as session:
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event_row_id)
            .values(status="applied", attempts=WebhookEvent.attempts + 1)
        )
        session.flush()
        report.send(os.getpid())
        time.sleep(600)  # SIGKILLed here, turn held, transaction open


def _urgent_turn_within(turns: WriteTurns, seconds: float) -> bool:
    """Whether an urgent turn comes within ``seconds`` (asked on a daemon thread)."""
    taken = threading.Event()

    def take() -> None:
        with turns.urgent():
            taken.set()

    threading.Thread(target=take, name="urgent-taker", daemon=True).start()
    return taken.wait(seconds)


def test_urgent_turn_is_taken_over_from_a_killed_holder_whose_writes_rolled_back(
    seeded: Seeded,
) -> None:
    _store(seeded, "held", 1)
    with seeded.database.session() as session:
        row_id = session.scalars(select(WebhookEvent.id)).one()
    turns = WriteTurns(enabled=True, processes=True)
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    url = seeded.database.url.render_as_string(hide_password=False)
    holder = context.Process(target=_hold_and_write, args=(url, turns, row_id, send))
    holder.start()
    try:
        assert receive.poll(60), "the holder did not take the turn"
        pid = int(receive.recv())
        assert turns.holder() == pid
        assert not _urgent_turn_within(turns, 0.5)  # a live holder keeps its turn
        os.kill(pid, signal.SIGKILL)
        holder.join(10)
        assert not process_alive(pid)
        started = time.monotonic()
        assert _urgent_turn_within(turns, ANSWER_WITHIN), "the dead holder's turn was kept"
        assert time.monotonic() - started < 1.5
    finally:
        if holder.is_alive():
            holder.kill()
            holder.join(10)
    # Its claim was never committed, and its locks went with it: the database takes writes.
    assert _statuses(seeded.database) == [("held-0", "received", 0)]
    _store(seeded, "after", 1)
    assert [status for _e, status, _a in _statuses(seeded.database)] == ["received"] * 2


def _wait_on(flag: ProcessFlag) -> None:
    flag.wait()


def test_a_flag_whose_waiter_was_killed_still_sets() -> None:
    flag = ProcessFlag()
    context = multiprocessing.get_context("spawn")
    waiter = context.Process(target=_wait_on, args=(flag,))
    waiter.start()
    time.sleep(1.0)  # asleep in wait()
    waiter.kill()
    waiter.join(10)
    done = threading.Event()

    def set_it() -> None:
        flag.set()
        done.set()

    threading.Thread(target=set_it, daemon=True).start()
    assert done.wait(5)
    assert flag.is_set()
    assert flag.wait(0)
    flag.clear()
    assert not flag.wait(0.05)


def _wait_until(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _block_the_applier(seeded: Seeded) -> object:
    """Holds what the applier's first write waits for; returns the handle to let go."""
    database = seeded.database
    if database.dialect == "sqlite":
        assert database.url.database is not None
        lock = sqlite3.connect(database.url.database, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the database's write lock
        return lock
    connection = database.engine.connect()
    connection.begin()
    connection.execute(
        select(Subscription.id).where(Subscription.source_id == SUBSCRIPTION_ID).with_for_update()
    )
    return connection


def _applier_waits(seeded: Seeded, service: WebhookReceiverService) -> bool:
    """Whether the applier child is stuck inside its transaction (and turn, on SQLite)."""
    if seeded.database.dialect == "sqlite":
        return service.turns.holder() == service.applier_process.pid  # type: ignore[union-attr]
    with seeded.database.session() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


def _let_go(handle: object) -> None:
    if isinstance(handle, sqlite3.Connection):
        handle.execute("ROLLBACK")
        handle.close()
    else:
        handle.rollback()  # type: ignore[attr-defined]
        handle.close()  # type: ignore[attr-defined]


def _post_each_answered(service: WebhookReceiverService, seeded: Seeded, ids: list[str]) -> None:
    headers = {"Authorization": seeded.authorization}
    with httpx.Client(base_url=service.url, timeout=ANSWER_WITHIN) as client:
        for event_id in ids:
            started = time.monotonic()
            response = client.post(PATH, content=_renewal(event_id), headers=headers)
            assert response.status_code == 200
            assert time.monotonic() - started < ANSWER_WITHIN


def _all_applied_once(seeded: Seeded, service: WebhookReceiverService, count: int) -> None:
    assert _wait_until(
        lambda: [s for _e, s, _a in _statuses(seeded.database)] == ["applied"] * count, 60
    ), _statuses(seeded.database)
    assert [(s, a) for _e, s, a in _statuses(seeded.database)] == [("applied", 1)] * count
    assert service.applier_process is not None
    assert service.applier_process.restarts >= 1


@pytest.mark.slow
def test_receiver_answers_and_restarts_an_applier_killed_while_it_writes(
    seeded: Seeded,
) -> None:
    """Killed inside its transaction, holding the write turn on SQLite."""
    _store(seeded, "stored", 4)
    service = WebhookReceiverService(
        seeded.database, KeyringSecretStore(), clock, port=0, environ={}, apply="process"
    )
    handle = _block_the_applier(seeded)
    service.start()
    try:
        assert service.applier_process is not None
        assert _wait_until(lambda: _applier_waits(seeded, service), 60), "applier never wrote"
        pid = service.applier_process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _let_go(handle)
        handle = None
        _post_each_answered(service, seeded, ["after-0", "after-1", "after-2"])
        _all_applied_once(seeded, service, 7)
        assert service.applier_process.pid != pid
    finally:
        if handle is not None:
            _let_go(handle)
        service.stop()


@pytest.mark.slow
def test_receiver_answers_and_restarts_an_applier_killed_while_idle(seeded: Seeded) -> None:
    """Killed asleep waiting for a wake-up (the applier's usual state)."""
    service = WebhookReceiverService(
        seeded.database, KeyringSecretStore(), clock, port=0, environ={}, apply="process"
    )
    service.start()
    try:
        _post_each_answered(service, seeded, ["before-0"])
        assert _wait_until(lambda: _statuses(seeded.database)[0][1] == "applied", 60)
        time.sleep(0.5)  # back asleep in its wait
        assert service.applier_process is not None
        pid = service.applier_process.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        _post_each_answered(service, seeded, ["after-0", "after-1", "after-2"])
        _all_applied_once(seeded, service, 4)
    finally:
        service.stop()
