"""Per-vendor request budgets, counted per site in fixed windows of the sandbox clock.

A budget ``RateLimit(100, 60)`` allows 100 requests per site per 60-second window; the
window boundaries are multiples of the window length in epoch seconds, so
``X-RateLimit-Reset`` is simply the end of the current window. Real Recurly uses a sliding
five-minute window; a fixed window is the documented simplification.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

from desktop.sandbox.clock import Clock

#: Limit reported by vendors that always send counters (Recurly) when no budget is set.
UNLIMITED_REPORTED = 1_000_000


@dataclass(frozen=True)
class RateLimit:
    """A budget: ``limit`` requests per ``window`` seconds per site."""

    limit: int
    window: float = 60.0

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ValueError("A rate limit needs at least one request per positive window.")


@dataclass(frozen=True)
class RateDecision:
    """The limiter's answer for one request.

    Attributes:
        allowed: whether the request may proceed.
        limit: the budget size (reported in headers).
        remaining: requests left in this window after this one.
        reset: epoch seconds when the window ends.
        retry_after: whole seconds until the window ends (at least 1).
    """

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int


_SPEC = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d+(?:\.\d+)?)\s*(s|m|min)?\s*)?$")


def parse_rate_limit(text: str) -> RateLimit:
    """Parses ``"100/60"`` (100 per 60 s), ``"100/1m"`` or ``"100"`` (per minute).

    Raises:
        ValueError: with a sentence, when the text is not such a budget.
    """
    match = _SPEC.match(text)
    if not match:
        raise ValueError(
            f"The rate limit {text!r} is not of the form REQUESTS/SECONDS, for example 100/60."
        )
    limit = int(match.group(1))
    window = float(match.group(2) or 60)
    if match.group(3) in ("m", "min"):
        window *= 60
    return RateLimit(limit, window)


class RateLimiter:
    """Counts requests per bucket (vendor + site) against an optional budget."""

    def __init__(self, clock: Clock, budget: RateLimit | None = None) -> None:
        self.clock = clock
        self.budget = budget
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def set_budget(self, budget: RateLimit | None) -> None:
        """Changes the budget and forgets all counters."""
        with self._lock:
            self.budget = budget
            self._counts.clear()

    def check(self, bucket: str) -> RateDecision:
        """Counts one request in ``bucket`` and says whether it is within budget."""
        now = self.clock.now().timestamp()
        budget = self.budget or RateLimit(UNLIMITED_REPORTED, 300.0)
        window_index = int(now // budget.window)
        reset = math.ceil((window_index + 1) * budget.window)
        with self._lock:
            key = (bucket, window_index)
            used = self._counts.get(key, 0) + 1
            self._counts[key] = used
            if len(self._counts) > 4096:
                for stale in [k for k in self._counts if k[1] < window_index]:
                    del self._counts[stale]
        allowed = self.budget is None or used <= budget.limit
        return RateDecision(
            allowed=allowed,
            limit=budget.limit,
            remaining=max(budget.limit - used, 0),
            reset=reset,
            retry_after=max(1, math.ceil(reset - now)),
        )

    def reset(self) -> None:
        """Forgets all counters."""
        with self._lock:
            self._counts.clear()
