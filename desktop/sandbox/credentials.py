"""The sandbox's published demo credentials — the only keys ever committed.

All of them are obviously fake and only open the loopback simulators. Nothing here
works against a real vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: Chargebee API keys per site (user = key, empty password).
CHARGEBEE_KEYS: Final[dict[str, str]] = {
    "acme": "live_sandbox_acme_0000000000000000000000",
    "acme-test": "test_sandbox_acme_0000000000000000000000",
}

#: Recurly private API keys per site subdomain (user = key, empty password).
RECURLY_KEYS: Final[dict[str, str]] = {
    "acme": "sandbox_recurly_acme_00000000000000",
    "acme-eu": "sandbox_recurly_acme_eu_0000000000",
}


@dataclass(frozen=True)
class ZohoUser:
    """A Zoho user of one data centre with the OAuth material a client needs.

    Attributes:
        dc: data centre (``com``, ``eu``, ...).
        email: the user's login.
        grant_code: a one-time authorization code (the sandbox accepts it repeatedly).
        refresh_token: a long-lived refresh token.
        organizations: Zoho Billing organization ids the user can read.
    """

    dc: str
    email: str
    grant_code: str
    refresh_token: str
    organizations: tuple[str, ...]


#: The OAuth client registered in the Zoho API console (shared by all data centres).
ZOHO_CLIENT_ID: Final[str] = "1000.SANDBOXCLIENT0000000000000000"
ZOHO_CLIENT_SECRET: Final[str] = "sandbox_zoho_client_secret_000000000000"
#: Where the sandbox pretends to redirect after consent.
ZOHO_REDIRECT_URI: Final[str] = "http://127.0.0.1/billbridge/oauth/callback"

ZOHO_USERS: Final[tuple[ZohoUser, ...]] = (
    ZohoUser(
        dc="com",
        email="admin@acme.example",
        grant_code="1000.sandbox_grant_com.0000000000000000",
        refresh_token="1000.sandbox_refresh_com.0000000000000000",
        organizations=("10234695",),
    ),
    ZohoUser(
        dc="eu",
        email="admin@acme-gmbh.example",
        grant_code="1000.sandbox_grant_eu.0000000000000000",
        refresh_token="1000.sandbox_refresh_eu.0000000000000000",
        organizations=("20234695",),
    ),
)


def zoho_user(dc: str) -> ZohoUser:
    """Returns the demo Zoho user of a data centre (``com`` or ``eu``)."""
    for user in ZOHO_USERS:
        if user.dc == dc:
            return user
    raise KeyError(f"The sandbox has no Zoho user in data centre {dc!r}.")
