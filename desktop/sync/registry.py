"""Which connector serves which connection kind: one line per billing system."""

from __future__ import annotations

import importlib

from desktop.errors import ConfigurationError
from desktop.sync.base import ConnectorFactory

#: kind → "module:factory". Adding a billing system adds one line here.
CONNECTORS: dict[str, str] = {
    "chargebee": "desktop.sync.chargebee:ChargebeeConnector",
    "recurly": "desktop.sync.recurly:RecurlyConnector",
    "zoho-billing": "desktop.sync.zoho_billing:ZohoBillingConnector",
}

BILLING_KINDS: tuple[str, ...] = tuple(CONNECTORS)
#: Connection kinds that are not billing systems: synced by desktop.crm, not the engine.
CRM_KINDS: tuple[str, ...] = ("zoho-crm",)


def connector_factory(kind: str) -> ConnectorFactory:
    """The factory for a billing connection kind."""
    try:
        target = CONNECTORS[kind]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise ConfigurationError(
            f"{kind!r} is not a billing system Billbridge knows ({known})."
        ) from None
    module_name, _, attribute = target.partition(":")
    factory: ConnectorFactory = getattr(importlib.import_module(module_name), attribute)
    return factory
