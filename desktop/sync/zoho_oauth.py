"""Zoho OAuth: client credentials, data centres and the access-token manager.

Shared by every Zoho connector (Billing now, CRM later). A Zoho connection's secret is a
JSON object ``{"client_id": …, "client_secret": …, "refresh_token": …}``; the refresh
token never expires on its own, and is traded at the accounts server
(``POST {auth_url}/oauth/v2/token``, ``grant_type=refresh_token``) for an access token
that lives about an hour. :class:`ZohoTokenManager` keeps that access token:

* it caches the token until shortly before ``expires_in`` runs out (by the injected
  clock) and refreshes it then;
* :meth:`ZohoTokenManager.call` runs one request with the token and, when the source
  answers that the token is not valid (HTTP 401, ``INVALID_TOKEN`` or code 57), refreshes
  once and retries; a second refusal raises :class:`AuthorisationError` asking to
  re-authorise the connection;
* concurrent refreshes are serialised: many streams that find the token expired (or
  refused) at the same moment cause exactly one call to the accounts server;
* the answer's ``api_domain`` (``https://www.zohoapis.eu``) is kept, so a connector can
  follow the data centre the account really lives in;
* the client secret, the refresh token and access tokens never appear in a message, a
  log line or a ``repr``.

Zoho's accounts server reports bad credentials with HTTP 200 and ``{"error": "…"}``
(``invalid_client``, ``invalid_code``) as well as with 4xx statuses; both are handled.
Older accounts servers sent ``expires_in`` in milliseconds together with
``expires_in_sec``; the seconds value wins when present.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlsplit

from desktop.errors import ConfigurationError
from desktop.sync.base import AuthorisationError, SourceResponseError, SyncFailure
from desktop.timeutil import Clock

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_PATH: Final[str] = "/oauth/v2/token"

#: Data centre → (API domain, accounts server). Keys are what ``--data-centre`` accepts.
DATA_CENTRES: Final[dict[str, tuple[str, str]]] = {
    "us": ("https://www.zohoapis.com", "https://accounts.zoho.com"),
    "eu": ("https://www.zohoapis.eu", "https://accounts.zoho.eu"),
    "in": ("https://www.zohoapis.in", "https://accounts.zoho.in"),
    "au": ("https://www.zohoapis.com.au", "https://accounts.zoho.com.au"),
    "jp": ("https://www.zohoapis.jp", "https://accounts.zoho.jp"),
    # Zoho's Canadian accounts server lives on its own domain (Zoho CRM SDK ``dc``).
    "ca": ("https://www.zohoapis.ca", "https://accounts.zohocloud.ca"),
}

#: Other spellings people (and Zoho's own domains) use for the same data centres.
_DC_ALIASES: Final[dict[str, str]] = {
    "com": "us",
    "com.au": "au",
    "us": "us",
    "eu": "eu",
    "in": "in",
    "au": "au",
    "jp": "jp",
    "ca": "ca",
}

#: Refresh this long before the access token runs out (capped at half its lifetime).
REFRESH_MARGIN: Final[timedelta] = timedelta(minutes=5)
#: Lifetime assumed when the accounts server does not say (Zoho documents one hour).
DEFAULT_LIFETIME: Final[timedelta] = timedelta(hours=1)

_REQUIRED_KEYS: Final[tuple[str, ...]] = ("client_id", "client_secret", "refresh_token")


def normalise_data_centre(value: object) -> str:
    """Returns the canonical data-centre key (``us``, ``eu``, ``in``, ``au``, ``jp``, ``ca``).

    Raises:
        ConfigurationError: for anything else, naming the accepted values.
    """
    text = str(value or "us").strip().lower().lstrip(".")
    key = _DC_ALIASES.get(text)
    if key is None:
        known = ", ".join(DATA_CENTRES)
        raise ConfigurationError(f"{str(value)!r} is not a Zoho data centre; use one of {known}.")
    return key


def accounts_url(data_centre: str) -> str:
    """The accounts (OAuth) server of a data centre, without a trailing slash."""
    return DATA_CENTRES[normalise_data_centre(data_centre)][1]


def api_domain(data_centre: str) -> str:
    """The API domain of a data centre (``https://www.zohoapis.eu``)."""
    return DATA_CENTRES[normalise_data_centre(data_centre)][0]


def token_url(auth_url: str) -> str:
    """The token endpoint under an accounts server URL (tolerates a full token URL)."""
    base = auth_url.rstrip("/")
    if base.endswith(TOKEN_PATH):
        return base
    return base + TOKEN_PATH


def check_url(value: str, what: str) -> str:
    """Validates an override URL: https anywhere, plain http only on this machine.

    Raises:
        ConfigurationError: when the URL is not usable.
    """
    parts = urlsplit(value.strip())
    # Loopback, or an RFC 2606 ``.invalid`` name that never resolves (in-process sandbox).
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"} or (
        parts.hostname or ""
    ).endswith(".invalid")
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(f"The {what} {value!r} is not an http(s) URL.")
    if parts.scheme == "http" and not loopback:
        raise ConfigurationError(
            f"The {what} {value!r} must use https (plain http is only allowed to 127.0.0.1)."
        )
    return value.strip().rstrip("/")


