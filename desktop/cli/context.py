"""What a CLI command gets: the workspace and the secret store, opened on first use."""

from __future__ import annotations

import sys
from typing import TextIO

from desktop.secrets import KeyringSecretStore, SecretStore
from desktop.storage.database import Database, open_database
from desktop.timeutil import Clock, utc_now


class CliContext:
    """Collaborators for one command, created lazily so ``--help`` opens nothing.

    Attributes:
        db_url: the ``--db`` URL (or ``BILLBRIDGE_DB``), ``None`` for the default workspace.
        demo: whether ``--demo`` was given.
        out: where commands print results (standard output).
        clock: the clock commands use.
    """

    def __init__(
        self,
        db_url: str | None,
        demo: bool = False,
        *,
        secrets: SecretStore | None = None,
        out: TextIO | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.db_url = db_url
        self.demo = demo
        self.out = out or sys.stdout
        self.clock = clock
        self._database: Database | None = None
        self._secrets = secrets

    def database(self) -> Database:
        """The workspace database, opened and migrated on first call."""
        if self._database is None:
            self._database = open_database(self.db_url, demo=self.demo)
        return self._database

    def secrets(self) -> SecretStore:
        """The secret store (the system keychain unless a test supplied another)."""
        if self._secrets is None:
            self._secrets = KeyringSecretStore()
        return self._secrets

    def close(self) -> None:
        """Closes what was opened."""
        if self._database is not None:
            self._database.close()
            self._database = None
