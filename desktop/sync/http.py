"""The read-only HTTP client every billing connector is given.

:class:`ReadOnlyClient` implements :class:`desktop.sync.base.SourceHttp` over one
``httpx.AsyncClient``:

* **read-only by construction**: any method but GET and HEAD is refused with
  :class:`~desktop.sync.base.ReadOnlyViolation` before a byte is sent — checked in the
  client *and* again in an httpx request hook, so even code that reaches the underlying
  ``httpx.AsyncClient`` cannot write. The one exception is :meth:`ReadOnlyClient.post_token`,
  a form POST to a path ending in ``/oauth/v2/token`` (Zoho's access-token refresh);
* **rate budget**: a :class:`RateLimiter` shared by all of a connection's concurrent streams
  keeps requests within the vendor's budget (a sliding window, so no fixed window of the
  source's can see more than the budget) and honours ``X-RateLimit-Remaining/Reset``;
* **429s** wait out ``Retry-After``, Recurly's ``X-RateLimit-Reset`` (epoch seconds) or the
  vendor's default (Zoho answers code 44 with no header: 60 s) and pause every stream;
* **retries** with capped exponential back-off and jitter for 5xx, timeouts, resets and
  malformed JSON; then :class:`~desktop.sync.base.SourceResponseError` or
  :class:`~desktop.sync.base.SourceUnreachable`;
* **401/403** are not retried: :class:`HttpAuthorisationError` ("re-authorise this
  connection"), unless the connector installed ``on_unauthorised`` (Zoho's expired access
  token), which may refresh and hand back new headers for one retry;
* counts ``api_calls``, checks the cancel token while waiting, and takes an injectable
  sleep, monotonic clock, wall clock and random source so back-off tests run instantly.

Only the method, the path (never the query string, which may carry ids or tokens) and the
status are logged; no message ever contains a header, form value or secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, cast

import httpx

from desktop.backoff import (
    Attempts,
    backoff_delay,
    pause,
    reset_seconds,
    retry_after_seconds,
    send_once,
    server_failure,
)
from desktop.backoff import Sleep as Sleep  # re-exported for the connectors
from desktop.errors import ConfigurationError
from desktop.jobs import CancelToken
from desktop.sync import jsontext
from desktop.sync.base import (
    AuthorisationError,
    ReadOnlyViolation,
    SourceResponseError,
    SourceUnreachable,
)

log = logging.getLogger(__name__)

READ_METHODS: Final[frozenset[str]] = frozenset({"GET", "HEAD"})
TOKEN_PATH_SUFFIX: Final[str] = "/oauth/v2/token"

Params = dict[str, Any] | list[tuple[str, str]] | None
#: Called with a 401/403 answer; returns replacement headers for one retry, or ``None``.
UnauthorisedHook = Callable[[httpx.Response], Awaitable[dict[str, str] | None]]


# ------------------------------------------------------------------------ errors


class HttpAuthorisationError(AuthorisationError):
    """A 401/403 from the source; ``status`` tells which (the Zoho token manager reads it).

    Attributes:
        status: the HTTP status the source answered.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SourceStatusError(SourceResponseError):
    """A 4xx answer ``get_json`` cannot use (404, 400 …); ``status`` says which.

    Attributes:
        status: the HTTP status the source answered.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimitExhausted(SourceResponseError):
    """The source kept answering 429 longer than the client is willing to wait."""


# ------------------------------------------------------------------------ policy


@dataclass(frozen=True)
class RateBudget:
    """A vendor's request budget: ``requests`` per ``window`` seconds.

    Attributes:
        requests: requests allowed per window.
        window: the window length in seconds.
    """

    requests: int
    window: float = 60.0

    def __post_init__(self) -> None:
        if self.requests < 1 or self.window <= 0:
            raise ConfigurationError(
                "A rate budget needs at least one request per positive number of seconds."
            )

    @classmethod
    def parse(cls, text: str) -> RateBudget | None:
        """Parses ``"100/60"`` (100 per 60 s), ``"100"`` (per minute) or ``"none"``.

        Raises:
            ConfigurationError: naming the bad value.
        """
        value = text.strip().lower()
        if value in ("", "none", "unlimited", "off"):
            return None
        match = re.fullmatch(r"(\d+)\s*(?:/\s*(\d+(?:\.\d+)?)\s*(s|m|min)?)?", value)
        if not match or int(match.group(1)) < 1:
            raise ConfigurationError(
                f"The rate budget {text!r} is not of the form REQUESTS/SECONDS, for example 150/60."
            )
        window = float(match.group(2) or 60)
        if match.group(3) in ("m", "min"):
            window *= 60
        if window <= 0:
            raise ConfigurationError(f"The rate budget {text!r} needs a positive window.")
        return cls(int(match.group(1)), window)


def _json_code(response: httpx.Response) -> object:
    try:
        data = jsontext.loads(response.content)
    except ValueError:
        return None
    return data.get("code") if isinstance(data, dict) else None


@dataclass(frozen=True)
class VendorPolicy:
    """How one vendor's API wants to be treated.

    Attributes:
        vendor: a label for logs ("chargebee").
        budget: the rate budget (``None``: no client-side budget, only server hints).
        max_concurrency: requests in flight at once for one connection.
        default_rate_wait: seconds to wait on a 429 that says nothing about when to retry.
        rate_limit_codes: JSON ``code`` values that mean "rate limited" even without a 429
            (Zoho's 44).
        unauthorised_codes: JSON ``code`` values that mean "token not valid" (Zoho's 14, 57).
        bucket_by_auth: keep one budget per credential (Recurly: per site key) instead of
            one per client.
        max_attempts: tries for one request on 5xx / transport errors / malformed JSON.
        backoff_base: first back-off in seconds.
        backoff_cap: the longest back-off.
        max_rate_wait: the longest single wait for a rate limit.
        max_rate_limited: how many 429s in a row one request tolerates.
        timeout: seconds for connect/read/write.
    """

    vendor: str
    budget: RateBudget | None = None
    max_concurrency: int = 4
    default_rate_wait: float = 60.0
    rate_limit_codes: frozenset[int] = frozenset()
    unauthorised_codes: frozenset[int] = frozenset()
    bucket_by_auth: bool = False
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_rate_wait: float = 600.0
    max_rate_limited: int = 20
    timeout: float = 30.0

    def rate_wait(self, response: httpx.Response, wall: float) -> float:
        """Seconds to wait after a rate-limit answer."""
        for reading in (retry_after_seconds(response, wall), reset_seconds(response, wall)):
            if reading is not None:
                return min(max(reading, 0.5), self.max_rate_wait)
        return min(self.default_rate_wait, self.max_rate_wait)

    def is_rate_limited(self, response: httpx.Response) -> bool:
        """Whether the answer says "too many requests"."""
        if response.status_code == 429:
            return True
        if self.rate_limit_codes and response.status_code >= 400:
            return _json_code(response) in self.rate_limit_codes
        return False

    def is_unauthorised(self, response: httpx.Response) -> bool:
        """Whether the answer refuses the credentials."""
        if response.status_code in (401, 403):
            return True
        if self.unauthorised_codes and response.status_code >= 400:
            return _json_code(response) in self.unauthorised_codes
        return False


#: Defaults per connection kind; a connection's ``rate_limit`` / ``concurrency`` settings
#: override them (a Chargebee Enterprise site allows far more than a test site).
DEFAULT_POLICIES: Final[dict[str, VendorPolicy]] = {
    # Test sites and the smallest plan allow 150/min; no counter headers are sent.
    "chargebee": VendorPolicy("chargebee", RateBudget(150, 60.0), max_concurrency=4),
    # Counter headers on every answer drive the pacing; the budget is per site key.
    "recurly": VendorPolicy(
        "recurly", RateBudget(400, 60.0), max_concurrency=4, bucket_by_auth=True
    ),
    # 100 requests/minute/organization; a 429 with code 44 and no header: wait ~60 s.
    "zoho-billing": VendorPolicy(
        "zoho-billing",
        RateBudget(100, 60.0),
        max_concurrency=3,
        default_rate_wait=60.0,
        rate_limit_codes=frozenset({44}),
        unauthorised_codes=frozenset({14, 57}),
    ),
    "zoho-crm": VendorPolicy(
        "zoho-crm",
        RateBudget(100, 60.0),
        max_concurrency=3,
        rate_limit_codes=frozenset({44}),
        unauthorised_codes=frozenset({14, 57}),
    ),
}


def policy_for(kind: str, settings: dict[str, Any] | None = None) -> VendorPolicy:
    """The policy for a connection kind, with the connection's overrides applied.

    Settings read: ``rate_limit`` ("150/60", "none"), ``concurrency`` (int) and
    ``rate_limit_wait`` (seconds to wait on a 429 that names no time).

    Raises:
        ConfigurationError: when an override is malformed.
    """
    base = DEFAULT_POLICIES.get(kind) or VendorPolicy(kind, RateBudget(60, 60.0))
    settings = settings or {}
    changes: dict[str, Any] = {}
    if "rate_limit" in settings and settings["rate_limit"] is not None:
        changes["budget"] = RateBudget.parse(str(settings["rate_limit"]))
    if settings.get("concurrency") is not None:
        try:
            concurrency = int(settings["concurrency"])
        except (TypeError, ValueError):
            concurrency = 0
        if not 1 <= concurrency <= 64:
            raise ConfigurationError("The concurrency must be a whole number from 1 to 64.")
        changes["max_concurrency"] = concurrency
    if settings.get("rate_limit_wait") is not None:
        try:
            wait = float(settings["rate_limit_wait"])
        except (TypeError, ValueError):
            wait = -1.0
        if wait < 0:
            raise ConfigurationError("The rate-limit wait must be a number of seconds.")
        changes["default_rate_wait"] = wait
    if not changes:
        return base
    return VendorPolicy(**{**base.__dict__, **changes})


# ------------------------------------------------------------------------ limiter


@dataclass
class _Bucket:
    sent: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class RateLimiter:
    """A sliding-window budget shared by concurrent tasks, plus server-imposed pauses.

    A request may start when fewer than ``budget.requests`` requests started in the last
    ``budget.window + margin`` seconds. The small margin absorbs the delay between sending
    and the source counting, so a source counting in fixed windows never sees more than
    the budget. :meth:`block_until` pauses every task (after a 429, or when the source
    reports no requests remaining).

    Args:
        budget: the budget, or ``None`` for no client-side limit.
        now: a monotonic clock in seconds.
        margin: extra seconds added to the window (default 1% of it, at least 0.25 s).
    """

    def __init__(
        self,
        budget: RateBudget | None,
        *,
        now: Callable[[], float] = time.monotonic,
        margin: float | None = None,
    ) -> None:
        self.budget = budget
        self._now = now
        self._window = 0.0
        if budget is not None:
            self._window = budget.window + (
                margin if margin is not None else max(0.25, budget.window * 0.01)
            )
        self._buckets: dict[str, _Bucket] = {}
        self._lock = asyncio.Lock()

    def _bucket(self, key: str) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
        return bucket

    def delay(self, key: str = "") -> float:
        """Seconds until one more request may start in ``key`` (0 = now)."""
        bucket = self._bucket(key)
        now = self._now()
        wait = max(0.0, bucket.blocked_until - now)
        if self.budget is None:
            return wait
        sent = bucket.sent
        cutoff = now - self._window
        while sent and sent[0] <= cutoff:
            sent.popleft()
        if len(sent) >= self.budget.requests:
            # sent[0] > cutoff, so this is strictly positive (same arithmetic as the pop)
            wait = max(wait, sent[0] - cutoff, 1e-3)
        return wait

    async def acquire(self, pause: Callable[[float], Awaitable[None]], key: str = "") -> None:
        """Waits (through ``pause``) until the budget allows a request, then books it."""
        async with self._lock:
            while True:
                wait = self.delay(key)
                if wait <= 0:
                    if self.budget is not None:
                        self._bucket(key).sent.append(self._now())
                    return
                await pause(wait)

    def block_until(self, moment: float, key: str = "") -> None:
        """Lets no request start in ``key`` before the monotonic time ``moment``."""
        bucket = self._bucket(key)
        bucket.blocked_until = max(bucket.blocked_until, moment)

    def used(self, key: str = "") -> int:
        """Requests booked in the current window (for tests and progress)."""
        self.delay(key)
        return len(self._bucket(key).sent)


# ------------------------------------------------------------------------ client


def _path_only(url: httpx.URL) -> str:
    """What may be logged of a URL: host and path, never the query string."""
    return f"{url.host}{url.path}"


def _is_token_url(url: httpx.URL) -> bool:
    return url.path.rstrip("/").endswith(TOKEN_PATH_SUFFIX)


async def _refuse_writes(request: httpx.Request) -> None:
    """httpx request hook: the last line of defence against a write."""
    if request.method in READ_METHODS:
        return
    if request.method == "POST" and _is_token_url(request.url):
        return
    raise ReadOnlyViolation(
        f"Billbridge refused to send a {request.method} request to a billing source: "
        "billing connections are read-only."
    )


class ReadOnlyClient:
    """A connection's read-only HTTP client (see the module docstring).

    Args:
        policy: the vendor's policy (:func:`policy_for`).
        name: the connection's name, for messages.
        base_url: prefix for relative URLs (connectors may also pass absolute URLs).
        transport: an httpx transport (tests pass the sandbox's ``MockTransport``).
        client: an existing ``httpx.AsyncClient`` to use instead (not closed by
            :meth:`aclose` unless ``own_client``); the write-refusing hook is added to it.
        cancel: the run's cancel token, checked before every request and while waiting.
        sleep: the coroutine used to wait (tests pass a fake that only records).
        monotonic: the monotonic clock the limiter uses.
        wall: epoch seconds now (to read ``X-RateLimit-Reset`` and HTTP dates).
        rng: the random source for jitter.
        limiter: a shared limiter (default: a new one for the policy's budget).
        on_unauthorised: hook for 401/403 (see :data:`UnauthorisedHook`).

    Attributes:
        api_calls: requests sent to the source (each retry counts).
        rate_limited: 429 (or equivalent) answers received.
        retries: retries made after 5xx, transport errors or malformed JSON.
    """

    def __init__(
        self,
        policy: VendorPolicy,
        *,
        name: str = "this connection",
        base_url: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
        client: httpx.AsyncClient | None = None,
        own_client: bool | None = None,
        cancel: CancelToken | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
        on_unauthorised: UnauthorisedHook | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.policy = policy
        self.name = name
        if client is None:
            client = httpx.AsyncClient(
                base_url=base_url,
                transport=transport,
                timeout=policy.timeout,
                headers=headers,
                limits=httpx.Limits(
                    max_connections=max(policy.max_concurrency, 1) + 1,
                    max_keepalive_connections=max(policy.max_concurrency, 1) + 1,
                ),
                follow_redirects=False,
            )
            own_client = True if own_client is None else own_client
        self._client = client
        self._own_client = bool(own_client)
        hooks = client.event_hooks
        if _refuse_writes not in hooks.get("request", []):
            client.event_hooks = {
                **hooks,
                "request": [_refuse_writes, *hooks.get("request", [])],
            }
        self.cancel = cancel or CancelToken()
        self._sleep = sleep
        self._monotonic = monotonic
        self._wall = wall
        self._rng = rng or random.Random()
        self.limiter = limiter or RateLimiter(policy.budget, now=monotonic)
        self._slots = asyncio.Semaphore(max(policy.max_concurrency, 1))
        self.on_unauthorised = on_unauthorised
        self.api_calls = 0
        self.rate_limited = 0
        self.retries = 0

    # -------------------------------------------------------------- lifecycle

    async def aclose(self) -> None:
        """Closes the underlying client if this object created it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> ReadOnlyClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # -------------------------------------------------------------- public API

    async def get(
        self, url: str, *, params: Params = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """GETs ``url``; returns any answer that is not a 401/403/429/5xx."""
        return await self._request("GET", url, params=params, headers=headers)

    async def head(
        self, url: str, *, params: Params = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """HEADs ``url`` (for count headers)."""
        return await self._request("HEAD", url, params=params, headers=headers)

    async def get_json(
        self,
        url: str,
        *,
        params: Params = None,
        headers: dict[str, str] | None = None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        """GETs and parses a JSON object; malformed JSON is retried, then raised.

        Raises:
            SourceStatusError: for a 4xx answer other than 401/403/429 (``.status``).
            SourceResponseError: when the body stays unreadable after retries.
        """
        attempt = 0
        while True:
            attempt += 1
            response = await self._request("GET", url, params=params, headers=headers)
            if response.status_code >= 400:
                raise SourceStatusError(
                    f"{self._source()} answered {response.status_code} for "
                    f"{response.request.url.path}.",
                    response.status_code,
                )
            if allow_empty and (response.status_code in (204, 304) or not response.content):
                return {}
            try:
                data = jsontext.loads(response.content)
            except ValueError:
                data = None
            if isinstance(data, dict):
                return data
            if attempt >= self.policy.max_attempts:
                raise SourceResponseError(
                    f"{self._source()} kept sending unreadable answers for "
                    f"{response.request.url.path}; try again later."
                )
            log.info(
                "Unreadable JSON from %s (attempt %d); retrying.",
                _path_only(response.request.url),
                attempt,
            )
            self.retries += 1
            await self._pause(self._backoff(attempt))

    async def post_token(self, url: str, *, data: dict[str, str]) -> dict[str, Any]:
        """The one permitted POST: an OAuth token exchange at ``.../oauth/v2/token``.

        Returns the parsed JSON object, also for a 4xx answer carrying one (Zoho reports
        bad credentials as ``{"error": …}``), so the caller can phrase the problem.

        Raises:
            ReadOnlyViolation: for any other URL.
            AuthorisationError: for a 4xx answer that is not a JSON object.
            SourceResponseError / SourceUnreachable: after retries.
        """
        target = self._client.build_request("POST", url).url
        if not _is_token_url(target):
            raise ReadOnlyViolation(
                "Billbridge refused to send a POST request to a billing source: only an "
                "OAuth token request may be posted."
            )
        response = await self._request("POST", url, data=data, use_budget=False, hook=False)
        try:
            answer = jsontext.loads(response.content)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            return answer
        if 400 <= response.status_code < 500:
            raise HttpAuthorisationError(
                f"The accounts server refused the credentials of {self.name}; "
                "re-authorise this connection.",
                response.status_code,
            )
        raise SourceResponseError(
            f"The accounts server sent an unreadable token answer for {self.name}."
        )

    # -------------------------------------------------------------- internals

    def _source(self) -> str:
        return f"The {self.policy.vendor} source of {self.name}"

    def _backoff(self, attempt: int) -> float:
        """Capped exponential back-off with jitter (:func:`desktop.backoff.backoff_delay`)."""
        return backoff_delay(attempt, self.policy.backoff_base, self.policy.backoff_cap, self._rng)

    async def _pause(self, seconds: float) -> None:
        """Waits ``seconds`` in slices, raising ``Cancelled`` as soon as cancel is asked."""
        await pause(seconds, self._sleep, self.cancel)

    def _bucket_key(self, headers: dict[str, str] | None) -> str:
        if not self.policy.bucket_by_auth:
            return ""
        auth = (headers or {}).get("Authorization") or self._client.headers.get("Authorization", "")
        return hashlib.sha256(auth.encode()).hexdigest()[:16] if auth else ""

    def _observe_counters(self, response: httpx.Response, key: str) -> None:
        """Pauses the bucket when the source reports no requests remaining."""
        remaining = response.headers.get("X-RateLimit-Remaining")
        if remaining is None:
            return
        try:
            left = int(float(remaining))
        except ValueError:
            return
        if left > self.policy.max_concurrency:
            return
        wait = reset_seconds(response, self._wall())
        if wait is not None and wait > 0:
            self.limiter.block_until(self._monotonic() + min(wait, self.policy.max_rate_wait), key)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: Params = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        use_budget: bool = True,
        hook: bool = True,
    ) -> httpx.Response:
        method = method.upper()
        if method not in READ_METHODS and not (method == "POST" and data is not None):
            raise ReadOnlyViolation(
                f"Billbridge refused to send a {method} request to a billing source: "
                "billing connections are read-only."
            )
        key = self._bucket_key(headers)
        attempts = Attempts(self.policy.max_attempts, self.policy.max_rate_limited)
        refreshed = False

        async def send() -> httpx.Response:
            async with self._slots:
                # Booked once a slot is free, so the booked time is the sending time.
                if use_budget:
                    await self.limiter.acquire(self._pause, key)
                self.api_calls += 1
                return await self._client.request(
                    method, url, params=cast(Any, params), headers=headers, data=data
                )

        while True:
            self.cancel.raise_if_cancelled()
            attempt = attempts.start()
            # a ReadOnlyViolation from the request hook is not a failure: it propagates
            response, failure = await send_once(send, self.name)
            if response is not None:
                log.debug(
                    "%s %s -> %d", method, _path_only(response.request.url), response.status_code
                )
                self._observe_counters(response, key)
                if self.policy.is_rate_limited(response):
                    self.rate_limited += 1
                    if not attempts.limited():  # a 429 is not a failed attempt
                        raise RateLimitExhausted(
                            f"{self._source()} kept refusing requests for exceeding its rate "
                            "limit; try again later."
                        )
                    wait = self.policy.rate_wait(response, self._wall())
                    log.info(
                        "Rate limited by %s; pausing all requests for %.1f s.",
                        self.policy.vendor,
                        wait,
                    )
                    self.limiter.block_until(self._monotonic() + wait, key)
                    continue
                if method != "POST" and self.policy.is_unauthorised(response):
                    if hook and self.on_unauthorised is not None and not refreshed:
                        replacement = await self.on_unauthorised(response)
                        if replacement is not None:
                            refreshed = True
                            headers = {**(headers or {}), **replacement}
                            attempts.again()
                            continue
                    raise HttpAuthorisationError(
                        f"{self._source()} refused the credentials "
                        f"({response.status_code}); re-authorise this connection.",
                        response.status_code if response.status_code in (401, 403) else 401,
                    )
                failure = server_failure(response)
                if not failure:
                    return response
            if attempts.exhausted:
                if response is None:
                    raise SourceUnreachable(
                        f"{self._source()} could not be reached ({failure} after "
                        f"{attempt} attempts); check the network and try again."
                    )
                raise SourceResponseError(
                    f"{self._source()} {failure} {attempt} times in a row; try again later."
                )
            delay = self._backoff(attempt)
            log.info(
                "%s %s %s; retry %d in %.1f s.",
                method,
                _path_only(self._client.build_request(method, url).url),
                failure,
                attempt,
                delay,
            )
            self.retries += 1
            await self._pause(delay)
