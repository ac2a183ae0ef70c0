"""Zoho Billing events made by changes, ``GET /events``, and webhook deliveries to loopback."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox import zoho_webhooks as hooks
from desktop.sandbox.zoho_webhooks import WebhookDeliveryError, ZohoWebhookDeliverer
from desktop.webhooks.auth import check_signature

from .conftest import zoho_headers

ORG = "10234695"
SECRET = "sandboxSecret2024abc"


def _events(client: httpx.Client, sandbox: Sandbox, token: str, **params: Any) -> Any:
    url = sandbox.base_url("zoho-billing") + "/events"
    return client.get(url, params=params, headers=zoho_headers(token)).json()


def _types(sandbox: Sandbox) -> list[str]:
    return [event["event_type"] for event in sandbox.zoho_events.changes()]


def test_changes_make_the_matching_events_in_order(sandbox: Sandbox) -> None:
    change = sandbox.mutations
    customer = sandbox.truth.customers("zoho-billing", ORG)[0].id
    sub = change.create_subscription("zoho-billing", customer, plan="team-monthly", status="trial")
    change.update_subscription("zoho-billing", sub, status="active")
    change.update_subscription("zoho-billing", sub, quantity=4)
    change.update_subscription("zoho-billing", sub, quantity=2)
    change.renew_subscription("zoho-billing", sub)
    change.update_subscription("zoho-billing", sub, status="paused")
    change.update_subscription("zoho-billing", sub, status="active")
    change.update_subscription("zoho-billing", sub, status="non_renewing")
    change.update_subscription("zoho-billing", sub, status="cancelled")
    invoice = change.create_invoice("zoho-billing", customer, 5_000, subscription_id=sub)
    change.update_invoice("zoho-billing", invoice, status="partially_paid", amount_paid=1_000)
    change.update_invoice("zoho-billing", invoice, status="paid")
    other = change.create_invoice("zoho-billing", customer, 700, status="paid")
    change.update_invoice("zoho-billing", other, status="void")
    change.touch("zoho-billing", "invoice", other)
    change.update_customer("zoho-billing", customer, email="new@x.example")
    assert _types(sandbox) == [
        "subscription_created",
        "subscription_activation",
        "subscription_upgraded",
        "subscription_downgraded",
        "subscription_renewed",
        "subscription_paused",
        "subscription_resumed",
        "subscription_cancellation_scheduled",
        "subscription_cancelled",
        "invoice_notification",
        "payment_thankyou",
        "payment_thankyou",
        "invoice_notification",
        "payment_thankyou",
        "invoice_voided",
    ]
    payment = json.loads(sandbox.zoho_events.changes()[11]["payload"])
    minor = 1 if payment["invoice"]["currency_code"] == "JPY" else 100
    assert payment["payment"]["amount"] == 4_000 / minor  # paid on top of the first 1,000
    assert payment["invoice"]["invoice_id"] == invoice
    assert payment["invoice"]["status"] == "paid"


def test_only_zoho_billing_changes_make_zoho_events(sandbox: Sandbox) -> None:
    customer = sandbox.truth.customers("chargebee", "acme")[0].id
    sandbox.mutations.create_subscription("chargebee", customer)
    assert sandbox.zoho_events.changes() == []


def test_events_api_lists_changes_first_then_history(
    sandbox: Sandbox, client: httpx.Client, zoho_access: str, clock: ManualClock
) -> None:
    history = _events(client, sandbox, zoho_access, per_page=200)
    assert {e["event_type"] for e in history["events"]} == {"subscription_created"}
    total = len(history["events"])
    customer = sandbox.truth.customers("zoho-billing", ORG)[0].id
    clock.advance(60)
    sub = sandbox.mutations.create_subscription("zoho-billing", customer, plan="team-annual")
    sandbox.mutations.renew_subscription("zoho-billing", sub)
    sandbox.mutations.create_subscription(
        "zoho-billing", sandbox.truth.customers("zoho-billing", "20234695")[0].id
    )
    first = _events(client, sandbox, zoho_access, per_page=1, page=1)
    second = _events(client, sandbox, zoho_access, per_page=1, page=2)
    third = _events(client, sandbox, zoho_access, per_page=1, page=3)
    assert first["events"][0]["event_type"] == "subscription_renewed"
    assert second["events"][0]["event_type"] == "subscription_created"
    assert second["events"][0]["event_id"] != third["events"][0]["event_id"]
    assert third["events"][0]["event_id"] == history["events"][0]["event_id"]
    assert first["page_context"]["has_more_page"] is True
    everything = _events(client, sandbox, zoho_access, per_page=200)["events"]
    assert len(everything) == min(200, total + 2)
    renewed = first["events"][0]
    assert set(renewed) >= {"event_id", "event_type", "event_time", "payload", "webhooks"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", renewed["event_time"])
    payload = json.loads(renewed["payload"])
    assert payload["subscription"]["subscription_id"] == sub
    one = client.get(
        sandbox.base_url("zoho-billing") + f"/events/{renewed['event_id']}",
        headers=zoho_headers(zoho_access),
    ).json()
    assert one["event"] == renewed
    eu = client.get(
        sandbox.base_url("zoho-billing") + f"/events/{renewed['event_id']}",
        headers=zoho_headers(zoho_access, "20234695"),
    )
    assert eu.status_code in (401, 404)


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]
    status = 200

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        answer = b'{"ok":true}'
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    """A loopback HTTP server that records what it receives."""
    handler = type("Recorder", (_Receiver,), {"seen": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/zoho", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_deliveries_carry_default_payload_headers_and_a_signature_the_receiver_accepts(
    sandbox: Sandbox, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    customer = sandbox.truth.customers("zoho-billing", ORG)[0].id
    sub = sandbox.mutations.create_subscription("zoho-billing", customer)
    sandbox.mutations.renew_subscription("zoho-billing", sub)
    results = sandbox.deliver_zoho_events(
        url,
        secret=SECRET,
        headers={"Authorization": "Basic YWNtZTp0b2tlbg=="},
        query={"source": "zoho", "account": "acme"},
    )
    assert [r.delivered for r in results] == [True, True]
    assert [r.status for r in results] == [200, 200]
    first, second = handler.seen
    body = json.loads(first["body"])
    assert set(body) == {"event_id", "event_type", "event_time", "data"}
    assert body["event_type"] == "subscription_created"
    assert body["data"]["subscription"]["subscription_id"] == sub
    assert json.loads(second["body"])["event_type"] == "subscription_renewed"
    assert first["path"].startswith("/webhooks/zoho?")
    assert first["headers"]["Authorization"] == "Basic YWNtZTp0b2tlbg=="
    assert first["headers"]["Content-Type"] == "application/json"
    pairs = [("source", "zoho"), ("account", "acme")]
    assert check_signature(first["headers"][hooks.SIGNATURE_HEADER], SECRET, pairs, first["body"])
    assert not check_signature(
        first["headers"][hooks.SIGNATURE_HEADER], SECRET, pairs, second["body"]
    )
    recorded = sandbox.zoho_events.changes()[0]["webhooks"]
    assert [(w["url"], w["status"]) for w in recorded] == [(url, "success")]
    later = sandbox.deliver_zoho_events(url, since=results[0].event_id)
    assert [r.event_id for r in later] == [results[1].event_id]


def test_failed_deliveries_are_reported_not_raised(
    sandbox: Sandbox, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    handler.status = 503
    customer = sandbox.truth.customers("zoho-billing", ORG)[0].id
    sandbox.mutations.create_subscription("zoho-billing", customer)
    (result,) = sandbox.deliver_zoho_events(url)
    assert (result.status, result.delivered, result.error) == (503, False, None)
    assert sandbox.zoho_events.changes()[0]["webhooks"][0]["status"] == "failure"
    closed = url.rsplit(":", 1)[0] + ":9/hook"  # the discard port: nothing listens
    (unreachable,) = sandbox.deliver_zoho_events(closed, timeout=2)
    assert unreachable.status == 0
    assert unreachable.delivered is False
    assert unreachable.error is not None


@pytest.mark.parametrize(
    ("url", "options", "fragment"),
    [
        ("https://hooks.example.com/zoho", {}, "only to http://127.0.0.1"),
        ("http://10.0.0.5:8080/zoho", {}, "only to http://127.0.0.1"),
        ("http://127.0.0.1:8080/zoho", {"secret": "short"}, "12 to 50"),
        ("http://127.0.0.1:8080/zoho", {"method": "GET"}, "POST, PUT or DELETE"),
    ],
)
def test_deliverer_refuses_what_zoho_or_the_sandbox_would_not_do(
    url: str, options: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(WebhookDeliveryError, match=re.escape(fragment)):
        ZohoWebhookDeliverer(url, **options)


def test_one_call_delivers_a_bounded_number_of_events(
    monkeypatch: pytest.MonkeyPatch, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    monkeypatch.setattr(hooks, "MAX_BATCH", 3)
    events = [
        {"event_id": str(n), "event_type": "invoice_updated", "payload": "{}"} for n in range(4)
    ]
    with ZohoWebhookDeliverer(url) as deliverer:
        with pytest.raises(WebhookDeliveryError, match="at most 3"):
            deliverer.deliver_all(events)
        assert handler.seen == []
        assert len(deliverer.deliver_all(events[:3])) == 3


def test_admin_endpoint_delivers_change_events(
    sandbox: Sandbox, client: httpx.Client, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    customer = sandbox.truth.customers("zoho-billing", ORG)[0].id
    client.post(
        sandbox.origin("zoho") + "/_sandbox/mutate",
        json={
            "op": "create",
            "kind": "invoice",
            "vendor": "zoho-billing",
            "fields": {"customer_id": customer, "total": 1200, "status": "paid"},
        },
    ).raise_for_status()
    answer = client.post(
        sandbox.origin("zoho") + "/_sandbox/zoho/deliver-events",
        json={"url": url, "secret": SECRET, "site": ORG},
    ).json()
    assert [d["delivered"] for d in answer["deliveries"]] == [True, True]
    types = [json.loads(seen["body"])["event_type"] for seen in handler.seen]
    assert types == ["invoice_notification", "payment_thankyou"]
    refused = client.post(
        sandbox.origin("zoho") + "/_sandbox/zoho/deliver-events",
        json={"url": "http://192.0.2.1/hook"},
    )
    assert refused.status_code == 400
    assert "127.0.0.1" in refused.json()["error"]
