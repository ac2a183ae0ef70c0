"""The ``billbridge`` sync CLI contract: every command and flag users script against.

Commands run in-process through :func:`desktop.cli.main` with a context holding an
in-memory secret store and an output buffer; syncs go over loopback to a served sandbox.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

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
from desktop.storage import models
from desktop.storage.database import open_database

SUMMARY = re.compile(
    r"^(?P<name>.+): (?P<status>\w+) — (?P<fetched>[\d,]+) fetched, [\d,]+ created, "
    r"[\d,]+ updated, [\d,]+ deleted, (?P<errors>[\d,]+) errors, [\d,]+ API calls in "
    r"[\d.]+ s(; .*)?\.$"
)
ZOHO_SECRET = json.dumps(
    {
        "client_id": ZOHO_CLIENT_ID,
        "client_secret": ZOHO_CLIENT_SECRET,
        "refresh_token": zoho_user("com").refresh_token,
    }
)


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    """Runs ``billbridge --db URL …`` in-process."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.capsys = capsys
        self.secrets = MemorySecretStore()

    def __call__(self, *argv: str) -> Result:
        out = io.StringIO()
        make = functools.partial(CliContext, secrets=self.secrets, out=out)
        code = main(["--db", self.url, *argv], make_context=make)
        return Result(code, out.getvalue(), self.capsys.readouterr().err)


@pytest.fixture
def served() -> Iterator[Sandbox]:
    with Sandbox(size=40, seed=3) as sandbox:
        sandbox.start()
        yield sandbox


