"""Every item model passes Qt's model tester, and the accounts model pages lazily."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from desktop.storage.database import Database, open_database
from desktop.storage.repositories.accounts import AccountFilter
from desktop.views.models.accounts import LOADING, PAGE_SIZE, AccountsTableModel
from desktop.views.models.loader import ImmediateLoader, QueryLoader
from desktop.views.models.table import ColumnSpec, RowsTableModel
from tests.gui.workspace_seed import seed


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    yield database
    database.close()


def test_accounts_model_passes_the_model_tester(
    qtbot: QtBot, qtmodeltester: ModelTester, db: Database
) -> None:
    seed(db, PAGE_SIZE + 40)
    model = AccountsTableModel(ImmediateLoader(db))
    qtmodeltester.check(model)
    model.reload()
    assert model.rowCount() == PAGE_SIZE + 40
    # a row beyond the first page says it is loading, then arrives
    late = model.index(PAGE_SIZE + 5, 0)
    assert model.data(late) == LOADING
    qtbot.waitUntil(lambda: model.data(late) != LOADING, timeout=3000)
    assert model.account_at(PAGE_SIZE + 5) is not None
    model.sort(2, Qt.SortOrder.DescendingOrder)
    model.set_filter(AccountFilter(invoice_status="overdue"))
    assert 0 < model.rowCount() < PAGE_SIZE + 40
    model.refresh()


def test_accounts_model_sorts_and_filters_in_the_background(
    qtbot: QtBot, qtmodeltester: ModelTester, db: Database
) -> None:
    seed(db, 60)
    loader = QueryLoader(db)
    try:
        model = AccountsTableModel(loader)
        qtmodeltester.check(model)
        with qtbot.waitSignal(model.total_changed, timeout=5000) as blocker:
            model.reload()
        assert blocker.args == [60]
        with qtbot.waitSignal(model.total_changed, timeout=5000):
            model.sort(6, Qt.SortOrder.DescendingOrder)  # amount due
        due = [model.account_at(r).amount_due_minor for r in range(60)]  # type: ignore[union-attr]
        assert due == sorted(due, reverse=True)
        assert model.data(model.index(0, 6), Qt.ItemDataRole.DisplayRole).endswith("USD")
        # a newer request wins: the first filter's answer is dropped
        model.set_filter(AccountFilter(text="zzz-no-such"))
        with qtbot.waitSignal(model.total_changed, timeout=5000) as blocker:
            model.set_filter(AccountFilter())
        assert blocker.args == [60]
        qtbot.wait(50)
        assert model.rowCount() == 60
    finally:
        loader.shutdown()


def test_rows_model_passes_the_model_tester_and_sorts(qtmodeltester: ModelTester) -> None:
    columns = [
        ColumnSpec[tuple[str, int]]("Name", lambda r: r[0]),
        ColumnSpec[tuple[str, int]]("Count", lambda r: str(r[1]), True, sort_key=lambda r: r[1]),
    ]
    model = RowsTableModel(columns)
    qtmodeltester.check(model)
    model.set_rows([("b", 10), ("a", 9), ("c", 100)])
    model.sort(1, Qt.SortOrder.AscendingOrder)
    assert [r[1] for r in model.rows] == [9, 10, 100]
    model.sort(0, Qt.SortOrder.DescendingOrder)
    assert [r[0] for r in model.rows] == ["c", "b", "a"]
    assert model.headerData(1, Qt.Orientation.Horizontal) == "Count"


def test_refresh_rereads_only_the_pages_last_shown(qtbot: QtBot, db: Database) -> None:
    seed(db, PAGE_SIZE * 5 + 10)
    model = AccountsTableModel(ImmediateLoader(db))
    model.reload()
    for page in range(5):  # the person scrolled through five pages
        row = page * PAGE_SIZE + 1
        model.data(model.index(row, 0))
        qtbot.waitUntil(lambda row=row: model.account_at(row) is not None, timeout=3000)
    model.data(model.index(2 * PAGE_SIZE + 3, 0))  # and is now looking at page 2
    model.refresh()
    # page 2 (looked at last) and page 4 (before it) are read again; the rest is dropped
    # and comes back when scrolled to
    assert model.account_at(2 * PAGE_SIZE + 3) is not None
    assert model.account_at(4 * PAGE_SIZE + 1) is not None
    assert model.account_at(1) is None
    assert model.data(model.index(1, 0)) == LOADING
    qtbot.waitUntil(lambda: model.account_at(1) is not None, timeout=3000)


def test_accounts_rows_are_formatted_on_the_loader_thread(
    qtbot: QtBot, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Qt asks data() for every cell and role on each repaint; the money, date and status
    # texts must be ready by then, made off the window's thread with the page.
    import threading

    from desktop.views.models import accounts as model_module

    formatted_on: set[str] = set()
    original = model_module._display

    def spy(row: object, column: int) -> str:
        formatted_on.add(threading.current_thread().name)
        return original(row, column)  # type: ignore[arg-type]

    monkeypatch.setattr(model_module, "_display", spy)
    seed(db, 30)
    loader = QueryLoader(db)
    try:
        model = AccountsTableModel(loader)
        with qtbot.waitSignal(model.total_changed, timeout=5000):
            model.reload()
        texts = [model.data(model.index(r, c)) for r in range(30) for c in range(9)]
        assert LOADING not in texts
        assert any(texts)
        assert formatted_on
        assert threading.main_thread().name not in formatted_on
    finally:
        loader.shutdown()
