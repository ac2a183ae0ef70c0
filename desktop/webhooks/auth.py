"""Receiver tokens: generation, the Basic authorization header, and the HMAC signature.

A token is 40 random letters and digits: it fits Zoho Billing's *Secret Token* field
(12–50 alphanumeric characters), so one token serves both checks.

* **Authorization** — Zoho Billing sends a custom header ``Authorization: Basic <b64>``
  where ``<b64>`` is the Base64 of ``<receiver name>:<token>``. The credentials are
  compared in constant time (:func:`hmac.compare_digest`).
* **Signature** (optional per receiver) — ``X-Zoho-Webhook-Signature`` is the hex
  HMAC-SHA256, keyed with the token, of every query-string and form key/value pair sorted
  by key and concatenated as ``keyvalue``, followed by the raw body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable, Mapping
from typing import Final

TOKEN_LENGTH: Final[int] = 40
_ALPHABET: Final[str] = string.ascii_letters + string.digits
_TOKEN_SHAPE: Final[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9]{12,50}$")

SIGNATURE_HEADER: Final[str] = "X-Zoho-Webhook-Signature"
#: Environment variables that may hold a receiver's token instead of the keychain.
TOKEN_ENV_PREFIX: Final[str] = "BILLBRIDGE_WEBHOOK_TOKEN_"


def generate_token() -> str:
    """A new random receiver token (40 letters and digits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))


def is_token(value: str) -> bool:
    """Whether ``value`` has the shape Zoho Billing accepts as a secret token."""
    return bool(_TOKEN_SHAPE.match(value))


def basic_credentials(receiver: str, token: str) -> str:
    """The Base64 credentials of ``receiver:token`` (what follows ``Basic``)."""
    return base64.b64encode(f"{receiver}:{token}".encode()).decode("ascii")


def authorization_header(receiver: str, token: str) -> str:
    """The full header value to paste into Zoho Billing: ``Basic <credentials>``."""
    return f"Basic {basic_credentials(receiver, token)}"


def check_authorization(header: str | None, receiver: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries this receiver's credentials.

    The credentials are compared in constant time; a missing header, another scheme, or
    credentials that are not Base64 are refused.
    """
    if not header:
        return False
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    provided = credentials.strip().encode("ascii", "replace")
    expected = basic_credentials(receiver, token).encode("ascii")
    if hmac.compare_digest(provided, expected):
        return True
    # Equivalent credentials may be encoded with different padding or line breaks.
    try:
        decoded = base64.b64decode(provided, validate=False)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(decoded, f"{receiver}:{token}".encode())


def signed_string(pairs: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """What Zoho Billing signs: sorted ``keyvalue`` pairs, then the raw body."""
    ordered = sorted(pairs, key=lambda pair: pair[0])
    prefix = "".join(f"{key}{value}" for key, value in ordered).encode()
    return prefix + body


def signature(token: str, pairs: Iterable[tuple[str, str]], body: bytes) -> str:
    """The hex HMAC-SHA256 of :func:`signed_string`, keyed with ``token``."""
    return hmac.new(token.encode(), signed_string(pairs, body), hashlib.sha256).hexdigest()


def check_signature(
    header: str | None, token: str, pairs: Iterable[tuple[str, str]], body: bytes
) -> bool:
    """Whether ``X-Zoho-Webhook-Signature`` matches, compared in constant time."""
    if not header:
        return False
    expected = signature(token, pairs, body).encode("ascii")
    return hmac.compare_digest(header.strip().lower().encode("ascii", "replace"), expected)


def token_env_name(receiver: str) -> str:
    """The environment variable that may hold ``receiver``'s token.

    ``BILLBRIDGE_WEBHOOK_TOKEN_`` plus the receiver name in upper case with every
    character other than a letter or digit turned into ``_`` (``acme-eu`` →
    ``BILLBRIDGE_WEBHOOK_TOKEN_ACME_EU``). Used by ``billbridge serve`` on a server that
    has no system keychain.
    """
    return TOKEN_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", receiver.upper())


def token_from_env(receiver: str, environ: Mapping[str, str]) -> str | None:
    """The receiver's token from the environment, if set there."""
    value = environ.get(token_env_name(receiver), "").strip()
    return value or None
