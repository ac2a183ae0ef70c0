"""The demo workspace: the built-in sandbox on loopback, with one connection per vendor.

``billbridge --demo`` starts every simulator on 127.0.0.1, opens a separate demo
workspace, and makes sure it has a Chargebee, a Recurly and a Zoho Billing connection
pointing at the simulators. The demo's credentials are the sandbox's own published demo
keys, held in memory for this run only, so the demo works on a machine with no keychain.
Accounts are merged across the three systems by the tenant id each of them keeps in a
custom field, as a real multi-system company would configure it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from desktop.errors import NotFoundError
from desktop.health.settings import (
    CurrencySettings,
    load_currency_settings,
    save_currency_settings,
)
from desktop.sandbox import Sandbox
from desktop.sandbox import credentials as demo_keys
from desktop.secrets import SecretStore
from desktop.storage.database import Database
from desktop.sync.connections import ConnectionService

#: How many billing customers the demo sandbox generates (spread over the three systems).
DEMO_SIZE = 1_500
DEMO_SEED = 7
#: Illustrative exchange rates for the demo's reporting currency (USD), so that the
#: Health page can total every currency the sandbox bills in. A real workspace sets its own.
DEMO_RATES: dict[str, Decimal] = {
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "JPY": Decimal("0.0067"),
}


@dataclass(frozen=True)
class DemoConnection:
    """One demo connection: its name, kind, settings and secret."""

    name: str
    kind: str
    settings: dict[str, Any]
    secret: str


@dataclass
class DemoWorkspace:
    """A running demo: the sandbox and the names of its connections.

    Attributes:
        sandbox: the simulators, serving on loopback until :meth:`stop`.
        connections: the demo connections' names, in the order they were set up.
    """

    sandbox: Sandbox
    connections: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stops the simulators."""
        self.sandbox.stop()


def demo_connections(sandbox: Sandbox) -> list[DemoConnection]:
    """The demo's connections, pointing at a sandbox that is serving."""
    zoho = demo_keys.zoho_user("com")
    zoho_secret = json.dumps(
        {
            "client_id": demo_keys.ZOHO_CLIENT_ID,
            "client_secret": demo_keys.ZOHO_CLIENT_SECRET,
            "refresh_token": zoho.refresh_token,
        }
    )
    return [
        DemoConnection(
            name="Acme on Chargebee",
            kind="chargebee",
            settings={
                "site": "acme",
                "base_url": sandbox.base_url("chargebee", "acme"),
                "id_source": "custom-field",
                "id_object": "account",
                "id_field": "cf_tenant_id",
            },
            secret=demo_keys.CHARGEBEE_KEYS["acme"],
        ),
        DemoConnection(
            name="Acme on Recurly",
            kind="recurly",
            settings={
                "site": "acme",
                "region": "us",
                "base_url": sandbox.base_url("recurly", "acme"),
                "id_source": "custom-field",
                "id_object": "account",
                "id_field": "tenant_id",
            },
            secret=demo_keys.RECURLY_KEYS["acme"],
        ),
        DemoConnection(
            name="Acme on Zoho Billing",
            kind="zoho-billing",
            settings={
                "org_id": zoho.organizations[0],
                "data_centre": "us",
                "base_url": sandbox.base_url("zoho-billing", zoho.organizations[0]),
                "auth_url": sandbox.base_url("zoho-accounts", "com"),
                "id_source": "custom-field",
                "id_object": "account",
                "id_field": "cf_tenant_id",
            },
            secret=zoho_secret,
        ),
    ]


def start_demo(
    database: Database,
    secrets: SecretStore,
    *,
    size: int = DEMO_SIZE,
    seed: int = DEMO_SEED,
) -> DemoWorkspace:
    """Starts the sandbox and points the demo workspace's connections at it.

    Existing demo connections keep their data and history; their URLs (the sandbox's
    ports change from run to run) and in-memory secrets are refreshed.
    """
    sandbox = Sandbox(size=size, seed=seed)
    sandbox.start()
    demo = DemoWorkspace(sandbox)
    try:
        service = ConnectionService(database, secrets)
        for connection in demo_connections(sandbox):
            try:
                service.get(connection.name)
            except NotFoundError:
                service.add(
                    name=connection.name,
                    kind=connection.kind,
                    settings=connection.settings,
                    secret=connection.secret,
                )
            else:
                service.update(
                    connection.name, settings=connection.settings, secret=connection.secret
                )
            demo.connections.append(connection.name)
        with database.transaction() as session:
            if load_currency_settings(session).reporting is None:
                save_currency_settings(session, CurrencySettings("USD", DEMO_RATES))
    except BaseException:
        demo.stop()
        raise
    return demo
