"""The retry rules both HTTP clients follow: back-off, waits, server hints, failures."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from desktop.backoff import (
    Attempts,
    backoff_delay,
    pause,
    reset_seconds,
    retry_after_seconds,
    send_once,
    server_failure,
)
from desktop.errors import ConfigurationError
from desktop.jobs import Cancelled, CancelToken

WALL = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_backoff_doubles_up_to_the_cap_and_keeps_half_of_each_ceiling() -> None:
    rng = random.Random(3)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (7, 30.0), (12, 30.0)]:
        for _ in range(20):
            delay = backoff_delay(attempt, 0.5, 30.0, rng)
            assert ceiling / 2 <= delay <= ceiling


def test_retry_after_reads_seconds_and_http_dates() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    wall = WALL.timestamp()
    assert retry_after_seconds(answer("7"), wall) == 7.0
    assert retry_after_seconds(answer(" 2.5 "), wall) == 2.5
    later = format_datetime(WALL + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(answer(later), wall) == 90.0
    earlier = format_datetime(WALL - timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(answer(earlier), wall) == 0.0
    assert retry_after_seconds(answer("soon"), wall) is None
    assert retry_after_seconds(httpx.Response(429), wall) is None


def test_rate_limit_reset_is_epoch_seconds_or_seconds_left() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"X-RateLimit-Reset": value})

    wall = WALL.timestamp()
    assert reset_seconds(answer(str(int(wall) + 40)), wall) == 40.0
    assert reset_seconds(answer("12"), wall) == 12.0
    assert reset_seconds(answer("x"), wall) is None


def test_a_rate_limited_answer_is_not_a_failed_attempt_but_has_a_limit() -> None:
    attempts = Attempts(max_attempts=2, max_rate_limited=2)
    assert attempts.start() == 1
    assert attempts.limited()
    assert attempts.start() == 1  # the same attempt again
    assert attempts.limited()
    attempts.start()
    assert not attempts.limited()  # the third 429 in one request is one too many
    attempts = Attempts(max_attempts=2, max_rate_limited=2)
    attempts.start()
    assert not attempts.exhausted
    attempts.start()
    assert attempts.exhausted


def test_only_timeouts_connection_failures_and_5xx_are_worth_retrying() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:9/x")

    def failing(error: Exception) -> tuple[httpx.Response | None, str]:
        async def send() -> httpx.Response:
            raise error

        return asyncio.run(send_once(send, "Acme"))

    assert failing(httpx.ReadTimeout("slow", request=request)) == (None, "timed out")
    assert failing(httpx.ConnectError("no", request=request)) == (
        None,
        "connection failed (ConnectError)",
    )
    with pytest.raises(ConfigurationError, match="configured for Acme is not a valid URL"):
        failing(httpx.InvalidURL("bad"))
    assert server_failure(httpx.Response(503)) == "answered 503"
    assert server_failure(httpx.Response(404)) == ""


def test_a_pause_is_cut_short_by_cancel() -> None:
    cancel = CancelToken()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            cancel.cancel()

    with pytest.raises(Cancelled):
        asyncio.run(pause(60.0, sleep, cancel))
    assert slept == [0.25, 0.25, 0.25]
