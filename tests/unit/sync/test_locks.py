"""One sync per connection across processes: a live holder refuses, a killed one does not.

On PostgreSQL the holder also keeps an advisory lock, so a second process is refused even
when the holder runs on another machine with a late heartbeat, and a holder killed with
SIGKILL is replaced at once. On SQLite the holder's pid on this host tells the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from desktop.storage import models
from desktop.storage.database import Database
from desktop.sync.locks import SyncBusy, SyncLocks

ROOT = Path(__file__).resolve().parents[3]

HOLDER = """
import sys, time
from desktop.storage.database import open_database
from desktop.sync.locks import SyncLocks
database = open_database(sys.argv[1])
host = sys.argv[3] or None
SyncLocks(database, host=host).acquire(int(sys.argv[2]), "scheduled", heartbeat_seconds=None)
print("held", flush=True)
time.sleep(600)
"""


def _connection(database: Database) -> int:
    with database.transaction() as session:
        row = models.Connection(name="Acme", kind="chargebee", settings={})
        session.add(row)
        session.flush()
        return row.id


def _url(database: Database) -> str:
    return database.url.render_as_string(hide_password=False)


def test_a_live_holder_in_another_process_refuses_and_a_killed_one_does_not(
    database: Database,
) -> None:
    cid = _connection(database)
    postgres = database.dialect == "postgresql"
    # PostgreSQL: pretend the holder is on another machine, so only the advisory lock
    # can tell it is alive; SQLite: same host, so its pid tells.
    host = "other-machine" if postgres else ""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, _url(database), str(cid), host],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        # A heartbeat-only lock would call this holder abandoned at once (stale_after=0
        # on PostgreSQL); the advisory lock says it is alive.
        stale_after = timedelta(0) if postgres else timedelta(minutes=2)
        locks = SyncLocks(database, stale_after=stale_after)
        with pytest.raises(SyncBusy, match="A scheduled sync of Acme is running"):
            locks.acquire(cid, "manual", heartbeat_seconds=None)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        deadline = time.monotonic() + 10
        while True:  # the server notices the closed session within moments
            try:
                held = SyncLocks(database).acquire(cid, "manual", heartbeat_seconds=None)
                break
            except SyncBusy:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        holder = locks.holder(cid)
        assert holder is not None
        assert holder.trigger == "manual"
        held.release()
        assert locks.holder(cid) is None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_release_lets_the_next_run_in_at_once(database: Database) -> None:
    cid = _connection(database)
    locks = SyncLocks(database)
    first = locks.acquire(cid, "manual", heartbeat_seconds=None)
    with pytest.raises(SyncBusy):
        locks.acquire(cid, "scheduled", heartbeat_seconds=None)
    first.release()
    locks.acquire(cid, "scheduled", heartbeat_seconds=None).release()
