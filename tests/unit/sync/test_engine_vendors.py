"""The engine end to end with Recurly (two sites, two regions) and Zoho Billing (OAuth)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from desktop.jobs import JobContext, Progress
from desktop.sandbox.credentials import (
    RECURLY_KEYS,
    ZOHO_CLIENT_ID,
    ZOHO_CLIENT_SECRET,
    zoho_user,
)
from desktop.sandbox.facade import Sandbox
from desktop.secrets import KeyringSecretStore
from desktop.storage import models
from desktop.storage.database import Database
from desktop.sync.connections import ConnectionService
from tests.unit.sync.engine_support import fast_engine, live_ids

ORG = "10234695"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(size=160, seed=17, vendors=("recurly", "zoho-billing")) as sb:
        yield sb


def _add_zoho(database: Database, sandbox: Sandbox, **settings: object) -> None:
    secret = {
        "client_id": ZOHO_CLIENT_ID,
        "client_secret": ZOHO_CLIENT_SECRET,
        "refresh_token": zoho_user("com").refresh_token,
    }
    ConnectionService(database, KeyringSecretStore()).add(
        name="Zoho",
        kind="zoho-billing",
        settings={
            "org_id": ORG,
            "data_centre": "us",
            "base_url": sandbox.base_url("zoho-billing", ORG),
            "auth_url": sandbox.base_url("zoho-accounts", "com"),
            **settings,
        },
        secret=json.dumps(secret),
    )


def _users(database: Database) -> dict[str, bool]:
    """User source id → whether it is live."""
    with database.session() as session:
        rows = session.execute(select(models.User.source_id, models.User.deleted_at)).all()
    return {source_id: deleted is None for source_id, deleted in rows}


def test_recurly_two_sites_in_two_regions_equal_the_truth(
    database: Database, sandbox: Sandbox
) -> None:
    ConnectionService(database, KeyringSecretStore()).add(
        name="Rec",
        kind="recurly",
        settings={
            "region": "us",
            "site_regions": {"acme-eu": "eu"},
            "base_urls": {
                "us": sandbox.base_url("recurly", "acme"),
                "eu": sandbox.base_url("recurly", "acme-eu"),
            },
        },
        secret=json.dumps(RECURLY_KEYS),
    )
    summary = fast_engine(database, sandbox).run("Rec")
    assert summary.status == "succeeded"
    truth = sandbox.truth
    sites = ("acme", "acme-eu")
    assert live_ids(database, models.Account, "Rec") == {
        f"{site}:{c.id}" for site in sites for c in truth.customers("recurly", site)
    }
    assert live_ids(database, models.Subscription, "Rec") == {
        f"{site}:{s.id}" for site in sites for s in truth.subscriptions("recurly", site)
    }
    assert live_ids(database, models.Invoice, "Rec") == {
        f"{site}:{i.id}" for site in sites for i in truth.invoices("recurly", site)
    }
    assert sandbox.log.methods("recurly") <= {"GET", "HEAD"}
    # each site's key only went to its own region's host
    assert fast_engine(database, sandbox).run("Rec").status == "succeeded"


def test_zoho_token_expiring_mid_run_is_refreshed_and_the_run_completes(
    database: Database, sandbox: Sandbox
) -> None:
    _add_zoho(database, sandbox)
    pages = 0

    def expire_after_two_pages(_progress: Progress) -> None:
        nonlocal pages
        pages += 1
        if pages == 2:
            sandbox.tokens.expire_all()

    summary = fast_engine(database, sandbox).run(
        "Zoho", context=JobContext(progress_callback=expire_after_two_pages)
    )
    assert summary.status == "succeeded"
    assert pages > 2
    token_requests = sandbox.log.entries("zoho-accounts")
    assert len(token_requests) == 2  # the first token, and one refresh after expiry
    truth = sandbox.truth
    assert live_ids(database, models.Account, "Zoho") == {
        c.id for c in truth.customers("zoho-billing", ORG)
    }
    assert live_ids(database, models.Invoice, "Zoho") == {
        i.id for i in truth.invoices("zoho-billing", ORG)
    }
    assert sandbox.log.methods("zoho-billing") <= {"GET", "HEAD"}


def test_zoho_full_keeps_contact_persons_but_reconciles_accounts(
    database: Database, sandbox: Sandbox
) -> None:
    _add_zoho(database, sandbox)
    engine = fast_engine(database, sandbox)
    engine.run("Zoho")
    primaries = _users(database)
    sandbox.advance_clock(3600)
    customers = sandbox.truth.customers("zoho-billing", ORG)
    changed = customers[4].id
    sandbox.mutations.update_customer("zoho-billing", changed, email="changed@x.example")
    engine.run("Zoho")  # lists the changed customer's contact persons
    listed = {u for u, live in _users(database).items() if live} - set(primaries)
    assert listed, "the incremental run should have listed contact persons"
    gone = customers[7].id
    sandbox.advance_clock(60)
    sandbox.mutations.delete("zoho-billing", "customer", gone)

    full = engine.run("Zoho", full=True)
    assert full.status == "succeeded"
    users = _users(database)
    assert all(users[u] for u in listed), "a full pass took listed contact persons for deleted"
    assert gone not in live_ids(database, models.Account, "Zoho")
    assert full.details["reconciliation"]["accounts"]["missing_at_source"] == 1
    assert "users" not in full.details["reconciliation"]


def test_zoho_full_reconciles_users_when_every_contact_person_is_listed(
    database: Database, sandbox: Sandbox
) -> None:
    _add_zoho(database, sandbox, contact_persons="all")
    engine = fast_engine(database, sandbox)
    engine.run("Zoho")
    full = engine.run("Zoho", full=True)
    assert "users" in full.details["reconciliation"]
    assert full.details["reconciliation"]["users"]["missing_at_source"] == 0
