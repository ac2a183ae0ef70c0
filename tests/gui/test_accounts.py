"""The Accounts page and the Account 360°: search, open, edit, warn, fetch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QStyle, QStyleOptionComboBox
from pytestqt.qtbot import QtBot
from sqlalchemy import update

from desktop.jobs import JobContext
from desktop.storage.database import Database, open_database
from desktop.storage.models import Connection
from desktop.views.accounts import AccountsPage
from desktop.views.jobs import JobRunner
from desktop.views.models.accounts import ACCOUNT_ID_ROLE
from desktop.views.models.loader import QueryLoader
from tests.gui.workspace_seed import Seeded, add_connection, seed


@dataclass
class Env:
    database: Database
    loader: QueryLoader
    jobs: JobRunner
    seeded: Seeded


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    seeded = seed(database, 30)
    loader = QueryLoader(database)
    jobs = JobRunner()
    yield Env(database, loader, jobs, seeded)
    jobs.shutdown()
    loader.shutdown()
    database.close()


def _page(qtbot: QtBot, env: Env, fetcher: object = None) -> AccountsPage:
    page = AccountsPage(env.loader, env.jobs, env.database, fetcher)  # type: ignore[arg-type]
    qtbot.addWidget(page)
    page.resize(1100, 700)
    page.show()
    page.refresh()
    qtbot.waitUntil(lambda: page.model.total == 30, timeout=5000)
    return page


def test_list_shows_every_account_with_its_columns(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    assert page.count_label.text() == "30 accounts"
    assert page.column_titles == [
        "Name",
        "Identifier",
        "MRR",
        "Plans",
        "Subscription status",
        "Invoice status",
        "Amount due",
        "Next renewal",
        "Sources",
    ]
    assert page.model.data(page.model.index(0, 8)) == "Acme Chargebee"


def test_search_narrows_the_list_and_says_when_nothing_matches(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    qtbot.keyClicks(page.search, "tenant-00001")
    qtbot.waitUntil(lambda: page.model.total == 10, timeout=5000)  # 000010 … 000019
    assert page.count_label.text() == "10 matching accounts"
    page.search.clear()
    qtbot.keyClicks(page.search, "no such account")
    qtbot.waitUntil(lambda: page.count_label.text() == "No account matches", timeout=5000)
    # in place of a blank table: what happened and what to do
    assert page.list_stack.currentWidget() is page.empty
    assert "No account matches the search and filters" in page.empty.text()
    assert "clear them" in page.empty.text()
    page.search.clear()
    qtbot.waitUntil(lambda: page.count_label.text() == "30 accounts", timeout=5000)
    assert page.list_stack.currentWidget() is page.table


def test_empty_workspace_says_what_to_do(qtbot: QtBot, tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    loader = QueryLoader(database)
    jobs = JobRunner()
    try:
        page = AccountsPage(loader, jobs, database)
        qtbot.addWidget(page)
        page.show()
        page.refresh()
        qtbot.waitUntil(lambda: page.list_stack.currentWidget() is page.empty, timeout=5000)
        assert "Connections page" in page.empty.text()
    finally:
        jobs.shutdown()
        loader.shutdown()
        database.close()


def _open_first(qtbot: QtBot, page: AccountsPage) -> None:
    page.table.setFocus()
    page.table.setCurrentIndex(page.model.index(0, 0))
    qtbot.keyClick(page.table, Qt.Key.Key_Return)
    assert page.stack.currentWidget() is page.detail
    qtbot.waitUntil(lambda: page.detail.detail is not None, timeout=5000)


def test_enter_opens_the_360_and_escape_goes_back(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    _open_first(qtbot, page)
    detail = page.detail.detail
    assert detail is not None
    assert page.detail.heading.text() == detail.display_name
    assert page.detail.tabs.tabText(4) == "Sources (1)"
    assert page.detail.sources.rowCount() == 1
    qtbot.keyClick(page.detail.back_button, Qt.Key.Key_Escape)
    assert page.stack.currentIndex() == 0


def test_manual_edit_is_saved_marked_and_warned_about(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    _open_first(qtbot, page)
    view = page.detail
    assert not view.save_button.isEnabled()
    view.editors["company"].clear()
    qtbot.keyClicks(view.editors["company"], "Edited Company GmbH")
    assert view.save_button.isEnabled()
    with qtbot.waitSignal(view.edits_saved, timeout=5000):
        qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "company" in (view.detail.edits if view.detail else {}), timeout=5000)
    assert view.markers["company"].isVisibleTo(view)
    assert "Edited here" in view.markers["company"].text()
    assert view.edit_warning.isVisibleTo(view)
    assert "Acme Chargebee syncs daily" in view.edit_warning.text()
    assert "overwrite" in view.edit_warning.text()


def test_import_only_sources_keep_edits_without_a_warning(qtbot: QtBot, env: Env) -> None:
    with env.database.transaction() as session:
        session.execute(update(Connection).values(mode="import-only"))
    page = _page(qtbot, env)
    _open_first(qtbot, page)
    view = page.detail
    view.editors["phone"].setText("+44 20 7946 0000")
    view._update_buttons()
    with qtbot.waitSignal(view.edits_saved, timeout=5000):
        view.save_edits()
    qtbot.waitUntil(lambda: bool(view.detail and view.detail.edits), timeout=5000)
    assert view.edit_warning.kind == "info"
    assert "kept" in view.edit_warning.text()


def test_fetch_this_account_runs_in_the_background(qtbot: QtBot, env: Env) -> None:
    calls: list[tuple[int, str]] = []

    def fetcher(connection_id: int, source_id: str, context: JobContext) -> str:
        calls.append((connection_id, source_id))
        context.progress(1, 1, "fetched")
        return "Fetched 1 account, 2 subscriptions and 3 invoices from Acme Chargebee."

    page = _page(qtbot, env, fetcher)
    _open_first(qtbot, page)
    view = page.detail
    assert view.fetch_button.text() == "Fetch this account from Acme Chargebee"
    assert view.fetch_button.isEnabled()
    qtbot.mouseClick(view.fetch_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.banner.kind == "ok", timeout=5000)
    assert "Fetched 1 account" in view.banner.text()
    assert calls
    assert calls[0][1].startswith("cus_")


def test_fetch_failure_is_one_sentence(qtbot: QtBot, env: Env) -> None:
    from desktop.sync.base import AuthorisationError

    def fetcher(_connection_id: int, _source_id: str, _context: JobContext) -> str:
        raise AuthorisationError("Chargebee refused the API key (401); update the credentials.")

    page = _page(qtbot, env, fetcher)
    _open_first(qtbot, page)
    qtbot.mouseClick(page.detail.fetch_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.detail.banner.kind == "error", timeout=5000)
    assert page.detail.banner.text() == (
        "Chargebee refused the API key (401); update the credentials."
    )


def test_without_an_engine_fetch_is_disabled_with_a_reason(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    _open_first(qtbot, page)
    assert not page.detail.fetch_button.isEnabled()
    assert "engine" in page.detail.fetch_button.toolTip()


def test_subscriptions_read_in_full_at_1280_by_800(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    page.resize(1090, 760)  # the page area beside the navigation in a 1280×800 window
    for row in range(page.model.rowCount()):
        page.open_account(page.model.data(page.model.index(row, 0), ACCOUNT_ID_ROLE))
        qtbot.waitUntil(
            lambda: (
                page.detail.detail is not None and page.detail.detail.id == page.detail.account_id
            ),
            timeout=5000,
        )
        detail = page.detail.detail
        if detail is not None and any(s.status == "unpaid" for s in detail.subscriptions):
            break
    else:
        pytest.fail("the seed has no unpaid subscription")
    view = page.detail.subscriptions_view
    page.detail.tabs.setCurrentWidget(view)
    model = view.model()
    assert model.rowCount() > 0
    metrics = view.fontMetrics()
    clipped = [
        str(model.data(model.index(row, column)))
        for row in range(model.rowCount())
        for column in range(model.columnCount())
        if metrics.horizontalAdvance(str(model.data(model.index(row, column)))) + 8
        > view.columnWidth(column)
    ]
    assert clipped == []
    assert view.horizontalScrollBar().maximum() == 0


def _open_row(qtbot: QtBot, page: AccountsPage, row: int) -> None:
    page.open_account(page.model.data(page.model.index(row, 0), ACCOUNT_ID_ROLE))
    qtbot.waitUntil(
        lambda: page.detail.detail is not None and page.detail.detail.id == page.detail.account_id,
        timeout=5000,
    )


def test_360_facts_line_reads_as_words(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    endings: set[str] = set()
    for row in range(page.model.rowCount()):
        _open_row(qtbot, page, row)
        detail = page.detail.detail
        assert detail is not None
        facts = page.detail.facts.text()
        assert "(s)" not in facts
        subscriptions, users = len(detail.subscriptions), len(detail.users)
        assert f" · {subscriptions} subscription{'' if subscriptions == 1 else 's'} · " in facts
        assert f" · {users} user{'' if users == 1 else 's'} · " in facts
        if any(invoice.amount_due_minor for invoice in detail.invoices):
            assert facts.endswith(" USD due")
            endings.add("due")
        else:
            assert facts.endswith(" · nothing due")
            endings.add("nothing")
        assert "MRR 0 " not in facts
    assert endings == {"due", "nothing"}


def test_users_read_in_full_at_1280_by_800(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    page.resize(1090, 760)  # the page area beside the navigation in a 1280×800 window
    _open_row(qtbot, page, 0)
    view = page.detail.users_view
    page.detail.tabs.setCurrentWidget(view)
    model = view.model()
    assert model.rowCount() > 0
    metrics = view.fontMetrics()
    clipped = [
        str(model.data(model.index(row, column)))
        for row in range(model.rowCount())
        for column in range(model.columnCount())
        if metrics.horizontalAdvance(str(model.data(model.index(row, column)))) + 8
        > view.columnWidth(column)
    ]
    assert clipped == []


def test_sources_read_in_full_at_1280_by_800(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    page.resize(1090, 760)  # the page area beside the navigation in a 1280×800 window
    _open_row(qtbot, page, 0)
    view = page.detail.sources_view
    page.detail.tabs.setCurrentWidget(view)
    model = view.model()
    assert model.rowCount() > 0
    metrics = view.fontMetrics()
    texts = [
        (column, str(model.data(model.index(row, column))))
        for row in range(model.rowCount())
        for column in range(model.columnCount())
    ]
    texts += [
        (column, str(model.headerData(column, Qt.Orientation.Horizontal)))
        for column in range(model.columnCount())
    ]
    texts.append((5, "2026-11-20 09:30 UTC"))  # a time where the seed has none
    texts.append((7, "Deleted at the source"))
    # header texts also leave room for the sort arrow
    clipped = [
        text
        for column, text in texts
        if metrics.horizontalAdvance(text) + 16 > view.columnWidth(column)
    ]
    assert clipped == []
    assert view.horizontalScrollBar().maximum() == 0


def test_filters_show_their_choice_in_full_at_1280_by_800(qtbot: QtBot, env: Env) -> None:
    page = _page(qtbot, env)
    page.resize(1090, 760)  # the page area beside the navigation in a 1280×800 window
    qtbot.waitUntil(lambda: page.connection_filter.count() > 1, timeout=5000)
    for combo in (page.connection_filter, page.subscription_filter, page.invoice_filter):
        for index in range(combo.count()):
            combo.setCurrentIndex(index)
            option = QStyleOptionComboBox()
            combo.initStyleOption(option)
            field = combo.style().subControlRect(
                QStyle.ComplexControl.CC_ComboBox,
                option,
                QStyle.SubControl.SC_ComboBoxEditField,
                combo,
            )
            text = combo.currentText()
            assert combo.fontMetrics().horizontalAdvance(text) <= field.width(), text
    assert page.search.width() >= 300
    # a narrow window (720 px, beside the 190 px navigation) still fits the row
    assert page.minimumSizeHint().width() <= 720 - 190


def test_an_empty_name_or_a_malformed_e_mail_is_refused_with_a_sentence(
    qtbot: QtBot, env: Env
) -> None:
    page = _page(qtbot, env)
    _open_first(qtbot, page)
    detail = page.detail
    assert detail.detail is not None
    saved_name = detail.detail.display_name
    name, email = detail.editors["name"], detail.editors["email"]
    name.clear()
    name.textEdited.emit("")
    qtbot.mouseClick(detail.save_button, Qt.MouseButton.LeftButton)
    assert detail.banner.kind == "error"
    assert detail.banner.text().startswith("Give the account a name")
    name.setText("Renamed Ltd")
    email.setText("not an e-mail")
    email.textEdited.emit(email.text())
    qtbot.mouseClick(detail.save_button, Qt.MouseButton.LeftButton)
    assert "“not an e-mail” is not an e-mail address" in detail.banner.text()
    qtbot.wait(300)  # nothing was saved: the job would have reloaded the account
    assert detail.detail is not None
    assert detail.detail.display_name == saved_name
    assert detail.markers["name"].text() == ""
    email.setText("billing@renamed.example")
    email.textEdited.emit(email.text())
    qtbot.mouseClick(detail.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: detail.detail is not None and detail.detail.display_name == "Renamed Ltd",
        timeout=5000,
    )
    assert detail.banner.text() == ""


def test_an_empty_list_says_what_is_happening(qtbot: QtBot, tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'connected.sqlite3'}")
    add_connection(database, "Acme Chargebee")
    loader = QueryLoader(database)
    jobs = JobRunner()
    release = threading.Event()
    try:
        page = AccountsPage(loader, jobs, database)
        qtbot.addWidget(page)
        page.show()
        page.refresh()
        # a connection that has not synced yet: not "add a connection"
        qtbot.waitUntil(lambda: "Run Sync Now" in page.empty.text(), timeout=5000)
        assert page.list_stack.currentWidget() is page.empty
        handle = jobs.run(
            lambda _context: release.wait(5), title="First sync of Acme Chargebee", key="sync:1"
        )
        assert "a sync is running" in page.empty.text()
        release.set()
        with qtbot.waitSignal(handle.finished, timeout=5000):
            pass
        assert "Run Sync Now" in page.empty.text()
    finally:
        release.set()
        jobs.shutdown()
        loader.shutdown()
        database.close()
