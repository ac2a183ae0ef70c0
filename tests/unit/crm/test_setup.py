"""Connecting Zoho CRM and the five setup steps, with every bad input the wizard guards."""

from __future__ import annotations

import json

import pytest

from desktop.crm.connect import CurrencyMismatch
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import (
    CrmSettings,
    DealStage,
    DuplicatePolicy,
    Extent,
    FieldMapping,
    PushRules,
    SyncModule,
)
from desktop.errors import ConfigurationError
from desktop.sandbox import Sandbox
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user
from desktop.sandbox.zoho_crm import ZohoCrmHandler
from desktop.storage import models
from desktop.storage.database import Database
from desktop.sync.base import AuthorisationError
from tests.unit.crm.support import CRM_NAME, OWNER_ID, connect, count, seed_billing


def _set_workspace_currency(database: Database, code: str) -> None:
    with database.transaction() as session:
        session.add(models.WorkspaceSetting(key="health.currency", value={"reporting": code}))


# ------------------------------------------------------------------ connect


def test_connect_checks_owner_and_stores_the_secret_in_the_keychain(
    crm: CrmIntegration, sandbox: Sandbox, memory_keyring: object
) -> None:
    connect(crm, sandbox)
    row = crm._row(CRM_NAME)
    assert row.settings["owner_id"] == OWNER_ID
    assert row.settings["crm_base_currency"] == "USD"
    assert row.settings["crm_multi_currency"] is True
    assert "refresh_token" not in json.dumps(row.settings)
    assert crm.secrets.read(row.secret_ref) is not None
    assert not crm.settings(CRM_NAME).configured


def test_connect_trades_a_grant_code_for_a_refresh_token(
    crm: CrmIntegration, sandbox: Sandbox
) -> None:
    secret = json.dumps(
        {
            "client_id": ZOHO_CLIENT_ID,
            "client_secret": ZOHO_CLIENT_SECRET,
            "grant_code": zoho_user("com").grant_code,
        }
    )
    connect(crm, sandbox, secret=secret)
    stored = json.loads(crm.secrets.read(crm._row(CRM_NAME).secret_ref) or "{}")
    assert stored["refresh_token"]
    assert "grant_code" not in stored


@pytest.mark.parametrize(
    ("owner", "words"),
    [("nobody@acme.example", "No Zoho CRM user"), ("ruth.adler@acme.example", "not active")],
)
def test_connect_refuses_an_owner_who_is_not_an_active_crm_user(
    crm: CrmIntegration, sandbox: Sandbox, database: Database, owner: str, words: str
) -> None:
    with pytest.raises(ConfigurationError, match=words):
        connect(crm, sandbox, owner_email=owner)
    assert count(database, models.Connection) == 0


def test_currency_mismatch_with_multi_currency_blocks_setup(
    crm: CrmIntegration, sandbox: Sandbox, database: Database
) -> None:
    _set_workspace_currency(database, "EUR")
    with pytest.raises(CurrencyMismatch, match=r"base currency is USD .* reports in EUR"):
        connect(crm, sandbox)
    assert count(database, models.Connection) == 0


def test_currency_difference_without_multi_currency_is_only_a_warning(
    crm: CrmIntegration, sandbox: Sandbox, database: Database, sim: ZohoCrmHandler
) -> None:
    _set_workspace_currency(database, "EUR")
    sim.configure(multi_currency=False)
    info, check = crm.connect(
        name=CRM_NAME,
        secret=json.dumps(
            {
                "client_id": ZOHO_CLIENT_ID,
                "client_secret": ZOHO_CLIENT_SECRET,
                "refresh_token": zoho_user("com").refresh_token,
            }
        ),
        owner_email="jun.mori@acme.example",
        base_url=sandbox.base_url("zoho-api", "com"),
        auth_url=sandbox.base_url("zoho-accounts", "com"),
    )
    assert info.kind == "zoho-crm"
    assert check.warnings
    assert "EUR" in check.warnings[0]


@pytest.mark.parametrize(
    "secret",
    ["not json", json.dumps({"client_id": "x", "client_secret": "y"}), json.dumps([1])],
)
def test_a_malformed_secret_is_refused_before_any_call(
    crm: CrmIntegration, sandbox: Sandbox, secret: str
) -> None:
    with pytest.raises(ConfigurationError):
        connect(crm, sandbox, secret=secret)
    assert sandbox.log.count() == 0


def test_a_revoked_refresh_token_asks_to_re_authorise(
    crm: CrmIntegration, sandbox: Sandbox
) -> None:
    secret = json.dumps(
        {
            "client_id": ZOHO_CLIENT_ID,
            "client_secret": ZOHO_CLIENT_SECRET,
            "refresh_token": "1000.x",
        }
    )
    with pytest.raises(AuthorisationError, match="re-authorise"):
        connect(crm, sandbox, secret=secret)


# ------------------------------------------------------------------ steps


def test_views_and_fields_come_from_crm_metadata(crm: CrmIntegration, connected: str) -> None:
    setup = crm.setup(CRM_NAME)
    views = {v.name: v for v in setup.custom_views("Accounts")}
    assert views["All Accounts"].system_defined
    assert not views["Billing Accounts"].system_defined  # a user-created view
    fields = {f.api_name: f for f in setup.fields("Contacts")}
    assert fields["Tenant_ID"].custom
    assert fields["Last_Name"].mandatory
    defaults = setup.default_mappings("Contacts")
    assert FieldMapping("Tenant_ID", "identifier") in defaults
    assert FieldMapping("Last_Name", "last_name") in defaults
    assert {p.name for p in setup.pipelines()} == {"Standard", "Renewals"}
    required = {f.name for f in setup.local_fields("Contacts") if f.required}
    assert required == {"last_name"}


