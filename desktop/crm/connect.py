"""Connecting Zoho CRM: credentials, the owning CRM user and the currency check.

A CRM connection is a :class:`~desktop.storage.models.Connection` of kind ``zoho-crm``.
Its secret is the Zoho OAuth JSON (``client_id``, ``client_secret`` and a
``refresh_token``; a one-time ``grant_code`` is traded for the refresh token when
connecting). Its settings hold the data centre, optional ``base_url``/``auth_url``
overrides, the owning CRM user (``owner_email``, ``owner_id``), the CRM's currency facts
and the integration settings (``settings["crm"]``, see :mod:`desktop.crm.settings`).

:func:`check_crm` is the connect step: the owner e-mail must belong to an active CRM user
(``/users``), and the CRM's base currency (``/org``) must equal the workspace's reporting
currency when CRM multi-currency is on — otherwise setup is refused with a sentence.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from desktop.crm.client import CrmClient
from desktop.crm.remote import CrmReader
from desktop.errors import ConfigurationError
from desktop.jobs import CancelToken
from desktop.storage.models import Connection
from desktop.sync.http import Sleep
from desktop.sync.zoho_oauth import (
    ZohoCredentials,
    accounts_url,
    check_url,
    exchange_grant_code,
    normalise_data_centre,
    parse_zoho_secret,
)
from desktop.timeutil import Clock

KIND: Final[str] = "zoho-crm"
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class CurrencyMismatch(ConfigurationError):
    """CRM multi-currency is on and its base currency differs from the workspace's."""


@dataclass(frozen=True)
class CrmEndpoint:
    """Where a CRM connection's API and accounts server are.

    Attributes:
        name: the connection's name, for messages.
        data_centre: ``us``, ``eu`` …
        base_url: API domain override (sandbox, proxy), or ``None``.
        auth_url: accounts server override, or ``None``.
        settings: the connection's settings (rate-limit overrides).
    """

    name: str
    data_centre: str = "us"
    base_url: str | None = None
    auth_url: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, row: Connection) -> CrmEndpoint:
        """The endpoint of a stored connection."""
        settings = dict(row.settings or {})
        return cls(
            name=row.name,
            data_centre=str(settings.get("data_centre") or "us"),
            base_url=settings.get("base_url") or None,
            auth_url=settings.get("auth_url") or None,
            settings=settings,
        )


#: Builds a connection's CRM client (tests: with the sandbox's transport).
ClientFactory = Callable[[CrmEndpoint, ZohoCredentials, CancelToken], CrmClient]


