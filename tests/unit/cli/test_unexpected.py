"""An error no command expected ends the process with one sentence, details in the log."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from desktop.storage.database import open_database
from tests.unit.cli.process import child_env, run


def test_an_unexpected_error_is_one_sentence_and_the_traceback_goes_to_the_log(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.sqlite3"
    open_database(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as raw:  # a workspace damaged behind Billbridge's back
        raw.execute("DROP TABLE sync_runs")
    done = run(child_env(f"sqlite:///{path}", tmp_path / "keyring.json"), "runs")
    log = Path(os.environ["XDG_STATE_HOME"]) / "Billbridge" / "log" / "billbridge.log"
    assert done.code == 2
    assert done.err == (
        "billbridge: the command stopped on an unexpected error (OperationalError); "
        f"details are in {log}.\n"
    )
    assert "Traceback" in log.read_text(), "the details are kept for a bug report"
