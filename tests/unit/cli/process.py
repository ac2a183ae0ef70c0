"""Runs ``billbridge`` as a real process, as a user's script does (exit codes, signals, pipes).

The child gets the test's isolated home folders, a workspace URL and a file keychain
(:mod:`tests.unit.cli.file_keyring`), and nothing of the developer's environment that
could change what it does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.unit.cli import file_keyring

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Finished:
    """A finished ``billbridge`` process."""

    code: int
    out: str
    err: str


def child_env(db_url: str, keyring_file: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``billbridge`` child process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BILLBRIDGE_")}
    env.update(
        BILLBRIDGE_DB=db_url,
        PYTHON_KEYRING_BACKEND=file_keyring.BACKEND,
        PYTHONPATH=str(ROOT),
        **{file_keyring.VARIABLE: str(keyring_file)},
    )
    env.update(extra)
    return env


def command(*argv: str) -> list[str]:
    """The command line running ``billbridge ARGV``."""
    return [sys.executable, "-m", "desktop", *argv]


def run(env: dict[str, str], *argv: str, **options: Any) -> Finished:
    """Runs ``billbridge ARGV`` to its end (two minutes at most)."""
    done = subprocess.run(
        command(*argv),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
        **options,
    )
    return Finished(done.returncode, done.stdout, done.stderr)