# ------------------------------------------------------------------------ credentials


@dataclass(frozen=True)
class ZohoCredentials:
    """A Zoho OAuth client and its refresh token; ``repr`` shows only the client id.

    Attributes:
        client_id: the API console client id (not secret, shown in messages).
        client_secret: the client secret.
        refresh_token: the long-lived refresh token.
    """

    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)

    def to_secret(self) -> str:
        """The JSON text to store in the keychain as the connection's secret."""
        return json.dumps(
            {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
            }
        )


def parse_zoho_secret(secret: str) -> ZohoCredentials:
    """Reads a Zoho connection's secret (a JSON object with three string keys).

    Raises:
        ConfigurationError: naming the missing or invalid key (never echoing a value).
    """
    try:
        data = json.loads(secret)
    except (TypeError, ValueError):
        raise ConfigurationError(
            "The Zoho secret must be a JSON object with client_id, client_secret and "
            "refresh_token; it is not valid JSON."
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            "The Zoho secret must be a JSON object with client_id, client_secret and refresh_token."
        )
    values: dict[str, str] = {}
    for key in _REQUIRED_KEYS:
        value = data.get(key)
        if value is None:
            raise ConfigurationError(f"The Zoho secret has no {key}.")
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(f"The Zoho secret's {key} must be a non-empty string.")
        values[key] = value.strip()
    return ZohoCredentials(**values)


# ----------------------------------------------------------------------- token calls


class TokenPoster(Protocol):
    """The one capability the OAuth code needs: POSTing a form to a token endpoint."""

    async def post_token(self, url: str, *, data: dict[str, str]) -> dict[str, Any]:
        """POSTs ``data`` to an OAuth token endpoint and returns the parsed JSON."""
        ...


@dataclass(frozen=True)
class AccessToken:
    """An access token and when to stop using it.

    Attributes:
        value: the token (never shown).
        refresh_at: the moment after which it is refreshed before use.
        api_domain: the API domain the accounts server named, if any.
    """

    value: str = field(repr=False)
    refresh_at: datetime
    api_domain: str | None = None


_ERROR_SENTENCES: Final[dict[str, str]] = {
    "invalid_client": (
        "Zoho did not accept the client id or client secret of {name}; check the OAuth "
        "client in the Zoho API console and re-authorise this connection."
    ),
    "invalid_client_secret": (
        "Zoho did not accept the client secret of {name}; re-authorise this connection."
    ),
    "invalid_code": (
        "Zoho did not accept the refresh token (or grant code) of {name}: it is invalid, "
        "expired or revoked; re-authorise this connection."
    ),
    "invalid_redirect_uri": (
        "Zoho did not accept the redirect URI used to authorise {name}; re-authorise "
        "this connection."
    ),
    "unauthorized_client": (
        "Zoho refused this OAuth client for {name}; re-authorise this connection."
    ),
}


def _token_error(answer: dict[str, Any], name: str) -> SyncFailure:
    """Turns a token endpoint's ``error`` answer into a typed error with a sentence."""
    code = str(answer.get("error") or "").strip()
    sentence = _ERROR_SENTENCES.get(code.lower())
    if sentence is not None:
        return AuthorisationError(sentence.format(name=name))
    description = str(answer.get("error_description") or "").lower()
    if "too many requests" in description or code.lower() == "access denied":
        return SourceResponseError(
            f"Zoho's accounts server is refusing token requests for {name} for a while "
            "(too many in a short time); try again in a few minutes."
        )
    return AuthorisationError(
        f"Zoho refused to issue an access token for {name}; re-authorise this connection."
    )


def _lifetime(answer: dict[str, Any]) -> timedelta:
    """The token lifetime from ``expires_in_sec`` or ``expires_in`` (seconds or ms)."""
    for key in ("expires_in_sec", "expires_in"):
        raw = answer.get(key)
        try:
            seconds = float(raw) if raw is not None and not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            seconds = None
        if seconds is None or seconds <= 0:
            continue
        if key == "expires_in" and seconds > 86_400:  # old accounts servers: milliseconds
            seconds /= 1000.0
        return timedelta(seconds=seconds)
    return DEFAULT_LIFETIME


def _api_domain(answer: dict[str, Any]) -> str | None:
    """The answer's ``api_domain`` when it is a usable URL, else ``None``."""
    value = answer.get("api_domain")
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return check_url(value, "API domain")
    except ConfigurationError:
        log.warning("Ignoring an unusable api_domain in a Zoho token answer.")
        return None


