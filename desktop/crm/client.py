"""The Zoho CRM HTTP client: reads *and* writes, with the sync layer's pacing rules.

Billing sources get :class:`desktop.sync.http.ReadOnlyClient`, which refuses every write
by construction. The CRM is the one place Billbridge writes to, so it gets its own client
here, built on the same pieces of :mod:`desktop.sync.http` — :class:`VendorPolicy`
(what a 429 or a refused token looks like, retries, back-off bounds), the shared
sliding-window :class:`RateLimiter` and the typed errors — so pacing and error sentences
are the same as for every other source:

* **auth**: every call goes through :class:`~desktop.sync.zoho_oauth.ZohoTokenManager`
  (one refresh for all concurrent callers; a refused token is refreshed once, then the
  connection must be re-authorised);
* **429** (``TOO_MANY_REQUESTS``) waits out ``Retry-After`` or the policy's default and
  pauses every request of the connection; it is not a failed attempt;
* **5xx, timeouts, resets** are retried with capped exponential back-off and jitter
  (the rules of :mod:`desktop.backoff`, which the billing client follows too).
  Writes are retried too: Billbridge only sends upserts and updates by id, which are safe
  to repeat;
* **204** (an empty list or search) and **304** (nothing changed since
  ``If-Modified-Since``) are answers, not errors: :meth:`CrmClient.get` returns ``None``;
* a **top-level error** (``INVALID_DATA`` on a parameter, ``NO_PERMISSION`` …) raises
  :class:`CrmRequestError` carrying Zoho's code and a sentence; per-record results of a
  write are returned as they are (see :class:`WriteResult`), never raised.

Only the method, the path and the status are logged — never a header, token or body.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from desktop.backoff import Attempts, Sleep, backoff_delay, pause, send_once, server_failure
from desktop.errors import ConfigurationError
from desktop.jobs import CancelToken
from desktop.sync.base import SourceResponseError, SourceUnreachable
from desktop.sync.http import (
    HttpAuthorisationError,
    RateBudget,
    RateLimiter,
    RateLimitExhausted,
    VendorPolicy,
    policy_for,
)
from desktop.sync.zoho_oauth import (
    ZohoCredentials,
    ZohoTokenManager,
    accounts_url,
    api_domain,
    check_url,
    normalise_data_centre,
)
from desktop.timeutil import Clock

log = logging.getLogger(__name__)

API_VERSION: Final[str] = "v8"
#: Records per insert/update/upsert call (Zoho's limit).
BATCH_SIZE: Final[int] = 100
#: Records per list page.
PER_PAGE: Final[int] = 200
#: Records reachable with ``page`` alone; past this, ``page_token``.
DISCRETE_LIMIT: Final[int] = 2_000


def crm_policy(settings: dict[str, Any] | None = None) -> VendorPolicy:
    """The policy of a CRM connection.

    Zoho CRM counts API *credits per day* and *concurrent calls per org*, not requests per
    minute, so by default there is no client-side per-minute budget, only a concurrency
    limit of 5 (the smallest edition's); a connection's ``rate_limit`` setting
    ("100/60") adds one, ``concurrency`` changes the limit.

    Raises:
        ConfigurationError: when an override is malformed.
    """
    settings = dict(settings or {})
    merged = policy_for("zoho-crm", settings)
    budget: RateBudget | None = merged.budget if "rate_limit" in settings else None
    concurrency = merged.max_concurrency if settings.get("concurrency") is not None else 5
    return dataclasses.replace(merged, budget=budget, max_concurrency=concurrency)


class CrmRequestError(SourceResponseError):
    """Zoho CRM refused a whole request (a 4xx other than 401/429, with its code).

    Attributes:
        status: the HTTP status.
        code: Zoho's error code (``INVALID_DATA``, ``NO_PERMISSION`` …), or ``""``.
        details: Zoho's ``details`` object.
    """

    def __init__(
        self, message: str, status: int, code: str = "", details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = details or {}


@dataclass(frozen=True)
class WriteResult:
    """What Zoho CRM answered for one record of a write call.

    Attributes:
        ok: whether the record was written.
        code: ``SUCCESS`` or the error code (``DUPLICATE_DATA``, ``MANDATORY_NOT_FOUND`` …).
        message: Zoho's message.
        details: Zoho's details (``id`` on success; ``api_name`` … on errors).
        action: ``insert`` or ``update`` for an upsert, else ``None``.
    """

    ok: bool
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    action: str | None = None

    @property
    def record_id(self) -> str | None:
        """The CRM id of the written record."""
        value = self.details.get("id")
        return str(value) if value else None

    def reason(self) -> str:
        """A sentence explaining a refusal (Zoho's code, field and hint)."""
        return describe_refusal(self.code, self.message, self.details)


def describe_refusal(code: str, message: str, details: dict[str, Any]) -> str:
    """One sentence for a per-record CRM error, naming the field and Zoho's code."""
    if code == "MULTIPLE_OR_MULTI_ERRORS":
        inner = details.get("errors") or []
        parts = [
            describe_refusal(
                str(e.get("code") or ""), str(e.get("message") or ""), dict(e.get("details") or {})
            )
            for e in inner
            if isinstance(e, dict)
        ]
        return " ".join(parts) or "Zoho CRM refused the record for several reasons."
    api_name = details.get("api_name")
    where = f" the field {api_name}" if api_name else " the record"
    if code == "DUPLICATE_DATA":
        dup = details.get("duplicate_record") or {}
        more = " (and more)" if details.get("more_records") else ""
        other = f" {dup.get('id')}{more}" if isinstance(dup, dict) and dup.get("id") else ""
        return (
            f"Zoho CRM refused{where}: its value already belongs to another record{other} "
            f"(DUPLICATE_DATA)."
        )
    if code == "MANDATORY_NOT_FOUND":
        return (
            f"Zoho CRM refused the record:{where} is mandatory and was empty (MANDATORY_NOT_FOUND)."
        )
    if code == "INVALID_DATA":
        hint = ""
        if details.get("expected_data_type"):
            hint = f"; expected {details['expected_data_type']}"
        elif details.get("maximum_length"):
            hint = f"; at most {details['maximum_length']} characters"
        elif details.get("supported_values"):
            hint = f"; allowed: {', '.join(str(v) for v in details['supported_values'][:8])}"
        return f"Zoho CRM refused{where} as invalid{hint} (INVALID_DATA)."
    text = message or "no message"
    return f"Zoho CRM refused{where}: {text} ({code or 'unknown error'})."


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return None


class CrmClient:
    """One CRM connection's HTTP client (see the module docstring).

    Args:
        credentials: the OAuth client and refresh token.
        data_centre: ``us``, ``eu`` … (API domain and accounts server by default).
        name: the connection's name, for messages.
        clock: decides access-token expiry.
        base_url: replaces the API domain (``https://www.zohoapis.eu`` or the sandbox's
            ``.../zoho/com/api``); ``/crm/v8`` is appended.
        auth_url: replaces the accounts server.
        settings: the connection's settings (rate-limit overrides).
        transport: an httpx transport (tests pass the sandbox's).
        cancel: checked before every request and while waiting.
        sleep: the coroutine used to wait (tests pass one that does not sleep).

    Attributes:
        api_calls: requests sent (each retry counts; token requests do not).
        write_calls: insert/update/upsert requests sent.
        tokens: the access-token manager.
    """

    def __init__(
        self,
        credentials: ZohoCredentials,
        *,
        data_centre: str = "us",
        name: str = "Zoho CRM",
        clock: Clock,
        base_url: str | None = None,
        auth_url: str | None = None,
        settings: dict[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        cancel: CancelToken | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.policy = crm_policy(settings)
        dc = normalise_data_centre(data_centre)
        self._base_override = check_url(base_url, "base URL") if base_url else None
        self._dc = dc
        auth = check_url(auth_url, "auth URL") if auth_url else accounts_url(dc)
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=self.policy.timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self.policy.max_concurrency + 1),
        )
        self.cancel = cancel or CancelToken()
        self._sleep = sleep
        self._monotonic = monotonic
        self._rng = rng or random.Random()
        self.limiter = RateLimiter(self.policy.budget, now=monotonic)
        self._slots = asyncio.Semaphore(self.policy.max_concurrency)
        self.tokens = ZohoTokenManager(
            self, credentials, auth, clock, name=f"the connection {name!r}"
        )
        self.api_calls = 0
        self.write_calls = 0
        self.rate_limited = 0

    async def aclose(self) -> None:
        """Closes the connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> CrmClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # -------------------------------------------------------------- addresses

    @property
    def base_url(self) -> str:
        """``{API domain}/crm/v8`` (override, else the token's api_domain, else the DC's)."""
        domain = self._base_override or self.tokens.api_domain or api_domain(self._dc)
        return f"{domain.rstrip('/')}/crm/{API_VERSION}"

    # -------------------------------------------------------------- public API

    async def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """GETs ``/crm/v8{path}``; ``None`` for 204/304 (nothing there, nothing changed).

        Raises:
            CrmRequestError: for a 4xx answer (Zoho's code kept).
        """

        async def attempt(auth: dict[str, str]) -> dict[str, Any] | None:
            response = await self._request(
                "GET", self.base_url + path, params=params, headers={**auth, **(headers or {})}
            )
            return self._answer(response, path)

        return await self.tokens.call(attempt)

    async def write(
        self,
        method: str,
        path: str,
        records: Sequence[dict[str, Any]],
        *,
        duplicate_check_fields: Sequence[str] | None = None,
    ) -> list[WriteResult]:
        """Sends one write call (≤100 records) and returns one result per record, in order.

        Args:
            method: ``POST`` (insert or, with ``path`` ending ``/upsert``, upsert) or ``PUT``.
            path: ``/Contacts``, ``/Contacts/upsert`` …
            records: the records (API-shaped values).
            duplicate_check_fields: for an upsert, the fields to match on.

        Raises:
            ConfigurationError: for more than 100 records.
            CrmRequestError: when Zoho refuses the whole call.
        """
        if not records:
            return []
        if len(records) > BATCH_SIZE:
            raise ConfigurationError(
                f"A Zoho CRM write takes at most {BATCH_SIZE} records; got {len(records)}."
            )
        body: dict[str, Any] = {"data": list(records), "trigger": []}
        if duplicate_check_fields:
            body["duplicate_check_fields"] = list(duplicate_check_fields)

        async def attempt(auth: dict[str, str]) -> list[WriteResult]:
            self.write_calls += 1
            response = await self._request(method, self.base_url + path, headers=auth, body=body)
            payload = _json(response)
            items = payload.get("data") if isinstance(payload, dict) else None
            if isinstance(items, list) and len(items) == len(records):
                return [self._result(item) for item in items]
            self._answer(response, path)  # raises for a top-level error
            raise SourceResponseError(
                f"Zoho CRM answered a write to {path} for {self.name} without a result per record."
            )

        return await self.tokens.call(attempt)

    async def post_token(self, url: str, *, data: dict[str, str]) -> dict[str, Any]:
        """POSTs an OAuth token request (the token manager's one capability)."""
        response = await self._request("POST", url, form=data, use_budget=False)
        answer = _json(response)
        if isinstance(answer, dict):
            return answer
        raise HttpAuthorisationError(
            f"The accounts server refused the credentials of {self.name}; "
            "re-authorise this connection.",
            response.status_code,
        )

    # -------------------------------------------------------------- internals

    @staticmethod
    def _result(item: Any) -> WriteResult:
        if not isinstance(item, dict):
            return WriteResult(False, "INVALID_RESPONSE", "unreadable result")
        details = item.get("details")
        return WriteResult(
            ok=item.get("status") == "success",
            code=str(item.get("code") or ""),
            message=str(item.get("message") or ""),
            details=dict(details) if isinstance(details, dict) else {},
            action=item.get("action"),
        )

    def _answer(self, response: httpx.Response, path: str) -> dict[str, Any] | None:
        if response.status_code in (204, 304) or (
            response.status_code < 300 and not response.content
        ):
            return None
        payload = _json(response)
        if response.status_code >= 400:
            code = str(payload.get("code") or "") if isinstance(payload, dict) else ""
            details = payload.get("details") if isinstance(payload, dict) else None
            message = str(payload.get("message") or "") if isinstance(payload, dict) else ""
            raise CrmRequestError(
                f"Zoho CRM refused a request to {path} for {self.name}: "
                f"{message or 'no message'} ({code or response.status_code}).",
                response.status_code,
                code,
                dict(details) if isinstance(details, dict) else None,
            )
        if not isinstance(payload, dict):
            raise SourceResponseError(
                f"Zoho CRM sent an unreadable answer for {path} to {self.name}."
            )
        return payload

    def _backoff(self, attempt: int) -> float:
        """Capped exponential back-off with jitter (the policy's base and cap)."""
        return backoff_delay(attempt, self.policy.backoff_base, self.policy.backoff_cap, self._rng)

    async def _pause(self, seconds: float) -> None:
        await pause(seconds, self._sleep, self.cancel)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        use_budget: bool = True,
    ) -> httpx.Response:
        attempts = Attempts(self.policy.max_attempts, self.policy.max_rate_limited)

        async def send() -> httpx.Response:
            async with self._slots:
                if use_budget:
                    await self.limiter.acquire(self._pause)
                    self.api_calls += 1
                return await self._client.request(
                    method, url, params=params, headers=headers, json=body, data=form
                )

        while True:
            self.cancel.raise_if_cancelled()
            attempt = attempts.start()
            response, failure = await send_once(send, self.name)
            if response is not None:
                log.debug("%s %s -> %d", method, response.request.url.path, response.status_code)
                if self.policy.is_rate_limited(response):
                    self.rate_limited += 1
                    if not attempts.limited():  # a 429 is not a failed attempt
                        raise RateLimitExhausted(
                            f"Zoho CRM kept refusing requests of {self.name} for exceeding its "
                            "API limits; try again later."
                        )
                    wait = self.policy.rate_wait(response, time.time())
                    log.info("Rate limited by Zoho CRM; pausing all requests for %.1f s.", wait)
                    self.limiter.block_until(self._monotonic() + wait)
                    await self._pause(0)
                    continue
                if form is None and response.status_code in (401, 403):
                    payload = _json(response)
                    code = str(payload.get("code") or "") if isinstance(payload, dict) else ""
                    if response.status_code == 403 or code == "OAUTH_SCOPE_MISMATCH":
                        raise HttpAuthorisationError(
                            f"Zoho CRM does not allow {self.name} to do this ({code or 403}); "
                            "re-authorise the connection with the ZohoCRM.modules.ALL, "
                            "ZohoCRM.settings.ALL, ZohoCRM.users.READ and ZohoCRM.org.READ "
                            "scopes.",
                            403,
                        )
                    raise HttpAuthorisationError(
                        f"Zoho CRM refused the access token of {self.name} (401); "
                        "re-authorise this connection.",
                        401,
                    )
                failure = server_failure(response)
                if not failure:
                    return response
            if attempts.exhausted:
                if response is None:
                    raise SourceUnreachable(
                        f"Zoho CRM could not be reached for {self.name} ({failure} after "
                        f"{attempt} attempts); check the network and try again."
                    )
                raise SourceResponseError(
                    f"Zoho CRM {failure} {attempt} times in a row for {self.name}; try again later."
                )
            delay = self._backoff(attempt)
            log.info(
                "%s %s %s; retry %d in %.1f s.",
                method,
                httpx.URL(url).path,
                failure,
                attempt,
                delay,
            )
            await self._pause(delay)
