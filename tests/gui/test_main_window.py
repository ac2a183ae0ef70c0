"""The app shell: navigation, status bar, remembered geometry and page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from desktop.app import Services, build_services, build_window
from desktop.secrets import MemorySecretStore
from desktop.storage.database import open_database
from desktop.views.main_window import REFRESH_COALESCE_MS, MainWindow

EXPECTED_PAGES = [
    "Accounts",
    "Connections",
    "Zoho CRM",
    "Sync history",
    "Sync errors",
    "Events",
    "Health",
    "Settings",
]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    built = build_services(database, secrets=MemorySecretStore(), settings=settings)
    yield built
    built.close()


def _window(qtbot: QtBot, services: Services) -> MainWindow:
    window = build_window(services)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_navigation_lists_every_page(qtbot: QtBot, services: Services) -> None:
    window = _window(qtbot, services)
    assert window.page_titles() == EXPECTED_PAGES
    for title in EXPECTED_PAGES:
        window.show_page(title)
        current = window.stack.currentWidget()
        assert current is not None
        assert getattr(current, "title", None) == title


def test_status_bar_shows_workspace_and_sync_state(qtbot: QtBot, services: Services) -> None:
    window = _window(qtbot, services)
    assert services.database.display in window.workspace_label.text()
    assert window.sync_label.text() == "No sync running"


def test_geometry_and_last_page_are_remembered(
    qtbot: QtBot, services: Services, tmp_path: Path
) -> None:
    window = _window(qtbot, services)
    window.resize(720, 520)
    window.show_page("Sync errors")
    window.close()
    again = _window(qtbot, services)
    assert again.stack.currentWidget() is not None
    assert again.pages[again.navigation.currentRow()].title == "Sync errors"
    assert again.size().width() == 720
    assert again.size().height() == 520


def test_keyboard_shortcuts_switch_pages(qtbot: QtBot, services: Services) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    window = _window(qtbot, services)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    qtbot.keyClick(window.navigation, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.pages[window.navigation.currentRow()].title == "Sync history"


def test_settings_page_never_shows_a_password(qtbot: QtBot, tmp_path: Path) -> None:
    from desktop.views.settings_page import SettingsPage

    page = SettingsPage("postgresql+psycopg://admin:***@db/x", "memory", "postgresql")
    qtbot.addWidget(page)
    assert "***" in page.workspace_label.text()


def test_jobs_ending_together_refresh_the_page_once(
    qtbot: QtBot, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = _window(qtbot, services)
    window.show_page("Sync history")
    page = window.stack.currentWidget()
    refreshes: list[int] = []
    monkeypatch.setattr(page, "refresh", lambda: refreshes.append(1))
    for title in ("First sync of A", "First sync of B", "First sync of C"):
        services.jobs.data_changed.emit(title)
    assert refreshes == []  # not one read per job
    qtbot.waitUntil(lambda: refreshes == [1], timeout=3000)
    qtbot.wait(REFRESH_COALESCE_MS * 2)
    assert refreshes == [1]


def test_an_empty_workspace_keeps_each_page_title_at_the_top(
    qtbot: QtBot, services: Services
) -> None:
    window = _window(qtbot, services)
    window.resize(1280, 800)
    for title in EXPECTED_PAGES:
        window.show_page(title)
        page = window.stack.currentWidget()
        assert page is not None
        header = next(label for label in page.findChildren(QLabel) if label.text() == title)
        qtbot.waitUntil(lambda page=page: page.height() > 600, timeout=2000)
        top = page.layout().contentsMargins().top()
        # the label itself at the top, not a tall label with its text centred half-way down
        assert (header.y(), header.height()) == (top, header.sizeHint().height()), title
