"""The sync in a child process: progress, cancel, sentences and where secrets travel.

These run real child processes against the sandbox served on 127.0.0.1 (a child cannot
use the in-process transport). Each child takes a second or two to start, so the file
keeps to a handful of runs over a small dataset.
"""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop.errors import NotFoundError
from desktop.jobs import Cancelled, CancelToken, JobContext, Progress
from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.secrets import KeyringSecretStore
from desktop.storage import models
from desktop.storage.database import Database, open_database
from desktop.sync.base import AuthorisationError, SyncFailure
from desktop.sync.engine import RunSummary
from desktop.sync.subprocess_runner import (
    SubprocessSyncRunner,
    runs_out_of_process,
    summary_from_json,
    summary_to_json,
)
from tests.unit.sync.engine_support import add_chargebee, assert_matches_truth

KEY = CHARGEBEE_KEYS["acme"]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(size=150, seed=11, vendors=("chargebee",)) as sb:
        sb.start()
        yield sb


@pytest.fixture
def workspace(sqlite_url: str) -> Iterator[Database]:
    database = open_database(sqlite_url)
    yield database
    database.close()


def _runner(database: Database, **kwargs: float) -> SubprocessSyncRunner:
    return SubprocessSyncRunner(database, KeyringSecretStore(), after_run=False, **kwargs)


def _runs(database: Database) -> list[tuple[str, str]]:
    with database.session() as session:
        return [
            (run.status, run.trigger)
            for run in session.scalars(select(models.SyncRun).order_by(models.SyncRun.id))
        ]


def test_sync_reports_progress_and_returns_the_summary(
    database: Database, sandbox: Sandbox
) -> None:
    add_chargebee(database, sandbox, rate_limit="none")
    runner = _runner(database)
    seen: list[Progress] = []
    exposed: list[str] = []

    def progress(report: Progress) -> None:
        seen.append(report)
        child = next(iter(runner.children.values()), None)
        if child is not None and not exposed:
            folder = Path(f"/proc/{child.pid}")
            exposed.append((folder / "cmdline").read_bytes().decode("utf-8", "replace"))
            exposed.append((folder / "environ").read_bytes().decode("utf-8", "replace"))

    summary = runner.run("Acme", context=JobContext(progress_callback=progress))

    assert summary.status == "succeeded"
    assert summary.connection == "Acme"
    assert summary.created > 0
    assert len(seen) >= 2
    assert seen[-1].done == summary.fetched
    assert seen[-1].rate is not None  # the parent's context computes the rate
    assert_matches_truth(database, sandbox)
    assert _runs(database) == [("succeeded", "manual")]
    assert not runner.children  # the child is gone
    # The key reached the child (the in-memory keychain is not visible there) but never
    # through its command line or environment; nor did the database URL.
    assert exposed, "the child was not seen while running"
    assert "desktop.sync.subprocess_runner" in exposed[0]
    url = database.url.render_as_string(hide_password=False)
    for text in exposed:
        assert KEY not in text
        assert url not in text
        assert str(database.url.database) not in text


def test_cancel_stops_between_pages_and_the_next_run_completes(
    workspace: Database, sandbox: Sandbox
) -> None:
    add_chargebee(workspace, sandbox, rate_limit="none")
    sandbox.set_faults("chargebee:latency=400ms@always")  # slow pages: cancel lands mid-run
    token = CancelToken()

    def progress(report: Progress) -> None:
        # Cancel once the first accounts page is committed, well before the run can end.
        with workspace.session() as session:
            if session.scalars(select(models.AccountSource.id).limit(1)).first() is not None:
                token.cancel()

    with pytest.raises(Cancelled):
        _runner(workspace).run("Acme", context=JobContext(progress_callback=progress, cancel=token))
    assert _runs(workspace) == [("cancelled", "manual")]
    with workspace.session() as session:
        accounts = set(session.scalars(select(models.AccountSource.source_id)))
        lock = session.scalars(select(models.SyncLock)).all()
    assert accounts
    assert not lock  # the child released the connection's lock

    sandbox.set_faults("")
    summary = _runner(workspace).run("Acme")
    assert summary.status == "succeeded"
    assert_matches_truth(workspace, sandbox)


def test_refused_key_becomes_the_re_authorise_sentence(
    workspace: Database, sandbox: Sandbox
) -> None:
    add_chargebee(workspace, sandbox)
    sandbox.set_faults("chargebee:expired=always")
    with pytest.raises(AuthorisationError, match="re-authorise") as raised:
        _runner(workspace).run("Acme")
    assert "Traceback" not in str(raised.value)
    assert KEY not in str(raised.value)
    assert _runs(workspace) == [("failed", "manual")]


def test_fetching_an_unknown_account_says_so(workspace: Database, sandbox: Sandbox) -> None:
    add_chargebee(workspace, sandbox)
    with pytest.raises(NotFoundError, match="has no account cus_missing at the source"):
        _runner(workspace).fetch_account("Acme", "cus_missing")


def test_a_child_that_dies_is_a_sentence_not_a_traceback(
    workspace: Database, sandbox: Sandbox
) -> None:
    add_chargebee(workspace, sandbox)
    runner = SubprocessSyncRunner(workspace, KeyringSecretStore(), python="/bin/false")
    with pytest.raises(SyncFailure, match=r"stopped unexpectedly .*code 1\); what was written"):
        runner.run("Acme")


def test_a_child_that_ignores_cancel_is_terminated(
    workspace: Database, sandbox: Sandbox, tmp_path: Path
) -> None:
    add_chargebee(workspace, sandbox)
    stubborn = tmp_path / "stubborn"
    stubborn.write_text("#!/bin/sh\nexec sleep 60\n")
    stubborn.chmod(stubborn.stat().st_mode | stat.S_IEXEC)
    runner = SubprocessSyncRunner(
        workspace, KeyringSecretStore(), python=str(stubborn), cancel_grace=0.3
    )
    token = CancelToken()
    token.cancel()
    context = JobContext(cancel=token)
    # Already cancelled: nothing starts.
    with pytest.raises(Cancelled):
        runner.run("Acme", context=context)

    late = CancelToken()
    timer = threading.Timer(0.5, late.cancel)
    timer.start()
    try:
        with pytest.raises(Cancelled):
            runner.run("Acme", context=JobContext(cancel=late))
    finally:
        timer.cancel()
        timer.join()
    assert not runner.children


def test_summary_round_trips_through_json() -> None:
    summary = RunSummary(run_id=3, connection="Acme", kind="full", status="partial", errors=2)
    assert summary_from_json(summary_to_json(summary)) == summary


def test_an_in_memory_workspace_stays_in_process() -> None:
    memory = open_database("sqlite://")
    try:
        assert not runs_out_of_process(memory)
    finally:
        memory.close()
