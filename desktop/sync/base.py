"""The small interface every billing connector implements, and the errors they raise.

A connector knows one vendor's wire protocol and nothing about storage. The engine
(:mod:`desktop.sync.engine`) asks it for pages of normalised records per stream, from a
cursor the connector itself produced earlier, and commits each page with the cursor that
follows it. Adding a billing system means one new module plus one registry line in
:mod:`desktop.sync.registry`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import httpx

from desktop.errors import BillbridgeError
from desktop.sync.records import (
    AccountRecord,
    InvoiceRecord,
    Record,
    RecordProblem,
    Stream,
    SubscriptionRecord,
    UserRecord,
)
from desktop.timeutil import Clock

# ---------------------------------------------------------------------------- errors


class SyncFailure(BillbridgeError):
    """A connection-level failure: the run cannot go on (CLI exit code 2)."""


class AuthorisationError(SyncFailure):
    """The source refused the credentials (401/403): re-authorise this connection."""


class SourceUnreachable(SyncFailure):
    """The source could not be reached after retries (DNS, refused, timeouts, resets)."""


class SourceResponseError(SyncFailure):
    """The source answered with something unusable after retries (5xx, malformed JSON)."""


class RecordNotFound(BillbridgeError):
    """A single record asked for by id does not exist at the source."""


class ReadOnlyViolation(BillbridgeError):
    """Something tried to send a non-GET/HEAD request to a billing source."""


# ------------------------------------------------------------------------ http seam


class SourceHttp(Protocol):
    """The read-only HTTP client a connector is given (see :mod:`desktop.sync.http`).

    It refuses every method but GET and HEAD before a byte leaves the machine, retries
    5xx/timeouts/resets with capped exponential back-off and jitter, waits out 429s using
    ``Retry-After`` / ``X-RateLimit-*`` / the vendor's policy, spends the connection's
    rate budget, counts API calls, and raises :class:`AuthorisationError`,
    :class:`SourceUnreachable` or :class:`SourceResponseError` with a sentence.
    """

    api_calls: int

    async def get(
        self,
        url: str,
        *,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """GETs ``url`` (absolute, or relative to the client's base URL)."""
        ...

    async def get_json(
        self,
        url: str,
        *,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        """GETs and parses a JSON object; malformed JSON is retried, then raised.

        With ``allow_empty``, a 204/304 or empty body gives ``{}``.
        """
        ...

    async def head(
        self,
        url: str,
        *,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """HEADs ``url`` (for count headers)."""
        ...

    async def post_token(self, url: str, *, data: dict[str, str]) -> dict[str, Any]:
        """The one permitted POST: an OAuth token exchange at ``.../oauth/v2/token``.

        Refused (``ReadOnlyViolation``) for any URL whose path is not an OAuth token
        endpoint; the form values (client secret, refresh token) are never logged or put
        in a message. Returns the parsed JSON answer.
        """
        ...


# ----------------------------------------------------------------------- data types


@dataclass(frozen=True)
class ConnectionConfig:
    """A connection's settings as a connector needs them (never a secret).

    Attributes:
        name: the connection's name, for messages.
        kind: ``zoho-billing``, ``recurly`` or ``chargebee``.
        settings: the vendor's settings (site, org id, data centre, region, base URL
            override ``base_url``, Zoho ``auth_url``, …) as stored on the Connection.
    """

    name: str
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page:
    """One page of a stream.

    Attributes:
        records: normalised records, in the order the source sent them.
        problems: records on this page that could not be normalised.
        cursor: the connector's resume state *after* this page; the engine commits it in
            the same transaction as the page's rows and passes it back to resume.
        done: whether the stream is exhausted.
        total: the stream's total record count when the source tells it.
    """

    records: list[Record]
    problems: list[RecordProblem]
    cursor: dict[str, Any]
    done: bool
    total: int | None = None


@dataclass
class CheckResult:
    """What a credentials test found.

    Attributes:
        label: the organization or site name, as the source calls it.
        details: short facts to show ("test site", "EU region", …).
        counts: rough record counts per stream, where cheap to get.
    """

    label: str
    details: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class AccountBundle:
    """One account with everything hanging off it, for *Fetch this account*."""

    account: AccountRecord
    users: list[UserRecord] = field(default_factory=list)
    subscriptions: list[SubscriptionRecord] = field(default_factory=list)
    invoices: list[InvoiceRecord] = field(default_factory=list)


@dataclass
class FieldInfo:
    """A custom field present on the source, for choosing the account identifier."""

    object_name: str  # "account" or "subscription"
    field_name: str
    samples: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------ interface


class Connector(Protocol):
    """One billing system's reader.

    Attributes:
        kind: the connection kind this connector serves.
        streams: the streams it syncs, in the order the engine should run them.
    """

    kind: ClassVar[str]
    streams: ClassVar[tuple[Stream, ...]]

    async def check(self) -> CheckResult:
        """Tests the credentials and reports what it found (raises on failure)."""
        ...

    def pages(
        self, stream: Stream, cursor: dict[str, Any] | None, *, full: bool = False
    ) -> AsyncIterator[Page]:
        """Yields the stream's pages from ``cursor`` (``None`` = from the beginning).

        Incremental (``full=False``): only records changed since the cursor, with no
        silent gaps (records equal to the cursor and records without ``updated_at`` are
        handled as the connector's docstring explains). Full: every record, for
        reconciliation.
        """
        ...

    async def fetch_account(self, source_id: str) -> AccountBundle:
        """Fetches one account with its users, subscriptions and invoices."""
        ...

    async def custom_fields(self, sample_size: int = 20) -> list[FieldInfo]:
        """Custom fields present on accounts and subscriptions, with sample values."""
        ...


class ConnectorFactory(Protocol):
    """Builds a connector from a connection's config, its secret and a read-only client."""

    def __call__(
        self, config: ConnectionConfig, secret: str, http: SourceHttp, clock: Clock
    ) -> Connector: ...
