"""``billbridge export … --output FILE``: the same rows as standard output, whole or not at all."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

import desktop.cli.sync as sync_cli
from desktop.cli import main
from desktop.cli.context import CliContext
from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.secrets import MemorySecretStore


class Cli:
    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url, self.capsys, self.secrets = url, capsys, MemorySecretStore()

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        out = io.StringIO()
        make = functools.partial(CliContext, secrets=self.secrets, out=out)
        code = main(["--db", self.url, *argv], make_context=make)
        return code, out.getvalue(), self.capsys.readouterr().err


@pytest.fixture
def cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cli]:
    with Sandbox(size=20, seed=3, vendors=("chargebee",)) as sandbox:
        sandbox.start()
        run = Cli(f"sqlite:///{tmp_path / 'w.sqlite3'}", capsys)
        monkeypatch.setenv("CB_KEY", CHARGEBEE_KEYS["acme"])
        add = ["connection", "add", "--kind", "chargebee", "--name", "acme", "--site", "acme"]
        add += ["--base-url", sandbox.base_url("chargebee", "acme"), "--secret-env", "CB_KEY"]
        assert run(*add)[0] == 0
        assert run("sync", "acme")[0] == 0
        yield run


def test_output_file_holds_what_standard_output_shows(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "accounts.csv"
    code, shown, _ = cli("export", "accounts")
    assert code == 0
    rows = shown.count("\n") - 1
    assert rows > 0
    code, out, err = cli("export", "accounts", "--output", str(target))
    assert (code, err) == (0, "")
    assert out == f"Exported {rows} accounts to {target}.\n"
    assert target.read_text(encoding="utf-8") == shown
    code, out, _ = cli("export", "invoices", "--format", "jsonl", "-o", str(target))
    assert code == 0
    assert target.read_text(encoding="utf-8") == cli("export", "invoices", "--format", "jsonl")[1]


def test_a_missing_folder_is_one_sentence(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("export", "users", "-o", str(tmp_path / "nowhere" / "u.csv"))
    assert (code, out) == (2, "")
    assert err == (
        f"billbridge: Billbridge cannot write {tmp_path / 'nowhere' / 'u.csv'}: the folder "
        f"{tmp_path / 'nowhere'} does not exist.\n"
    )
    assert not (tmp_path / "nowhere").exists()


def test_a_failed_export_leaves_the_previous_file_alone(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "subscriptions.csv"
    target.write_text("yesterday's export\n", encoding="utf-8")
    calls = iter(range(1_000_000))

    def failing(value: object) -> object:
        if next(calls) == 50:
            raise KeyboardInterrupt  # Ctrl-C half-way through
        return value

    monkeypatch.setattr(sync_cli, "_value", failing)
    code, _, err = cli("export", "subscriptions", "-o", str(target))
    assert code == 130
    assert err == "billbridge: interrupted.\n"
    assert target.read_text(encoding="utf-8") == "yesterday's export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
