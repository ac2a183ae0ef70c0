"""A ``billbridge serve`` killed while it holds the write turn leaves no applier behind."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop.secrets import KeyringSecretStore
from desktop.storage.database import open_database
from desktop.storage.models import WebhookEvent
from desktop.webhooks.service import ApplierProcess, WebhookReceiverService, watch_parent
from desktop.webhooks.store import Incoming, write_events
from desktop.webhooks.turns import TurnAbandoned, WriteTurns
from tests.unit.webhooks.webhook_seed import SUBSCRIPTION_ID, Seeded, clock, event_body

EVENTS = 12


def test_waiting_for_a_turn_ends_when_stopping_is_asked_for() -> None:
    turns = WriteTurns(enabled=True)
    stop = threading.Event()
    ended: list[BaseException] = []

    def applier_side() -> None:
        try:
            with turns.background(stop):
                pass
        except TurnAbandoned as error:
            ended.append(error)

    with turns.urgent():  # held for ever by a process that was killed
        waiter = threading.Thread(target=applier_side)
        waiter.start()
        time.sleep(0.3)
        assert waiter.is_alive()  # it waits while the turn is held
        stop.set()
        waiter.join(5)
    assert not waiter.is_alive()
    assert len(ended) == 1


def test_parent_watch_stops_the_applier_and_ends_a_stuck_one() -> None:
    stop, wake, ended = threading.Event(), threading.Event(), threading.Event()
    codes: list[int] = []

    def end(code: int) -> None:
        codes.append(code)
        ended.set()

    started = time.monotonic()
    watch_parent(-1, stop, wake, grace=0.3, interval=0.01, end=end)  # -1: never the parent
    assert stop.is_set()
    assert wake.is_set()
    assert not ended.is_set()  # the applier gets its grace period first
    assert ended.wait(5)
    assert time.monotonic() - started >= 0.3
    assert codes == [1]


def _hold_the_turn(url: str, report: Pipe) -> None:
    """The middle process: a receiver whose writer holds the turn until it is killed."""
    database = open_database(url, migrate=False)
    turns = WriteTurns(enabled=True, processes=True)
    applier = ApplierProcess(database, turns)
    with turns.urgent():  # what the writer holds while it commits a batch
        applier.start()
        applier.wake()
        deadline = time.monotonic() + 60
        while applier._wake.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)  # the child clears it right before it asks for a turn
        time.sleep(0.5)
        report.send(applier.pid)
        time.sleep(600)  # SIGKILLed here, turn held


def _gone(pid: int) -> bool:
    """Whether the process has exited (a zombie waiting for its reaper counts)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _waiting(seeded: Seeded) -> list[int]:
    with seeded.database.session() as session:
        return list(
            session.scalars(select(WebhookEvent.id).where(WebhookEvent.status == "received"))
        )


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_applier_of_a_killed_receiver_exits_and_the_next_applies_each_event_once(
    seeded: Seeded,
) -> None:
    write_events(
        seeded.database,
        [
            Incoming(
                seeded.connection_id,
                None,
                event_body(
                    f"orphan-{k}",
                    "subscription_renewed",
                    {"subscription": {"subscription_id": SUBSCRIPTION_ID, "status": "live"}},
                ).decode(),
                event_id=f"orphan-{k}",
            )
            for k in range(EVENTS)
        ],
        clock,
    )
    url = seeded.database.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    middle = context.Process(target=_hold_the_turn, args=(url, send), name="serve-like")
    middle.start()
    child: int | None = None
    try:
        assert receive.poll(90), "the middle process did not start its applier"
        child = int(receive.recv())
        assert not _gone(child)
        assert middle.pid is not None
        os.kill(middle.pid, signal.SIGKILL)
        middle.join(10)
        killed = time.monotonic()
        while not _gone(child) and time.monotonic() - killed < 15:
            time.sleep(0.1)
        assert _gone(child), "the applier process outlived its killed parent"
    finally:
        if middle.is_alive():
            middle.kill()
            middle.join(10)
        if child is not None and not _gone(child):
            os.kill(child, signal.SIGKILL)  # never leave one behind, even when failing
    assert len(_waiting(seeded)) == EVENTS  # the dead pair applied nothing

    service = WebhookReceiverService(
        seeded.database, KeyringSecretStore(), clock, port=0, environ={}, apply="process"
    )
    service.start()
    try:
        deadline = time.monotonic() + 60
        while _waiting(seeded) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        service.stop()
    with seeded.database.session() as session:
        rows = list(session.scalars(select(WebhookEvent)))
    assert len(rows) == EVENTS
    assert [(row.status, row.attempts) for row in rows] == [("applied", 1)] * EVENTS
