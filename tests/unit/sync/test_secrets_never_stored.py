"""No secret ever reaches the database, its WAL, the log or an export.

Real demo keys go through ``connection add --secret-env`` (into the in-memory keychain),
``sync`` (also with ``--secret-env`` at run time, and a run that fails on a refused key),
``fetch``, ``runs``, ``errors`` and every export; then the bytes of the database file,
its WAL, the log folder, the export files and the printed output are searched for every
secret, its base64 form and its HTTP Basic header.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.cli import main
from desktop.cli.context import CliContext
from desktop.sandbox.credentials import (
    CHARGEBEE_KEYS,
    RECURLY_KEYS,
    ZOHO_CLIENT_ID,
    ZOHO_CLIENT_SECRET,
    zoho_user,
)
from desktop.sandbox.facade import Sandbox
from desktop.secrets import MemorySecretStore


@pytest.fixture
def served() -> Iterator[Sandbox]:
    with Sandbox(size=40, seed=9) as sandbox:
        sandbox.start()
        yield sandbox


@pytest.fixture
def log_folder(tmp_path: Path) -> Iterator[Path]:
    """Everything Billbridge logs, at DEBUG, into a file (HTTP libraries as the app sets
    them: WARNING, see desktop.app.configure_logging)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    handler = logging.FileHandler(folder / "billbridge.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield folder
    root.removeHandler(handler)
    handler.close()
    root.setLevel(previous)
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


def _forms(secret: str) -> set[str]:
    """A secret and the encodings it could leak in."""
    found = {secret, base64.b64encode(secret.encode()).decode()}
    basic = base64.b64encode(f"{secret}:".encode()).decode()
    found |= {basic, f"Basic {basic}"}
    return {f for f in found if len(f) >= 8}


def test_secrets_are_nowhere_on_disk_or_in_output(
    tmp_path: Path,
    served: Sandbox,
    log_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    url = f"sqlite:///{tmp_path / 'workspace.sqlite3'}"
    store = MemorySecretStore()
    printed: list[str] = []

    def cli(*argv: str) -> int:
        out = io.StringIO()
        code = main(
            ["--db", url, *argv],
            make_context=functools.partial(CliContext, secrets=store, out=out),
        )
        printed.append(out.getvalue())
        printed.append(capsys.readouterr().err)
        return code

    zoho = {
        "client_id": ZOHO_CLIENT_ID,
        "client_secret": ZOHO_CLIENT_SECRET,
        "refresh_token": zoho_user("com").refresh_token,
    }
    monkeypatch.setenv("CB", CHARGEBEE_KEYS["acme"])
    monkeypatch.setenv("CB_RUN", CHARGEBEE_KEYS["acme-test"])
    recurly = json.dumps({"acme": RECURLY_KEYS["acme"]})  # a site map (of one site here)
    monkeypatch.setenv("REC", recurly)
    monkeypatch.setenv("ZOHO", json.dumps(zoho))
    add = ("connection", "add")
    cb_url = served.base_url("chargebee", "acme")
    assert cli(*add, "--kind", "chargebee", "--name", "Acme", "--site", "acme",
               "--base-url", cb_url, "--secret-env", "CB") == 0  # fmt: skip
    # SQLite removes the WAL when its last connection closes: keep one open to search it
    keeper = sqlite3.connect(tmp_path / "workspace.sqlite3")
    keeper.execute("SELECT count(*) FROM connections").fetchone()
    request.addfinalizer(keeper.close)
    assert cli(*add, "--kind", "chargebee", "--name", "Test", "--site", "acme-test",
               "--base-url", served.base_url("chargebee", "acme-test")) == 0  # fmt: skip
    assert cli(*add, "--kind", "recurly", "--name", "Rec", "--base-url",
               served.base_url("recurly", "acme"), "--secret-env", "REC") == 0  # fmt: skip
    assert cli("connection", "add", "--kind", "zoho-billing", "--name", "Zoho", "--org-id",
               "10234695", "--base-url", served.base_url("zoho-billing", "10234695"),
               "--auth-url", served.base_url("zoho-accounts", "com"),
               "--secret-env", "ZOHO") == 0  # fmt: skip
    assert cli("sync", "Acme") == 0
    assert cli("sync", "Test", "--secret-env", "CB_RUN") == 0
    assert cli("sync", "Rec") == 0
    assert cli("sync", "Zoho") == 0
    served.set_faults("expired=always")
    assert cli("sync", "Acme") == 2  # a refused key: its sentence is logged and stored
    assert cli("sync", "Zoho", "--full") == 2
    served.set_faults("")
    customer = served.truth.customers("chargebee", "acme")[0].id
    assert cli("fetch", "Acme", customer) == 0
    assert cli("runs") == 0
    assert cli("errors") == 0
    assert cli("connection", "list") == 0
    exports = tmp_path / "exports"
    exports.mkdir()
    for what in ("accounts", "users", "subscriptions", "invoices"):
        for fmt in ("csv", "jsonl"):
            out = io.StringIO()
            main(
                ["--db", url, "export", what, "--format", fmt],
                make_context=functools.partial(CliContext, secrets=store, out=out),
            )
            (exports / f"{what}.{fmt}").write_text(out.getvalue())

    secrets = [*CHARGEBEE_KEYS.values(), *RECURLY_KEYS.values(), recurly,
               ZOHO_CLIENT_SECRET, zoho["refresh_token"], json.dumps(zoho)]  # fmt: skip
    files = [p for p in tmp_path.iterdir() if p.name.startswith("workspace.sqlite3")]
    assert any(p.name.endswith("-wal") for p in files)  # the WAL is searched too
    files += [p for p in log_folder.rglob("*") if p.is_file()]
    files += list(exports.iterdir())
    assert (log_folder / "billbridge.log").stat().st_size > 0
    assert all(p.stat().st_size > 0 for p in exports.iterdir())
    haystacks = {str(p): p.read_bytes() for p in files}
    haystacks["printed output"] = "\n".join(printed).encode()
    for secret in secrets:
        for form in _forms(secret):
            for where, data in haystacks.items():
                assert form.encode() not in data, f"a secret leaked into {where}"
    # the stored secrets are really these (the search would find them if written)
    assert set(store._values.values()) >= {CHARGEBEE_KEYS["acme"], json.dumps(zoho)}
