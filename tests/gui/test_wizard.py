"""The connection wizard against the sandbox: every path, bad input included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from desktop.sandbox.credentials import CHARGEBEE_KEYS, RECURLY_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.secrets import MemorySecretStore
from desktop.storage.database import Database, open_database
from desktop.storage.models import Connection
from desktop.sync.connections import ConnectionService
from desktop.wizards.connection_wizard import ConnectionWizard, WizardResult, recurly_map_problem


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(size=40, seed=5, vendors=("chargebee", "recurly"))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    yield database
    database.close()


def _wizard(
    qtbot: QtBot,
    sandbox: Sandbox | None,
    saved: list[WizardResult],
    **kwargs: object,
) -> ConnectionWizard:
    wizard = ConnectionWizard(
        saved.append,
        transport=sandbox.transport() if sandbox else None,
        **kwargs,  # type: ignore[arg-type]
    )
    qtbot.addWidget(wizard)
    wizard.show()
    return wizard


def _to_chargebee_credentials(wizard: ConnectionWizard, base_url: str, key: str) -> None:
    wizard.system.buttons["chargebee"].setChecked(True)
    wizard.system.name.setText("Acme Chargebee")
    assert wizard.system.isComplete()
    wizard.next()
    page = wizard.credentials
    page.cb_site.setText("acme")
    page.cb_key.setText(key)
    page.base_url.setText(base_url)


def _test(qtbot: QtBot, wizard: ConnectionWizard) -> str:
    page = wizard.credentials
    assert page.test_button.isEnabled()
    page.test_button.click()
    qtbot.waitUntil(lambda: page.task is None, timeout=15000)
    return page.outcome.text()


@pytest.mark.usefixtures("qasync_loop")
def test_chargebee_happy_path_saves_once_and_shows_only_four_characters(
    qtbot: QtBot, sandbox: Sandbox, db: Database
) -> None:
    secrets = MemorySecretStore()
    service = ConnectionService(db, secrets)
    calls: list[WizardResult] = []

    def save(result: WizardResult) -> None:
        calls.append(result)
        service.add(
            name=result.name,
            kind=result.kind,
            settings=result.settings,
            mode=result.mode,
            secret=result.secret,
        )

    wizard = ConnectionWizard(save, transport=sandbox.transport())
    qtbot.addWidget(wizard)
    wizard.show()
    key = CHARGEBEE_KEYS["acme"]
    _to_chargebee_credentials(wizard, sandbox.base_url("chargebee", "acme"), key)
    assert not wizard.credentials.isComplete()  # untested credentials never pass
    assert wizard.credentials.cb_key.echoMode() == wizard.credentials.cb_key.EchoMode.Password
    outcome = _test(qtbot, wizard)
    assert outcome.startswith("✓ Connected to")
    assert wizard.credentials.isComplete()
    wizard.next()
    ident = wizard.identifier
    if ident.custom.isEnabled():
        ident.custom.setChecked(True)
        assert "Sample values" in ident.samples.text()
        ident.native.setChecked(True)
    wizard.next()
    wizard.sync_mode.import_only.setChecked(True)
    wizard.next()
    summary = wizard.summary.text.text()
    assert key[-4:] in summary
    assert key not in summary
    assert "Import only" in summary
    assert service.list() == []  # nothing written before Finish
    wizard.accept()
    assert len(calls) == 1
    (info,) = service.list()
    assert info.mode == "import-only"
    assert info.secret_hint.endswith(key[-4:])
    with db.session() as session:
        row = session.get(Connection, info.id)
        assert row is not None
        assert secrets.read(row.secret_ref) == key


@pytest.mark.usefixtures("qasync_loop")
def test_wrong_key_says_401(qtbot: QtBot, sandbox: Sandbox) -> None:
    saved: list[WizardResult] = []
    wizard = _wizard(qtbot, sandbox, saved)
    _to_chargebee_credentials(wizard, sandbox.base_url("chargebee", "acme"), "live_wrong_key_1234")
    outcome = _test(qtbot, wizard)
    assert outcome.startswith("✗")
    assert "401" in outcome
    assert "refused" in outcome
    assert not wizard.credentials.isComplete()
    assert "live_wrong_key" not in outcome


@pytest.mark.usefixtures("qasync_loop")
def test_unknown_site_is_reported(qtbot: QtBot, sandbox: Sandbox) -> None:
    wizard = _wizard(qtbot, sandbox, [])
    _to_chargebee_credentials(
        wizard, sandbox.base_url("chargebee", "nosuchsite"), CHARGEBEE_KEYS["acme"]
    )
    outcome = _test(qtbot, wizard)
    assert outcome.startswith("✗")
    assert not wizard.credentials.isComplete()


@pytest.mark.usefixtures("qasync_loop")
def test_unreachable_host_is_reported(qtbot: QtBot, sandbox: Sandbox) -> None:
    wizard = _wizard(qtbot, sandbox, [])
    _to_chargebee_credentials(
        wizard, "http://nowhere.sandbox.invalid/chargebee/acme/api/v2", CHARGEBEE_KEYS["acme"]
    )
    outcome = _test(qtbot, wizard)
    assert outcome.startswith("✗")
    assert "could not be reached" in outcome


@pytest.mark.usefixtures("qasync_loop")
def test_a_silent_server_times_out_and_a_test_can_be_cancelled(qtbot: QtBot) -> None:
    with Sandbox(
        size=10, seed=5, vendors=("chargebee",), faults="chargebee:timeout=5s@always"
    ) as sb:
        sb.start()
        wizard = _wizard(qtbot, None, [], deadline=0.8)
        _to_chargebee_credentials(wizard, sb.base_url("chargebee", "acme"), CHARGEBEE_KEYS["acme"])
        outcome = _test(qtbot, wizard)
        assert "did not answer within 1 seconds (timeout)" in outcome
        wizard.deadline = 20
        page = wizard.credentials
        page.test_button.click()
        assert page.cancel_test_button.isVisibleTo(page)
        qtbot.wait(100)
        page.cancel_test_button.click()
        qtbot.waitUntil(lambda: page.task is None, timeout=5000)
        assert page.outcome.text() == "Test cancelled; nothing was saved."
        assert not page.isComplete()


def test_malformed_recurly_site_map_points_at_the_line() -> None:
    text = '{\n  "acme": "key-1",\n  "acme-eu" "key-2"\n}'
    message, line = recurly_map_problem(text)
    assert line == 3
    assert message.startswith("Line 3")
    message, line = recurly_map_problem('{\n  "acme": "k",\n  "bad site!": "k2"\n}')
    assert "bad site!" in message
    assert line == 3
    assert recurly_map_problem(json.dumps({"acme": "k"})) == ("", None)


@pytest.mark.usefixtures("qasync_loop")
def test_recurly_several_sites_live_validation_then_success(qtbot: QtBot, sandbox: Sandbox) -> None:
    saved: list[WizardResult] = []
    wizard = _wizard(qtbot, sandbox, saved)
    wizard.system.buttons["recurly"].setChecked(True)
    wizard.system.name.setText("Recurly US")
    wizard.next()
    page = wizard.credentials
    page.rc_many.setChecked(True)
    page.recurly_map.setPlainText('{\n  "acme": "x"\n  "acme-eu": "y"\n}')
    assert page.problem.text().startswith("Line 3")
    assert page.map_error_line == 3
    assert not page.test_button.isEnabled()
    page.rc_one.setChecked(True)
    page.rc_site.setText("acme")
    page.rc_key.setText(RECURLY_KEYS["acme"])
    page.base_url.setText(sandbox.base_url("recurly", "acme"))
    outcome = _test(qtbot, wizard)
    assert outcome.startswith("✓"), outcome
    page.rc_key.setText(RECURLY_KEYS["acme"] + "x")  # any edit invalidates the test
    assert not page.isComplete()


def test_cancel_writes_nothing(qtbot: QtBot, sandbox: Sandbox) -> None:
    saved: list[WizardResult] = []
    wizard = _wizard(qtbot, sandbox, saved)
    wizard.system.buttons["chargebee"].setChecked(True)
    wizard.system.name.setText("Never saved")
    wizard.reject()
    assert saved == []
    assert wizard.result() == QWizard.DialogCode.Rejected


def test_zoho_fields_validate_live(qtbot: QtBot, sandbox: Sandbox) -> None:
    wizard = _wizard(qtbot, sandbox, [])
    wizard.system.buttons["zoho-billing"].setChecked(True)
    wizard.system.name.setText("Zoho")
    wizard.next()
    page = wizard.credentials
    page.zo_org.setText("abc")
    assert "organization id" in page.problem.text()
    page.zo_org.setText("10234695")
    assert "client id" in page.problem.text()
    page.zo_client_id.setText("1000.X")
    page.zo_client_secret.setText("s")
    page.zo_token.setText("1000.code")
    assert page.problem.text() == ""
    assert page.test_button.isEnabled()
    assert page.zo_client_secret.echoMode() == page.zo_client_secret.EchoMode.Password
