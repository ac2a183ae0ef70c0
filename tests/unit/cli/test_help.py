"""``--help`` tells a user what the contract promises: secrets, exit codes, every argument."""

from __future__ import annotations

import argparse
import functools
import io
import json
from pathlib import Path
from typing import Any

import pytest

from desktop.cli import build_parser, main
from desktop.cli.context import CliContext
from desktop.secrets import MemorySecretStore


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    return capsys.readouterr().out


def _subcommands(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, Any]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((f"{path} {name}".strip(), sub))
                found += _subcommands(sub, f"{path} {name}")
    return found


def test_every_argument_of_the_sync_and_connection_commands_says_what_it_is() -> None:
    undocumented = [
        f"{path} {action.dest}"
        for path, sub in _subcommands(build_parser())
        if path.split()[0] in ("sync", "fetch", "export", "runs", "errors", "connection")
        for action in sub._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert undocumented == []


def test_sync_and_fetch_help_list_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("sync", "fetch"):
        text = _help(capsys, command)
        for code in ("0", "1", "2", "130"):
            assert f"\n  {code} " in text, (command, code)
    sync_help = " ".join(_help(capsys, "sync").split())
    assert "Ctrl-C or SIGTERM cancels after the current request" in sync_help
    assert "a second one stops at once" in sync_help


def test_connection_add_help_describes_each_secret(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "connection", "add")
    assert "chargebee     the site's API key" in text
    assert '{"acme": "KEY", "acme-2": "KEY"}' in text
    assert "client_id" in text
    assert "refresh_token" in text
    assert "--secret-env VAR" in text
    assert "stored nowhere" in text


def test_export_help_names_the_output_and_the_units(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(_help(capsys, "export").split())
    assert "standard output" in text
    assert "minor units" in text
    assert "ISO 8601 UTC" in text


def test_a_site_map_secret_is_reported_as_its_number_of_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITES", json.dumps({"acme": "k" * 20, "acme-2": "q" * 20}))
    out = io.StringIO()
    make = functools.partial(CliContext, secrets=MemorySecretStore(), out=out)
    argv = ["--db", f"sqlite:///{tmp_path / 'w.sqlite3'}", "connection", "add"]
    argv += ["--kind", "recurly", "--name", "two", "--secret-env", "SITES"]
    assert main(argv, make_context=make) == 0
    assert "2 keys stored in the keychain" in out.getvalue()
    assert "key 2 keys" not in out.getvalue()
