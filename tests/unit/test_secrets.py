"""The secret seam: the keychain or a clear refusal, never plain text."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from desktop.errors import SecretStoreError
from desktop.secrets import KeyringSecretStore, MemorySecretStore, secret_hint
from tests.conftest import InMemoryKeyring


def test_store_read_delete(memory_keyring: InMemoryKeyring) -> None:
    store = KeyringSecretStore()
    store.store("ref-1", "live_abcdef123456")
    assert store.read("ref-1") == "live_abcdef123456"
    assert ("billbridge", "ref-1") in memory_keyring.values
    store.delete("ref-1")
    assert store.read("ref-1") is None
    store.delete("ref-1")  # deleting twice is fine


def test_no_keychain_refuses_with_a_sentence(tmp_path: Path) -> None:
    keyring.set_keyring(fail.Keyring())
    store = KeyringSecretStore()
    with pytest.raises(SecretStoreError, match="No system keychain is available") as caught:
        store.store("ref-1", "live_topsecret")
    assert "live_topsecret" not in str(caught.value)
    assert "apt-get install gnome-keyring" in str(caught.value)
    assert not any(
        "topsecret" in p.read_text(errors="ignore") for p in tmp_path.rglob("*") if p.is_file()
    )


def test_hint_shows_only_the_last_four() -> None:
    assert secret_hint("live_abcdef123456") == "…3456"
    assert secret_hint("") == ""


def test_memory_store_is_separate_per_instance() -> None:
    first, second = MemorySecretStore(), MemorySecretStore()
    first.store("a", "1")
    assert second.read("a") is None
