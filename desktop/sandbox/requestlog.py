"""The request log: every request any simulator answered, in arrival order.

Tests use it to count API calls exactly and to prove that billing sources only ever
receive ``GET``/``HEAD``.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class LoggedRequest:
    """One answered request.

    Attributes:
        seq: 1-based arrival number across the whole sandbox.
        number: 1-based arrival number on this simulator (what fault rules count).
        vendor: simulator name (``chargebee``, ``recurly``, ``zoho-billing``,
            ``zoho-accounts``, ``sandbox-admin``, ...).
        method: HTTP method.
        path: request path without the query string.
        query: query parameters in order.
        credential: which published credential was used (``"chargebee:acme"``), or
            ``"none"``/``"unknown"``; never the secret itself.
        site: the site or organization addressed, if known.
        status: HTTP status sent (0 when the connection was reset).
        fault: the injected fault, if any (``"503"``, ``"reset"``, ``"latency"``...).
        at: the sandbox clock when it arrived, epoch seconds.
    """

    seq: int
    number: int
    vendor: str
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    credential: str
    site: str | None
    status: int
    fault: str | None
    at: float

    def param(self, name: str) -> str | None:
        """Returns the first value of a query parameter."""
        for key, value in self.query:
            if key == name:
                return value
        return None


#: How many of the latest requests a :class:`RequestLog` keeps by default.
DEFAULT_KEEP = 500_000


class RequestLog:
    """A thread-safe log of :class:`LoggedRequest`, bounded to the latest ``keep`` entries.

    :meth:`count` and :meth:`methods` stay exact past the bound (kept as running totals),
    so a long-running sandbox neither grows without limit nor miscounts; :meth:`entries`
    lists the retained ones.
    """

    def __init__(self, keep: int = DEFAULT_KEEP) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=keep)
        self._totals: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._seq = 0

    def next_seq(self) -> int:
        """Reserves the next sandbox-wide sequence number."""
        with self._lock:
            self._seq += 1
            return self._seq

    def add(self, entry: LoggedRequest) -> None:
        """Appends one entry (the oldest goes once ``keep`` are held)."""
        with self._lock:
            self._entries.append(entry)
            self._totals[(entry.vendor, entry.method)] += 1

    def entries(self, vendor: str | None = None, site: str | None = None) -> list[LoggedRequest]:
        """Returns a snapshot, optionally only one simulator's and/or one site's requests."""
        with self._lock:
            snapshot = sorted(self._entries, key=lambda e: e.seq)
        return [
            e
            for e in snapshot
            if (vendor is None or e.vendor == vendor) and (site is None or e.site == site)
        ]

    def count(self, vendor: str | None = None, method: str | None = None) -> int:
        """Counts requests since the last :meth:`clear`, optionally of one simulator and/or
        one method."""
        with self._lock:
            return sum(
                n
                for (v, m), n in self._totals.items()
                if (vendor is None or v == vendor) and (method is None or m == method)
            )

    def methods(self, vendor: str | None = None) -> set[str]:
        """The set of HTTP methods seen (billing sources should only see GET/HEAD)."""
        with self._lock:
            return {m for (v, m) in self._totals if vendor is None or v == vendor}

    def clear(self) -> None:
        """Forgets every entry and count (sequence numbers keep increasing)."""
        with self._lock:
            self._entries.clear()
            self._totals.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.entries())
