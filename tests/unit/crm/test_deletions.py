"""Records deleted in Zoho CRM: the pull unlinks and records them, the push follows its rule."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from desktop.crm.report import Action, Direction
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import DealStage, Extent, NoMatchRule, PushRules, SyncModule
from desktop.errors import NotFoundError
from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.zoho_crm import ZohoCrmHandler
from desktop.storage import models
from desktop.storage.database import Database
from tests.unit.crm.support import CRM_NAME, OWNER_ID, configure, count, seed_billing, truth_by

CUSTOMERS: list[dict[str, Any]] = [
    {
        "id": "cus_mina",
        "name": "Mina Okafor",
        "email": "mina@orbit.test",
        "company": "Orbit Test Labs",
        "first": "Mina",
        "last": "Okafor",
        "subs": [("sub_active", "active", 4_900, "USD")],
    },
    {"id": "cus_lee", "name": "Sam Lee", "email": "sam@lee.test", "last": "Lee"},
]


def _link(database: Database, module: str, crm_id: str) -> models.CrmLink | None:
    with database.session() as session:
        return session.scalars(
            select(models.CrmLink).where(
                models.CrmLink.module == module, models.CrmLink.crm_id == crm_id
            )
        ).first()


def _source(database: Database, crm_id: str) -> models.AccountSource:
    with database.session() as session:
        found = session.scalars(
            select(models.AccountSource).where(models.AccountSource.source_id == crm_id)
        ).one()
        session.expunge(found)
        return found


def _deleted_reads(sandbox: Sandbox, module: str = "Contacts") -> list[Any]:
    return [e for e in sandbox.log.entries("zoho-crm") if e.path.endswith(f"/{module}/deleted")]


def _pulled_contacts(crm: CrmIntegration, sim: ZohoCrmHandler) -> list[dict[str, Any]]:
    configure(crm, module=SyncModule.CONTACTS, extent=Extent.FETCH)
    crm.run(CRM_NAME)
    return sim.truth("Contacts")


def test_pull_unlinks_a_deleted_contact_and_records_when(
    database: Database,
    crm: CrmIntegration,
    connected: str,
    sandbox: Sandbox,
    sim: ZohoCrmHandler,
    clock: ManualClock,
) -> None:
    contact = _pulled_contacts(crm, sim)[0]
    account_id = _source(database, contact["id"]).account_id
    assert _link(database, "Contacts", contact["id"]) is not None

    sandbox.advance_clock(300)
    deleted_at = clock.now()
    sim.mutations.delete("Contacts", contact["id"])
    sandbox.advance_clock(600)  # the next pull comes a while later
    sandbox.log.clear()
    summary = crm.run(CRM_NAME)

    assert summary.status == "succeeded", summary.message
    assert (summary.deleted, summary.fetched) == (1, 0)  # a deletion is not a record read
    assert _link(database, "Contacts", contact["id"]) is None
    source = _source(database, contact["id"])
    assert source.deleted_at is not None
    assert source.deleted_at.replace(tzinfo=deleted_at.tzinfo) == deleted_at
    assert count(database, models.Account, models.Account.id == account_id) == 1  # kept
    state = crm.account_state(CRM_NAME, account_id)
    assert state.linked == []
    [line] = state.sentences()
    assert f"was deleted in Zoho CRM on {deleted_at:%Y-%m-%d %H:%M} UTC" in line
    assert contact["id"] in line
    reads = _deleted_reads(sandbox)
    assert [r.status for r in reads] == [200]
    with pytest.raises(NotFoundError, match="was deleted in Zoho CRM"):
        crm.fetch(CRM_NAME, account_id=account_id)

    # a second pull with no change reads one deleted-records page, and nothing moves
    sandbox.log.clear()
    again = crm.run(CRM_NAME)
    assert (again.deleted, again.errors) == (0, 0)
    assert [r.status for r in _deleted_reads(sandbox)] == [304]
    assert count(database, models.SyncError) == 0


def test_deleted_records_are_read_to_the_last_page(
    database: Database,
    crm: CrmIntegration,
    connected: str,
    sandbox: Sandbox,
    sim: ZohoCrmHandler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    contacts = _pulled_contacts(crm, sim)[:5]
    sandbox.advance_clock(60)
    for contact in contacts:
        sim.mutations.delete("Contacts", contact["id"])
    monkeypatch.setattr("desktop.crm.remote.PER_PAGE", 2)
    sandbox.log.clear()
    summary = crm.run(CRM_NAME)
    assert summary.deleted == 5
    assert [e.param("page") for e in _deleted_reads(sandbox)] == ["1", "2", "3"]
    assert all(_link(database, "Contacts", c["id"]) is None for c in contacts)
    again = crm.run(CRM_NAME)  # at once: all five are in the overlap, read again
    assert (again.deleted, again.errors) == (0, 0)
    states = [crm.account_state(CRM_NAME, _source(database, c["id"]).account_id) for c in contacts]
    assert [len(s.deleted) for s in states] == [1] * 5


def test_deleted_then_restored_contact_is_linked_again(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    first, second = _pulled_contacts(crm, sim)[:2]
    accounts = count(database, models.Account)

    # deleted and restored between two pulls: nothing to notice
    sandbox.advance_clock(60)
    sim.mutations.delete("Contacts", first["id"])
    sandbox.advance_clock(60)
    sim.mutations.restore("Contacts", first["id"])
    summary = crm.run(CRM_NAME)
    assert summary.deleted == 0
    assert _link(database, "Contacts", first["id"]) is not None

    # deleted, noticed, then restored: linked again to the same account, not a new one
    account_id = _source(database, second["id"]).account_id
    sandbox.advance_clock(60)
    sim.mutations.delete("Contacts", second["id"])
    assert crm.run(CRM_NAME).deleted == 1
    assert _link(database, "Contacts", second["id"]) is None
    sandbox.advance_clock(60)
    sim.mutations.restore("Contacts", second["id"])
    restored = crm.run(CRM_NAME)
    assert (restored.deleted, restored.created) == (0, 0)
    link = _link(database, "Contacts", second["id"])
    assert link is not None
    assert link.local_id == account_id
    assert _source(database, second["id"]).deleted_at is None
    state = crm.account_state(CRM_NAME, account_id)
    assert (state.linked, state.deleted) == ([("Contacts", second["id"])], [])
    assert count(database, models.Account) == accounts


@pytest.mark.parametrize("rule", [NoMatchRule.CREATE, NoMatchRule.SKIP])
def test_push_after_a_deletion_follows_the_no_match_rule(
    database: Database,
    crm: CrmIntegration,
    connected: str,
    sandbox: Sandbox,
    sim: ZohoCrmHandler,
    rule: NoMatchRule,
) -> None:
    seeded = seed_billing(database, CUSTOMERS)
    rules = PushRules(
        no_match=rule,
        active=DealStage("Standard", "Closed Won"),
        non_renewing=DealStage("Renewals", "Negotiation/Review"),
    )
    configure(crm, rules=rules)
    if rule is NoMatchRule.SKIP:  # the first push must create them all the same
        configure(crm, rules=PushRules(**{**rules.__dict__, "no_match": NoMatchRule.CREATE}))
    crm.run(CRM_NAME)
    configure(crm, rules=rules)
    mina = truth_by(sim, "Contacts", "Email")["mina@orbit.test"][0]
    deal = truth_by(sim, "Deals", "Deal_Name")["sub_active"][0]

    sandbox.advance_clock(120)
    sim.mutations.delete("Contacts", mina["id"])
    sim.mutations.delete("Deals", deal["id"])
    summary = crm.run(CRM_NAME)

    pull = {(m["direction"], m["module"]): m for m in summary.details["modules"]}
    assert pull[("pull", "Contacts")]["delete"] == 1
    assert pull[("pull", "Deals")]["delete"] == 1
    assert summary.deleted == 2
    now = truth_by(sim, "Contacts", "Email").get("mina@orbit.test", [])
    if rule is NoMatchRule.CREATE:
        [again] = now
        assert again["id"] != mina["id"]
        assert again["Owner"] == OWNER_ID
        link = _link(database, "Contacts", again["id"])
        assert link is not None
        assert link.local_id == seeded.accounts["cus_mina"]
        assert pull[("push", "Contacts")]["create"] == 1
    else:
        assert now == []
        assert pull[("push", "Contacts")]["skip"] == 1
    # the Deal a CRM user deleted is never created again
    assert "sub_active" not in truth_by(sim, "Deals", "Deal_Name")
    assert pull[("push", "Deals")]["skip"] == 1
    state = crm.account_state(CRM_NAME, seeded.accounts["cus_mina"])
    deal_lines = [s for s in state.sentences() if s.startswith("Deal ")]
    assert len(deal_lines) == 1
    assert "subscription" in deal_lines[0]

    # and the next push says so again without writing anything
    sandbox.log.clear()
    later = crm.run(CRM_NAME)
    assert later.deleted == 0
    writes = [e for e in sandbox.log.entries("zoho-crm") if e.method in ("POST", "PUT")]
    assert writes == []
    assert "sub_active" not in truth_by(sim, "Deals", "Deal_Name")


def test_preview_reports_deletions_without_unlinking(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    contact = _pulled_contacts(crm, sim)[0]
    sandbox.advance_clock(60)
    sim.mutations.delete("Contacts", contact["id"])
    report = crm.preview(CRM_NAME)
    assert report.module(Direction.PULL, "Contacts").delete == 1
    [item] = [i for i in report.items if i.action is Action.DELETE]
    assert item.crm_id == contact["id"]
    assert "deleted in Zoho CRM" in item.reason
    assert "DELETED" in report.table()
    assert _link(database, "Contacts", contact["id"]) is not None
    assert crm.run(CRM_NAME).deleted == 1  # the preview moved no cursor


def test_an_unreadable_deleted_records_page_is_a_sync_error_and_asked_again(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    contact = _pulled_contacts(crm, sim)[0]
    sandbox.advance_clock(60)
    sim.mutations.delete("Contacts", contact["id"])
    done = sandbox.log.entries("zoho-crm")[-1].number
    sandbox.set_faults(f"zoho-crm:malformed=#{done + 1}")  # the next run's first call
    summary = crm.run(CRM_NAME)
    assert _deleted_reads(sandbox)[-1].status == 200
    assert summary.status == "partial"
    with database.session() as session:
        [error] = session.scalars(select(models.SyncError)).all()
        assert error.stream == "crm:deleted:Contacts"
        assert "could not be read" in error.reason
    assert _link(database, "Contacts", contact["id"]) is not None  # not yet noticed

    sandbox.set_faults("")
    assert crm.run(CRM_NAME).deleted == 1  # the cursor stayed: asked again
    assert _link(database, "Contacts", contact["id"]) is None
