"""Fixtures for the sandbox tests: a fixed clock and small sandboxes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
RECURLY_ACCEPT = {"Accept": "application/vnd.recurly.v2021-02-25"}


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock at a fixed instant."""
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> Sandbox:
    """A small in-process sandbox (not serving)."""
    return Sandbox(size=240, seed=11, clock=clock)


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """An httpx client answered in-process by every mount."""
    with httpx.Client(transport=sandbox.transport()) as http:
        yield http


@pytest.fixture
def served(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The same sandbox, serving on 127.0.0.1."""
    with sandbox:
        yield sandbox


def zoho_token(http: httpx.Client, sandbox: Sandbox, dc: str = "com") -> dict[str, str]:
    """Refreshes the demo Zoho token of a data centre; returns the token response."""
    response = http.post(
        sandbox.base_url("zoho-accounts", dc) + "/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": ZOHO_CLIENT_ID,
            "client_secret": ZOHO_CLIENT_SECRET,
            "refresh_token": zoho_user(dc).refresh_token,
        },
    )
    body: dict[str, str] = response.json()
    return body


def zoho_headers(token: str, org: str = "10234695") -> dict[str, str]:
    """Headers of a Zoho Billing call."""
    return {
        "Authorization": f"Zoho-oauthtoken {token}",
        "X-com-zoho-subscriptions-organizationid": org,
    }


@pytest.fixture
def zoho_access(client: httpx.Client, sandbox: Sandbox) -> str:
    """A fresh access token of the US data centre's demo user."""
    return zoho_token(client, sandbox)["access_token"]
