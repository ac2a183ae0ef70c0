"""Pull from Zoho CRM: views, paging, incremental, duplicates, contacts, fetch, search, link."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from desktop.crm.service import CrmIntegration
from desktop.crm.settings import DuplicatePolicy, Extent, SyncModule
from desktop.errors import NotFoundError
from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.zoho_crm import ZohoCrmHandler, crm_of
from desktop.storage import models
from desktop.storage.database import Database
from tests.unit.crm.support import (
    CRM_NAME,
    configure,
    connect,
    count,
    integration_for,
    seed_billing,
)


def _crm_accounts(database: Database) -> dict[str, models.Account]:
    """Workspace accounts by the CRM id they were pulled from."""
    with database.session() as session:
        rows = session.execute(
            select(models.AccountSource.source_id, models.Account)
            .join(models.Account, models.Account.id == models.AccountSource.account_id)
            .join(models.Connection, models.Connection.id == models.AccountSource.connection_id)
            .where(models.Connection.kind == "zoho-crm")
        ).all()
        return {source_id: account for source_id, account in rows}


def test_accounts_view_becomes_accounts_and_later_runs_read_only_changes(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    configure(crm, extent=Extent.FETCH, views={"Accounts": "Billing Accounts"})
    crm.run(CRM_NAME)
    in_view = [a for a in sim.truth("Accounts") if a["Tenant_ID"]]
    pulled = _crm_accounts(database)
    assert set(pulled) == {a["id"] for a in in_view}
    first = in_view[0]
    assert pulled[first["id"]].identifier == first["Tenant_ID"]  # mapped identifier
    assert pulled[first["id"]].name == first["Account_Name"]

    sandbox.log.clear()
    second = crm.run(CRM_NAME)
    assert second.fetched == 0
    lists = [e for e in sandbox.log.entries("zoho-crm") if e.path.endswith("/Accounts")]
    assert [e.status for e in lists] == [304]  # If-Modified-Since: nothing changed

    sandbox.advance_clock(60)
    sim.mutations.update("Accounts", first["id"], Phone="+1 555 0199")
    third = crm.run(CRM_NAME)
    assert (third.fetched, third.updated) == (1, 1)
    assert _crm_accounts(database)[first["id"]].phone == "+1 555 0199"


def test_paging_past_2000_records_uses_page_token(database: Database, clock: ManualClock) -> None:
    big = Sandbox(size=3000, seed=3, clock=clock)  # about 2,150 CRM Contacts
    crm = integration_for(database, big, clock)
    connect(crm, big)
    configure(crm, module=SyncModule.CONTACTS, extent=Extent.FETCH)
    summary = crm.run(CRM_NAME)
    live = crm_of(big.mounts["zoho"].handlers).truth("Contacts")
    assert len(live) > 2000
    assert summary.fetched == len(live)
    lists = [e for e in big.log.entries("zoho-crm") if e.path.endswith("/Contacts")]
    assert [e.param("page") for e in lists[:10]] == [str(n) for n in range(1, 11)]
    assert all(e.param("page_token") for e in lists[10:])
    assert len(lists) == -(-len(live) // 200)
    assert count(database, models.User) == len(live)


@pytest.mark.parametrize(
    ("policy", "accounts_added", "linked_to_existing"),
    [
        (DuplicatePolicy.OVERWRITE, 0, True),
        (DuplicatePolicy.CLONE, 1, False),
        (DuplicatePolicy.SKIP, 0, False),
    ],
)
def test_duplicate_policies(
    database: Database,
    crm: CrmIntegration,
    connected: str,
    sim: ZohoCrmHandler,
    policy: DuplicatePolicy,
    accounts_added: int,
    linked_to_existing: bool,
) -> None:
    contact = next(c for c in sim.truth("Contacts") if c["Email"] and c["Account_Name"] is None)
    seeded = seed_billing(
        database, [{"id": "cus_same", "name": "Old Name", "email": contact["Email"]}]
    )
    configure(crm, module=SyncModule.CONTACTS, extent=Extent.FETCH, duplicates=policy)
    before = count(database, models.Account)
    crm.run(CRM_NAME)
    pulled = _crm_accounts(database)
    others = len(sim.truth("Contacts")) - 1
    assert count(database, models.Account) == before + others + accounts_added
    existing = seeded.accounts["cus_same"]
    if linked_to_existing:
        assert pulled[contact["id"]].id == existing
        assert pulled[contact["id"]].name == f"{contact['First_Name']} {contact['Last_Name']}"
    elif policy is DuplicatePolicy.CLONE:
        assert pulled[contact["id"]].id != existing
        assert (
            pulled[contact["id"]].identifier == f"zoho-crm:{contact['id']}"
            or pulled[contact["id"]].identifier == contact["Tenant_ID"]
        )
    else:
        assert contact["id"] not in pulled


def test_accounts_and_their_contacts_with_and_without_orphans(
    database: Database, crm: CrmIntegration, connected: str, sim: ZohoCrmHandler
) -> None:
    contacts = sim.truth("Contacts")
    orphans = [c for c in contacts if c["Account_Name"] is None]
    assert orphans
    configure(crm, module=SyncModule.ACCOUNTS_AND_CONTACTS, extent=Extent.FETCH)
    crm.run(CRM_NAME)
    with database.session() as session:
        users = {u.source_id: u for u in session.scalars(select(models.User))}
    pulled = _crm_accounts(database)
    with_account = [c for c in contacts if c["Account_Name"] in pulled]
    assert with_account
    for contact in with_account:
        assert users[contact["id"]].account_id == pulled[contact["Account_Name"]].id
    assert not any(o["id"] in users for o in orphans)

    configure(
        crm, module=SyncModule.ACCOUNTS_AND_CONTACTS, extent=Extent.FETCH, include_orphans=True
    )
    crm.run(CRM_NAME, full=True)
    pulled = _crm_accounts(database)
    for orphan in orphans:
        assert orphan["id"] in pulled  # an orphan contact is its own account


def test_hand_picked_contacts(
    database: Database, crm: CrmIntegration, connected: str, sim: ZohoCrmHandler
) -> None:
    pulled_accounts = {a["id"] for a in sim.truth("Accounts")}
    picked = [c for c in sim.truth("Contacts") if c["Account_Name"] in pulled_accounts][:2]
    setup = configure(crm, module=SyncModule.ACCOUNTS_AND_CONTACTS, extent=Extent.FETCH)
    setup.choose_views(
        {"Accounts": "All Accounts", "Contacts": "All Contacts"}, [c["id"] for c in picked]
    )
    setup.save()
    crm.run(CRM_NAME)
    with database.session() as session:
        users = set(session.scalars(select(models.User.source_id)))
    assert users == {c["id"] for c in picked}


def test_fetch_one_contact_by_id_or_by_the_accounts_link(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    configure(crm, module=SyncModule.CONTACTS, extent=Extent.FETCH)
    crm.run(CRM_NAME)
    contact = sim.truth("Contacts")[0]
    sandbox.advance_clock(60)
    sim.mutations.update("Contacts", contact["id"], Phone="+1 555 0142")

    summary = crm.fetch(CRM_NAME, contact["id"])
    assert summary.kind == "fetch"
    assert summary.updated == 1
    account = _crm_accounts(database)[contact["id"]]
    assert account.phone == "+1 555 0142"

    sim.mutations.update("Contacts", contact["id"], Phone="+1 555 0143")
    crm.fetch(CRM_NAME, account_id=account.id)
    assert _crm_accounts(database)[contact["id"]].phone == "+1 555 0143"

    with pytest.raises(NotFoundError, match="no record 5725767099999999999"):
        crm.fetch(CRM_NAME, "5725767099999999999")
    with pytest.raises(NotFoundError, match="not linked"):
        crm.fetch(CRM_NAME, account_id=999_999)


def test_search_and_link(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    seeded = seed_billing(database, [{"id": "cus_1", "name": "Someone"}])
    configure(crm, extent=Extent.FETCH)
    contact = next(c for c in sim.truth("Contacts") if c["Email"])
    found = crm.search(CRM_NAME, str(contact["Email"]))
    assert [c.crm_id for c in found] == [contact["id"]]
    by_word = crm.search(CRM_NAME, str(contact["Last_Name"]))
    assert contact["id"] in {c.crm_id for c in by_word}
    assert crm.search(CRM_NAME, "zzqqxxyy") == []  # 204: no match

    crm.link(CRM_NAME, seeded.accounts["cus_1"], str(contact["id"]))
    again = crm.search(CRM_NAME, str(contact["Email"]))
    assert again[0].linked_account_id == seeded.accounts["cus_1"]
    with pytest.raises(NotFoundError):
        crm.link(CRM_NAME, seeded.accounts["cus_1"], "5725767099999999999")

    sim.configure(search_index_delay=300.0)
    new_id = sim.mutations.create("Contacts", Last_Name="Freshly", Email="fresh@new.test")
    assert crm.search(CRM_NAME, "fresh@new.test") == []  # not indexed yet
    sandbox.advance_clock(301)
    assert [c.crm_id for c in crm.search(CRM_NAME, "fresh@new.test")] == [new_id]


def test_unknown_ids_answer_204_and_read_as_nothing(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox
) -> None:
    setup = configure(crm, module=SyncModule.ACCOUNTS_AND_CONTACTS, extent=Extent.FETCH)
    setup.choose_views(
        {"Accounts": "All Accounts", "Contacts": "All Contacts"}, ["5725767099999999999"]
    )
    setup.save()
    crm.run(CRM_NAME)
    calls = [e for e in sandbox.log.entries("zoho-crm") if e.param("ids")]
    assert [e.status for e in calls] == [204]
    assert count(database, models.User) == 0
    assert datetime.now(UTC)  # the run finished without error
