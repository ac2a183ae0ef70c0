"""The Connections page over a real engine and the in-process sandbox.

Sync Now with progress, Cancel mid-sync (Cancelling… → Cancelled), a foreign scheduled run
disabling Sync Now with its reason, pause/resume, disable/reactivate and remove.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from desktop.jobs import CancelToken
from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.secrets import MemorySecretStore
from desktop.storage import models
from desktop.storage.database import Database, open_database
from desktop.sync.connections import ConnectionService
from desktop.sync.engine import SyncEngine
from desktop.sync.http import ReadOnlyClient, VendorPolicy
from desktop.sync.locks import SyncLocks
from desktop.views.connections import ConnectionsBackend, ConnectionsPage
from desktop.views.connections_actions import EngineActions
from desktop.views.jobs import JobRunner
from desktop.views.models.loader import QueryLoader


@dataclass
class Env:
    database: Database
    sandbox: Sandbox
    loader: QueryLoader
    jobs: JobRunner
    service: ConnectionService
    page: ConnectionsPage


@pytest.fixture
def env(qtbot: QtBot, tmp_path: Path) -> Iterator[Env]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    sandbox = Sandbox(size=60, seed=3, vendors=("chargebee",))
    secrets = MemorySecretStore()
    service = ConnectionService(database, secrets)
    service.add(
        name="Acme Chargebee",
        kind="chargebee",
        settings={"site": "acme", "base_url": sandbox.base_url("chargebee", "acme")},
        secret=CHARGEBEE_KEYS["acme"],
    )

    def http(row: models.Connection, policy: VendorPolicy, cancel: CancelToken) -> ReadOnlyClient:
        return ReadOnlyClient(policy, name=row.name, transport=sandbox.transport(), cancel=cancel)

    engine = SyncEngine(database, secrets, http_factory=http, heartbeat_seconds=None)
    actions = EngineActions(engine, database)
    backend = ConnectionsBackend(
        sync=actions.sync,
        set_status=lambda cid, status: service.update(cid, status=status) and None,
        remove=service.remove,
        holders=engine.running,
    )
    loader = QueryLoader(database)
    jobs = JobRunner()
    page = ConnectionsPage(loader, jobs, backend)
    qtbot.addWidget(page)
    page.resize(1000, 600)
    page.show()
    page.refresh()
    qtbot.waitUntil(lambda: len(page.cards) == 1, timeout=5000)
    yield Env(database, sandbox, loader, jobs, service, page)
    jobs.shutdown()
    loader.shutdown()
    database.close()


def _card(env: Env) -> object:
    return next(iter(env.page.cards.values()))


def test_card_shows_state_last_and_next_run(env: Env) -> None:
    card = next(iter(env.page.cards.values()))
    assert "Acme Chargebee" in card.name_label.text()
    assert "Chargebee · Active · Daily sync at 00:00 UTC" in card.state_label.text()
    facts = card.facts.text()
    assert "Last run: never." in facts
    assert "Next scheduled run:" in facts
    assert "00:00 UTC" in facts
    assert "Key ending …" in facts  # only the last four characters
    assert CHARGEBEE_KEYS["acme"] not in facts


def test_sync_now_shows_progress_and_the_result(qtbot: QtBot, env: Env) -> None:
    card = next(iter(env.page.cards.values()))
    qtbot.mouseClick(card.sync_button, Qt.MouseButton.LeftButton)
    assert card.progress_box.isVisibleTo(card)
    assert not card.sync_button.isEnabled()
    qtbot.waitUntil(lambda: card.handle is None, timeout=20000)
    assert card.result.kind in ("ok", "warning")
    assert "fetched" in card.result.text()
    env.page.refresh()
    qtbot.waitUntil(lambda: "Last run: Succeeded" in card.facts.text(), timeout=5000)
    assert card.sync_button.isEnabled()


def test_cancel_mid_sync_says_cancelling_then_cancelled(qtbot: QtBot, env: Env) -> None:
    env.sandbox.set_faults("chargebee:latency=150ms@always")
    card = next(iter(env.page.cards.values()))
    qtbot.mouseClick(card.sync_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: card.progress_label.text() != "Starting…", timeout=10000)
    qtbot.mouseClick(card.cancel_button, Qt.MouseButton.LeftButton)
    assert card.progress_label.text() == "Cancelling…"
    assert not card.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: card.handle is None, timeout=20000)
    assert card.result.kind == "warning"
    assert card.result.text().startswith("Cancelled.")
    with env.database.session() as session:
        status = session.scalar(select(models.SyncRun.status))
    assert status == "cancelled"


def test_a_scheduled_run_elsewhere_disables_sync_now_with_the_reason(
    qtbot: QtBot, env: Env
) -> None:
    locks = SyncLocks(env.database, host="scheduler-host")
    held = locks.acquire(next(iter(env.page.cards)), "scheduled", heartbeat_seconds=None)
    try:
        env.page.refresh()
        card = next(iter(env.page.cards.values()))
        qtbot.waitUntil(lambda: not card.sync_button.isEnabled(), timeout=5000)
        assert "A scheduled sync of Acme Chargebee is running" in card.sync_button.toolTip()
        assert card.busy_label.isVisibleTo(card)
        assert "scheduler-host" in card.busy_label.text()
    finally:
        held.release()
    env.page.refresh()
    qtbot.waitUntil(lambda: card.sync_button.isEnabled(), timeout=5000)


def test_pause_resume_disable_reactivate(qtbot: QtBot, env: Env) -> None:
    card = next(iter(env.page.cards.values()))
    assert card.pause_button.text() == "Pause"
    # the two buttons say how they differ before one is pressed
    assert "scheduled sync; Sync Now still works" in card.pause_button.toolTip()
    assert "every sync of this connection, scheduled and Sync Now" in (
        card.disable_button.toolTip()
    )
    qtbot.mouseClick(card.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: card.pause_button.text() == "Resume", timeout=5000)
    assert card.pause_button.toolTip() == "Starts the daily scheduled sync again."
    assert "Scheduled runs are paused" in card.facts.text()
    assert card.sync_button.isEnabled()  # a manual run is still allowed
    qtbot.mouseClick(card.disable_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: card.disable_button.text() == "Reactivate", timeout=5000)
    assert card.disable_button.toolTip() == "Lets this connection sync again."
    assert not card.sync_button.isEnabled()
    assert "disabled" in card.sync_button.toolTip()
    qtbot.mouseClick(card.disable_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: card.disable_button.text() == "Disable", timeout=5000)
    assert env.service.get("Acme Chargebee").status == "active"


def test_remove_keeping_the_data_disables_and_deleting_removes(qtbot: QtBot, env: Env) -> None:
    card = next(iter(env.page.cards.values()))
    overview = card.overview
    env.page.remove(overview, keep_data=True)
    qtbot.waitUntil(lambda: card.overview.status == "disabled", timeout=5000)
    env.page.remove(overview, keep_data=False)
    qtbot.waitUntil(lambda: not env.page.cards, timeout=5000)
    assert env.page.empty.isVisibleTo(env.page)
    with env.database.session() as session:
        assert session.scalar(select(func.count(models.Connection.id))) == 0


def test_the_poll_reads_only_the_locks_until_a_run_starts_elsewhere(
    qtbot: QtBot, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = env.page
    card = next(iter(page.cards.values()))
    full_reads: list[int] = []
    polled: list[object] = []
    refresh = page.refresh
    monkeypatch.setattr(page, "refresh", lambda: (full_reads.append(1), refresh()))
    show_holder = card.show_holder
    monkeypatch.setattr(card, "show_holder", lambda h: (polled.append(h), show_holder(h)))
    page.poll()
    qtbot.waitUntil(lambda: polled == [None], timeout=5000)
    assert full_reads == []  # nothing changed: no counts, no run history read
    locks = SyncLocks(env.database, host="scheduler-host")
    held = locks.acquire(card.overview.id, "scheduled", heartbeat_seconds=None)
    try:
        page.poll()
        qtbot.waitUntil(lambda: not card.sync_button.isEnabled(), timeout=5000)
        assert full_reads == [1]
        assert "scheduler-host" in card.busy_label.text()
    finally:
        held.release()
    page.poll()
    qtbot.waitUntil(lambda: card.sync_button.isEnabled(), timeout=5000)
