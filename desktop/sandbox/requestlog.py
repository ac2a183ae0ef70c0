"""The request log: every request any simulator answered, in arrival order.

Tests use it to count API calls exactly and to prove that billing sources only ever
receive ``GET``/``HEAD``.
"""

from __future__ import annotations

import threading
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


class RequestLog:
    """A thread-safe append-only list of :class:`LoggedRequest`."""

    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._seq = 0

    def next_seq(self) -> int:
        """Reserves the next sandbox-wide sequence number."""
        with self._lock:
            self._seq += 1
            return self._seq

    def add(self, entry: LoggedRequest) -> None:
        """Appends one entry."""
        with self._lock:
            self._entries.append(entry)

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
        """Counts requests, optionally of one simulator and/or one method."""
        return sum(1 for e in self.entries(vendor) if method is None or e.method == method)

    def methods(self, vendor: str | None = None) -> set[str]:
        """The set of HTTP methods seen (billing sources should only see GET/HEAD)."""
        return {e.method for e in self.entries(vendor)}

    def clear(self) -> None:
        """Forgets every entry (sequence numbers keep increasing)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.entries())
