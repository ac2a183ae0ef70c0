"""The Zoho CRM integration page and the account view's CRM actions, on the CRM simulator.

Settings shown read-only, Sync Now with its report and history, Cancel, a run refused
while another holds the connection (before and at the click), Dry run, Pause/Resume,
Disable/Reactivate, Update credentials, Edit settings, the automatic sync, and Fetch this
contact / Search in Zoho CRM… → Link on the Account 360°.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from desktop.crm.schedule import CrmSchedule
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import DealStage, Extent, NoMatchRule, PushRules, SyncModule
from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user
from desktop.sandbox.zoho_crm import ZohoCrmHandler, crm_of
from desktop.storage import models
from desktop.storage.database import Database, open_database
from desktop.views.account_detail import AccountDetailView
from desktop.views.crm_account import CrmAccountActions, CrmSearchDialog
from desktop.views.crm_page import CrmAutoSync, CrmPage
from desktop.views.jobs import JobRunner
from desktop.views.models.loader import QueryLoader
from desktop.wizards.crm_connect import CrmConnectDialog
from desktop.wizards.crm_wizard import CrmWizard
from tests.unit.crm.support import CRM_NAME, configure, connect, integration_for, seed_billing

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WAIT = 15000


@dataclass
class Env:
    database: Database
    sandbox: Sandbox
    sim: ZohoCrmHandler
    crm: CrmIntegration
    schedule: CrmSchedule
    jobs: JobRunner
    loader: QueryLoader
    page: CrmPage


@pytest.fixture
def env(qtbot: QtBot, tmp_path: Path) -> Iterator[Env]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    clock = ManualClock(START)
    sandbox = Sandbox(size=60, seed=11, clock=clock)
    crm = integration_for(database, sandbox, clock)
    connect(crm, sandbox)
    configure(crm, module=SyncModule.ACCOUNTS, extent=Extent.BOTH)
    seed_billing(
        database,
        [{"id": "c1", "company": "Brand New Ltd", "email": "pat@new.example", "last": "Pat",
          "subs": [("sub_1", "active", 5000, "USD")]}],
    )  # fmt: skip
    schedule = CrmSchedule(crm)
    jobs = JobRunner()
    loader = QueryLoader(database)
    page = CrmPage(loader, crm, schedule, jobs)
    page.run_dialog = lambda dialog: dialog.show()
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    page.refresh()
    qtbot.waitUntil(lambda: page.state.name == CRM_NAME, timeout=WAIT)
    yield Env(database, sandbox, crm_of(sandbox.mounts["zoho"].handlers), crm, schedule, jobs,
              loader, page)  # fmt: skip
    jobs.shutdown()
    loader.shutdown()
    database.close()


def _runs(env: Env) -> list[models.SyncRun]:
    with env.database.session() as session:
        return list(session.scalars(select(models.SyncRun).order_by(models.SyncRun.id)))


def test_the_page_shows_settings_state_and_next_sync(env: Env) -> None:
    page = env.page
    assert page.name_label.text() == CRM_NAME
    assert "Active" in page.state_label.text()
    assert "jun.mori@acme.example" in page.facts.text()
    assert "Next automatic sync" in page.facts.text()
    assert "Sync both ways" in page.settings_text.text()
    assert page.sync_button.isEnabled()
    assert page.history.rowCount() == 0


def test_sync_now_shows_the_report_and_the_history(qtbot: QtBot, env: Env) -> None:
    page = env.page
    page.sync_button.click()
    assert page.strip.isVisible()
    qtbot.waitUntil(lambda: page.history.rowCount() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: page.result.isVisible(), timeout=WAIT)
    assert "succeeded" in page.result.text()
    assert page.report.count("push", "Contacts", "create") == 1
    assert page.report.count("push", "Deals", "create") == 1
    run = page.history.row_at(0)
    assert run is not None
    assert run.status == "succeeded"
    assert any(d.get("Deal_Name") == "sub_1" for d in env.sim.truth("Deals"))


def test_cancel_stops_the_sync_and_says_so(qtbot: QtBot, env: Env) -> None:
    page = env.page
    page.sync_button.click()
    page.strip.cancel()
    assert page.strip.label.text() == "Cancelling…"
    qtbot.waitUntil(lambda: not page.strip.busy, timeout=WAIT)
    assert "Cancelled" in page.result.text()
    assert _runs(env)[-1].status == "cancelled"


def test_sync_now_is_refused_with_the_reason_while_another_run_holds_it(
    qtbot: QtBot, env: Env
) -> None:
    page = env.page
    connection_id = page.state.info.id if page.state.info else 0
    held = env.crm.locks.acquire(connection_id, "scheduled", heartbeat_seconds=None)
    try:
        # Taken after the page last looked: the click is refused by the core, with the reason.
        page.sync_button.click()
        qtbot.waitUntil(lambda: page.result.isVisible(), timeout=WAIT)
        assert "automatic" in page.result.text().lower() or "schedul" in page.result.text()
        assert _runs(env) == []
        # Once the page has looked again, Sync Now is disabled and says why.
        page.refresh()
        qtbot.waitUntil(lambda: not page.sync_button.isEnabled(), timeout=WAIT)
        assert page.busy_label.isVisible()
        assert page.sync_button.toolTip() == page.state.holder.sentence()  # type: ignore[union-attr]
    finally:
        held.release()
    page.refresh()
    qtbot.waitUntil(page.sync_button.isEnabled, timeout=WAIT)


def test_dry_run_shows_counts_and_writes_nothing(qtbot: QtBot, env: Env) -> None:
    page = env.page
    page.dry_run_button.click()
    qtbot.waitUntil(lambda: page.report.report is not None, timeout=WAIT)
    assert page.report.report is not None
    assert page.report.report.dry_run
    assert page.report.count("push", "Contacts", "create") == 1
    assert "nothing was written" in page.report.heading.text()
    assert _runs(env) == []
    assert not env.sim.truth("Deals") or all(
        d.get("Deal_Name") != "sub_1" for d in env.sim.truth("Deals")
    )


def test_pause_resume_disable_reactivate(qtbot: QtBot, env: Env) -> None:
    page = env.page
    page.pause_button.click()
    qtbot.waitUntil(lambda: "Paused" in page.state_label.text(), timeout=WAIT)
    assert "paused" in page.facts.text()
    assert page.pause_button.text() == "Resume"
    assert env.schedule.next_run_at(CRM_NAME) is None
    page.pause_button.click()
    qtbot.waitUntil(lambda: "Active" in page.state_label.text(), timeout=WAIT)

    page.disable_button.click()
    qtbot.waitUntil(lambda: "Disabled" in page.state_label.text(), timeout=WAIT)
    assert not page.sync_button.isEnabled()
    assert "reactivate" in page.sync_button.toolTip()
    assert not page.dry_run_button.isEnabled()
    assert page.disable_button.text() == "Reactivate"
    page.disable_button.click()
    qtbot.waitUntil(lambda: "Active" in page.state_label.text(), timeout=WAIT)
    assert page.sync_button.isEnabled()


def test_update_credentials_and_edit_settings_open_their_dialogs(qtbot: QtBot, env: Env) -> None:
    page = env.page
    page.credentials_button.click()
    dialog = page.last_dialog
    assert isinstance(dialog, CrmConnectDialog)
    assert dialog.existing == CRM_NAME
    assert dialog.owner.text() == "jun.mori@acme.example"
    dialog.client_id.setText(ZOHO_CLIENT_ID)
    dialog.client_secret.setText(ZOHO_CLIENT_SECRET)
    dialog.refresh.setChecked(True)
    dialog.token.setText(zoho_user("com").refresh_token)
    dialog.connect_button.click()
    qtbot.waitUntil(lambda: dialog.check is not None, timeout=WAIT)
    assert "new credentials are saved" in dialog.outcome.text()
    dialog.accept()

    page.edit_button.click()
    wizard = page.last_dialog
    assert isinstance(wizard, CrmWizard)
    qtbot.waitUntil(lambda: wizard.setup is not None, timeout=WAIT)
    assert wizard.module.buttons[SyncModule.ACCOUNTS].isChecked()
    wizard.reject()


def test_the_automatic_sync_runs_what_is_due(qtbot: QtBot, env: Env) -> None:
    auto = CrmAutoSync(env.schedule, env.jobs, tick_ms=3_600_000, first_ms=3_600_000)
    with qtbot.waitSignal(auto.ran, timeout=WAIT) as blocker:
        auto.tick()
    outcomes = blocker.args[0] if blocker.args else []
    assert [o.name for o in outcomes] == [CRM_NAME]
    assert outcomes[0].summary is not None
    assert _runs(env)[-1].trigger == "scheduled"
    with qtbot.waitSignal(auto.ran, timeout=WAIT) as second:
        auto.tick()
    assert second.args == [[]]  # nothing due until the interval has passed


# ------------------------------------------------------------------ account actions


def _detail(qtbot: QtBot, env: Env, account_id: int) -> tuple[AccountDetailView, CrmAccountActions]:
    detail = AccountDetailView(env.loader, env.jobs, env.database)
    qtbot.addWidget(detail)
    actions = CrmAccountActions(detail, env.crm, env.jobs)
    actions.run_dialog = lambda dialog: dialog.show()
    detail.add_header_action(actions)
    env.page.connections_changed.connect(actions.set_connections)
    actions.set_connections([c.name for c in env.page.state.connections])
    detail.show()
    detail.show_account(account_id)
    qtbot.waitUntil(lambda: detail.detail is not None, timeout=WAIT)
    return detail, actions


def _account(env: Env, identifier: str) -> int:
    with env.database.session() as session:
        found = session.scalar(
            select(models.Account.id).where(models.Account.identifier == identifier)
        )
    assert found is not None
    return int(found)


def test_fetch_needs_a_link_and_search_links_then_fetch_pulls(qtbot: QtBot, env: Env) -> None:
    account_id = _account(env, "c1")
    detail, actions = _detail(qtbot, env, account_id)
    assert actions.isVisible()
    titles = [a.text() for a in actions.menu().actions() if not a.isSeparator()]
    assert titles[1:] == ["Fetch this contact from Zoho CRM", "Search in Zoho CRM…"]
    actions.refresh_state()
    state = actions.state_actions[CRM_NAME]
    qtbot.waitUntil(lambda: state.text() != "…", timeout=WAIT)
    assert state.text() == "Not linked to a Zoho CRM record"
    assert not state.isEnabled()

    actions.fetch(CRM_NAME)
    qtbot.waitUntil(lambda: detail.banner.kind == "error", timeout=WAIT)
    assert "not linked to a Zoho CRM record" in detail.banner.text()

    record = env.sim.truth("Accounts")[0]  # the integration syncs CRM Accounts
    actions.search(CRM_NAME)
    dialog = actions.last_dialog
    assert isinstance(dialog, CrmSearchDialog)
    dialog.module.setCurrentIndex(dialog.module.findData("Accounts"))
    dialog.query.setText(str(record["Account_Name"]))
    dialog.search_button.click()
    qtbot.waitUntil(lambda: dialog.model.rowCount() > 0, timeout=WAIT)
    chosen = dialog.selected()[0]
    assert chosen.crm_id == str(record["id"])
    assert dialog.choose_button.isEnabled(), (dialog.strip.busy, dialog.selected())
    dialog.choose_button.click()
    qtbot.waitUntil(lambda: dialog.linked is not None or dialog.banner.isVisible(), timeout=WAIT)
    assert dialog.linked is not None, dialog.banner.text()
    assert dialog.isHidden()
    assert "Linked to the Zoho CRM Account" in detail.banner.text()
    with env.database.session() as session:
        link = session.scalar(
            select(models.CrmLink).where(
                models.CrmLink.local_type == "account", models.CrmLink.local_id == account_id
            )
        )
    assert link is not None
    assert link.crm_id == str(record["id"])

    actions.fetch(CRM_NAME)
    qtbot.waitUntil(lambda: detail.banner.kind != "info", timeout=WAIT)
    assert "Fetched from Zoho CRM" in detail.banner.text(), detail.banner.text()
    qtbot.waitUntil(lambda: detail.heading.text() == record["Account_Name"], timeout=WAIT)


def test_a_contact_deleted_in_crm_shows_on_the_account_and_is_not_linked(
    qtbot: QtBot, env: Env
) -> None:
    env.crm.run(CRM_NAME)  # pushes customer c1 as a Contact and its subscription as a Deal
    account_id = _account(env, "c1")
    contact = next(c for c in env.sim.truth("Contacts") if c["Email"] == "pat@new.example")
    env.sandbox.advance_clock(300)
    env.sim.mutations.delete("Contacts", contact["id"])
    configure(
        env.crm, module=SyncModule.ACCOUNTS, extent=Extent.BOTH,
        rules=PushRules(
            no_match=NoMatchRule.SKIP, active=DealStage("Standard", "Closed Won"),
            non_renewing=DealStage("Renewals", "Negotiation/Review"),
        ),
    )  # fmt: skip
    summary = env.crm.run(CRM_NAME)
    assert summary.deleted == 1

    detail, actions = _detail(qtbot, env, account_id)
    actions.refresh_state()
    state = actions.state_actions[CRM_NAME]
    qtbot.waitUntil(lambda: state.text() != "…", timeout=WAIT)
    assert state.text() == "Contact deleted in Zoho CRM on 2025-06-01 12:05 UTC"
    assert "was deleted in Zoho CRM on 2025-06-01 12:05 UTC" in state.toolTip()
    assert contact["id"] in state.toolTip()
    assert "the link is gone" in actions.toolTip()

    actions.fetch(CRM_NAME)
    qtbot.waitUntil(lambda: detail.banner.kind == "error", timeout=WAIT)
    assert "was deleted in Zoho CRM on 2025-06-01 12:05 UTC" in detail.banner.text()
    assert "no longer linked" in detail.banner.text()


def test_search_says_when_nothing_matches(qtbot: QtBot, env: Env) -> None:
    dialog = CrmSearchDialog(env.crm, env.jobs, CRM_NAME, account_id=_account(env, "c1"))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.query.setText("nobody-at-all@nowhere.example")
    dialog.search_button.click()
    qtbot.waitUntil(dialog.banner.isVisible, timeout=WAIT)
    assert "found nothing" in dialog.banner.text()
    assert not dialog.choose_button.isEnabled()