def client_factory(
    clock: Clock,
    transport: Callable[[], httpx.AsyncBaseTransport | None] | None = None,
    sleep: Sleep = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> ClientFactory:
    """A factory of real clients (``transport`` builds a test transport per client;
    ``sleep`` and ``monotonic`` let tests pass waits instantly)."""

    def build(
        endpoint: CrmEndpoint, credentials: ZohoCredentials, cancel: CancelToken
    ) -> CrmClient:
        return CrmClient(
            credentials,
            data_centre=endpoint.data_centre,
            name=endpoint.name,
            clock=clock,
            base_url=endpoint.base_url,
            auth_url=endpoint.auth_url,
            settings=endpoint.settings,
            transport=transport() if transport else None,
            cancel=cancel,
            sleep=sleep,
            monotonic=monotonic,
        )

    return build


@dataclass(frozen=True)
class CrmSecret:
    """What an admin pasted: the OAuth client and a refresh token *or* a grant code."""

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    grant_code: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> CrmSecret:
        """Reads the JSON secret (``refresh_token``, or ``grant_code``/``code``).

        Raises:
            ConfigurationError: naming what is missing (never echoing a value).
        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            data = None
        if not isinstance(data, dict):
            raise ConfigurationError(
                "The Zoho CRM secret must be a JSON object with client_id, client_secret and "
                "either refresh_token or grant_code."
            )
        if data.get("refresh_token"):
            creds = parse_zoho_secret(text)
            return cls(creds.client_id, creds.client_secret, refresh_token=creds.refresh_token)
        code = data.get("grant_code") or data.get("code")
        for key in ("client_id", "client_secret"):
            if not isinstance(data.get(key), str) or not str(data[key]).strip():
                raise ConfigurationError(f"The Zoho CRM secret has no {key}.")
        if not isinstance(code, str) or not code.strip():
            raise ConfigurationError(
                "The Zoho CRM secret needs a refresh_token or a grant_code (from the Zoho API "
                "console's Self Client)."
            )
        return cls(
            str(data["client_id"]).strip(),
            str(data["client_secret"]).strip(),
            grant_code=code.strip(),
        )


@dataclass(frozen=True)
class CrmCheck:
    """What connecting found.

    Attributes:
        owner_id / owner_name / owner_email: the CRM user who will own created records.
        org_name: the CRM organization's name.
        base_currency: the CRM's home currency.
        multi_currency: whether CRM multi-currency is on.
        currencies: the CRM's enabled currencies.
        workspace_currency: the workspace's reporting currency.
        warnings: facts worth showing (a currency difference without multi-currency).
    """

    owner_id: str
    owner_name: str
    owner_email: str
    org_name: str
    base_currency: str
    multi_currency: bool
    currencies: tuple[str, ...]
    workspace_currency: str
    warnings: tuple[str, ...] = ()

    def settings(self) -> dict[str, Any]:
        """The connection settings this check contributes."""
        return {
            "owner_email": self.owner_email,
            "owner_id": self.owner_id,
            "owner_name": self.owner_name,
            "crm_org": self.org_name,
            "crm_base_currency": self.base_currency,
            "crm_multi_currency": self.multi_currency,
            "crm_currencies": list(self.currencies),
        }


async def resolve_credentials(
    client: CrmClient, secret: CrmSecret, auth_url: str, name: str
) -> ZohoCredentials:
    """The credentials to store: the refresh token, or one traded for the grant code."""
    if secret.refresh_token:
        return ZohoCredentials(secret.client_id, secret.client_secret, secret.refresh_token)
    assert secret.grant_code is not None
    return await exchange_grant_code(
        client,
        client_id=secret.client_id,
        client_secret=secret.client_secret,
        code=secret.grant_code,
        auth_url=auth_url,
        name=name,
    )


async def check_crm(reader: CrmReader, owner_email: str, workspace_currency: str) -> CrmCheck:
    """The connect step's checks (see the module docstring).

    Raises:
        ConfigurationError: the owner is not an active CRM user.
        CurrencyMismatch: multi-currency is on and the base currencies differ.
    """
    wanted = owner_email.strip().lower()
    if not _EMAIL.match(wanted):
        raise ConfigurationError(f"{owner_email!r} is not an e-mail address.")
    users = await reader.users()
    owner = next((u for u in users if u.email.lower() == wanted), None)
    if owner is None:
        raise ConfigurationError(
            f"No Zoho CRM user has the e-mail {owner_email}; the records Billbridge creates "
            "must be owned by a CRM user. Use the e-mail of a user in Setup → Users."
        )
    if not owner.active:
        raise ConfigurationError(
            f"The Zoho CRM user {owner_email} is not active; choose an active user to own "
            "the records Billbridge creates."
        )
    org = await reader.org()
    warnings: list[str] = []
    if org.base_currency and org.base_currency != workspace_currency:
        if org.multi_currency:
            raise CurrencyMismatch(
                f"Zoho CRM's base currency is {org.base_currency} but this workspace reports "
                f"in {workspace_currency}; with CRM multi-currency on they must be the same. "
                f"Change the workspace's reporting currency to {org.base_currency} (or the "
                "CRM's base currency) and connect again."
            )
        warnings.append(
            f"Zoho CRM's currency is {org.base_currency} and this workspace reports in "
            f"{workspace_currency}; deal amounts in other currencies are left empty."
        )
    return CrmCheck(
        owner_id=owner.id,
        owner_name=owner.name,
        owner_email=owner.email,
        org_name=org.name,
        base_currency=org.base_currency,
        multi_currency=org.multi_currency,
        currencies=org.currencies,
        workspace_currency=workspace_currency,
        warnings=tuple(warnings),
    )


def endpoint_settings(
    data_centre: str | None, base_url: str | None, auth_url: str | None
) -> dict[str, Any]:
    """Validated endpoint settings (``data_centre`` plus the overrides given)."""
    out: dict[str, Any] = {"data_centre": normalise_data_centre(data_centre or "us")}
    if base_url:
        out["base_url"] = check_url(base_url, "base URL")
    if auth_url:
        out["auth_url"] = check_url(auth_url, "auth URL")
    return out


def auth_server(settings: dict[str, Any]) -> str:
    """The accounts server of a connection's settings."""
    return str(settings.get("auth_url") or accounts_url(str(settings.get("data_centre") or "us")))
