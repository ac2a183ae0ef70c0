"""The Zoho CRM connect dialog and setup wizard against the in-process CRM simulator.

Every path: connect (bad owner, currency mismatch, bad credentials, cancel), the five
steps with their live checks (duplicate count, views, mapping types, >10 custom fields,
required targets), the push rules, the dry run, Finish saving once and Cancel writing
nothing, and editing saved settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from desktop.crm.service import CrmIntegration
from desktop.crm.settings import DuplicatePolicy, Extent, SyncModule
from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user
from desktop.sandbox.zoho_crm import ZohoCrmHandler, crm_of
from desktop.storage import models
from desktop.storage.database import Database, open_database
from desktop.views.jobs import JobRunner
from desktop.wizards.crm_connect import CrmConnectDialog
from desktop.wizards.crm_mapping import custom_name
from desktop.wizards.crm_wizard import CrmWizard
from tests.unit.crm.support import (
    CRM_NAME,
    OWNER_EMAIL,
    configure,
    connect,
    integration_for,
    seed_billing,
)

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WAIT = 15000


@dataclass
class Env:
    database: Database
    sandbox: Sandbox
    sim: ZohoCrmHandler
    crm: CrmIntegration
    jobs: JobRunner


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    clock = ManualClock(START)
    sandbox = Sandbox(size=60, seed=11, clock=clock)
    crm = integration_for(database, sandbox, clock)
    jobs = JobRunner()
    yield Env(database, sandbox, crm_of(sandbox.mounts["zoho"].handlers), crm, jobs)
    jobs.shutdown()
    database.close()


def _workspace_currency(database: Database, code: str) -> None:
    with database.transaction() as session:
        session.add(models.WorkspaceSetting(key="health.currency", value={"reporting": code}))


def _connections(database: Database) -> int:
    with database.session() as session:
        return len(list(session.scalars(select(models.Connection))))


def _dialog(qtbot: QtBot, env: Env, **fields: str) -> CrmConnectDialog:
    dialog = CrmConnectDialog(env.crm, env.jobs)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.name.setText(CRM_NAME)
    dialog.client_id.setText(ZOHO_CLIENT_ID)
    dialog.client_secret.setText(ZOHO_CLIENT_SECRET)
    dialog.refresh.setChecked(True)
    dialog.token.setText(zoho_user("com").refresh_token)
    dialog.owner.setText(OWNER_EMAIL)
    dialog.base_url.setText(env.sandbox.base_url("zoho-api", "com"))
    dialog.auth_url.setText(env.sandbox.base_url("zoho-accounts", "com"))
    for name, value in fields.items():
        getattr(dialog, name).setText(value)
    return dialog


def _connect(qtbot: QtBot, dialog: CrmConnectDialog) -> str:
    assert dialog.connect_button.isEnabled(), dialog.problem.text()
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: not dialog.strip.busy, timeout=WAIT)
    return dialog.outcome.text()


def test_connect_shows_what_it_found_and_saves_the_connection(qtbot: QtBot, env: Env) -> None:
    dialog = _dialog(qtbot, env)
    text = _connect(qtbot, dialog)
    assert "Connected to" in text
    assert OWNER_EMAIL in text
    assert "Base currency USD" in text
    assert dialog.info is not None
    assert dialog.info.kind == "zoho-crm"
    assert _connections(env.database) == 1
    assert env.crm.settings(CRM_NAME).configured is False  # the wizard comes next


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"owner": "nobody@acme.example"}, "No Zoho CRM user"),
        ({"owner": "ruth.adler@acme.example"}, "not active"),
        ({"token": "1000.revoked"}, "re-authorise"),
    ],
)
def test_connect_refusals_are_sentences_and_save_nothing(
    qtbot: QtBot, env: Env, fields: dict[str, str], words: str
) -> None:
    dialog = _dialog(qtbot, env, **fields)
    text = _connect(qtbot, dialog)
    assert words in text
    assert "Nothing was saved" in text
    assert dialog.info is None
    assert _connections(env.database) == 0


def test_connect_refuses_a_currency_mismatch_with_multi_currency_on(qtbot: QtBot, env: Env) -> None:
    _workspace_currency(env.database, "EUR")
    text = _connect(qtbot, _dialog(qtbot, env))
    assert "USD" in text
    assert "EUR" in text
    assert _connections(env.database) == 0


def test_connect_checks_the_fields_as_they_are_typed(qtbot: QtBot, env: Env) -> None:
    dialog = _dialog(qtbot, env, owner="not-an-email")
    assert not dialog.connect_button.isEnabled()
    assert "e-mail" in dialog.problem.text()
    dialog.owner.setText(OWNER_EMAIL)
    dialog.client_id.setText("")
    assert "client id" in dialog.problem.text()
    dialog.client_id.setText(ZOHO_CLIENT_ID)
    dialog.base_url.setText("ftp://example")
    assert "https://" in dialog.problem.text()
    dialog.base_url.setText(env.sandbox.base_url("zoho-api", "com"))
    assert dialog.connect_button.isEnabled()
    assert dialog.problem.text() == ""


def test_cancelling_a_connect_keeps_nothing(qtbot: QtBot, env: Env) -> None:
    dialog = _dialog(qtbot, env)
    dialog.connect_button.click()
    dialog.strip.cancel()
    qtbot.waitUntil(lambda: not dialog.strip.busy, timeout=WAIT)
    assert _connections(env.database) == 0
    assert dialog.info is None


# ------------------------------------------------------------------ wizard


def _wizard(qtbot: QtBot, env: Env) -> CrmWizard:
    wizard = CrmWizard(env.crm, env.jobs, CRM_NAME)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitUntil(lambda: wizard.setup is not None, timeout=WAIT)
    qtbot.waitUntil(wizard.module.isComplete, timeout=WAIT)
    return wizard


def _next(wizard: CrmWizard) -> None:
    page = wizard.currentPage()
    assert page.isComplete(), page.title()
    wizard.next()
    assert wizard.currentPage() is not page, page.title()


def _to_mapping(qtbot: QtBot, wizard: CrmWizard, module: SyncModule, extent: Extent) -> None:
    wizard.module.buttons[module].setChecked(True)
    _next(wizard)
    wizard.extent.buttons[extent].setChecked(True)
    _next(wizard)
    qtbot.waitUntil(lambda: wizard.duplicates.count is not None, timeout=WAIT)
    _next(wizard)
    _next(wizard)
    assert wizard.currentPage() is wizard.mapping
    qtbot.waitUntil(wizard.mapping.isComplete, timeout=WAIT)


def test_wizard_shows_loading_then_every_step_and_saves_once(qtbot: QtBot, env: Env) -> None:
    connect(env.crm, env.sandbox)
    accounts = env.sim.truth("Accounts")
    seed_billing(
        env.database,
        [
            {"id": "x1", "name": accounts[0]["Account_Name"]},
            {"id": "c1", "company": "Brand New Ltd", "email": "pat@new.example", "last": "Pat",
             "subs": [("sub_1", "active", 5000, "USD")]},
        ],
    )  # fmt: skip
    wizard = CrmWizard(env.crm, env.jobs, CRM_NAME)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.module.strip.isVisible()  # Loading…
    assert "Loading" in wizard.module.strip.label.text()
    assert not wizard.module.isComplete()
    qtbot.waitUntil(wizard.module.isComplete, timeout=WAIT)

    wizard.module.buttons[SyncModule.ACCOUNTS_AND_CONTACTS].setChecked(True)
    assert wizard.module.orphans.isEnabled()
    _next(wizard)
    wizard.extent.buttons[Extent.BOTH].setChecked(True)
    _next(wizard)

    page = wizard.duplicates
    qtbot.waitUntil(lambda: page.count is not None, timeout=WAIT)
    assert "1 of the" in page.count_label.text()
    assert "will not be synced" in page.count_label.text()  # Skip, the default
    page.buttons[DuplicatePolicy.OVERWRITE].setChecked(True)
    qtbot.waitUntil(lambda: "merged" in page.count_label.text(), timeout=WAIT)
    _next(wizard)

    views = wizard.views
    account_views = [views.combos["Accounts"].itemText(i) for i in range(3)]
    assert any("Billing Accounts" in t and "created by a user" in t for t in account_views)
    assert set(views.combos) == {"Accounts", "Contacts"}
    views.pick.setChecked(True)
    assert not views.isComplete()  # ticked with no ids
    views.contact_ids.setText("12, abc")
    assert "'abc' is not a Zoho CRM record id" in views.problem.text()
    assert not views.isComplete()
    views.pick.setChecked(False)
    views.combos["Accounts"].setCurrentIndex(views.combos["Accounts"].findText(
        account_views[2]))  # fmt: skip
    _next(wizard)

    mapping = wizard.mapping
    assert set(mapping.modules) == {"Accounts", "Contacts"}
    qtbot.waitUntil(mapping.isComplete, timeout=WAIT)
    assert "Last name ✓" in mapping.modules["Contacts"].required.text()
    assert mapping.currency_combos  # multi-currency on: USD → USD
    _next(wizard)

    rules = wizard.rules
    assert rules.rules_box.isEnabled()
    assert rules.active is not None
    rules.active.pipeline.setCurrentIndex(rules.active.pipeline.findData("Renewals"))
    assert rules.active.stage.findText("Needs Analysis") < 0  # only Renewals' stages
    rules.active.stage.setCurrentText("Closed Won")
    rules.interval.setValue(30)
    _next(wizard)

    summary = wizard.summary
    text = summary.text.text()
    assert "Billing Accounts" in text
    assert "every 30 minutes" in text
    assert not env.crm.settings(CRM_NAME).configured  # nothing written yet

    summary.dry_run_button.click()
    qtbot.waitUntil(lambda: summary.report.report is not None, timeout=WAIT)
    report = summary.report
    assert report.count("push", "Contacts", "create") == 2  # neither customer is in CRM yet
    assert report.count("push", "Deals", "create") == 1
    assert "nothing was written" in report.heading.text()
    assert not env.crm.settings(CRM_NAME).configured
    assert not env.sim.truth("Deals") or all(
        d.get("Deal_Name") != "sub_1" for d in env.sim.truth("Deals")
    )

    with qtbot.waitSignal(wizard.accepted, timeout=WAIT):
        wizard.accept()
    stored = env.crm.settings(CRM_NAME)
    assert stored.configured
    assert stored == wizard.saved
    assert stored.module is SyncModule.ACCOUNTS_AND_CONTACTS
    assert stored.duplicates is DuplicatePolicy.OVERWRITE
    assert stored.rules.active.pipeline == "Renewals"
    assert stored.interval_minutes == 30


def test_mapping_page_flags_types_required_and_the_custom_field_limit(
    qtbot: QtBot, env: Env
) -> None:
    connect(env.crm, env.sandbox)
    wizard = _wizard(qtbot, env)
    _to_mapping(qtbot, wizard, SyncModule.ACCOUNTS, Extent.FETCH)
    table = wizard.mapping.modules["Accounts"]

    table.set_target("Annual_Revenue", "email")
    assert "currency values" in table.row_problem("Annual_Revenue")
    assert not wizard.mapping.isComplete()
    table.set_target("Annual_Revenue", None)
    assert table.row_problem("Annual_Revenue") == ""
    assert wizard.mapping.isComplete()

    table.set_target("Account_Name", None)
    assert "Name ✗ not mapped" in table.required.text()
    assert "required" in table.problems.text()
    assert not wizard.mapping.isComplete()
    table.set_target("Account_Name", "name")

    texty = ["Account_Number", "Account_Type", "Industry", "Website", "Parent_Account",
             "Billing_City", "Billing_Country", "Employees", "Description", "Tenant_ID",
             "Billing_System"]  # fmt: skip
    for name in texty:
        field = next(f for f in table.crm_fields if f.api_name == name)
        table.set_target(name, custom_name(field))
    assert "11 custom fields; at most 10" in table.problems.text()
    assert not wizard.mapping.isComplete()
    wizard.next()
    assert wizard.currentPage() is wizard.mapping  # Next refused
    table.set_target("Billing_System", None)
    assert wizard.mapping.isComplete()
    _next(wizard)
    assert not wizard.rules.rules_box.isEnabled()  # fetch only: no push rules
    assert wizard.rules.fetch_note.isVisible()


def test_cancel_writes_nothing(qtbot: QtBot, env: Env) -> None:
    connect(env.crm, env.sandbox)
    before = env.crm.settings(CRM_NAME)
    wizard = _wizard(qtbot, env)
    _to_mapping(qtbot, wizard, SyncModule.CONTACTS, Extent.BOTH)
    _next(wizard)
    _next(wizard)
    assert wizard.currentPage() is wizard.summary
    wizard.reject()
    assert env.crm.settings(CRM_NAME) == before
    assert not env.crm.settings(CRM_NAME).configured


def test_the_wizard_edits_the_saved_settings(qtbot: QtBot, env: Env) -> None:
    connect(env.crm, env.sandbox)
    configure(env.crm, module=SyncModule.CONTACTS, extent=Extent.FETCH,
              duplicates=DuplicatePolicy.CLONE, views={"Contacts": "Billing Contacts"})  # fmt: skip
    wizard = _wizard(qtbot, env)
    assert wizard.module.buttons[SyncModule.CONTACTS].isChecked()
    _next(wizard)
    assert wizard.extent.buttons[Extent.FETCH].isChecked()
    _next(wizard)
    assert wizard.duplicates.buttons[DuplicatePolicy.CLONE].isChecked()
    qtbot.waitUntil(lambda: wizard.duplicates.count is not None, timeout=WAIT)
    assert "Billing Contacts" in wizard.duplicates.count_label.text()
    _next(wizard)
    assert "Billing Contacts" in wizard.views.combos["Contacts"].currentText()