async def exchange_grant_code(
    http: TokenPoster,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    auth_url: str,
    redirect_uri: str | None = None,
    name: str = "this connection",
) -> ZohoCredentials:
    """Trades a one-time grant code (API console *Self Client*) for a refresh token.

    Args:
        http: anything with ``post_token`` (the connection's read-only client).
        client_id: the OAuth client id.
        client_secret: the OAuth client secret.
        code: the grant code the user pasted (valid a few minutes, usable once).
        auth_url: the accounts server (``accounts_url(dc)`` or an override).
        redirect_uri: the client's redirect URI, for server-based clients.
        name: the connection's name, for messages.

    Returns:
        The credentials to store as the connection's secret.

    Raises:
        AuthorisationError: when Zoho refuses the code or the client, with a sentence.
    """
    data = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code.strip(),
    }
    if redirect_uri:
        data["redirect_uri"] = redirect_uri
    answer = await http.post_token(token_url(auth_url), data=data)
    if answer.get("error"):
        raise _token_error(answer, name)
    refresh = answer.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        raise AuthorisationError(
            f"Zoho answered the grant code for {name} without a refresh token (a code can "
            "be used only once); generate a new grant code and try again."
        )
    return ZohoCredentials(client_id=client_id, client_secret=client_secret, refresh_token=refresh)


# ---------------------------------------------------------------------- the manager


class TokenRejected(Exception):
    """Raised by a request function when the source says the access token is not valid.

    Connectors raise it (or let :meth:`ZohoTokenManager.call` see an HTTP 401
    :class:`AuthorisationError`) so the manager can refresh once and retry.
    """


class ZohoTokenManager:
    """Keeps one Zoho access token fresh for all of a connection's concurrent requests.

    Args:
        http: the connection's client (its ``post_token`` is the only POST allowed).
        credentials: the OAuth client and refresh token.
        auth_url: the accounts server, for example ``https://accounts.zoho.eu``.
        clock: the injected clock deciding expiry.
        name: the connection's name, for messages.

    Attributes:
        refreshes: how many times an access token was obtained (for tests and stats).
    """

    def __init__(
        self,
        http: TokenPoster,
        credentials: ZohoCredentials,
        auth_url: str,
        clock: Clock,
        *,
        name: str = "this connection",
    ) -> None:
        self._http = http
        self._credentials = credentials
        self._token_url = token_url(auth_url)
        self._clock = clock
        self._name = name
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"ZohoTokenManager(client_id={self._credentials.client_id!r})"

    @property
    def api_domain(self) -> str | None:
        """The API domain from the last token answer, if it named one."""
        return self._token.api_domain if self._token else None

    async def token(self) -> AccessToken:
        """Returns a valid access token, refreshing it first if it is due."""
        current = self._token
        if current is not None and self._clock() < current.refresh_at:
            return current
        async with self._lock:
            current = self._token
            if current is not None and self._clock() < current.refresh_at:
                return current
            self._token = await self._refresh()
            return self._token

    async def access_token(self) -> str:
        """Returns a valid access token's value."""
        return (await self.token()).value

    async def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for a request."""
        return {"Authorization": f"Zoho-oauthtoken {await self.access_token()}"}

    def invalidate(self, value: str) -> None:
        """Forgets the token ``value`` if it is still the current one (it was refused).

        A token that has already been replaced by another task's refresh is left alone,
        so many requests refused with the same old token cause one refresh.
        """
        if self._token is not None and self._token.value == value:
            self._token = None

    async def call(self, request: Callable[[dict[str, str]], Awaitable[T]]) -> T:
        """Runs ``request(auth_headers)``, refreshing and retrying once if it is refused.

        ``request`` signals a refused token by raising :class:`TokenRejected` (or an
        :class:`AuthorisationError` that came from an HTTP 401).

        Raises:
            AuthorisationError: when a freshly refreshed token is refused too.
        """
        for attempt in (1, 2):
            token = await self.token()
            try:
                return await request({"Authorization": f"Zoho-oauthtoken {token.value}"})
            except TokenRejected:
                pass
            except AuthorisationError as error:
                if getattr(error, "status", None) not in (401, None) or attempt == 2:
                    raise
            self.invalidate(token.value)
            log.info("Zoho refused the access token of %s; refreshing it once.", self._name)
        raise AuthorisationError(
            f"Zoho keeps refusing the access token of {self._name} even after a refresh; "
            "re-authorise this connection."
        )

    async def _refresh(self) -> AccessToken:
        """Asks the accounts server for a new access token (caller holds the lock)."""
        data = {
            "grant_type": "refresh_token",
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret,
            "refresh_token": self._credentials.refresh_token,
        }
        answer = await self._http.post_token(self._token_url, data=data)
        if not isinstance(answer, dict):
            raise SourceResponseError(
                f"Zoho's accounts server sent an unreadable answer for {self._name}."
            )
        if answer.get("error"):
            raise _token_error(answer, self._name)
        value = answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise SourceResponseError(
                f"Zoho's accounts server answered {self._name} without an access token."
            )
        lifetime = _lifetime(answer)
        margin = min(REFRESH_MARGIN, lifetime / 2)
        self.refreshes += 1
        log.info("Obtained a Zoho access token for %s (valid %s).", self._name, lifetime)
        return AccessToken(
            value=value,
            refresh_at=self._clock() + lifetime - margin,
            api_domain=_api_domain(answer),
        )
