"""Output piped to a reader that stops early (``| head``) ends quietly, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.cli.process import ROOT, child_env, command


@pytest.mark.parametrize(
    "argv",
    [
        ("export", "accounts"),
        ("export", "users"),
        ("connection", "list"),
        ("runs",),
    ],
    ids=lambda argv: " ".join(argv),
)
def test_a_closed_pipe_ends_the_command_quietly(argv: tuple[str, ...], tmp_path: Path) -> None:
    env = child_env(f"sqlite:///{tmp_path / 'w.sqlite3'}", tmp_path / "keyring.json")
    reader, writer = os.pipe()
    os.close(reader)  # the reader ('head') has gone before the first line is written
    try:
        done = subprocess.run(
            command(*argv),
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 141
