"""The receiver on a real socket, the CLI, and ``billbridge serve`` next to the app."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from desktop.cli import build_parser
from desktop.cli.context import CliContext
from desktop.secrets import KeyringSecretStore, MemorySecretStore
from desktop.serve.schedules import NamedSchedule, ScheduleLoop
from desktop.storage.models import WebhookEvent
from desktop.webhooks.applier import EventApplier
from desktop.webhooks.auth import authorization_header
from desktop.webhooks.service import WebhookReceiverService
from tests.unit.webhooks.webhook_seed import (
    INVOICE_ID,
    SUBSCRIPTION_ID,
    Seeded,
    clock,
    event_body,
)

ROOT = Path(__file__).resolve().parents[3]
PATH = "/webhooks/zoho-billing/acme-zoho"


def test_receiver_on_a_socket_keeps_connections_alive(seeded: Seeded) -> None:
    service = WebhookReceiverService(
        seeded.database, KeyringSecretStore(), clock, port=0, environ={}
    )
    service.start()
    try:
        opened: list[object] = []
        with httpx.Client(base_url=service.url, timeout=10) as client:
            headers = {"Authorization": seeded.authorization}
            for k in range(5):
                body = event_body(
                    f"k{k}", "invoice_updated", {"invoice": {"invoice_id": INVOICE_ID}}
                )
                response = client.post(PATH, content=body, headers=headers)
                assert response.status_code == 200
                opened.append(response.extensions.get("network_stream"))
            assert client.get("/health").json() == {"status": "ok"}
            assert client.put(PATH, content=b"{}", headers=headers).status_code == 405
            too_big = client.post(PATH, content=b"x" * (2 * 1024 * 1024), headers=headers)
            assert too_big.status_code == 413
            assert client.post(PATH, content=b"{}").status_code == 401
        assert len(set(map(id, opened))) == 1  # one connection served all five
    finally:
        service.stop()
    # What was accepted but not applied before stop() waits, stored, for the next applier.
    EventApplier(seeded.database, clock).apply_pending()
    with seeded.database.session() as session:
        rows = list(session.scalars(select(WebhookEvent)))
    assert [(r.status, r.attempts) for r in rows] == [("applied", 1)] * 5


def test_garbage_request_gets_a_400_not_a_traceback(seeded: Seeded) -> None:
    service = WebhookReceiverService(
        seeded.database, KeyringSecretStore(), clock, port=0, environ={}
    )
    service.start()
    try:
        import socket

        host, port = service.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            raw.sendall(b"NONSENSE\r\n\r\n")
            answer = raw.recv(4096).decode("latin-1")
    finally:
        service.stop()
    assert answer.startswith("HTTP/1.1 400")
    assert "Traceback" not in answer


def _cli(args: list[str], secrets: object = None) -> tuple[int, str]:
    out = io.StringIO()
    parsed = build_parser().parse_args(args)
    context = CliContext(parsed.db, secrets=secrets or KeyringSecretStore(), out=out)  # type: ignore[arg-type]
    try:
        code = parsed.handler(parsed, context)
    finally:
        context.close()
    return code, out.getvalue()


def test_webhook_create_prints_the_header_once_and_keeps_the_token(
    seeded: Seeded, memory_keyring: object
) -> None:
    url = seeded.database.url.render_as_string(hide_password=False)
    code, text = _cli(
        ["--db", url, "webhook", "create", "second", "--sign", "--public-url", "https://h.example"]
    )
    assert code == 0
    assert "https://h.example/webhooks/zoho-billing/second" in text
    # where the webhook is made in Zoho Billing (the vendor's help page names this path)
    assert "Settings → Automation → Workflow Actions → Webhooks → + New Webhook" in text
    header = next(line for line in text.splitlines() if "Header value:" in line)
    value = header.split("Header value:")[1].strip()
    token = next(line for line in text.splitlines() if "secret token:" in line).split()[-1]
    assert value == authorization_header("second", token)
    stored = [v for (_s, _u), v in memory_keyring.values.items()]  # type: ignore[attr-defined]
    assert token in stored
    code, listing = _cli(["--db", url, "webhook", "list"])
    assert code == 0
    assert "second" in listing
    assert token not in listing
    assert value not in listing


def test_webhook_events_and_replay_commands(seeded: Seeded) -> None:
    url = seeded.database.url.render_as_string(hide_password=False)
    from desktop.webhooks.store import Incoming, write_events

    body = event_body(
        "cli-1", "subscription_renewed", {"subscription": {"subscription_id": SUBSCRIPTION_ID}}
    )
    (stored,) = write_events(
        seeded.database,
        [Incoming(seeded.connection_id, None, body.decode(), event_id="cli-1")],
        clock,
    )
    EventApplier(seeded.database, clock).apply_pending()
    code, text = _cli(["--db", url, "webhook", "events"])
    assert code == 0
    assert "subscription_renewed" in text
    assert "applied" in text
    code, text = _cli(["--db", url, "webhook", "replay", str(stored.id)])
    assert code == 0
    assert f"Event {stored.id} applied." in text


def test_schedule_loop_runs_every_schedule_and_survives_errors() -> None:
    seen: list[datetime] = []

    def broken(_now: datetime) -> None:
        raise RuntimeError("boom")

    loop = ScheduleLoop(
        [NamedSchedule("broken", broken), NamedSchedule("billing", seen.append)],
        clock,
        interval=0.05,
    )
    loop.start()
    deadline = time.monotonic() + 5
    while len(seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.stop()
    assert len(seen) >= 3
    assert loop.cancel.cancelled


def _serve(url: str, token: str, port_file: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "BILLBRIDGE_WEBHOOK_TOKEN_ACME_ZOHO": token,
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "desktop", "--db", url, "serve", "--port", "0", "--no-schedules"],
        cwd=ROOT,
        env=env,
        stdout=port_file.open("w"),
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_url(out: Path, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = out.read_text() if out.exists() else ""
        for line in text.splitlines():
            if line.startswith("Webhook receiver on "):
                return line.removeprefix("Webhook receiver on ").rstrip(":")
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.1)
    raise AssertionError("billbridge serve did not start")


@pytest.mark.slow
def test_app_and_serve_on_one_database_apply_each_event_once(
    seeded: Seeded, tmp_path: Path
) -> None:
    """The app's applier and a ``billbridge serve`` process race over the same events."""
    url = seeded.database.url.render_as_string(hide_password=False)
    out = tmp_path / "serve.out"
    process = _serve(url, seeded.token, out)
    stop = threading.Event()
    app_outcomes: list[str] = []

    def app_side() -> None:  # what the app does with the receiver toggled on
        applier = EventApplier(seeded.database, clock)
        while not stop.is_set():
            app_outcomes.extend(o.status for o in applier.apply_pending())
            stop.wait(0.01)

    app = threading.Thread(target=app_side)
    try:
        base = _wait_for_url(out, process)
        app.start()
        with httpx.Client(base_url=base, timeout=30) as client:
            headers = {"Authorization": seeded.authorization}
            for k in range(60):
                body = event_body(
                    f"race-{k % 50}",  # ten duplicates mixed in
                    "subscription_renewed",
                    {"subscription": {"subscription_id": SUBSCRIPTION_ID, "status": "live"}},
                )
                assert client.post(PATH, content=body, headers=headers).status_code == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with seeded.database.session() as session:
                waiting = session.scalars(
                    select(WebhookEvent.id).where(WebhookEvent.status == "received")
                ).all()
            if not waiting:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        if app.is_alive():
            app.join(30)
        process.send_signal(signal.SIGTERM)
        try:
            _stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:  # never leave a server behind
                process.kill()
                process.wait(10)
    assert process.returncode == 0, stderr
    assert "Stopped." in out.read_text()
    with seeded.database.session() as session:
        rows = list(session.scalars(select(WebhookEvent)))
    assert len(rows) == 50
    assert all(r.status == "applied" and r.attempts == 1 for r in rows)
    assert sum(r.deliveries for r in rows) == 60
    assert "Traceback" not in stderr


