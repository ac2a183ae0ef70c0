"""Keyboard navigation: Tab order in the connection wizard and on the Connections,
Account 360°, Sync history and Sync errors pages.

Each test really presses Tab (the window is active on the offscreen platform too) and
records where the focus goes, so a field that Tab skips or visits out of order fails. The
page tests go once round the whole page and back to the start (no control keeps the
focus), Shift+Tab goes back the same way, and every stop looks different with the focus
than without it (the focus is visible).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolButton, QWidget
from pytestqt.qtbot import QtBot

from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.secrets import MemorySecretStore
from desktop.storage.database import Database, open_database
from desktop.sync.connections import ConnectionService
from desktop.views.accounts import AccountsPage
from desktop.views.connections import ConnectionsBackend, ConnectionsPage
from desktop.views.jobs import JobRunner
from desktop.views.models.accounts import ACCOUNT_ID_ROLE
from desktop.views.models.formatting import key_text
from desktop.views.models.loader import ImmediateLoader, QueryLoader
from desktop.views.sync_errors import SyncErrorsPage
from desktop.views.sync_history import SyncHistoryPage
from desktop.wizards.connection_wizard import ConnectionWizard
from tests.gui.workspace_seed import seed


def _tab_walk(qtbot: QtBot, start: QWidget, stops: int) -> list[QWidget]:
    """Focuses ``start`` and presses Tab ``stops - 1`` times; where the focus went."""
    start.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is start, timeout=2000)
    seen = [start]
    for _ in range(stops - 1):
        current = QApplication.focusWidget()
        assert current is not None
        QTest.keyClick(current, Qt.Key.Key_Tab)
        focused = QApplication.focusWidget()
        assert focused is not None
        seen.append(focused)
    return seen


def _wizard_at_credentials(qtbot: QtBot, kind: str) -> ConnectionWizard:
    wizard = ConnectionWizard(lambda _result: None)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.activateWindow()
    qtbot.waitActive(wizard)
    wizard.system.buttons[kind].setChecked(True)
    wizard.system.name.setText("Keyboard")
    wizard.next()
    return wizard


def test_system_page_tabs_from_the_chosen_system_to_the_name_then_next(qtbot: QtBot) -> None:
    wizard = ConnectionWizard(lambda _result: None)
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.activateWindow()
    qtbot.waitActive(wizard)
    page = wizard.system
    page.buttons["recurly"].setChecked(True)
    page.name.setText("Recurly")
    walk = _tab_walk(qtbot, page.buttons["recurly"], 3)
    assert walk[1] is page.name
    assert walk[2] is wizard.button(wizard.WizardButton.NextButton)


def test_chargebee_credentials_tab_order_skips_the_zoho_only_field(qtbot: QtBot) -> None:
    wizard = _wizard_at_credentials(qtbot, "chargebee")
    page = wizard.credentials
    assert page.auth_url.isHidden()
    assert page.advanced.labelForField(page.auth_url).isHidden()
    page.chargebee.site.setText("acme")
    page.chargebee.key.setText("live_key_1234")
    walk = _tab_walk(qtbot, page.chargebee.site, 5)
    assert walk == [
        page.chargebee.site,
        page.chargebee.live_site,
        page.chargebee.key,
        page.base_url,
        page.test_button,
    ]


def test_recurly_credentials_tab_order_in_both_site_modes(qtbot: QtBot) -> None:
    wizard = _wizard_at_credentials(qtbot, "recurly")
    page = wizard.credentials
    assert page.auth_url.isHidden()
    page.recurly.site.setText("acme")
    page.recurly.key.setText("key")
    walk = _tab_walk(qtbot, page.recurly.one_site, 6)
    assert walk == [
        page.recurly.one_site,
        page.recurly.site,
        page.recurly.key,
        page.recurly.region,
        page.base_url,
        page.test_button,
    ]
    page.recurly.many_sites.setChecked(True)
    page.recurly.site_map.setPlainText('{"acme": "k1", "acme-eu": "k2"}')
    walk = _tab_walk(qtbot, page.recurly.many_sites, 5)
    assert walk == [
        page.recurly.many_sites,
        page.recurly.site_map,
        page.recurly.region,
        page.base_url,
        page.test_button,
    ]


def test_zoho_credentials_show_the_accounts_server_field_in_tab_order(qtbot: QtBot) -> None:
    wizard = _wizard_at_credentials(qtbot, "zoho-billing")
    page = wizard.credentials
    assert page.auth_url.isVisible()
    walk = _tab_walk(qtbot, page.zoho.data_centre, 8)
    assert walk == [
        page.zoho.data_centre,
        page.zoho.org_id,
        page.zoho.client_id,
        page.zoho.client_secret,
        page.zoho.grant,
        page.zoho.token,
        page.base_url,
        page.auth_url,
    ]


def test_going_back_from_zoho_to_chargebee_hides_the_accounts_server_again(qtbot: QtBot) -> None:
    wizard = _wizard_at_credentials(qtbot, "zoho-billing")
    assert wizard.credentials.auth_url.isVisible()
    wizard.back()
    wizard.system.buttons["chargebee"].setChecked(True)
    wizard.next()
    assert wizard.credentials.auth_url.isHidden()


@pytest.mark.parametrize(
    ("hint", "sentence"),
    [
        ("…7f3a", "Key ending …7f3a"),
        ("2 keys", "2 keys, one per site"),
        (None, "No key stored"),
        ("", "No key stored"),
    ],
)
def test_key_text_reads_as_a_sentence(hint: str | None, sentence: str) -> None:
    assert key_text(hint) == sentence


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    yield database
    database.close()


def test_connections_page_tabs_through_cards_in_the_order_shown(qtbot: QtBot, db: Database) -> None:
    service = ConnectionService(db, MemorySecretStore())
    service.add(
        name="Beta Chargebee",
        kind="chargebee",
        settings={"site": "beta"},
        secret=CHARGEBEE_KEYS["acme"],
    )
    service.add(
        name="Recurly sites",
        kind="recurly",
        settings={"sites": ["acme", "acme-eu"], "region": "us"},
        secret='{"acme": "key-one-1111", "acme-eu": "key-two-2222"}',
    )
    jobs = JobRunner()
    page = ConnectionsPage(
        ImmediateLoader(db),
        jobs,
        ConnectionsBackend(sync=lambda _cid, _context: None, open_wizard=lambda _w, _o: False),
    )
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    page.activateWindow()
    qtbot.waitActive(page)
    page.refresh()
    # A connection added later whose name sorts first gets the first card, and Tab agrees.
    service.add(
        name="Alpha Chargebee",
        kind="chargebee",
        settings={"site": "alpha"},
        secret=CHARGEBEE_KEYS["acme"],
    )
    page.refresh()
    cards = sorted(page.cards.values(), key=lambda card: card.overview.name)
    assert cards[0].overview.name == "Alpha Chargebee"
    positions = [page.list_layout.indexOf(card) for card in cards]
    assert positions == sorted(positions)
    walk = _tab_walk(qtbot, page.add_button, 1 + 5 * 3)
    expected: list[QWidget] = [page.add_button]
    for card in cards:
        expected += [
            card.sync_button,
            card.pause_button,
            card.disable_button,
            card.credentials_button,
            card.remove_button,
        ]
    assert walk == expected
    recurly = next(card for card in cards if card.overview.kind == "recurly")
    assert "2 keys, one per site" in recurly.facts.text()
    assert "Key 2 keys" not in recurly.facts.text()
    jobs.shutdown()


def _looks(widget: QWidget) -> QImage:
    return widget.grab().toImage()


def _round_trip(qtbot: QtBot, expected: list[QWidget]) -> None:
    """Tab visits ``expected`` in order and comes back to the first (no trap), each stop
    visibly focused; Shift+Tab then goes back the same way."""
    start, last = expected[0], expected[-1]
    last.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is last, timeout=2000)
    QTest.keyClick(last, Qt.Key.Key_Tab)  # a real Tab, so styles draw keyboard focus
    assert QApplication.focusWidget() is start
    seen: list[QWidget] = [start]
    unmarked: list[str] = []
    for _ in expected:
        current = QApplication.focusWidget()
        assert current is not None
        focused_look = _looks(current)
        QTest.keyClick(current, Qt.Key.Key_Tab)
        focused = QApplication.focusWidget()
        assert focused is not None
        seen.append(focused)
        if focused is not current and _looks(current) == focused_look:
            unmarked.append(f"{type(current).__name__} {current.objectName()}")
    assert seen == [*expected, start]
    assert not unmarked, f"no visible focus on {unmarked}"
    back: list[QWidget] = [start]
    for _ in expected:
        current = QApplication.focusWidget()
        assert current is not None
        QTest.keyClick(current, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
        focused = QApplication.focusWidget()
        assert focused is not None
        back.append(focused)
    assert back == [start, *reversed(expected)]


@pytest.fixture
def loader(db: Database) -> Iterator[QueryLoader]:
    seed(db, 12, connections=(("Acme Chargebee", "chargebee"), ("Acme Recurly", "recurly")))
    query = QueryLoader(db)
    yield query
    query.shutdown()


@pytest.fixture
def jobs() -> Iterator[JobRunner]:
    runner = JobRunner()
    yield runner
    runner.shutdown()


def _active(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    widget.activateWindow()
    qtbot.waitActive(widget)


def test_account_360_tabs_in_reading_order_on_every_tab(
    qtbot: QtBot, db: Database, loader: QueryLoader, jobs: JobRunner
) -> None:
    page = AccountsPage(loader, jobs, db, lambda _c, _s, _context: "Fetched.")
    crm = QToolButton()  # as the app adds its Zoho CRM menu beside Fetch
    crm.setText("Zoho CRM")
    page.detail.add_header_action(crm)
    _active(qtbot, page)
    page.refresh()
    qtbot.waitUntil(lambda: page.model.total == 12, timeout=5000)
    page.table.setCurrentIndex(page.model.index(0, 0))
    page.open_account(page.model.data(page.model.index(0, 0), ACCOUNT_ID_ROLE))
    view = page.detail
    qtbot.waitUntil(lambda: view.detail is not None, timeout=5000)
    assert QApplication.focusWidget() is view.back_button
    header: list[QWidget] = [view.back_button, view.fetch_button, crm, view.tabs.tabBar()]
    editors: list[QWidget] = [view.editors[name] for name in ("name", "email", "company", "phone")]
    _round_trip(qtbot, header + editors)
    # Save and Undo join once there is something to save
    view.editors["phone"].setText("+49 30 1234")
    view.editors["phone"].textEdited.emit("+49 30 1234")
    _round_trip(qtbot, header + editors + [view.save_button, view.revert_button])
    for index, table in enumerate(
        (view.users_view, view.subscriptions_view, view.invoices_view, view.sources_view),
        start=1,
    ):
        view.tabs.setCurrentIndex(index)
        table.setCurrentIndex(table.model().index(0, 0))
        _round_trip(qtbot, [*header, table])
    view.tabs.setCurrentIndex(5)
    charts = view.health_charts
    qtbot.waitUntil(lambda: charts.mrr_card.export_button.isEnabled(), timeout=5000)
    exports = [
        card.export_button
        for card in (charts.mrr_card, charts.score_card)
        if card.export_button.isEnabled()
    ]
    _round_trip(qtbot, [*header, *exports])


def test_sync_history_tabs_from_the_filter_to_the_runs_to_the_errors(
    qtbot: QtBot, loader: QueryLoader
) -> None:
    page = SyncHistoryPage(loader)
    _active(qtbot, page)
    page.refresh()
    qtbot.waitUntil(lambda: page.runs.rowCount() > 0, timeout=5000)
    page.table.setCurrentIndex(page.runs.index(0, 0))
    QTest.keyClick(page.table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.errors.rowCount() > 0, timeout=5000)
    page.errors_table.setCurrentIndex(page.errors.index(0, 0))
    _round_trip(qtbot, [page.connection_filter, page.table, page.errors_table])


def test_sync_errors_tabs_from_the_filters_to_the_list_to_retry(
    qtbot: QtBot, loader: QueryLoader, jobs: JobRunner
) -> None:
    page = SyncErrorsPage(loader, jobs, lambda _error, _context: "Fetched again.")
    _active(qtbot, page)
    page.refresh()
    qtbot.waitUntil(lambda: page.errors.rowCount() > 0, timeout=5000)
    filters: list[QWidget] = [page.connection_filter, page.stream_filter, page.show_resolved]
    page.table.setCurrentIndex(page.errors.index(0, 0))
    assert page.retry_button.isEnabled()
    _round_trip(qtbot, [*filters, page.table, page.retry_button])
    # Retry is below the list, so Tab reaches it after the list, as a reader does
    assert page.retry_button.y() > page.table.y() + page.table.height()