def test_every_step_refuses_bad_input(crm: CrmIntegration, connected: str) -> None:
    setup = crm.setup(CRM_NAME)
    with pytest.raises(ConfigurationError, match="not a valid module"):
        setup.choose_module("leads")
    setup.choose_module(SyncModule.ACCOUNTS_AND_CONTACTS)
    with pytest.raises(ConfigurationError, match="not a valid extent"):
        setup.choose_extent("sideways")
    with pytest.raises(ConfigurationError, match="no Accounts view 'Nope'"):
        setup.choose_views({"Accounts": "Nope", "Contacts": "All Contacts"})
    with pytest.raises(ConfigurationError, match="Contacts are synced"):
        setup.choose_views({"Accounts": "All Accounts"})
    setup.choose_views({"Accounts": "Billing Accounts", "Contacts": "All Contacts"}, ["123"])
    assert setup.settings.contact_ids == ("123",)

    bad_type = (FieldMapping("Account_Name", "name"), FieldMapping("Annual_Revenue", "email"))
    check = setup.check_mapping("Accounts", bad_type)
    assert not check.ok
    assert "currency values" in check.problems[0].message
    with pytest.raises(ConfigurationError, match="currency values"):
        setup.set_mapping("Accounts", bad_type)
    with pytest.raises(ConfigurationError, match="no field 'Nope'"):
        setup.set_mapping(
            "Accounts", (FieldMapping("Account_Name", "name"), FieldMapping("Nope", "phone"))
        )
    missing = setup.check_mapping("Accounts", (FieldMapping("Phone", "phone"),))
    assert missing.required == {"name": False}
    assert "required" in missing.problems[0].message

    eleven = tuple(FieldMapping("Description", f"custom:c{i}") for i in range(11))
    with pytest.raises(ConfigurationError, match="11 custom fields; at most 10"):
        setup.set_mapping("Accounts", (FieldMapping("Account_Name", "name"), *eleven))
    ten = tuple(FieldMapping("Description", f"custom:c{i}") for i in range(10))
    setup.set_mapping("Accounts", (FieldMapping("Account_Name", "name"), *ten))

    with pytest.raises(ConfigurationError, match="no stage 'Needs Analysis'"):
        setup.set_rules(PushRules(active=DealStage("Renewals", "Needs Analysis")))
    with pytest.raises(ConfigurationError, match="no pipeline 'Upsell'"):
        setup.set_rules(PushRules(active=DealStage("Upsell", "Closed Won")))
    with pytest.raises(ConfigurationError, match="requires a pipeline"):
        setup.set_rules(PushRules(active=DealStage(None, "Closed Won")))
    with pytest.raises(ConfigurationError, match="GBX"):
        setup.set_currency_map({"GBP": "GBX"})
    with pytest.raises(ConfigurationError, match="between 5 minutes"):
        setup.set_interval(1)


def test_save_writes_once_and_cancel_writes_nothing(crm: CrmIntegration, connected: str) -> None:
    setup = crm.setup(CRM_NAME)
    setup.choose_module(SyncModule.CONTACTS)
    setup.choose_extent(Extent.FETCH)
    setup.choose_duplicates(DuplicatePolicy.CLONE)
    setup.choose_views({"Contacts": "Billing Contacts"})
    assert not crm.settings(CRM_NAME).configured  # nothing written before save
    del setup  # Cancel

    setup = crm.setup(CRM_NAME)
    assert setup.settings == CrmSettings.from_json(CrmSettings().to_json())
    setup.choose_module(SyncModule.CONTACTS)
    setup.choose_duplicates(DuplicatePolicy.CLONE)
    setup.choose_views({"Contacts": "Billing Contacts"})
    setup.set_interval(30)
    saved = setup.save()
    stored = crm.settings(CRM_NAME)
    assert stored == saved
    assert stored.configured
    assert stored.duplicates is DuplicatePolicy.CLONE
    assert stored.mappings["Contacts"]  # defaults filled in
    assert ("Contacts view", "Billing Contacts") in setup.summary()


def test_duplicate_count_matches_what_the_pull_does(
    crm: CrmIntegration, connected: str, database: Database, sim: ZohoCrmHandler
) -> None:
    accounts = sim.truth("Accounts")
    # two local accounts with a CRM Account's exact name, one with a different case
    seed_billing(
        database,
        [
            {"id": "x1", "name": accounts[0]["Account_Name"]},
            {"id": "x2", "company": accounts[1]["Account_Name"]},
            {"id": "x3", "name": str(accounts[2]["Account_Name"]).upper()},
        ],
    )
    setup = crm.setup(CRM_NAME)
    setup.choose_module(SyncModule.ACCOUNTS)
    setup.choose_views({"Accounts": "All Accounts"})
    count_ = setup.count_duplicates(DuplicatePolicy.SKIP)
    assert count_.by_name == 2
    assert count_.records == len(accounts)
    assert "2 of the" in count_.sentence()
    assert "merged" in setup.count_duplicates(DuplicatePolicy.OVERWRITE).sentence()

    setup.choose_duplicates(DuplicatePolicy.SKIP)
    setup.save()
    summary = crm.run(CRM_NAME)
    pull = next(m for m in summary.details["modules"] if m["direction"] == "pull")
    assert pull["skip"] == 2
    assert crm.setup(CRM_NAME).count_duplicates().linked == len(accounts) - 2
