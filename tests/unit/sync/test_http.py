"""The read-only client: what it refuses, how it waits, when it gives up.

These tests drive the client with a scripted ``httpx.MockTransport`` (answers by request
number, not a vendor) and a fake clock whose ``sleep`` only advances time, so every
back-off and rate-limit wait is checked exactly and instantly.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from desktop.jobs import Cancelled, CancelToken
from desktop.sync.base import (
    AuthorisationError,
    ReadOnlyViolation,
    SourceResponseError,
    SourceUnreachable,
)
from desktop.sync.http import (
    RateBudget,
    RateLimiter,
    ReadOnlyClient,
    SourceStatusError,
    VendorPolicy,
    policy_for,
)

Handler = Callable[[httpx.Request, int], httpx.Response]


class FakeTime:
    """A monotonic clock and wall clock that only move when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall_offset = 1_700_000_000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now + self.wall_offset

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Script:
    """Answers requests by their 1-based number and remembers what it was sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []

    def transport(self, clock: FakeTime | None = None) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            if clock is not None:
                self.times.append(clock.now)
            return self.handler(request, len(self.requests))

        return httpx.MockTransport(handle)


def ok(body: object = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"ok": True})


def make_client(
    script: Script,
    clock: FakeTime,
    policy: VendorPolicy | None = None,
    **kwargs: Any,
) -> ReadOnlyClient:
    return ReadOnlyClient(
        policy or VendorPolicy("chargebee", None),
        name="Acme",
        base_url="http://127.0.0.1:9/api/v2",
        transport=script.transport(clock),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        wall=clock.wall,
        rng=random.Random(7),
        **kwargs,
    )


def run(client: ReadOnlyClient, coro_factory: Callable[[ReadOnlyClient], Any]) -> Any:
    async def main() -> Any:
        try:
            return await coro_factory(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


# ------------------------------------------------------------------- read-only


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_writes_are_refused_before_anything_is_sent(method: str) -> None:
    script = Script(lambda _r, _n: ok())
    clock = FakeTime()
    client = make_client(script, clock)

    async def attempt(c: ReadOnlyClient) -> None:
        await c._request(method, "/customers")

    with pytest.raises(ReadOnlyViolation, match="read-only"):
        run(client, attempt)
    assert script.requests == []


def test_the_underlying_httpx_client_cannot_write_either() -> None:
    script = Script(lambda _r, _n: ok())
    clock = FakeTime()
    client = make_client(script, clock)

    async def attempt(c: ReadOnlyClient) -> None:
        await c._client.post("/customers", data={"x": "1"})

    with pytest.raises(ReadOnlyViolation):
        run(client, attempt)
    assert script.requests == []


def test_post_token_only_to_an_oauth_token_path() -> None:
    script = Script(lambda _r, _n: ok({"access_token": "tok", "expires_in": 3600}))
    clock = FakeTime()
    client = make_client(script, clock)

    async def attempt(c: ReadOnlyClient) -> tuple[dict[str, Any], int]:
        answer = await c.post_token(
            "http://127.0.0.1:9/oauth/v2/token", data={"client_secret": "s3cr3t-value"}
        )
        with pytest.raises(ReadOnlyViolation) as refused:
            await c.post_token("http://127.0.0.1:9/api/v2/customers", data={"a": "b"})
        assert "s3cr3t" not in str(refused.value)
        return answer, len(script.requests)

    answer, sent = run(client, attempt)
    assert answer["access_token"] == "tok"
    assert sent == 1
    assert [r.method for r in script.requests] == ["POST"]


def test_post_token_returns_a_json_error_answer_for_the_caller_to_phrase() -> None:
    script = Script(lambda _r, _n: httpx.Response(400, json={"error": "invalid_code"}))
    client = make_client(script, FakeTime())
    answer = run(
        client,
        lambda c: c.post_token("http://127.0.0.1:9/oauth/v2/token", data={"code": "x"}),
    )
    assert answer == {"error": "invalid_code"}


# ------------------------------------------------------------------- retries


def test_5xx_is_retried_with_growing_capped_jittered_backoff() -> None:
    script = Script(lambda _r, n: httpx.Response(503) if n <= 4 else ok({"page": 1}))
    clock = FakeTime()
    policy = VendorPolicy("chargebee", None, backoff_base=1.0, backoff_cap=4.0, max_attempts=6)
    client = make_client(script, clock, policy)
    assert run(client, lambda c: c.get_json("/customers")) == {"page": 1}
    assert client.api_calls == 5
    assert client.retries == 4
    # back-offs: ceilings 1, 2, 4, 4 (capped); each between half and all of its ceiling
    assert len(script.times) == 5
    gaps = [b - a for a, b in zip(script.times, script.times[1:], strict=False)]
    for gap, ceiling in zip(gaps, [1, 2, 4, 4], strict=True):
        assert ceiling / 2 <= gap <= ceiling + 1e-9


def test_5xx_gives_up_with_a_sentence_after_max_attempts() -> None:
    script = Script(lambda _r, _n: httpx.Response(502))
    client = make_client(script, FakeTime(), VendorPolicy("chargebee", None, max_attempts=3))
    with pytest.raises(SourceResponseError, match=r"answered 502 3 times in a row"):
        run(client, lambda c: c.get("/customers"))
    assert len(script.requests) == 3


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset"), httpx.ConnectError("x")],
)
def test_transport_failures_are_retried_then_reported_as_unreachable(error: Exception) -> None:
    def fail(_request: httpx.Request, _n: int) -> httpx.Response:
        raise error

    script = Script(fail)
    client = make_client(script, FakeTime(), VendorPolicy("chargebee", None, max_attempts=4))
    with pytest.raises(SourceUnreachable, match="could not be reached") as caught:
        run(client, lambda c: c.get("/customers", params={"api_key": "k-secret"}))
    assert "k-secret" not in str(caught.value)
    assert len(script.requests) == 4


def test_a_reset_then_success_is_invisible_to_the_caller() -> None:
    def flaky(_request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            raise httpx.RemoteProtocolError("Server disconnected")
        return ok({"list": []})

    script = Script(flaky)
    client = make_client(script, FakeTime())
    assert run(client, lambda c: c.get_json("/customers")) == {"list": []}
    assert client.api_calls == 2


def test_malformed_json_is_retried_then_raised() -> None:
    script = Script(lambda _r, n: httpx.Response(200, content=b"{'list': [") if n < 3 else ok())
    client = make_client(script, FakeTime())
    assert run(client, lambda c: c.get_json("/customers")) == {"ok": True}
    assert client.api_calls == 3

    always_bad = Script(lambda _r, _n: httpx.Response(200, content=b"<html>"))
    client = make_client(always_bad, FakeTime(), VendorPolicy("x", None, max_attempts=2))
    with pytest.raises(SourceResponseError, match="unreadable answers"):
        run(client, lambda c: c.get_json("/customers"))


def test_get_json_raises_a_status_error_for_a_404() -> None:
    script = Script(lambda _r, _n: httpx.Response(404, json={"message": "nope"}))
    client = make_client(script, FakeTime())
    with pytest.raises(SourceStatusError) as caught:
        run(client, lambda c: c.get_json("/customers/x"))
    assert caught.value.status == 404
    assert client.api_calls == 1


# ---------------------------------------------------------------- authorisation


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_not_retried_and_ask_to_reauthorise(status: int) -> None:
    script = Script(lambda _r, _n: httpx.Response(status, json={"message": "bad key"}))
    client = make_client(script, FakeTime())
    with pytest.raises(AuthorisationError, match="re-authorise this connection") as caught:
        run(client, lambda c: c.get("/customers", headers={"Authorization": "Basic c2VjcmV0"}))
    assert len(script.requests) == 1
    assert "c2VjcmV0" not in str(caught.value)
    assert getattr(caught.value, "status", None) == status


def test_on_unauthorised_hook_may_refresh_once_and_retry_with_new_headers() -> None:
    def answer(request: httpx.Request, _n: int) -> httpx.Response:
        if request.headers.get("Authorization") == "Zoho-oauthtoken fresh":
            return ok({"code": 0})
        return httpx.Response(401, json={"code": 57, "message": "expired"})

    script = Script(answer)
    refreshed: list[int] = []

    async def refresh(response: httpx.Response) -> dict[str, str] | None:
        refreshed.append(response.status_code)
        return {"Authorization": "Zoho-oauthtoken fresh"}

    client = make_client(script, FakeTime(), policy_for("zoho-billing"), on_unauthorised=refresh)
    result = run(
        client,
        lambda c: c.get_json(
            "/billing/v1/customers", headers={"Authorization": "Zoho-oauthtoken old"}
        ),
    )
    assert result == {"code": 0}
    assert refreshed == [401]

    # a refreshed token refused again is not retried a second time
    stubborn = Script(lambda _r, _n: httpx.Response(401, json={"code": 57}))
    client = make_client(stubborn, FakeTime(), policy_for("zoho-billing"), on_unauthorised=refresh)
    with pytest.raises(AuthorisationError):
        run(client, lambda c: c.get("/billing/v1/customers"))
    assert len(stubborn.requests) == 2


# ---------------------------------------------------------------- rate limits


def test_429_waits_for_retry_after() -> None:
    script = Script(
        lambda _r, n: httpx.Response(429, headers={"Retry-After": "7"}) if n == 1 else ok()
    )
    clock = FakeTime()
    client = make_client(script, clock)
    run(client, lambda c: c.get("/customers"))
    assert script.times[1] - script.times[0] == pytest.approx(7.0)
    assert client.rate_limited == 1


def test_429_waits_until_x_ratelimit_reset_epoch() -> None:
    clock = FakeTime()

    def answer(_request: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            reset = int(clock.wall()) + 12
            return httpx.Response(
                429, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
            )
        return ok()

    script = Script(answer)
    client = make_client(script, clock, policy_for("recurly"))
    run(client, lambda c: c.get("/accounts"))
    assert 11.0 <= script.times[1] - script.times[0] <= 12.5


def test_zoho_code_44_without_headers_waits_the_configured_default() -> None:
    script = Script(
        lambda _r, n: (
            httpx.Response(429, json={"code": 44, "message": "blocked"})
            if n == 1
            else ok({"code": 0})
        )
    )
    clock = FakeTime()
    client = make_client(script, clock, policy_for("zoho-billing", {"rate_limit_wait": 5}))
    run(client, lambda c: c.get_json("/billing/v1/customers"))
    assert script.times[1] - script.times[0] == pytest.approx(5.0)
    default = policy_for("zoho-billing")
    assert default.default_rate_wait == 60.0


def test_recurly_counters_pause_before_the_budget_runs_out() -> None:
    clock = FakeTime()

    def answer(_request: httpx.Request, n: int) -> httpx.Response:
        remaining = 10 - n
        reset = int(clock.wall()) + 30
        return httpx.Response(
            200,
            json={"n": n},
            headers={"X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)},
        )

    script = Script(answer)
    client = make_client(script, clock, policy_for("recurly", {"rate_limit": "none"}))

    async def several(c: ReadOnlyClient) -> None:
        for _ in range(8):
            await c.get("/accounts")

    run(client, several)
    assert client.rate_limited == 0
    # once remaining dropped to the concurrency (4) the client waited for the reset
    assert max(b - a for a, b in zip(script.times, script.times[1:], strict=False)) >= 29


def test_concurrent_requests_stay_within_a_sliding_budget_and_use_it() -> None:
    clock = FakeTime()
    script = Script(lambda _r, _n: ok())
    policy = VendorPolicy("chargebee", RateBudget(10, 60.0), max_concurrency=4)
    client = make_client(script, clock, policy)

    async def many(c: ReadOnlyClient) -> None:
        await asyncio.gather(*(c.get(f"/customers/{i}") for i in range(35)))

    run(client, many)
    times = script.times
    assert len(times) == 35
    for index in range(len(times) - 10):
        assert times[index + 10] - times[index] >= 60.0  # never 11 within one window
    # ... and the budget is used: 35 requests take just over three windows
    assert times[-1] - times[0] <= 3 * 61.0


def test_rate_budget_parsing() -> None:
    assert RateBudget.parse("100/60") == RateBudget(100, 60.0)
    assert RateBudget.parse("150") == RateBudget(150, 60.0)
    assert RateBudget.parse("1000/1m") == RateBudget(1000, 60.0)
    assert RateBudget.parse("none") is None
    with pytest.raises(Exception, match="REQUESTS/SECONDS"):
        RateBudget.parse("fast")


def test_limiter_block_until_pauses_everyone() -> None:
    clock = FakeTime()
    limiter = RateLimiter(None, now=clock.monotonic)
    limiter.block_until(clock.now + 5)
    assert limiter.delay() == pytest.approx(5.0)
    asyncio.run(limiter.acquire(clock.sleep))
    assert clock.now >= 1005.0


# ---------------------------------------------------------------- cancel


def test_cancel_interrupts_a_long_wait() -> None:
    clock = FakeTime()
    cancel = CancelToken()

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if clock.now > 1010:
            cancel.cancel()

    script = Script(lambda _r, _n: httpx.Response(429, headers={"Retry-After": "600"}))
    client = ReadOnlyClient(
        VendorPolicy("chargebee", None),
        transport=script.transport(clock),
        base_url="http://127.0.0.1:9",
        sleep=sleep,
        monotonic=clock.monotonic,
        wall=clock.wall,
        cancel=cancel,
    )
    with pytest.raises(Cancelled):
        run(client, lambda c: c.get("/customers"))
    assert clock.now < 1020  # stopped within a slice, not after ten minutes
    assert len(script.requests) == 1


def test_messages_never_carry_query_strings_or_headers() -> None:
    script = Script(lambda _r, _n: httpx.Response(404, content=json.dumps({}).encode()))
    client = make_client(script, FakeTime())
    with pytest.raises(SourceStatusError) as caught:
        run(
            client,
            lambda c: c.get_json(
                "/customers/abc", params={"token": "tok-secret"}, headers={"X-Key": "hdr-secret"}
            ),
        )
    assert "tok-secret" not in str(caught.value)
    assert "hdr-secret" not in str(caught.value)
