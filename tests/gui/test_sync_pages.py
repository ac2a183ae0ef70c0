"""Sync history (runs, open a run → its errors) and Sync errors (filters, retry one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QTableView
from pytestqt.qtbot import QtBot

from desktop.errors import NotFoundError
from desktop.jobs import JobContext
from desktop.storage.database import Database, open_database
from desktop.storage.repositories.connection_overview import (
    ErrorItem,
    account_source_for_error,
    list_errors,
)
from desktop.views.jobs import JobRunner
from desktop.views.models.formatting import (
    ALERT_COLOUR,
    OK_COLOUR,
    TEXT_CONTRAST,
    WARN_COLOUR,
    contrast,
    readable,
)
from desktop.views.models.loader import QueryLoader
from desktop.views.sync_errors import SyncErrorsPage
from desktop.views.sync_history import SyncHistoryPage
from desktop.wizards.connection_wizard import ConnectionWizard
from tests.gui.screenshot_dark import dark_palette
from tests.gui.workspace_seed import seed


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    yield database
    database.close()


@pytest.fixture
def loader(db: Database) -> Iterator[QueryLoader]:
    query = QueryLoader(db)
    yield query
    query.shutdown()


@pytest.fixture
def jobs() -> Iterator[JobRunner]:
    runner = JobRunner()
    yield runner
    runner.shutdown()


def test_history_lists_runs_and_opens_one(qtbot: QtBot, db: Database, loader: QueryLoader) -> None:
    seed(db, 10, connections=(("A", "chargebee"), ("B", "recurly")), runs=4, errors_per_run=2)
    page = SyncHistoryPage(loader)
    qtbot.addWidget(page)
    page.show()
    page.refresh()
    qtbot.waitUntil(lambda: page.runs.rowCount() == 4, timeout=5000)
    assert page.count_label.text() == "4 runs"
    newest = page.runs.row_at(0)
    assert newest is not None
    assert page.runs.data(page.runs.index(0, 4)) == "Partial"
    assert page.runs.data(page.runs.index(0, 11)) == "45 s"
    page.table.setCurrentIndex(page.runs.index(0, 0))
    page.table.activated.emit(page.runs.index(0, 0))
    qtbot.waitUntil(lambda: page.errors.rowCount() == 2, timeout=5000)
    assert f"Run {newest.id} of {newest.connection_name}" in page.run_label.text()
    # filter by connection
    qtbot.waitUntil(lambda: page.connection_filter.count() == 3, timeout=5000)
    page.connection_filter.setCurrentIndex(page.connection_filter.findText("B"))
    qtbot.waitUntil(lambda: page.runs.rowCount() == 2, timeout=5000)


def test_history_empty_state(qtbot: QtBot, loader: QueryLoader) -> None:
    page = SyncHistoryPage(loader)
    qtbot.addWidget(page)
    page.show()
    page.refresh()
    qtbot.waitUntil(lambda: page.empty.isVisible(), timeout=5000)
    assert "Sync Now" in page.empty.text()


def test_errors_filter_by_stream_and_retry_one(
    qtbot: QtBot, db: Database, loader: QueryLoader, jobs: JobRunner
) -> None:
    seed(db, 10, runs=3, errors_per_run=2)
    retried: list[ErrorItem] = []

    def retrier(error: ErrorItem, _context: JobContext) -> str:
        retried.append(error)
        from desktop.storage.repositories.connection_overview import resolve_error
        from desktop.timeutil import utc_now

        with db.transaction() as session:
            resolve_error(session, error.id, utc_now())
        return "Fetched from Acme Chargebee: 3 records read. The error is resolved."

    page = SyncErrorsPage(loader, jobs, retrier)
    qtbot.addWidget(page)
    page.show()
    page.refresh()
    qtbot.waitUntil(lambda: page.errors.rowCount() == 6, timeout=5000)
    assert page.count_label.text() == "6 shown, 6 open"
    page.stream_filter.setCurrentIndex(page.stream_filter.findData("invoices"))
    qtbot.waitUntil(lambda: page.errors.rowCount() == 3, timeout=5000)
    assert all(e.stream == "invoices" for e in page.errors.rows)
    assert not page.retry_button.isEnabled()
    page.table.setCurrentIndex(page.errors.index(0, 0))
    assert page.retry_button.isEnabled()
    page.retry_button.click()
    qtbot.waitUntil(lambda: page.banner.kind == "ok", timeout=5000)
    assert retried[0].stream == "invoices"
    qtbot.waitUntil(lambda: page.errors.rowCount() == 2, timeout=5000)  # resolved ones hidden
    page.show_resolved.setChecked(True)
    qtbot.waitUntil(lambda: page.errors.rowCount() == 3, timeout=5000)


def test_retry_failure_is_one_sentence_and_no_engine_disables_retry(
    qtbot: QtBot, db: Database, loader: QueryLoader, jobs: JobRunner
) -> None:
    seed(db, 5, runs=1, errors_per_run=1)

    def retrier(_error: ErrorItem, _context: JobContext) -> str:
        raise NotFoundError("Chargebee has no customer cus_x any more; it was marked deleted.")

    page = SyncErrorsPage(loader, jobs, retrier)
    qtbot.addWidget(page)
    page.show()
    page.refresh()
    qtbot.waitUntil(lambda: page.errors.rowCount() == 1, timeout=5000)
    page.table.setCurrentIndex(page.errors.index(0, 0))
    page.retry_selected()
    qtbot.waitUntil(lambda: page.banner.kind == "error", timeout=5000)
    assert page.banner.text().startswith("Chargebee has no customer")
    bare = SyncErrorsPage(loader, jobs, None)
    qtbot.addWidget(bare)
    bare.refresh()
    qtbot.waitUntil(lambda: bare.errors.rowCount() == 1, timeout=5000)
    bare.table.setCurrentIndex(bare.errors.index(0, 0))
    assert not bare.retry_button.isEnabled()
    assert "engine" in bare.retry_button.toolTip()


def test_retry_finds_the_account_of_a_failed_record(db: Database) -> None:
    seed(db, 3, runs=1, errors_per_run=2)
    with db.session() as session:
        errors = list_errors(session)
        by_payload = next(e for e in errors if e.stream == "subscriptions")
    from desktop.storage.models import SyncError

    with db.transaction() as session:
        row = session.get(SyncError, by_payload.id)
        assert row is not None
        row.payload = {"id": "sub_9", "customer_id": "cus_000002"}
    with db.session() as session:
        assert account_source_for_error(session, by_payload.id)[1] == "cus_000002"
        other = next(e for e in errors if e.stream == "invoices")
        with pytest.raises(NotFoundError, match="full sync"):
            account_source_for_error(session, other.id)


#: The page area beside the navigation in a 1280×800 window.
PAGE_AT_1280 = (1090, 760)


def _header_fits(table: QTableView) -> list[str]:
    """Titles wider than their column (the header would clip them)."""
    header = table.horizontalHeader()
    model = table.model()
    clipped = []
    for index in range(model.columnCount()):
        title = str(model.headerData(index, Qt.Orientation.Horizontal))
        if header.fontMetrics().horizontalAdvance(title) + 8 > header.sectionSize(index):
            clipped.append(title)
    return clipped


def test_history_and_errors_columns_fit_at_1280_by_800(
    qtbot: QtBot, db: Database, loader: QueryLoader, jobs: JobRunner
) -> None:
    seed(db, 10, connections=(("Acme Chargebee", "chargebee"),), runs=2, errors_per_run=2)
    history = SyncHistoryPage(loader)
    errors = SyncErrorsPage(loader, jobs)
    for page in (history, errors):
        qtbot.addWidget(page)
        page.resize(*PAGE_AT_1280)
        page.show()
        page.refresh()
    qtbot.waitUntil(lambda: history.runs.rowCount() == 2 and errors.errors.rowCount() > 0)
    history.open_run(history.runs.row_at(0))  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: history.errors.rowCount() > 0, timeout=5000)
    # every column is in view, every title unclipped; Message (elided, with a tooltip)
    # keeps some room
    runs = history.table
    last = runs.model().columnCount() - 1
    assert runs.horizontalHeader().sectionPosition(last) < runs.viewport().width() - 60
    assert _header_fits(runs) == []
    for table in (runs, history.errors_table, errors.table):
        assert table.horizontalScrollBar().maximum() == 0  # the last column is in view
        assert _header_fits(table) == []


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_status_colours_read_on_both_palettes(
    qtbot: QtBot, db: Database, loader: QueryLoader, dark: bool
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.palette()
    if dark:
        app.setPalette(dark_palette())
    try:
        palette = app.palette()
        grounds = [
            palette.color(QPalette.ColorRole.Base),
            palette.color(QPalette.ColorRole.AlternateBase),
        ]
        for colour in (ALERT_COLOUR, WARN_COLOUR, OK_COLOUR):
            shown = readable(colour, *grounds)
            assert min(contrast(shown, ground) for ground in grounds) >= TEXT_CONTRAST
        seed(db, 4, runs=1, errors_per_run=1)
        page = SyncHistoryPage(loader)
        qtbot.addWidget(page)
        page.refresh()
        qtbot.waitUntil(lambda: page.runs.rowCount() == 1, timeout=5000)
        status = page.runs.data(page.runs.index(0, 4), Qt.ItemDataRole.ForegroundRole)
        assert isinstance(status, QColor)
        assert min(contrast(status, ground) for ground in grounds) >= TEXT_CONTRAST
        window = palette.color(QPalette.ColorRole.Window)
        wizard = ConnectionWizard(lambda _result: None)
        qtbot.addWidget(wizard)
        problem = wizard.credentials.problem
        red = QColor(problem.styleSheet().removeprefix("color: ").removesuffix(";"))
        assert contrast(red, window) >= TEXT_CONTRAST
    finally:
        app.setPalette(before)
