"""A keychain for ``billbridge`` child processes in tests: a JSON file in a temp folder.

A real process cannot see the in-memory keychain of the test process, so subprocess
tests point ``PYTHON_KEYRING_BACKEND`` at :class:`FileKeyring` and
``BILLBRIDGE_TEST_KEYRING`` at a file under ``tmp_path``. Never used outside tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend

BACKEND = "tests.unit.cli.file_keyring.FileKeyring"
VARIABLE = "BILLBRIDGE_TEST_KEYRING"


class FileKeyring(KeyringBackend):
    """Secrets in the JSON file named by ``BILLBRIDGE_TEST_KEYRING``."""

    priority = 1  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ[VARIABLE])

    def _load(self) -> dict[str, str]:
        try:
            values: dict[str, str] = json.loads(self._path.read_text())
        except FileNotFoundError:
            return {}
        return values

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        values = self._load()
        values[f"{service}/{username}"] = password
        self._path.write_text(json.dumps(values))

    def delete_password(self, service: str, username: str) -> None:
        values = self._load()
        values.pop(f"{service}/{username}", None)
        self._path.write_text(json.dumps(values))
