"""The connection wizard against the sandbox: every path, bad input included."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFormLayout, QLineEdit, QWizard
from pytestqt.exceptions import TimeoutError as WaitTimeout
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
    page.chargebee.site.setText("acme")
    page.chargebee.key.setText(key)
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
    assert (
        wizard.credentials.chargebee.key.echoMode()
        == wizard.credentials.chargebee.key.EchoMode.Password
    )
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
    page.recurly.many_sites.setChecked(True)
    page.recurly.site_map.setPlainText('{\n  "acme": "x"\n  "acme-eu": "y"\n}')
    assert page.problem.text().startswith("Line 3")
    assert page.map_error_line == 3
    assert not page.test_button.isEnabled()
    page.recurly.one_site.setChecked(True)
    page.recurly.site.setText("acme")
    page.recurly.key.setText(RECURLY_KEYS["acme"])
    page.base_url.setText(sandbox.base_url("recurly", "acme"))
    outcome = _test(qtbot, wizard)
    assert outcome.startswith("✓"), outcome
    page.recurly.key.setText(RECURLY_KEYS["acme"] + "x")  # any edit invalidates the test
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
    page.zoho.org_id.setText("abc")
    assert "organization id" in page.problem.text()
    page.zoho.org_id.setText("10234695")
    assert "client id" in page.problem.text()
    page.zoho.client_id.setText("1000.X")
    page.zoho.client_secret.setText("s")
    page.zoho.token.setText("1000.code")
    assert page.problem.text() == ""
    assert page.test_button.isEnabled()
    assert page.zoho.client_secret.echoMode() == page.zoho.client_secret.EchoMode.Password


def _gap_above_base_url(wizard: ConnectionWizard) -> tuple[int, int]:
    """Pixels between the chosen form's last shown field and the base-URL row, and the
    room the form is short of its least height (> 0 would clip it)."""
    page = wizard.credentials
    form = page.form()
    shown = [
        form.form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        for row in range(form.form.rowCount())
        if form.form.isRowVisible(row)
    ]
    last = shown[-1]
    assert last is not None
    bottom = form.mapTo(page, last.geometry().bottomLeft()).y()
    top = page.base_url.mapTo(page, page.base_url.rect().topLeft()).y()
    return top - bottom - 1, form.minimumSizeHint().height() - form.height()


def test_each_form_is_followed_closely_by_the_base_url_row(qtbot: QtBot) -> None:
    wizard = _wizard(qtbot, None, [])
    wizard.system.name.setText("Layout")
    layout = wizard.credentials.layout()
    assert layout is not None
    spacing = layout.spacing()
    steps = [
        ("zoho-billing", False),
        ("chargebee", False),
        ("recurly", False),
        ("recurly", True),
        ("zoho-billing", False),
        ("recurly", False),
        ("chargebee", False),
    ]
    for kind, many in steps:
        if wizard.currentPage() is wizard.credentials:
            wizard.back()
        wizard.system.buttons[kind].setChecked(True)
        wizard.next()
        wizard.credentials.recurly.many_sites.setChecked(many)
        wizard.credentials.recurly.one_site.setChecked(not many)
        with contextlib.suppress(WaitTimeout):  # the layout settles; the asserts say how
            qtbot.waitUntil(lambda: _gap_above_base_url(wizard)[0] <= spacing + 2, timeout=1000)
        gap, short = _gap_above_base_url(wizard)
        assert 0 <= gap <= spacing + 2, (kind, many, gap)
        assert short <= 0, (kind, many, short)


def test_every_step_has_the_same_header_a_title_and_a_sentence(qtbot: QtBot) -> None:
    # QWizard draws a page without a subtitle in another style (a big title inside the
    # page, no header band), so steps 2 and 4 looked like a different dialog
    wizard = _wizard(qtbot, None, [])
    for page_id in wizard.pageIds():
        page = wizard.page(page_id)
        assert page.title(), page_id
        assert page.subTitle().endswith("."), page.title()


@pytest.mark.parametrize("kind", ["chargebee", "recurly", "zoho-billing"])
def test_a_blank_form_says_nothing_is_wrong_until_something_is_typed(
    qtbot: QtBot, kind: str
) -> None:
    wizard = _wizard(qtbot, None, [])
    wizard.system.buttons[kind].setChecked(True)
    wizard.system.name.setText("New")
    wizard.next()
    page = wizard.credentials
    assert page.problem.text() == ""  # no red sentence before the user has typed
    assert page.problem.isHidden()  # nor an empty line for one
    assert not page.test_button.isEnabled()
    first = page.form().findChildren(QLineEdit)[0]
    qtbot.keyClicks(first, "a b")  # type: ignore[no-untyped-call]
    assert page.problem.text() != ""
    assert page.problem.isVisible()
    assert not page.test_button.isEnabled()
