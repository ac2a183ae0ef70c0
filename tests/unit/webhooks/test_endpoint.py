"""The receiver's answers: 401/404/405/411/413/400/200/503, and commit before acknowledge."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from desktop.secrets import KeyringSecretStore
from desktop.storage.database import open_database
from desktop.storage.models import WebhookEvent
from desktop.webhooks.auth import SIGNATURE_HEADER, authorization_header, signature
from desktop.webhooks.http import Request, Response, WebhookEndpoint
from desktop.webhooks.receivers import ReceiverDirectory, set_verify_signature
from desktop.webhooks.store import EventWriter, Incoming, Stored, StoreUnavailable
from tests.unit.webhooks.webhook_seed import INVOICE_ID, Seeded, clock, event_body

PATH = "/webhooks/zoho-billing/acme-zoho"
GOOD = event_body("ev-1", "invoice_updated", {"invoice": {"invoice_id": INVOICE_ID}})


@pytest.fixture
def writer(seeded: Seeded) -> Iterator[EventWriter]:
    events = EventWriter(seeded.database, clock)
    events.start()
    yield events
    events.stop()


@pytest.fixture
def endpoint(seeded: Seeded, writer: EventWriter) -> WebhookEndpoint:
    directory = ReceiverDirectory(seeded.database, KeyringSecretStore(), environ={}, ttl=0)
    return WebhookEndpoint(directory.get, writer.store_async, max_body=4096)


def call(
    endpoint: WebhookEndpoint,
    body: bytes = GOOD,
    *,
    method: str = "POST",
    target: str = PATH,
    headers: dict[str, str] | None = None,
) -> Response:
    read: list[int] = []

    async def read_body(size: int) -> bytes:
        read.append(size)
        return body[:size]

    all_headers = {"content-length": str(len(body)), "content-type": "application/json"}
    all_headers.update(headers or {})
    request = Request(method, target, all_headers, read_body, "127.0.0.1")
    return asyncio.run(endpoint.handle(request))


def stored_count(seeded: Seeded) -> int:
    with seeded.database.session() as session:
        return session.scalar(select(func.count()).select_from(WebhookEvent)) or 0


def test_good_token_stores_and_acknowledges(seeded: Seeded, endpoint: WebhookEndpoint) -> None:
    response = call(endpoint, headers={"authorization": seeded.authorization})
    assert response.status == 200
    assert response.body["status"] == "stored"
    # Committed before the answer: a separate connection to the database already sees it.
    other = open_database(seeded.database.url.render_as_string(hide_password=False))
    with other.session() as session:
        row = session.scalars(select(WebhookEvent)).one()
    other.close()
    assert (row.event_id, row.status, row.event_type) == ("ev-1", "received", "invoice_updated")
    assert json.loads(row.body)["event_id"] == "ev-1"
    assert "authorization" not in json.dumps(row.meta).lower()


@pytest.mark.parametrize(
    "header",
    [None, "Basic d3Jvbmc6d3Jvbmc=", authorization_header("acme-zoho", "WrongTokenWrongToken1")],
)
def test_missing_or_wrong_token_is_401_and_stores_nothing(
    seeded: Seeded, endpoint: WebhookEndpoint, header: str | None
) -> None:
    response = call(endpoint, headers={"authorization": header} if header else {})
    assert response.status == 401
    assert ("WWW-Authenticate", 'Basic realm="Billbridge webhooks"') in response.headers
    assert stored_count(seeded) == 0


def test_repeated_event_is_acknowledged_and_stored_once(
    seeded: Seeded, endpoint: WebhookEndpoint
) -> None:
    headers = {"authorization": seeded.authorization}
    first = call(endpoint, headers=headers)
    second = call(endpoint, headers=headers)
    assert (first.status, second.status) == (200, 200)
    assert second.body["status"] == "duplicate"
    assert second.body["stored"] == first.body["stored"]
    with seeded.database.session() as session:
        row = session.scalars(select(WebhookEvent)).one()
    assert row.deliveries == 2


def test_malformed_body_is_400_with_reason_and_kept_for_inspection(
    seeded: Seeded, endpoint: WebhookEndpoint
) -> None:
    headers = {"authorization": seeded.authorization}
    response = call(endpoint, b'{"event_id": "x", ', headers=headers)
    assert response.status == 400
    assert "not valid JSON" in response.body["error"]
    with seeded.database.session() as session:
        row = session.scalars(select(WebhookEvent)).one()
    assert row.status == "rejected"
    assert row.reason == response.body["error"]
    assert row.body == '{"event_id": "x", '
    assert row.event_id is None  # a later good delivery of "x" is not taken for a duplicate


def test_unknown_shape_is_400(seeded: Seeded, endpoint: WebhookEndpoint) -> None:
    body = json.dumps({"event_id": "9", "event_type": "invoice_updated", "data": {}}).encode()
    response = call(endpoint, body, headers={"authorization": seeded.authorization})
    assert response.status == 400
    assert response.body["error"] == "Event 9 (invoice_updated) carries no invoice."


def test_too_large_body_is_413_and_not_read(seeded: Seeded, endpoint: WebhookEndpoint) -> None:
    response = call(endpoint, b"x" * 5000, headers={"authorization": seeded.authorization})
    assert response.status == 413
    assert response.close
    assert stored_count(seeded) == 0


def test_wrong_method_is_405(seeded: Seeded, endpoint: WebhookEndpoint) -> None:
    response = call(endpoint, b"", method="GET", headers={"authorization": seeded.authorization})
    assert response.status == 405
    assert ("Allow", "POST") in response.headers


def test_unknown_receiver_and_other_paths_are_404(
    seeded: Seeded, endpoint: WebhookEndpoint
) -> None:
    headers = {"authorization": seeded.authorization}
    assert call(endpoint, target="/webhooks/zoho-billing/nobody", headers=headers).status == 404
    assert call(endpoint, target="/admin", headers=headers).status == 404
    assert call(endpoint, b"", method="GET", target="/health").status == 200


def test_chunked_body_is_411(seeded: Seeded, endpoint: WebhookEndpoint) -> None:
    response = call(
        endpoint,
        headers={"authorization": seeded.authorization, "transfer-encoding": "chunked"},
    )
    assert response.status == 411


def test_signature_required_when_the_receiver_is_secured(
    seeded: Seeded, endpoint: WebhookEndpoint
) -> None:
    set_verify_signature(seeded.database, seeded.receiver, True)
    headers = {"authorization": seeded.authorization}
    unsigned = call(endpoint, headers=headers)
    assert unsigned.status == 401
    assert SIGNATURE_HEADER in unsigned.body["error"]
    bad = call(endpoint, headers={**headers, SIGNATURE_HEADER.lower(): "0" * 64})
    assert bad.status == 401
    signed = signature(seeded.token, [("source", "zoho")], GOOD)
    good = call(
        endpoint,
        target=PATH + "?source=zoho",
        headers={**headers, SIGNATURE_HEADER.lower(): signed},
    )
    assert good.status == 200
    assert stored_count(seeded) == 1


def test_form_body_is_refused_with_advice(seeded: Seeded, endpoint: WebhookEndpoint) -> None:
    response = call(
        endpoint,
        b"a=1",
        headers={
            "authorization": seeded.authorization,
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status == 400
    assert "Default payload" in response.body["error"]


def test_nothing_is_acknowledged_when_the_store_fails(seeded: Seeded) -> None:
    async def broken(_event: Incoming) -> Stored:
        raise StoreUnavailable("The workspace database could not store the event.")

    directory = ReceiverDirectory(seeded.database, KeyringSecretStore(), environ={})
    endpoint = WebhookEndpoint(directory.get, broken)
    response = call(endpoint, headers={"authorization": seeded.authorization})
    assert response.status == 503
    assert "could not store" in response.body["error"]


def test_unexpected_error_is_a_sentence_not_a_traceback(seeded: Seeded) -> None:
    async def buggy(_event: Incoming) -> Stored:
        raise RuntimeError("secret internals")

    directory = ReceiverDirectory(seeded.database, KeyringSecretStore(), environ={})
    endpoint = WebhookEndpoint(directory.get, buggy)
    response = call(endpoint, headers={"authorization": seeded.authorization})
    assert response.status == 500
    assert "secret internals" not in json.dumps(response.body)
    assert "Traceback" not in json.dumps(response.body)


def test_token_from_environment_overrides_the_keychain(seeded: Seeded) -> None:
    writer = EventWriter(seeded.database, clock)
    writer.start()
    try:
        directory = ReceiverDirectory(
            seeded.database,
            KeyringSecretStore(),
            environ={"BILLBRIDGE_WEBHOOK_TOKEN_ACME_ZOHO": "EnvTokenEnvToken1"},
        )
        endpoint = WebhookEndpoint(directory.get, writer.store_async)
        env_header = authorization_header("acme-zoho", "EnvTokenEnvToken1")
        assert call(endpoint, headers={"authorization": env_header}).status == 200
        assert call(endpoint, headers={"authorization": seeded.authorization}).status == 401
    finally:
        writer.stop()


def test_receiver_without_a_token_refuses_everything(seeded: Seeded, writer: EventWriter) -> None:
    from desktop.webhooks.receivers import create_receiver

    create_receiver(
        seeded.database,
        KeyringSecretStore(),
        name="tokenless",
        connection_name="Acme Zoho",
        keep_token=False,
    )
    directory = ReceiverDirectory(seeded.database, KeyringSecretStore(), environ={})
    endpoint = WebhookEndpoint(directory.get, writer.store_async)
    response = call(
        endpoint,
        target="/webhooks/zoho-billing/tokenless",
        headers={"authorization": authorization_header("tokenless", "")},
    )
    assert response.status == 401
    assert stored_count(seeded) == 0
