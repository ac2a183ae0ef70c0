"""Shared helpers of the Zoho CRM simulator tests (no tests here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from desktop.sandbox import Sandbox
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user
from desktop.sandbox.zoho_crm import ZohoCrmHandler, crm_of


@dataclass
class Crm:
    """A client of the sandbox CRM with a fresh token of the ``com`` data centre."""

    sandbox: Sandbox
    http: httpx.Client
    base: str
    token: str

    @property
    def sim(self) -> ZohoCrmHandler:
        """The simulator itself (ground truth, mutations, settings)."""
        return crm_of(self.sandbox.mounts["zoho"].handlers)

    @property
    def headers(self) -> dict[str, str]:
        """The Authorization header."""
        return {"Authorization": f"Zoho-oauthtoken {self.token}"}

    def get(
        self, path: str, headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        """A GET on ``/crm/v8{path}``."""
        return self.http.get(
            f"{self.base}/crm/v8{path}", params=params, headers={**self.headers, **(headers or {})}
        )

    def send(self, method: str, path: str, body: object, **params: Any) -> httpx.Response:
        """A write on ``/crm/v8{path}`` with a JSON body."""
        return self.http.request(
            method, f"{self.base}/crm/v8{path}", json=body, params=params, headers=self.headers
        )


def open_crm(sandbox: Sandbox, http: httpx.Client) -> Crm:
    """Trades the demo refresh token for an access token and follows its api_domain."""
    answer = http.post(
        sandbox.base_url("zoho-accounts", "com") + "/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": ZOHO_CLIENT_ID,
            "client_secret": ZOHO_CLIENT_SECRET,
            "refresh_token": zoho_user("com").refresh_token,
        },
    ).json()
    return Crm(sandbox, http, answer["api_domain"], answer["access_token"])
