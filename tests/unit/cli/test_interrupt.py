"""Ctrl-C during ``billbridge sync``: the process ends promptly and the run is recorded.

A real process against a served sandbox whose every Chargebee request takes seconds, so
the run is surely inside a request when the signals arrive.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.secrets import MemorySecretStore
from desktop.storage import models
from desktop.storage.database import Database, open_database
from desktop.sync.connections import ConnectionService
from tests.unit.cli.process import ROOT, child_env, command

HELD_SECONDS = 6


@pytest.fixture
def slow_sandbox() -> Iterator[Sandbox]:
    with Sandbox(size=20, seed=3, faults=f"chargebee:latency={HELD_SECONDS}s@always") as box:
        box.start()
        yield box


@pytest.fixture
def workspace(tmp_path: Path, slow_sandbox: Sandbox) -> Iterator[tuple[str, Database]]:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    database = open_database(url)
    ConnectionService(database, MemorySecretStore()).add(
        name="acme",
        kind="chargebee",
        settings={"site": "acme", "base_url": slow_sandbox.base_url("chargebee", "acme")},
    )  # no key stored: the run reads it from --secret-env
    yield url, database
    database.close()


def _runs(database: Database) -> list[models.SyncRun]:
    with database.session() as session:
        return list(session.scalars(select(models.SyncRun)).all())


def _wait_for_a_running_run(database: Database, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if any(run.status == "running" for run in _runs(database)):
            return
        time.sleep(0.1)
    raise AssertionError("the sync never started")


@pytest.mark.parametrize("what", ["sync", "fetch"])
def test_second_ctrl_c_stops_at_once_and_records_the_run_as_cancelled(
    what: str, tmp_path: Path, workspace: tuple[str, Database], slow_sandbox: Sandbox
) -> None:
    url, database = workspace
    env = child_env(url, tmp_path / "keyring.json", CB_KEY=CHARGEBEE_KEYS["acme"])
    argv = ["sync", "acme"]
    if what == "fetch":
        argv = ["fetch", "acme", slow_sandbox.truth.customers("chargebee", "acme")[0].id]
    process = subprocess.Popen(
        command(*argv, "--secret-env", "CB_KEY"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        _wait_for_a_running_run(database, process)
        time.sleep(0.5)  # inside the first (held) request
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        notice = process.stderr.readline() + process.stderr.readline()  # a blank line first
        assert "press Ctrl-C again to stop at once" in notice
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = process.communicate(timeout=HELD_SECONDS * 3)
        waited = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert waited < HELD_SECONDS / 2, "the held request was not waited for"
    [run] = _runs(database)
    assert run.status == "cancelled", "not left 'running' until a later run finds it"
    assert run.finished_at is not None
    with database.session() as session:
        assert session.scalars(select(models.SyncLock)).all() == [], "the lock is released"
    assert "Traceback" not in err
    assert out.strip() == "acme: stopped at once; what was written is kept."


def test_sigterm_cancels_the_run_after_the_current_request(
    tmp_path: Path, workspace: tuple[str, Database]
) -> None:
    url, database = workspace
    env = child_env(url, tmp_path / "keyring.json", CB_KEY=CHARGEBEE_KEYS["acme"])
    process = subprocess.Popen(
        command("sync", "acme", "--secret-env", "CB_KEY"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        _wait_for_a_running_run(database, process)
        process.send_signal(signal.SIGTERM)  # what timeout(1), systemd and docker send
        out, err = process.communicate(timeout=HELD_SECONDS * 3)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    [run] = _runs(database)
    assert run.status == "cancelled", "not left 'running' by a process killed mid-run"
    assert "Traceback" not in err
    assert "stopping (SIGTERM)" in err
    assert out.strip() == "acme: cancelled; what was written is kept."
