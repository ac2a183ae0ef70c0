"""A sync killed with SIGKILL at random pages, several times, still ends equal to the truth.

Each attempt is a child process syncing over a loopback sandbox that kills itself with
SIGKILL once its progress hook has seen page N (the writer thread may be in the middle
of a transaction then). A final run in another child completes; the workspace then holds
exactly the sandbox's live records: nothing duplicated, nothing lost, every killed run
closed as interrupted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.storage import models
from desktop.storage.database import Database
from tests.unit.sync.engine_support import add_chargebee, assert_matches_truth

ROOT = Path(__file__).resolve().parents[3]

CHILD = """
import os, signal, sys
from desktop.jobs import JobContext
from desktop.secrets import MemorySecretStore
from desktop.storage.database import open_database
from desktop.sync.engine import SyncEngine

kill_at = int(sys.argv[2])
pages = 0

def progress(_report):
    global pages
    pages += 1
    if kill_at and pages >= kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

engine = SyncEngine(open_database(sys.argv[1]), MemorySecretStore(), heartbeat_seconds=None)
summary = engine.run(
    "Acme", context=JobContext(progress_callback=progress),
    secret_override=os.environ["CHARGEBEE_KEY"],
)
print(summary.status, summary.fetched, flush=True)
"""


@pytest.fixture
def served() -> Iterator[Sandbox]:
    with Sandbox(size=300, seed=23, vendors=("chargebee",)) as sandbox:
        sandbox.start()
        yield sandbox


def _sync(url: str, kill_at: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHARGEBEE_KEY": CHARGEBEE_KEYS["acme"]}
    return subprocess.run(
        [sys.executable, "-c", CHILD, url, str(kill_at)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_sigkill_at_random_pages_then_a_full_run_equals_the_truth(
    database: Database, served: Sandbox
) -> None:
    add_chargebee(database, served)
    url = database.url.render_as_string(hide_password=False)
    rng = random.Random(int(os.environ.get("BILLBRIDGE_KILL_SEED", "4")))
    kills = 0
    for _ in range(4):
        result = _sync(url, kill_at=rng.randint(1, 6))
        assert result.returncode == -signal.SIGKILL, result.stderr
        kills += 1
    result = _sync(url, kill_at=0)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("succeeded")

    assert_matches_truth(database, served)
    with database.session() as session:
        statuses = list(session.scalars(select(models.SyncRun.status).order_by(models.SyncRun.id)))
        users = set(session.scalars(select(models.User.source_id)))
    assert statuses == ["interrupted"] * kills + ["succeeded"]
    assert {f"customer:{c.id}" for c in served.truth.customers("chargebee", "acme")} <= users
    assert served.log.methods("chargebee") <= {"GET", "HEAD"}
