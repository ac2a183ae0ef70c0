"""Zoho Accounts OAuth server, shared by the Zoho Billing and Zoho CRM simulators.

Served per data centre at ``/zoho/{dc}/accounts`` on the Zoho origin:

* ``GET  /zoho/{dc}/accounts/oauth/v2/auth?client_id&redirect_uri&scope&state`` → 302 to
  ``redirect_uri?code=<grant>&location=<dc>&accounts-server=<accounts base>&state``
  (consent is implied);
* ``POST /zoho/{dc}/accounts/oauth/v2/token`` with ``grant_type=authorization_code``
  (``code``, ``client_id``, ``client_secret``, ``redirect_uri``) → access + refresh
  token, or ``grant_type=refresh_token`` → a new access token; parameters may be in
  the query string or a form body; errors are HTTP 200 ``{"error": "..."}`` like Zoho;
* ``POST /zoho/{dc}/accounts/oauth/v2/token/revoke?token=`` → revokes a refresh token.

Access tokens expire after :attr:`TokenStore.lifetime` seconds of the sandbox clock and
only work on their own data centre's API domain.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from desktop.sandbox.clock import Clock
from desktop.sandbox.core import (
    CallContext,
    Identity,
    SandboxRequest,
    SandboxResponse,
    json_response,
)
from desktop.sandbox.credentials import (
    ZOHO_CLIENT_ID,
    ZOHO_CLIENT_SECRET,
    ZOHO_USERS,
    ZohoUser,
)
from desktop.sandbox.faults import FaultKind

#: Data centres the sandbox answers for (only ``com`` and ``eu`` have users).
DATA_CENTRES: Final[tuple[str, ...]] = ("com", "eu", "in", "com.au", "jp", "ca")
#: Scopes every published refresh token carries.
DEFAULT_SCOPES: Final[tuple[str, ...]] = (
    "ZohoSubscriptions.fullaccess.all",
    "ZohoCRM.modules.ALL",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.users.READ",
    "ZohoCRM.org.READ",
)


@dataclass(frozen=True)
class Grant:
    """What a refresh token or grant code stands for."""

    user: ZohoUser
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AccessToken:
    """An issued access token."""

    token: str
    user: ZohoUser
    scopes: tuple[str, ...]
    expires_at: float

    def has_scope(self, prefix: str) -> bool:
        """Whether any scope starts with ``prefix`` (``"ZohoCRM."``, ``"ZohoSubscriptions."``)."""
        return any(scope.startswith(prefix) for scope in self.scopes)


class TokenStore:
    """Grant codes, refresh tokens and access tokens of the sandbox's Zoho accounts.

    Args:
        clock: the sandbox clock (token expiry).
        seed: makes issued token strings deterministic.
        lifetime: access-token lifetime in seconds.
    """

    def __init__(self, clock: Clock, seed: int, lifetime: int = 3600) -> None:
        self.clock = clock
        self.seed = seed
        self.lifetime = lifetime
        self._lock = threading.Lock()
        self._counter = 0
        self._codes: dict[str, Grant] = {u.grant_code: Grant(u, DEFAULT_SCOPES) for u in ZOHO_USERS}
        self._refresh: dict[str, Grant] = {
            u.refresh_token: Grant(u, DEFAULT_SCOPES) for u in ZOHO_USERS
        }
        self._access: dict[str, AccessToken] = {}

    def _token(self, kind: str) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{self.seed}:{kind}:{self._counter}".encode()).hexdigest()
        return f"1000.{digest[:32]}.{digest[32:64]}"

    def issue_grant_code(self, dc: str, scopes: tuple[str, ...] = DEFAULT_SCOPES) -> str:
        """Creates a grant code for the data centre's demo user with chosen scopes."""
        user = next(u for u in ZOHO_USERS if u.dc == dc)
        with self._lock:
            code = self._token("code")
            self._codes[code] = Grant(user, scopes)
            return code

    def issue_access_token(self, dc: str, scopes: tuple[str, ...] = DEFAULT_SCOPES) -> str:
        """Issues an access token directly (tests that skip the OAuth dance)."""
        user = next(u for u in ZOHO_USERS if u.dc == dc)
        with self._lock:
            return self._new_access(Grant(user, scopes)).token

    def _new_access(self, grant: Grant) -> AccessToken:
        token = AccessToken(
            token=self._token("access"),
            user=grant.user,
            scopes=grant.scopes,
            expires_at=self.clock.now().timestamp() + self.lifetime,
        )
        self._access[token.token] = token
        return token

    def exchange(self, dc: str, form: dict[str, str]) -> dict[str, object]:
        """Runs the token endpoint; returns Zoho's JSON answer (success or ``error``)."""
        if form.get("client_id") != ZOHO_CLIENT_ID:
            return {"error": "invalid_client"}
        if form.get("client_secret") != ZOHO_CLIENT_SECRET:
            return {"error": "invalid_client"}
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                grant = self._codes.get(form.get("code", ""))
                if grant is None or grant.user.dc != dc:
                    return {"error": "invalid_code"}
                refresh = grant.user.refresh_token
                if grant.scopes != DEFAULT_SCOPES:
                    refresh = self._token("refresh")
                self._refresh[refresh] = grant
                access = self._new_access(grant)
                return {
                    "access_token": access.token,
                    "refresh_token": refresh,
                    "scope": " ".join(grant.scopes),
                    "api_domain": "",
                    "token_type": "Bearer",
                    "expires_in": self.lifetime,
                }
            if grant_type == "refresh_token":
                grant = self._refresh.get(form.get("refresh_token", ""))
                if grant is None or grant.user.dc != dc:
                    return {"error": "invalid_code"}
                access = self._new_access(grant)
                return {
                    "access_token": access.token,
                    "scope": " ".join(grant.scopes),
                    "api_domain": "",
                    "token_type": "Bearer",
                    "expires_in": self.lifetime,
                }
        return {"error": "unsupported_grant_type"}

    def revoke(self, token: str) -> bool:
        """Revokes a refresh token; returns whether it existed."""
        with self._lock:
            return self._refresh.pop(token, None) is not None

    def check(self, header: str | None, dc: str) -> AccessToken | str:
        """Validates an ``Authorization`` header for an API call on data centre ``dc``.

        Returns:
            The token, or a reason: ``"missing"``, ``"invalid"``, ``"expired"``.
        """
        if not header:
            return "missing"
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() not in ("zoho-oauthtoken", "bearer") or not value:
            return "invalid"
        with self._lock:
            token = self._access.get(value.strip())
        if token is None or token.user.dc != dc:
            return "invalid"
        if token.expires_at <= self.clock.now().timestamp():
            return "expired"
        return token

    def expire_all(self) -> None:
        """Makes every issued access token expired (tests of the refresh path)."""
        with self._lock:
            for key, token in list(self._access.items()):
                self._access[key] = AccessToken(token.token, token.user, token.scopes, 0.0)


