"""The one seam between Billbridge and the system keychain.

A connection's secret (an API key, a JSON map of keys, or OAuth client credentials) is
stored under the connection's ``secret_ref`` and never anywhere else: not in the
database, settings, logs, exception messages, or on screen after it is saved. Where the
machine has no usable keychain, saving fails with a sentence saying how to fix it;
nothing is ever written in plain text instead.
"""

from __future__ import annotations

import threading
from typing import Protocol

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from desktop.errors import SecretStoreError

SERVICE = "billbridge"

NO_KEYCHAIN = (
    "No system keychain is available, so Billbridge cannot keep this key safely and saved "
    "nothing. Install and unlock a Secret Service keychain (for example "
    "'sudo apt-get install gnome-keyring' and log in to a desktop session), or pass the key at "
    "run time with --secret-env instead."
)


class SecretStore(Protocol):
    """Stores, reads and deletes a connection's secret by its reference."""

    @property
    def description(self) -> str:
        """A short phrase for the UI, such as "the system keychain (SecretService)"."""
        ...

    def store(self, ref: str, secret: str) -> None:
        """Saves ``secret`` under ``ref``, replacing any previous one."""

    def read(self, ref: str) -> str | None:
        """Returns the secret saved under ``ref``, or ``None`` if there is none."""

    def delete(self, ref: str) -> None:
        """Forgets the secret under ``ref``; forgetting a missing secret is not an error."""


def secret_hint(secret: str) -> str:
    """What may be shown of a saved secret: its last four characters."""
    tail = secret.strip()[-4:]
    return f"…{tail}" if tail else ""


class KeyringSecretStore:
    """Secrets in the system keychain through the ``keyring`` library."""

    def __init__(self, backend: KeyringBackend | None = None, service: str = SERVICE) -> None:
        self._backend = backend
        self._service = service

    @property
    def _keyring(self) -> KeyringBackend:
        return self._backend or keyring.get_keyring()

    @property
    def description(self) -> str:
        return f"the system keychain ({type(self._keyring).__name__})"

    def available(self) -> bool:
        """Whether a real keychain backend is present (not keyring's ``fail`` backend)."""
        backend = self._keyring
        module = type(backend).__module__
        return not module.startswith("keyring.backends.fail") and not module.startswith(
            "keyring.backends.null"
        )

    def store(self, ref: str, secret: str) -> None:
        if not self.available():
            raise SecretStoreError(NO_KEYCHAIN)
        try:
            self._keyring.set_password(self._service, ref, secret)
        except keyring.errors.NoKeyringError:
            raise SecretStoreError(NO_KEYCHAIN) from None
        except keyring.errors.KeyringError as error:
            raise SecretStoreError(
                f"The system keychain refused to save the key ({type(error).__name__}); "
                "unlock it and try again. Nothing was saved."
            ) from None

    def read(self, ref: str) -> str | None:
        if not self.available():
            raise SecretStoreError(NO_KEYCHAIN)
        try:
            value = self._keyring.get_password(self._service, ref)
        except keyring.errors.KeyringError as error:
            raise SecretStoreError(
                f"The system keychain could not be read ({type(error).__name__}); unlock it "
                "and try again."
            ) from None
        return value

    def delete(self, ref: str) -> None:
        if not self.available():
            return
        try:
            self._keyring.delete_password(self._service, ref)
        except keyring.errors.PasswordDeleteError:
            return
        except keyring.errors.KeyringError as error:
            raise SecretStoreError(
                f"The system keychain could not delete the key ({type(error).__name__})."
            ) from None


class MemorySecretStore:
    """Secrets held in memory for one run: the demo workspace and tests."""

    @property
    def description(self) -> str:
        return "memory (this run only)"

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._values = dict(initial or {})
        self._lock = threading.Lock()

    def store(self, ref: str, secret: str) -> None:
        with self._lock:
            self._values[ref] = secret

    def read(self, ref: str) -> str | None:
        with self._lock:
            return self._values.get(ref)

    def delete(self, ref: str) -> None:
        with self._lock:
            self._values.pop(ref, None)
