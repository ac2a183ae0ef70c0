"""Zoho Billing connection settings: org id, data-centre routing, overrides, secret."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from desktop.errors import ConfigurationError
from desktop.sync.base import ConnectionConfig, SourceUnreachable
from desktop.sync.http import ReadOnlyClient, VendorPolicy
from desktop.sync.registry import connector_factory
from desktop.sync.zoho_billing import ZohoBillingConnector

SECRET = json.dumps({"client_id": "1000.C", "client_secret": "s3cr3t", "refresh_token": "r"})


def clock() -> datetime:
    return datetime(2024, 3, 1, tzinfo=UTC)


def unreachable() -> tuple[ReadOnlyClient, list[httpx.Request]]:
    """A client whose every request fails to connect; it records where it tried to go."""
    tried: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        tried.append(request)
        raise httpx.ConnectError("nothing listens here", request=request)

    policy = VendorPolicy("zoho-billing", None, max_attempts=1)
    return ReadOnlyClient(policy, transport=httpx.MockTransport(handle)), tried


def connector(settings: dict[str, Any], http: Any = None) -> ZohoBillingConnector:
    config = ConnectionConfig("Acme", "zoho-billing", settings)
    return ZohoBillingConnector(config, SECRET, http or unreachable()[0], clock)


def test_registry_builds_the_connector() -> None:
    factory = connector_factory("zoho-billing")
    built = factory(
        ConnectionConfig("Acme", "zoho-billing", {"org_id": "1"}), SECRET, unreachable()[0], clock
    )
    assert isinstance(built, ZohoBillingConnector)
    assert built.kind == "zoho-billing"


def test_org_id_is_required() -> None:
    with pytest.raises(ConfigurationError, match="organization id"):
        connector({"data_centre": "eu"})


@pytest.mark.parametrize(
    ("dc", "base", "accounts_host"),
    [
        ("us", "https://www.zohoapis.com/billing/v1", "accounts.zoho.com"),
        ("eu", "https://www.zohoapis.eu/billing/v1", "accounts.zoho.eu"),
        ("in", "https://www.zohoapis.in/billing/v1", "accounts.zoho.in"),
        ("au", "https://www.zohoapis.com.au/billing/v1", "accounts.zoho.com.au"),
        ("jp", "https://www.zohoapis.jp/billing/v1", "accounts.zoho.jp"),
        ("ca", "https://www.zohoapis.ca/billing/v1", "accounts.zohocloud.ca"),
    ],
)
def test_data_centre_routes_api_and_token_requests(dc: str, base: str, accounts_host: str) -> None:
    http, tried = unreachable()
    zoho = connector({"org_id": "10234695", "data_centre": dc}, http)
    assert zoho.base_url == base
    with pytest.raises(SourceUnreachable):
        asyncio.run(zoho.check())
    assert [(r.method, r.url.host, r.url.path) for r in tried] == [
        ("POST", accounts_host, "/oauth/v2/token")
    ]
    assert b"s3cr3t" in tried[0].content  # the secret goes to the accounts server only…
    assert "s3cr3t" not in str(tried[0].url)  # …in the form body, never in the URL


def test_overrides_replace_both_servers() -> None:
    http, tried = unreachable()
    zoho = connector(
        {
            "org_id": "1",
            "base_url": "http://127.0.0.1:8123",
            "auth_url": "http://127.0.0.1:8124/",
        },
        http,
    )
    assert zoho.base_url == "http://127.0.0.1:8123/billing/v1"
    with pytest.raises(SourceUnreachable):
        asyncio.run(zoho.check())
    assert str(tried[0].url) == "http://127.0.0.1:8124/oauth/v2/token"
    full = connector({"org_id": "1", "base_url": "http://127.0.0.1:8123/zoho/billing/v1/"})
    assert full.base_url == "http://127.0.0.1:8123/zoho/billing/v1"


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"org_id": "1", "data_centre": "mars"}, "not a Zoho data centre"),
        ({"org_id": "1", "base_url": "http://zohoapis.example"}, "must use https"),
        ({"org_id": "1", "auth_url": "ftp://127.0.0.1"}, "not an http(s) URL"),
        ({"org_id": "1", "contact_persons": "some"}, "contact_persons"),
    ],
)
def test_bad_settings_are_sentences(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        connector(settings)
    assert words in str(caught.value)


def test_bad_secret_names_the_key() -> None:
    config = ConnectionConfig("Acme", "zoho-billing", {"org_id": "1"})
    with pytest.raises(ConfigurationError, match="refresh_token") as caught:
        ZohoBillingConnector(
            config, '{"client_id": "a", "client_secret": "s3cr3t"}', unreachable()[0], clock
        )
    assert "s3cr3t" not in str(caught.value)
