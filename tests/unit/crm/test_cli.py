"""``billbridge connection add --kind zoho-crm``, ``crm setup``, ``sync``, ``crm fetch`` end to
end against the sandbox served on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from desktop.cli import main
from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.zoho_crm import crm_of
from desktop.storage import models
from desktop.storage.database import open_database
from tests.unit.crm.support import SECRET


@pytest.fixture
def served(clock: ManualClock) -> Iterator[Sandbox]:
    """A small sandbox serving on loopback."""
    with Sandbox(size=60, seed=5, clock=clock) as sandbox:
        yield sandbox


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_headless_setup_dry_run_sync_fetch_search(
    served: Sandbox,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOHO_CRM_SECRET", SECRET)
    db = ["--db", sqlite_url]
    code, out, err = _run(
        capsys, *db, "connection", "add", "--kind", "zoho-crm", "--name", "CRM",
        "--base-url", served.base_url("zoho-api", "com"),
        "--auth-url", served.base_url("zoho-accounts", "com"),
        "--secret-env", "ZOHO_CRM_SECRET", "--owner-email", "nobody@acme.example",
    )  # fmt: skip
    assert code == 2
    assert "No Zoho CRM user has the e-mail nobody@acme.example" in err

    code, out, err = _run(
        capsys, *db, "connection", "add", "--kind", "zoho-crm", "--name", "CRM",
        "--base-url", served.base_url("zoho-api", "com"),
        "--auth-url", served.base_url("zoho-accounts", "com"),
        "--secret-env", "ZOHO_CRM_SECRET", "--owner-email", "jun.mori@acme.example",
    )  # fmt: skip
    assert code == 0, err
    assert "records owned by Jun Mori" in out
    assert "sandbox_zoho_client_secret" not in out + err

    code, out, err = _run(capsys, *db, "sync", "CRM")
    assert code == 2
    assert "not set up yet" in err

    setup = [
        "crm", "setup", "CRM", "--module", "accounts-and-contacts", "--include-orphans",
        "--extent", "both", "--duplicates", "overwrite",
        "--view", "Accounts=All Accounts", "--view", "Contacts=Billing Contacts",
        "--map", "Contacts:Mobile=phone",
        "--active", "Standard/Closed Won", "--non-renewing", "Renewals/Negotiation/Review",
    ]  # fmt: skip
    code, out, err = _run(capsys, *db, *[*setup, "--view", "Contacts=No Such View"])
    assert code == 2
    assert "no Contacts view 'No Such View'" in err

    code, out, err = _run(capsys, *db, *setup, "--dry-run")
    assert code == 0, err
    assert "CRM → BB   Accounts" in out
    assert "Dry run: nothing was saved" in out
    writes = [e for e in served.log.entries("zoho-crm") if e.method in ("POST", "PUT")]
    assert writes == []

    code, out, err = _run(capsys, *db, *setup)
    assert code == 0, err
    assert "Saved." in out

    code, out, err = _run(capsys, *db, "sync", "CRM")
    assert code == 0, err
    assert out.startswith("CRM: succeeded")

    sim = crm_of(served.mounts["zoho"].handlers)
    account = sim.truth("Accounts")[0]
    code, out, err = _run(capsys, *db, "crm", "fetch", "CRM", str(account["id"]))
    assert code == 0, err
    assert "CRM: succeeded" in out

    code, out, err = _run(capsys, *db, "crm", "search", "CRM", "zzqqxxyy")
    assert code == 0
    assert "Nothing in Zoho CRM matches" in out

    code, out, err = _run(capsys, *db, "crm", "disable", "CRM")
    assert code == 0
    code, out, err = _run(capsys, *db, "sync", "CRM")
    assert code == 2
    assert "disabled" in err
    code, out, err = _run(capsys, *db, "runs", "CRM")
    assert "fetch" in out


@pytest.fixture
def served_now() -> Iterator[Sandbox]:
    """A small sandbox on the real clock (the CLI's own clock is the real one)."""
    with Sandbox(size=60, seed=5) as sandbox:
        yield sandbox


def test_a_contact_deleted_in_crm_shows_in_preview_sync_and_fetch(
    served_now: Sandbox,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = served_now
    monkeypatch.setenv("ZOHO_CRM_SECRET", SECRET)
    db = ["--db", sqlite_url]
    code, out, err = _run(
        capsys, *db, "connection", "add", "--kind", "zoho-crm", "--name", "CRM",
        "--base-url", served.base_url("zoho-api", "com"),
        "--auth-url", served.base_url("zoho-accounts", "com"),
        "--secret-env", "ZOHO_CRM_SECRET", "--owner-email", "jun.mori@acme.example",
    )  # fmt: skip
    assert code == 0, err
    setup = ["crm", "setup", "CRM", "--module", "contacts", "--extent", "fetch",
             "--duplicates", "skip", "--view", "Contacts=All Contacts",
             "--active", "Standard/Closed Won",
             "--non-renewing", "Renewals/Negotiation/Review"]  # fmt: skip
    code, out, err = _run(capsys, *db, *setup)
    assert code == 0, err
    code, out, err = _run(capsys, *db, "sync", "CRM")
    assert code == 0, err
    sim = crm_of(served.mounts["zoho"].handlers)
    contact = sim.truth("Contacts")[0]
    database = open_database(sqlite_url)
    with database.session() as session:
        account_id = session.scalars(
            select(models.AccountSource.account_id).where(
                models.AccountSource.source_id == contact["id"]
            )
        ).one()
    database.close()
    sim.mutations.delete("Contacts", contact["id"])

    code, out, err = _run(capsys, *db, "crm", "preview", "CRM")
    assert code == 0, err
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("DIRECTION"))
    contacts = next(line for line in lines if line.startswith("CRM → BB   Contacts"))
    assert header.split()[-1] == "DELETED"
    assert contacts.split()[-1] == "1"

    code, out, err = _run(capsys, *db, "sync", "CRM")
    assert code == 0, err
    assert ", 1 deleted," in out

    code, out, err = _run(capsys, *db, "crm", "fetch", "CRM", "--account", str(account_id))
    assert code != 0
    assert contact["id"] in err
    assert re.search(r"was deleted in Zoho CRM on \d{4}-\d\d-\d\d \d\d:\d\d UTC", err)
    assert "Traceback" not in err
