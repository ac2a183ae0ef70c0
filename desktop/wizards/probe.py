"""Testing credentials a person has typed but not saved yet (Qt-free).

The wizard's *Test connection* calls :func:`probe` inside the app's event loop. It builds
the connector exactly as a sync would (same registry, same read-only client), but with a
short retry budget and an overall deadline, so a wrong host or a silent server is
reported in seconds instead of after a sync's patient back-off. A Zoho grant code is
traded for a refresh token here (a grant code works only once), and the credentials to
store are handed back; nothing is written anywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import httpx

from desktop.errors import BillbridgeError, ConfigurationError
from desktop.sync.base import CheckResult, ConnectionConfig, FieldInfo, SourceUnreachable
from desktop.sync.connections import validate_settings
from desktop.sync.http import ReadOnlyClient, policy_for
from desktop.sync.registry import connector_factory
from desktop.sync.zoho_oauth import accounts_url, exchange_grant_code
from desktop.timeutil import Clock, utc_now

#: The longest a test may take before it is reported as a timeout.
DEFAULT_DEADLINE = 25.0


@dataclass
class ZohoGrant:
    """A Zoho OAuth client with a one-time grant code still to exchange."""

    client_id: str
    client_secret: str = field(repr=False)
    code: str = field(repr=False)


@dataclass
class ProbeResult:
    """What a successful test found.

    Attributes:
        check: the source's name, details and rough counts.
        fields: custom fields present on accounts and subscriptions, with samples.
        fields_problem: why the custom fields could not be listed, if they could not.
        secret: the secret to store (for Zoho, with the refresh token the grant gave).
        settings: the validated settings.
    """

    check: CheckResult
    fields: list[FieldInfo]
    fields_problem: str | None
    secret: str = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)


async def probe(
    kind: str,
    name: str,
    settings: dict[str, Any],
    secret: str | ZohoGrant,
    *,
    client: httpx.AsyncClient | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = utc_now,
    deadline: float = DEFAULT_DEADLINE,
) -> ProbeResult:
    """Tests credentials and lists custom fields.

    Raises:
        ConfigurationError: a setting or the secret's shape is wrong (nothing was sent).
        AuthorisationError: the source refused the key (for example a 401).
        SourceUnreachable: the host could not be reached, or it did not answer in time.
        SourceResponseError: the source answered with something unusable.
    """
    policy = policy_for(kind, settings)
    policy = dataclasses.replace(
        policy,
        max_attempts=2,
        backoff_base=0.2,
        backoff_cap=1.0,
        max_rate_wait=5.0,
        max_rate_limited=2,
        timeout=min(policy.timeout, deadline),
    )
    http = ReadOnlyClient(policy, name=name, client=client, transport=transport, own_client=None)
    try:
        return await asyncio.wait_for(
            _probe(kind, name, settings, secret, http, clock), timeout=deadline
        )
    except TimeoutError:
        raise SourceUnreachable(
            f"{name} did not answer within {deadline:.0f} seconds (timeout); check the site "
            "or base URL and the network, then test again."
        ) from None
    finally:
        await http.aclose()


async def _probe(
    kind: str,
    name: str,
    settings: dict[str, Any],
    secret: str | ZohoGrant,
    http: ReadOnlyClient,
    clock: Clock,
) -> ProbeResult:
    if isinstance(secret, ZohoGrant):
        if kind != "zoho-billing":
            raise ConfigurationError("A grant code is only used by Zoho Billing connections.")
        dc = str(settings.get("data_centre") or "us")
        credentials = await exchange_grant_code(
            http,
            client_id=secret.client_id,
            client_secret=secret.client_secret,
            code=secret.code,
            auth_url=str(settings.get("auth_url") or accounts_url(dc)),
            name=name,
        )
        secret_text = credentials.to_secret()
    else:
        secret_text = secret
    clean = validate_settings(kind, settings, secret_text)
    connector = connector_factory(kind)(
        ConnectionConfig(name=name, kind=kind, settings=clean), secret_text, http, clock
    )
    check = await connector.check()
    fields: list[FieldInfo] = []
    problem: str | None = None
    try:
        fields = await connector.custom_fields()
    except BillbridgeError as error:
        problem = str(error)
    return ProbeResult(check, fields, problem, secret_text, clean)
