"""The Events page (list, outcome, body, replay on the job runner) and the receiver toggle."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import QSettings, Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from desktop.secrets import MemorySecretStore
from desktop.storage.database import Database, open_database
from desktop.views.events import EventsPage, replayer_for
from desktop.views.events_receiver import ReceiverController, ReceiverToggle
from desktop.views.jobs import JobRunner
from desktop.views.models.loader import ImmediateLoader
from desktop.views.page import Page
from desktop.webhooks.applier import EventApplier
from desktop.webhooks.auth import authorization_header
from desktop.webhooks.receivers import rotate_token
from desktop.webhooks.store import Incoming, write_events
from tests.unit.webhooks.webhook_seed import SUBSCRIPTION_ID, clock, event_body, seed_connection


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    yield database
    database.close()


@pytest.fixture
def jobs() -> Iterator[JobRunner]:
    runner = JobRunner()
    yield runner
    runner.shutdown()


def _store(db: Database, connection_id: int) -> None:
    good = event_body(
        "e1", "subscription_cancelled", {"subscription": {"subscription_id": SUBSCRIPTION_ID}}
    )
    zombie = event_body(
        "e2",
        "subscription_renewed",
        {"subscription": {"subscription_id": SUBSCRIPTION_ID, "status": "zombie"}},
    )
    write_events(
        db,
        [
            Incoming(connection_id, None, good.decode(), event_id="e1", event_type="x"),
            Incoming(connection_id, None, good.decode(), event_id="e1", event_type="x"),
            Incoming(connection_id, None, zombie.decode(), event_id="e2", event_type="y"),
            Incoming(connection_id, None, "{bad", status="rejected", reason="Not JSON."),
        ],
        clock,
    )
    EventApplier(db, clock).apply_pending()


def test_page_lists_events_with_outcomes_and_bodies(
    qtbot: QtBot, db: Database, jobs: JobRunner
) -> None:
    connection_id, _account = seed_connection(db)
    _store(db, connection_id)
    page = EventsPage(ImmediateLoader(db), jobs, replayer_for(db, clock))
    qtbot.addWidget(page)
    page.refresh()
    ModelTester(None).check(page.events)  # type: ignore[arg-type]
    outcomes = [page.events.index(r, 4).data() for r in range(page.events.rowCount())]
    assert outcomes == ["Rejected", "Failed", "Applied"]
    failed = page.events.index(1, 6).data()
    assert "unknown status (zombie)" in failed
    assert page.events.index(1, 4).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert page.events.index(2, 5).data() == "2"  # delivered twice, applied once
    page.table.selectRow(2)
    text = page.detail.toPlainText()
    assert "Delivered 2 times" in text
    assert '"event_type": "subscription_cancelled"' in text
    page.status_filter.setCurrentIndex(page.status_filter.findData("failed"))
    assert page.events.rowCount() == 1


def test_replay_runs_on_the_job_runner_and_refreshes(
    qtbot: QtBot, db: Database, jobs: JobRunner
) -> None:
    connection_id, _account = seed_connection(db)
    _store(db, connection_id)
    page = EventsPage(ImmediateLoader(db), jobs, replayer_for(db, clock))
    qtbot.addWidget(page)
    page.refresh()
    page.table.selectRow(1)  # the failed one
    assert page.replay_button.isEnabled()
    with qtbot.waitSignal(jobs.job_finished, timeout=10_000):
        page.replay_button.click()
    assert not page.banner.isHidden()
    assert "failed" in page.banner.text()  # still an unknown status: failed again, said once
    assert page.events.index(1, 4).data() == "Failed"


def test_empty_workspace_says_how_to_start(qtbot: QtBot, db: Database, jobs: JobRunner) -> None:
    page = EventsPage(ImmediateLoader(db), jobs, replayer_for(db, clock))
    qtbot.addWidget(page)
    page.refresh()
    assert not page.empty.isHidden()
    assert "billbridge webhook create" in page.empty.text()
    # where Zoho Billing keeps webhooks (its own help: Settings > Automation > Workflow
    # Actions, then the Webhooks tab)
    assert "Settings → Automation → Workflow Actions → Webhooks" in page.empty.text()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_settings_toggle_runs_the_receiver(qtbot: QtBot, db: Database, tmp_path: Path) -> None:
    connection_id, _account = seed_connection(db)
    secrets = MemorySecretStore()
    from desktop.webhooks.receivers import create_receiver

    create_receiver(db, secrets, connection_name="Acme Zoho")
    _info, token = rotate_token(db, secrets, "acme-zoho")
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    controller = ReceiverController(db, secrets, clock, settings)
    settings_page = Page()
    settings_page.body.addStretch(1)
    toggle = ReceiverToggle(controller).attach_to(settings_page)
    qtbot.addWidget(settings_page)
    port = _free_port()
    toggle.port.setValue(port)
    try:
        toggle.checkbox.setChecked(True)
        assert controller.running
        assert f"127.0.0.1:{port}" in toggle.status.text()
        body = event_body(
            "t1", "subscription_renewed", {"subscription": {"subscription_id": SUBSCRIPTION_ID}}
        )
        response = httpx.post(
            f"http://127.0.0.1:{port}/webhooks/zoho-billing/acme-zoho",
            content=body,
            headers={"Authorization": authorization_header("acme-zoho", token)},
        )
        assert response.status_code == 200
        toggle.checkbox.setChecked(False)
        assert not controller.running
        assert "Not running" in toggle.status.text()
        # a port already taken gives a sentence, not a crash
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            toggle.port.setValue(busy.getsockname()[1])
            toggle.checkbox.setChecked(True)
            assert not controller.running
            assert "cannot listen on port" in toggle.status.text()
            assert not toggle.checkbox.isChecked()
    finally:
        controller.shutdown()
    assert connection_id
