"""How Billbridge's HTTP clients retry: back-off, cancellable waits, server hints, failures.

The read-only billing client (:class:`desktop.sync.http.ReadOnlyClient`) and the Zoho CRM
client (:class:`desktop.crm.client.CrmClient`) retry by the same rules, kept here so they
cannot drift apart:

* :func:`backoff_delay`: capped exponential back-off with jitter (half fixed, half random);
* :func:`pause`: waits in short slices and raises :class:`~desktop.jobs.Cancelled` as soon
  as cancelling is asked;
* :func:`retry_after_seconds` and :func:`reset_seconds`: read ``Retry-After`` (seconds or
  an HTTP date) and ``X-RateLimit-Reset`` (epoch seconds, or seconds left);
* :func:`send_once` and :func:`server_failure`: which failures are retried — timeouts,
  connection errors and 5xx answers — named as they appear in messages ("timed out",
  "connection failed (ConnectError)", "answered 503");
* :class:`Attempts`: one request's tries, where a rate-limited answer is not a failed
  attempt but has a limit of its own.

What a client may send (billing sources are read-only; the CRM is written to), how it
paces itself and how it phrases giving up stay with each client. No Qt here.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import httpx

from desktop.errors import ConfigurationError
from desktop.jobs import CancelToken

#: The coroutine that waits (``asyncio.sleep``; tests pass one that only moves a fake clock).
Sleep = Callable[[float], Awaitable[None]]

#: The longest single sleep of :func:`pause`, so a cancel is noticed within this time.
PAUSE_SLICE: Final[float] = 0.25


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first).

    The ceiling doubles from ``base`` with each attempt up to ``cap``; the delay is half
    the ceiling plus a random part of the other half, so clients that failed together do
    not retry together.
    """
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


async def pause(seconds: float, sleep: Sleep, cancel: CancelToken) -> None:
    """Waits ``seconds`` in slices of at most :data:`PAUSE_SLICE`.

    Raises:
        Cancelled: before, between and after the slices once ``cancel`` is set.
    """
    remaining = seconds
    while remaining > 0:
        cancel.raise_if_cancelled()
        chunk = min(remaining, PAUSE_SLICE)
        await sleep(chunk)
        remaining -= chunk
    cancel.raise_if_cancelled()


def retry_after_seconds(response: httpx.Response, wall: float) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta seconds or an HTTP date), if readable.

    Args:
        response: the answer.
        wall: epoch seconds now (an HTTP date is counted from it).
    """
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        stamp = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, stamp.timestamp() - wall)


def reset_seconds(response: httpx.Response, wall: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (epoch seconds, or seconds left if small)."""
    value = response.headers.get("X-RateLimit-Reset")
    if not value:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number > 1_000_000_000:  # an epoch timestamp
        return max(0.0, number - wall)
    return max(0.0, number)


async def send_once(
    send: Callable[[], Awaitable[httpx.Response]], name: str
) -> tuple[httpx.Response | None, str]:
    """Makes one attempt; a timeout or connection failure is returned, not raised.

    Args:
        send: sends the request.
        name: the connection's name, for the invalid-address sentence.

    Returns:
        The answer and ``""``, or ``None`` and the failure ("timed out",
        "connection failed (ConnectError)" …), which is worth retrying.

    Raises:
        ConfigurationError: when the address is not a valid URL (retrying cannot help).
    """
    try:
        return await send(), ""
    except httpx.TimeoutException:
        return None, "timed out"
    except httpx.TransportError as error:
        return None, f"connection failed ({type(error).__name__})"
    except httpx.InvalidURL:
        raise ConfigurationError(f"The address configured for {name} is not a valid URL.") from None


def server_failure(response: httpx.Response) -> str:
    """``"answered 503"`` for a 5xx answer (worth retrying); ``""`` for any other."""
    return f"answered {response.status_code}" if response.status_code >= 500 else ""


@dataclass
class Attempts:
    """One request's tries.

    Attributes:
        max_attempts: failed attempts (5xx, timeouts, connection failures) allowed.
        max_rate_limited: rate-limited answers one request tolerates.
        number: the current attempt (1 for the first).
        rate_limited: rate-limited answers so far.
    """

    max_attempts: int
    max_rate_limited: int
    number: int = 0
    rate_limited: int = 0

    def start(self) -> int:
        """Counts the next attempt and returns its number."""
        self.number += 1
        return self.number

    def again(self) -> None:
        """Makes the next attempt repeat this one's number (it did not fail)."""
        self.number -= 1

    def limited(self) -> bool:
        """Counts a rate-limited answer, which is not a failed attempt.

        Returns:
            Whether the request may still wait and try again.
        """
        self.rate_limited += 1
        if self.rate_limited > self.max_rate_limited:
            return False
        self.again()
        return True

    @property
    def exhausted(self) -> bool:
        """Whether the failed attempts reached :attr:`max_attempts`."""
        return self.number >= self.max_attempts
