"""The command line: help, the workspace command, and clear refusals without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.cli import main


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "workspace" in out
    assert "--db" in out
    assert "--demo" in out


def test_workspace_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    assert main(["--db", url, "workspace"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "w.sqlite3") in out
    assert "Accounts:" in out


def test_db_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'env.sqlite3'}"
    monkeypatch.setenv("BILLBRIDGE_DB", url)
    assert main(["workspace"]) == 0
    assert (tmp_path / "env.sqlite3").exists()


def test_unopenable_database_is_one_sentence(tmp_path: Path) -> None:
    result = _run("--db", "sqlite:////no/such/folder/w.sqlite3", "workspace")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("billbridge: Billbridge cannot open the workspace")
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_display_is_one_sentence(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    result = subprocess.run(
        [sys.executable, "-m", "desktop", "--db", f"sqlite:///{tmp_path / 'w.sqlite3'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "needs a graphical display" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "w.sqlite3").exists(), "nothing is written when there is no display"


def test_newer_workspace_refused_by_the_app(tmp_path: Path) -> None:
    import sqlite3

    from desktop.storage.database import open_database

    path = tmp_path / "w.sqlite3"
    open_database(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE alembic_version SET version_num = 'zzzz'")
    result = _run("--db", f"sqlite:///{path}", env={"QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 2
    assert "newer version of Billbridge" in result.stderr
    assert "Traceback" not in result.stderr
