"""Wiring: every finished sync recomputes health and evaluates alerts; the window connects
the Health page to the Accounts page and to notifications."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from desktop.app import Services, build_services, build_window
from desktop.health import AlertNews, list_alerts
from desktop.health.after_sync import after_sync_hook
from desktop.jobs import JobContext
from desktop.sandbox.facade import Sandbox
from desktop.secrets import MemorySecretStore
from desktop.storage import models
from desktop.storage.database import Database, open_database
from desktop.views.accounts import AccountsPage
from desktop.views.health import HealthPage
from tests.unit.sync.engine_support import add_chargebee, fast_engine


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(size=60, seed=5) as sb:
        yield sb


def _count(database: Database, model: type[models.Base]) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_every_finished_sync_recomputes_health_and_evaluates_alerts(
    database: Database, sandbox: Sandbox
) -> None:
    add_chargebee(database, sandbox)
    engine = fast_engine(database, sandbox, after_run=after_sync_hook(database))
    summary = engine.run("Acme", context=JobContext())
    assert summary.status == "succeeded"
    accounts = _count(database, models.Account)
    assert accounts > 0
    assert _count(database, models.AccountHealth) == accounts
    assert _count(database, models.HealthDay) == 1
    assert _count(database, models.AlertRule) == 4  # installed by the first evaluation
    with database.session() as session:
        evaluated = session.scalars(select(models.AlertRule.last_evaluated_at)).all()
    assert all(evaluated)


def test_a_failing_hook_never_fails_the_sync(database: Database, sandbox: Sandbox) -> None:
    add_chargebee(database, sandbox)
    calls: list[str] = []

    def broken(summary: object, _context: JobContext) -> None:
        calls.append(str(getattr(summary, "status", "")))
        raise RuntimeError("boom")

    summary = fast_engine(database, sandbox, after_run=broken).run("Acme")
    assert summary.status == "succeeded"
    assert calls == ["succeeded"]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    built = build_services(database, secrets=MemorySecretStore(), settings=settings)
    yield built
    built.close()


def test_the_window_connects_health_to_accounts_and_notifications(
    qtbot: QtBot, services: Services
) -> None:
    from tests.gui.test_health_page import NOW, build

    ids = build(services.database)
    window = build_window(services)
    qtbot.addWidget(window)
    window.show()
    health = next(p for p in window.pages if isinstance(p, HealthPage))
    accounts = next(p for p in window.pages if isinstance(p, AccountsPage))
    window.show_page("Health")
    health.open_account.emit(ids["late"])
    assert window.stack.currentWidget() is accounts
    assert accounts.detail.account_id == ids["late"]
    health.open_segment.emit(
        "Paying", {"field": "account.mrr", "op": "gt", "value": {"amount": "0"}}
    )
    qtbot.waitUntil(lambda: "Paying" in accounts.segment_banner.text(), timeout=5000)
    # new alerts reach the status bar when the desktop has no tray (offscreen)
    health.watcher.new_alerts.emit(AlertNews(9, 2, ()))
    assert window.statusBar().currentMessage() == (
        "2 new alerts: See the Alerts tab of the Health page."
    )
    assert not list_alerts(services.database, clock=lambda: NOW)  # nothing evaluated yet
