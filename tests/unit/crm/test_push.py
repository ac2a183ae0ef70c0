"""Push to Zoho CRM against the simulator: contacts, companies, deals, rules and refusals."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from desktop.crm.report import Action, Direction
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import (
    CompanyRule,
    DealStage,
    Extent,
    MatchRule,
    NoMatchRule,
    PushRules,
)
from desktop.sandbox import Sandbox
from desktop.sandbox.zoho_crm import ZohoCrmHandler
from desktop.storage import models
from desktop.storage.database import Database
from tests.unit.crm.support import (
    CRM_NAME,
    OWNER_ID,
    configure,
    count,
    crm_writes,
    crm_writes_to,
    seed_billing,
    truth_by,
)

STAGES = {
    "active": DealStage("Standard", "Closed Won"),
    "non_renewing": DealStage("Renewals", "Negotiation/Review"),
}

CUSTOMERS: list[dict[str, Any]] = [
    {
        "id": "cus_full",
        "name": "Mina Okafor",
        "email": "mina@orbit.test",
        "company": "Orbit Test Labs",
        "first": "Mina",
        "last": "Okafor",
        "subs": [("sub_active", "active", 4_900, "USD"), ("sub_old", "cancelled", 900, "USD")],
    },
    {
        "id": "cus_company_only",
        "name": "Quartz Test Ltd",
        "company": "Quartz Test Ltd",
        "email": "billing@quartz.test",
        "subs": [("sub_nr", "non_renewing", 12_000, "USD")],
    },
    {"id": "cus_email_only", "email": "lonely.person@mail.test"},
    {"id": "cus_nothing"},
]


def _rules(**changes: object) -> PushRules:
    values: dict[str, object] = {"active": STAGES["active"], "non_renewing": STAGES["non_renewing"]}
    values.update(changes)
    return PushRules(**values)  # type: ignore[arg-type]


def _contact(sim: ZohoCrmHandler, email: str) -> dict[str, Any]:
    found = truth_by(sim, "Contacts", "Email")[email]
    assert len(found) == 1
    return found[0]


def test_first_push_creates_contacts_accounts_and_deals(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    seed_billing(database, CUSTOMERS)
    configure(crm)
    summary = crm.run(CRM_NAME)
    assert summary.status == "succeeded", summary.message

    contacts = {c["Last_Name"]: c for c in sim.truth("Contacts") if c["Owner"] == OWNER_ID}
    # Last_Name fallbacks: person → company → e-mail local part → customer id
    assert {"Okafor", "Quartz Test Ltd", "lonely.person", "cus_nothing"} <= set(contacts)
    assert contacts["Okafor"]["First_Name"] == "Mina"
    accounts = truth_by(sim, "Accounts", "Account_Name")
    orbit = accounts["Orbit Test Labs"][0]
    assert orbit["Owner"] == OWNER_ID
    assert contacts["Okafor"]["Account_Name"] == orbit["id"]
    assert contacts["lonely.person"]["Account_Name"] is None

    deals = truth_by(sim, "Deals", "Deal_Name")
    assert "sub_old" not in deals  # cancelled: only Active and Non-renewing are pushed
    active, renewing = deals["sub_active"][0], deals["sub_nr"][0]
    assert (active["Pipeline"], active["Stage"]) == ("Standard", "Closed Won")
    assert (renewing["Pipeline"], renewing["Stage"]) == ("Renewals", "Negotiation/Review")
    assert active["Amount"] == 49.0
    assert active["Account_Name"] == orbit["id"]
    assert active["Contact_Name"] == contacts["Okafor"]["id"]
    assert active["Owner"] == OWNER_ID
    assert active["Closing_Date"] == "2025-01-15"

    pushed = summary.details["write_calls"]
    assert pushed == {"Accounts": 1, "Contacts": 1, "Deals": 1}
    assert count(database, models.CrmLink, models.CrmLink.module == "Deals") == 2


def test_later_runs_push_only_changes_and_keep_deals_up_to_date(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    seeded = seed_billing(database, CUSTOMERS)
    configure(crm)
    crm.run(CRM_NAME)
    before = crm_writes(sandbox)

    crm.run(CRM_NAME)
    assert crm_writes(sandbox) == before  # nothing changed: nothing written

    with database.transaction() as session:
        session.execute(
            update(models.Subscription)
            .where(models.Subscription.id == seeded.subscriptions["sub_active"])
            .values(status="non_renewing", mrr_minor=5_900)
        )
    summary = crm.run(CRM_NAME)
    deal = truth_by(sim, "Deals", "Deal_Name")["sub_active"][0]
    assert (deal["Pipeline"], deal["Stage"], deal["Amount"]) == (
        "Renewals",
        "Negotiation/Review",
        59.0,
    )
    assert crm_writes(sandbox) == before + 1  # one PUT of one deal
    assert crm_writes_to(sandbox, "/Deals") >= 1
    push = {m["module"]: m for m in summary.details["modules"] if m["direction"] == "push"}
    assert push["Deals"]["update"] == 1
    assert push["Deals"]["unchanged"] == 1


def test_company_rule_leave_empty_writes_no_accounts(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    seed_billing(database, CUSTOMERS[:1])
    configure(crm, rules=_rules(company=CompanyRule.LEAVE_EMPTY))
    crm.run(CRM_NAME)
    assert crm_writes_to(sandbox, "/Accounts/upsert") == 0
    assert _contact(sim, "mina@orbit.test")["Account_Name"] is None


def test_existing_company_is_matched_not_created(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    existing = sim.truth("Accounts")[0]
    seed_billing(
        database,
        [
            {
                "id": "cus_1",
                "name": "A Person",
                "email": "a@p.test",
                "company": existing["Account_Name"].upper(),
            }
        ],
    )
    configure(crm)
    crm.run(CRM_NAME)
    assert crm_writes_to(sandbox, "/Accounts/upsert") == 0
    assert _contact(sim, "a@p.test")["Account_Name"] == existing["id"]


def test_no_match_skip_creates_no_contact(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    seed_billing(database, CUSTOMERS[2:3])
    configure(crm, rules=_rules(no_match=NoMatchRule.SKIP))
    summary = crm.run(CRM_NAME)
    assert "lonely.person@mail.test" not in truth_by(sim, "Contacts", "Email")
    push = {m["module"]: m for m in summary.details["modules"] if m["direction"] == "push"}
    assert push["Contacts"]["skip"] == 1


def _existing_contact(sim: ZohoCrmHandler) -> dict[str, Any]:
    by_email = truth_by(sim, "Contacts", "Email")
    return next(
        found[0]
        for email, found in by_email.items()
        if email != "None" and len(found) == 1 and found[0]["Phone"] is None
    )


def test_match_rules_overwrite_blank_only_and_skip(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    target = _existing_contact(sim)
    email, crm_id = str(target["Email"]), str(target["id"])
    seeded = seed_billing(
        database,
        [{"id": "cus_m", "name": "New Name", "email": email, "first": "New", "last": "Name"}],
    )
    with database.transaction() as session:
        session.execute(
            update(models.Account)
            .where(models.Account.id == seeded.accounts["cus_m"])
            .values(phone="+1 555 0100")
        )

    configure(crm, rules=_rules(match=MatchRule.SKIP))
    crm.run(CRM_NAME)
    after = next(c for c in sim.truth("Contacts") if c["id"] == crm_id)
    assert after["Last_Name"] == target["Last_Name"]
    assert after["Phone"] is None

    configure(crm, rules=_rules(match=MatchRule.BLANK_ONLY))
    crm.run(CRM_NAME)
    after = next(c for c in sim.truth("Contacts") if c["id"] == crm_id)
    assert after["Last_Name"] == target["Last_Name"]  # not blank: kept
    assert after["Phone"] == "+1 555 0100"  # blank: filled

    configure(crm, rules=_rules(match=MatchRule.OVERWRITE))
    crm.run(CRM_NAME)
    after = next(c for c in sim.truth("Contacts") if c["id"] == crm_id)
    assert after["Last_Name"] == "Name"
    assert len(truth_by(sim, "Contacts", "Email")[email]) == 1  # updated, never duplicated


def test_refused_records_become_sync_errors_and_the_run_goes_on(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    shared = next(e for e, found in truth_by(sim, "Contacts", "Email").items() if len(found) > 1)
    seed_billing(
        database,
        [
            {"id": "cus_dup", "name": "Dup Person", "email": shared},
            {"id": "cus_bad", "name": "Bad Mail", "email": "not-an-email@"},
            *CUSTOMERS[:1],
        ],
    )
    configure(crm)
    preview = crm.preview(CRM_NAME)
    assert preview.module(Direction.PUSH, "Contacts").fail == 1  # the ambiguous e-mail

    summary = crm.run(CRM_NAME)
    assert summary.status == "partial"
    with database.session() as session:
        errors = {e.source_id: e for e in session.scalars(select(models.SyncError))}
    assert "DUPLICATE_DATA" in errors["cus_dup"].reason
    assert "INVALID_DATA" in errors["cus_bad"].reason
    assert "Email" in errors["cus_bad"].reason
    payload = errors["cus_bad"].payload
    assert payload is not None
    assert payload["record"]["Email"] == "not-an-email@"
    assert errors["cus_bad"].stream == "crm:Contacts"
    assert _contact(sim, "mina@orbit.test")["Last_Name"] == "Okafor"  # the rest went on


def test_mandatory_pipeline_missing_is_reported_per_deal(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    sim.configure(pipeline_mandatory=False)
    seed_billing(database, CUSTOMERS[:2])
    configure(
        crm,
        rules=_rules(
            active=DealStage(None, "Closed Won"), non_renewing=DealStage(None, "Qualification")
        ),
    )
    sim.configure(pipeline_mandatory=True)  # the CRM admin made Pipeline mandatory later
    summary = crm.run(CRM_NAME)
    assert summary.status == "partial"
    with database.session() as session:
        reasons = [e.reason for e in session.scalars(select(models.SyncError))]
    assert len(reasons) == 2
    assert all("MANDATORY_NOT_FOUND" in r and "Pipeline" in r for r in reasons)
    assert _contact(sim, "mina@orbit.test")  # contacts were written


def test_dry_run_previews_without_writing_and_matches_the_run(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox, sim: ZohoCrmHandler
) -> None:
    seed_billing(database, CUSTOMERS)
    configure(crm)
    accounts_before = count(database, models.Account)
    preview = crm.preview(CRM_NAME)
    assert preview.dry_run
    assert crm_writes(sandbox) == 0
    assert count(database, models.Account) == accounts_before
    assert count(database, models.CrmLink) == 0
    assert count(database, models.SyncRun) == 0
    push = preview.module(Direction.PUSH, "Contacts")
    assert (push.create, push.fail) == (4, 0)
    assert preview.module(Direction.PUSH, "Deals").create == 2
    assert preview.module(Direction.PULL, "Accounts").create > 0

    summary = crm.run(CRM_NAME)
    done = {(m["direction"], m["module"]): m for m in summary.details["modules"]}
    for (direction, module), counts in preview.counts.items():
        for action in Action:
            assert done[(direction, module)][action.value] == getattr(counts, action.value)


def test_fetch_only_never_writes(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox
) -> None:
    seed_billing(database, CUSTOMERS)
    configure(crm, extent=Extent.FETCH)
    crm.run(CRM_NAME)
    assert crm_writes(sandbox) == 0
