"""Ctrl-C during ``billbridge sync`` of a Zoho CRM connection: same contract as billing.

Set up in-process against the served sandbox, then synced by a real process while every
Zoho CRM request is held for seconds.
"""

from __future__ import annotations

import functools
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from desktop.cli import main
from desktop.cli.context import CliContext
from desktop.sandbox.facade import Sandbox
from desktop.secrets import MemorySecretStore
from desktop.storage import models
from desktop.storage.database import open_database
from tests.unit.cli.process import ROOT, child_env, command
from tests.unit.crm.support import SECRET

HELD_SECONDS = 6


@pytest.fixture
def served() -> Iterator[Sandbox]:
    with Sandbox(size=20, seed=5) as sandbox:
        sandbox.start()
        yield sandbox


def test_second_ctrl_c_records_the_crm_run_as_cancelled(
    served: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    make = functools.partial(CliContext, secrets=MemorySecretStore())
    monkeypatch.setenv("ZOHO_CRM_SECRET", SECRET)
    add = ["connection", "add", "--kind", "zoho-crm", "--name", "CRM"]
    add += ["--base-url", served.base_url("zoho-api", "com")]
    add += ["--auth-url", served.base_url("zoho-accounts", "com")]
    add += ["--secret-env", "ZOHO_CRM_SECRET", "--owner-email", "jun.mori@acme.example"]
    assert main(["--db", url, *add], make_context=make) == 0, capsys.readouterr().err
    setup = ["crm", "setup", "CRM", "--module", "contacts", "--extent", "fetch"]
    setup += ["--duplicates", "skip", "--view", "Contacts=All Contacts"]
    setup += ["--active", "Standard/Closed Won", "--non-renewing", "Renewals/Negotiation/Review"]
    assert main(["--db", url, *setup], make_context=make) == 0, capsys.readouterr().err
    served.set_faults(f"zoho-crm:latency={HELD_SECONDS}s@always")

    database = open_database(url)
    env = child_env(url, tmp_path / "keyring.json", ZOHO_CRM_SECRET=SECRET)
    process = subprocess.Popen(
        command("sync", "CRM", "--secret-env", "ZOHO_CRM_SECRET"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "the sync never started"
            assert process.poll() is None, process.communicate()
            with database.session() as session:
                if session.scalars(select(models.SyncRun).filter_by(status="running")).first():
                    break
            time.sleep(0.1)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        assert process.stderr is not None
        notice = process.stderr.readline() + process.stderr.readline()
        assert "press Ctrl-C again to stop at once" in notice
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=HELD_SECONDS * 3)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    with database.session() as session:
        statuses = session.scalars(select(models.SyncRun.status)).all()
    database.close()
    assert process.returncode == 130
    assert "cancelled" in statuses
    assert "running" not in statuses
    assert "Traceback" not in err
    assert out.strip() == "CRM: stopped at once; what was written is kept."
