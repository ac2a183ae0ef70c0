"""``billbridge connection credentials``: a new or rotated key without losing what was synced."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.cli.context import CliContext
from desktop.sandbox.credentials import RECURLY_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.secrets import MemorySecretStore


@pytest.fixture
def served() -> Iterator[Sandbox]:
    with Sandbox(size=20, seed=3, vendors=("recurly",)) as sandbox:
        sandbox.start()
        yield sandbox


def test_a_rotated_key_replaces_the_stored_one(
    served: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secrets = MemorySecretStore()
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"

    def cli(*argv: str) -> tuple[int, str, str]:
        out = io.StringIO()
        make = functools.partial(CliContext, secrets=secrets, out=out)
        code = main(["--db", url, *argv], make_context=make)
        return code, out.getvalue(), capsys.readouterr().err

    monkeypatch.setenv("OLD_KEY", "revoked_key_0000000000000000")
    add = ["connection", "add", "--kind", "recurly", "--name", "acme", "--site", "acme"]
    add += ["--base-url", served.base_url("recurly", "acme"), "--secret-env", "OLD_KEY"]
    assert cli(*add)[0] == 0
    code, _, err = cli("sync", "acme")
    assert code == 2
    assert "refused the API key" in err

    monkeypatch.setenv("BROKEN", '{"acme": ')
    code, _, err = cli("connection", "credentials", "acme", "--secret-env", "BROKEN")
    assert code == 2
    assert "not valid JSON" in err

    monkeypatch.setenv("NEW_KEY", RECURLY_KEYS["acme"])
    code, out, err = cli("connection", "credentials", "acme", "--secret-env", "NEW_KEY")
    assert (code, err) == (0, "")
    assert out == f"acme: key …{RECURLY_KEYS['acme'][-4:]} stored in the keychain.\n"
    assert RECURLY_KEYS["acme"] not in out
    code, out, _ = cli("sync", "acme")
    assert code == 0, out
    assert out.startswith("acme: succeeded")

    code, _, err = cli("connection", "credentials", "nope", "--secret-env", "NEW_KEY")
    assert code == 2
    assert err == "billbridge: There is no connection called 'nope'.\n"


def test_credentials_needs_the_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["connection", "credentials", "acme"])
    assert caught.value.code == 2
    assert "--secret-env" in capsys.readouterr().err