@pytest.fixture
def cli(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(sqlite_url, capsys)


def _add_chargebee(
    cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch, *extra: str, name: str = "Acme"
) -> Result:
    monkeypatch.setenv("CB_KEY", CHARGEBEE_KEYS["acme"])
    return cli(
        "connection", "add", "--kind", "chargebee", "--name", name, "--site", "acme",
        "--base-url", served.base_url("chargebee", "acme"), "--secret-env", "CB_KEY", *extra,
    )  # fmt: skip


# ------------------------------------------------------------------ connection


def test_connection_add_list_remove_for_each_kind(
    cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = _add_chargebee(cli, served, monkeypatch)
    assert added.code == 0
    key = CHARGEBEE_KEYS["acme"]
    hint = f"…{key[-4:]}"
    assert (
        added.out
        == f"Added Acme (chargebee: acme (live site); daily; key {hint} stored in the keychain).\n"
    )
    monkeypatch.setenv("CB_TEST", CHARGEBEE_KEYS["acme-test"])
    assert cli(
        "connection", "add", "--kind", "chargebee", "--name", "Acme test", "--site",
        "acme-test", "--secret-env", "CB_TEST", "--mode", "import-only",
    ).code == 0  # fmt: skip
    monkeypatch.setenv("REC_ONE", RECURLY_KEYS["acme"])
    assert cli(
        "connection", "add", "--kind", "recurly", "--name", "Rec", "--site", "acme",
        "--base-url", served.base_url("recurly", "acme"), "--secret-env", "REC_ONE",
        "--id-source", "custom-field", "--id-object", "account", "--id-field", "tenant_id",
    ).code == 0  # fmt: skip
    monkeypatch.setenv("REC_MAP", json.dumps(RECURLY_KEYS))
    assert cli(
        "connection", "add", "--kind", "recurly", "--name", "Rec EU", "--region", "eu",
        "--secret-env", "REC_MAP",
    ).code == 0  # fmt: skip
    monkeypatch.setenv("ZOHO", ZOHO_SECRET)
    assert cli(
        "connection", "add", "--kind", "zoho-billing", "--name", "Zoho", "--org-id",
        "10234695", "--data-centre", "us", "--base-url",
        served.base_url("zoho-billing", "10234695"), "--auth-url",
        served.base_url("zoho-accounts", "com"), "--secret-env", "ZOHO",
    ).code == 0  # fmt: skip
    assert cli("connection", "add", "--kind", "chargebee", "--name", "Keyless",
               "--site", "acme").out.endswith("no key stored).\n")  # fmt: skip

    listing = cli("connection", "list")
    assert listing.code == 0
    lines = {line.split("  ")[0].strip(): line for line in listing.out.splitlines()[1:]}
    assert set(lines) == {"Acme", "Acme test", "Keyless", "Rec", "Rec EU", "Zoho"}
    assert "acme-test (test site)" in lines["Acme test"]
    assert "import-only" in lines["Acme test"]
    assert "2 sites, EU" in lines["Rec EU"]
    assert "2 keys" in lines["Rec EU"]  # a site map's hint says how many keys, no JSON tail
    assert f"…{RECURLY_KEYS['acme'][-4:]}" in lines["Rec"]
    assert "…" + zoho_user("com").refresh_token[-4:] in lines["Zoho"]
    assert '"}' not in listing.out
    assert "never" in lines["Keyless"]

    removed = cli("connection", "remove", "Rec EU")
    assert (removed.code, removed.out) == (0, "Removed Rec EU and everything synced from it.\n")
    assert "Rec EU" not in cli("connection", "list").out
    missing = cli("connection", "remove", "Rec EU")
    assert missing.code == 2
    assert "There is no connection called 'Rec EU'" in missing.err


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--kind", "chargebee", "--name", "X"], {}, "needs --site"),
        (["--kind", "chargebee", "--name", "X", "--site", "ac me"], {},
         "'ac me' is not a Chargebee site name"),
        (["--kind", "chargebee", "--name", "X", "--site", "acme", "--secret-env", "S"],
         {"S": "live_abcdef0123\nlive_abcdef0123"}, "paste the key alone"),
        (["--kind", "chargebee", "--name", "X", "--site", "acme", "--secret-env", "S"],
         {"S": '{"api_key": "live_abcdef0123"}'}, "without spaces, line breaks, quotes or JSON"),
        (["--kind", "recurly", "--name", "X", "--site", "a", "--region", "ap"], {},
         "'ap' is not a Recurly region"),
        (["--kind", "recurly", "--name", "X"], {}, "needs --site"),
        (["--kind", "recurly", "--name", "X", "--secret-env", "S"], {"S": '{"acme": '},
         "not valid JSON (line 1"),
        (["--kind", "recurly", "--name", "X", "--secret-env", "S"], {"S": "{}"},
         "lists no sites"),
        (["--kind", "recurly", "--name", "X", "--secret-env", "S"], {"S": '{"acme": 5}'},
         "acme"),
        (["--kind", "recurly", "--name", "X", "--secret-env", "S"], {"S": "[1]"},
         "not a JSON list"),
        (["--kind", "zoho-billing", "--name", "X"], {}, "needs --org-id"),
        (["--kind", "zoho-billing", "--name", "X", "--org-id", "1", "--secret-env", "S"],
         {"S": '{"client_id": "a"}'}, "has no client_secret"),
        (["--kind", "zoho-billing", "--name", "X", "--org-id", "1", "--data-centre", "mars"],
         {}, "mars"),
        (["--kind", "chargebee", "--name", "X", "--site", "a", "--base-url", "not a url"],
         {}, "base URL"),
        (["--kind", "chargebee", "--name", "X", "--site", "a", "--secret-env", "UNSET_VAR"],
         {}, "UNSET_VAR named by --secret-env is not set or empty"),
        (["--kind", "chargebee", "--name", "X", "--site", "a", "--id-source",
          "custom-field"], {}, "field"),
        (["--kind", "chargebee", "--name", "", "--site", "a"], {}, "needs a name"),
    ],
)  # fmt: skip
def test_connection_add_refuses_with_a_sentence(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], message: str
) -> None:
    monkeypatch.delenv("UNSET_VAR", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = cli("connection", "add", *argv)
    assert result.code == 2
    assert result.err.startswith("billbridge: ")
    assert message in result.err
    assert "Traceback" not in result.err
    for value in env.values():  # a rejected secret is never echoed
        if len(value) > 6:
            assert value not in result.err
    assert not cli.secrets._values  # nothing stored
    assert cli("connection", "list").out.startswith("No connections yet")


def test_connection_add_refuses_a_taken_name_and_unknown_kinds(
    cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _add_chargebee(cli, served, monkeypatch).code == 0
    again = _add_chargebee(cli, served, monkeypatch)
    assert again.code == 2
    assert "A connection called 'Acme' already exists." in again.err
    with pytest.raises(SystemExit) as exited:
        cli("connection", "add", "--kind", "stripe", "--name", "S")
    assert exited.value.code == 2


# ------------------------------------------------------------------ sync


def test_sync_prints_one_summary_line_and_exit_codes(
    cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_chargebee(cli, served, monkeypatch, "--id-source", "custom-field", "--id-object",
                   "account", "--id-field", "cf_tenant_id")  # fmt: skip
    first = cli("sync", "Acme")
    assert first.code == 0, first.err
    line = SUMMARY.match(first.out.strip())
    assert line is not None, first.out
    assert (line["name"], line["status"], line["errors"]) == ("Acme", "succeeded", "0")
    assert first.out.count("\n") == 1
    assert "\r" not in first.err  # no progress bar when stderr is not a terminal

    # a record that fails (its identifier changed at the source): exit 1, listed in errors
    customer = next(
        c for c in served.truth.customers("chargebee", "acme") if c.tenant_id is not None
    )
    served.advance_clock(60)
    served.mutations.update_customer("chargebee", customer.id, tenant_id="t-moved")
    partial = cli("sync", "Acme")
    assert partial.code == 1
    assert ": partial — " in partial.out
    errors = cli("errors", "Acme")
    assert errors.code == 0
    assert customer.id in errors.out
    assert "identifier" in errors.out

    # a connection-level failure: exit 2 with a sentence, recorded as a failed run
    served.set_faults("chargebee:expired=always")
    failed = cli("sync", "Acme")
    assert failed.code == 2
    assert "re-authorise this connection" in failed.err
    assert "Traceback" not in failed.err
    served.set_faults("")
    runs = cli("runs", "Acme")
    statuses = [row.split()[4] for row in runs.out.splitlines()[1:]]
    assert statuses == ["failed", "partial", "succeeded"]


def test_sync_full_and_all(cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    _add_chargebee(cli, served, monkeypatch)
    monkeypatch.setenv("REC", RECURLY_KEYS["acme"])
    cli("connection", "add", "--kind", "recurly", "--name", "Rec", "--site", "acme",
        "--base-url", served.base_url("recurly", "acme"), "--secret-env", "REC")  # fmt: skip
    everything = cli("sync", "--all")
    assert everything.code == 0, everything.err
    assert [line.split(":")[0] for line in everything.out.splitlines()] == ["Acme", "Rec"]
    full = cli("sync", "Acme", "--full")
    assert full.code == 0
    runs = cli("runs")
    kinds = [row.split()[2] for row in runs.out.splitlines()[1:]]
    assert kinds == ["full", "incremental", "incremental"]
    neither = cli("sync")
    both = cli("sync", "Acme", "--all")
    assert neither.code == both.code == 2
    assert "give a connection name or --all" in neither.err
    unknown = cli("sync", "Nope")
    assert unknown.code == 2
    assert "There is no connection called 'Nope'" in unknown.err


def test_secret_env_at_run_time_is_used_and_stored_nowhere(
    cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("connection", "add", "--kind", "chargebee", "--name", "Acme", "--site", "acme",
        "--base-url", served.base_url("chargebee", "acme"))  # fmt: skip
    keyless = cli("sync", "Acme")
    assert keyless.code == 2
    assert "No key is stored for Acme" in keyless.err
    monkeypatch.setenv("RUN_KEY", CHARGEBEE_KEYS["acme"])
    ran = cli("sync", "Acme", "--secret-env", "RUN_KEY")
    assert ran.code == 0, ran.err
    assert not cli.secrets._values
    fetched = cli("fetch", "Acme", served.truth.customers("chargebee", "acme")[0].id,
                  "--secret-env", "RUN_KEY")  # fmt: skip
    assert fetched.code == 0
    assert "fetched" in fetched.out


def test_progress_bar_only_on_a_terminal(
    cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    _add_chargebee(cli, served, monkeypatch)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    result = cli("sync", "Acme")
    assert result.code == 0
    drawn = terminal.getvalue()
    assert drawn.startswith("\rAcme [")
    assert drawn.endswith("\r\x1b[K")  # cleared before the summary line
    assert SUMMARY.match(result.out.strip())


def test_fetch_one_account(cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    _add_chargebee(cli, served, monkeypatch)
    customer = served.truth.customers("chargebee", "acme")[0]
    fetched = cli("fetch", "Acme", customer.id)
    assert fetched.code == 0, fetched.err
    assert SUMMARY.match(fetched.out.strip())
    database = open_database(cli.url)
    try:
        with database.session() as session:
            accounts = set(session.scalars(select(models.AccountSource.source_id)))
            owners = list(session.scalars(select(models.Subscription.customer_source_id)))
    finally:
        database.close()
    assert accounts == {customer.id}
    expected = [s for s in served.truth.subscriptions("chargebee", "acme", True)
                if s.customer_id == customer.id]  # fmt: skip
    assert owners == [customer.id] * len(expected)
    missing = cli("fetch", "Acme", "cus_does_not_exist")
    assert missing.code == 2
    assert "has no account cus_does_not_exist" in missing.err


# ------------------------------------------------------------------ export and history


def test_export_csv_and_jsonl_in_minor_units_and_utc(
    cli: Cli, served: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_chargebee(cli, served, monkeypatch)
    assert cli("sync", "Acme").code == 0
    truth = {i.id: i for i in served.truth.invoices("chargebee", "acme")}
    exported = cli("export", "invoices")
    rows = list(csv.DictReader(io.StringIO(exported.out)))
    assert {r["source_id"] for r in rows if not r["deleted_at"]} == set(truth)
    sample = next(r for r in rows if r["source_id"] in truth)
    assert sample["connection"] == "Acme"
    assert int(sample["total_minor"]) == truth[sample["source_id"]].total_minor
    assert re.fullmatch(r"[A-Z]{3}", sample["currency"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", sample["issued_on"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", sample["synced_at"])

    lines = cli("export", "subscriptions", "--format", "jsonl", "--connection", "Acme").out
    records = [json.loads(line) for line in lines.splitlines()]
    assert len(records) == len(served.truth.subscriptions("chargebee", "acme", True))
    assert all(isinstance(r["mrr_minor"], int) for r in records)
    assert all(r["synced_at"].endswith("Z") for r in records)
    for what in ("accounts", "users"):
        out = cli("export", what, "--format", "csv").out
        header = out.splitlines()[0].split(",")
        assert header[:2] == ["connection", "source_id"]
        assert len(out.splitlines()) > 1
    other = cli("export", "accounts", "--connection", "Nope")
    assert other.code == 2


def test_runs_and_errors_when_empty(cli: Cli) -> None:
    assert cli("runs").out == "No sync runs yet.\n"
    assert cli("errors").out == "No sync errors.\n"