def split_zoho_path(path_parts: list[str]) -> tuple[str, str, list[str]] | None:
    """``["zoho", dc, "accounts"|"api", ...]`` → ``(dc, "accounts"|"api", rest)``."""
    if len(path_parts) < 3 or path_parts[0] != "zoho" or path_parts[1] not in DATA_CENTRES:
        return None
    if path_parts[2] not in ("accounts", "api"):
        return None
    return path_parts[1], path_parts[2], path_parts[3:]


class ZohoAccountsHandler:
    """The OAuth endpoints of every data centre.

    Args:
        store: the shared token store.
        origin: a callable giving the Zoho mount's origin (``http://127.0.0.1:PORT``),
            used for ``api_domain`` and redirects.
    """

    name = "zoho-accounts"

    def __init__(self, store: TokenStore, origin: Callable[[], str]) -> None:
        self.store = store
        self._origin = origin

    def origin(self) -> str:
        """The Zoho mount's current origin."""
        return self._origin()

    def matches(self, request: SandboxRequest) -> bool:
        """Serves ``/zoho/{dc}/accounts/...``."""
        split = split_zoho_path(request.segments())
        return split is not None and split[1] == "accounts"

    def identify(self, request: SandboxRequest) -> Identity:
        """The OAuth server is never rate limited; the credential is the client id."""
        client = request.form().get("client_id")
        label = (
            "zoho-client" if client == ZOHO_CLIENT_ID else ("none" if client is None else "unknown")
        )
        split = split_zoho_path(request.segments())
        return Identity(credential=label, site=split[0] if split else None, bucket=None)

    def handle(self, request: SandboxRequest, ctx: CallContext) -> SandboxResponse:
        """Answers the authorize, token and revoke endpoints."""
        split = split_zoho_path(request.segments())
        assert split is not None
        dc, _, rest = split
        form = request.form()
        if rest == ["oauth", "v2", "auth"] and request.method == "GET":
            return self._authorize(dc, form)
        if rest == ["oauth", "v2", "token"] and request.method == "POST":
            answer = self.store.exchange(dc, form)
            if "access_token" in answer:
                answer["api_domain"] = f"{self.origin()}/zoho/{dc}/api"
            return json_response(200, answer)
        if rest == ["oauth", "v2", "token", "revoke"] and request.method == "POST":
            revoked = self.store.revoke(form.get("token", ""))
            return json_response(
                200, {"status": "success"} if revoked else {"error": "invalid_token"}
            )
        return json_response(404, {"error": "invalid_url"})

    def _authorize(self, dc: str, form: dict[str, str]) -> SandboxResponse:
        if form.get("client_id") != ZOHO_CLIENT_ID:
            return json_response(400, {"error": "invalid_client"})
        scopes = tuple(s for s in form.get("scope", "").replace(",", " ").split() if s)
        code = self.store.issue_grant_code(dc, scopes or DEFAULT_SCOPES)
        params = {
            "code": code,
            "location": {"com": "us"}.get(dc, dc),
            "accounts-server": f"{self.origin()}/zoho/{dc}/accounts",
        }
        if "state" in form:
            params["state"] = form["state"]
        target = f"{form.get('redirect_uri', '')}?{urlencode(params)}"
        return SandboxResponse(status=302, headers=[("Location", target)])

    def fault_response(
        self, kind: FaultKind, status: int, request: SandboxRequest, ctx: CallContext
    ) -> SandboxResponse:
        """Accounts-server failures: a 5xx page-like JSON, or ``invalid_code``."""
        if kind == "expired_token":
            return json_response(200, {"error": "invalid_code"})
        if kind == "rate_limited":
            return json_response(
                400,
                {
                    "error_description": "You have made too many requests continuously. "
                    "Please try again after some time.",
                    "error": "Access Denied",
                    "status": "failure",
                },
            )
        return json_response(status, {"error": "server_error"})

    def decorate(
        self, response: SandboxResponse, request: SandboxRequest, ctx: CallContext
    ) -> None:
        """No extra headers."""
