"""Typed errors that carry one sentence for a person.

The core raises these; the CLI prints ``str(error)`` and the UI shows it once. A message
never contains a secret and never a traceback.
"""

from __future__ import annotations


class BillbridgeError(Exception):
    """An error whose message is a complete sentence meant for the user.

    Attributes:
        exit_code: the process exit code the CLI uses for it.
    """

    exit_code: int = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class WorkspaceError(BillbridgeError):
    """The workspace database cannot be opened, migrated or used."""


class SecretStoreError(BillbridgeError):
    """The system keychain cannot store or read a secret."""


class ConfigurationError(BillbridgeError):
    """A setting or a command-line value is invalid."""


class NotFoundError(BillbridgeError):
    """A named thing (connection, record, run) does not exist."""