def test_memory_secret_store_serves_too(seeded: Seeded) -> None:
    secrets = MemorySecretStore()
    from desktop.webhooks.receivers import rotate_token

    _info, token = rotate_token(seeded.database, secrets, seeded.receiver)
    service = WebhookReceiverService(seeded.database, secrets, clock, port=0, environ={})
    service.start()
    try:
        body = json.dumps(
            {
                "event_id": "m1",
                "event_type": "invoice_voided",
                "data": {"invoice": {"invoice_id": INVOICE_ID, "status": "void"}},
            }
        )
        response = httpx.post(
            service.url + PATH,
            content=body,
            headers={"Authorization": authorization_header(seeded.receiver, token)},
        )
    finally:
        service.stop()
    assert response.status_code == 200


def test_serve_runs_the_crm_schedule_and_names_what_is_missing(seeded: Seeded) -> None:
    from desktop.jobs import CancelToken
    from desktop.serve.schedules import default_schedules

    schedules, missing = default_schedules(
        seeded.database, KeyringSecretStore(), clock, CancelToken()
    )
    names = [schedule.name for schedule in schedules]
    assert any("CRM" in name for name in names)
    assert len(schedules) + len(missing) == 2
    loop = ScheduleLoop(schedules, clock)
    loop.run_round()  # no CRM connection is due: nothing runs, nothing fails
    assert loop.rounds == 1
