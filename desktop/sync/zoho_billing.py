"""Zoho Billing (formerly Zoho Subscriptions) connector: read-only, OAuth, paged by number.

Settings (on the Connection): ``data_centre`` (``us``, ``eu``, ``in``, ``au``, ``jp``,
``ca``; default ``us``), ``org_id`` (sent as ``X-com-zoho-subscriptions-organizationid``
on every call), optional ``base_url`` (the API, for example the sandbox's loopback URL; a
bare origin gets ``/billing/v1`` appended) and ``auth_url`` (the accounts/OAuth server).
Without ``base_url`` the API domain the token answer names (``api_domain``) is used, else
the data centre's. Optional ``contact_persons``: ``changed`` (default), ``all`` or
``primary`` (see *Users* below). The secret is ``{"client_id", "client_secret",
"refresh_token"}`` (:func:`~desktop.sync.zoho_oauth.parse_zoho_secret`).

Incremental sync — the honest version
-------------------------------------
Zoho documents no "modified since" filter. Lists can be sorted, so every stream except
plans is read with ``sort_column=updated_time&sort_order=D`` (newest change first),
``per_page=200``, page by page until ``page_context.has_more_page`` is false, and an
incremental pass stops early at the first page that reaches records older than the
stream's cursor minus :data:`OVERLAP`:

* **cursor** — ``since`` is the newest ``updated_time`` seen by the last *completed*
  pass. A pass in progress keeps ``{"pass": {"page", "high", "full"}}`` in the cursor
  after every page, so a run killed at any page resumes at the next page number; the new
  ``since`` is committed only with the pass's last page.
* **records equal to the cursor / written out of order** are re-read: an incremental
  pass reads every record with ``updated_time >= since - OVERLAP`` and drops the older
  ones its last page also brings. Those inside the overlap that are byte-for-byte what
  the last completed pass read (fingerprints kept in the cursor's ``seen``) are dropped
  too, so a run with no changes delivers nothing.
* **records changed during the pass** move to page 1, which pushes already-read records
  onto the next page (read twice, harmless) and never skips one; they are newer than the
  pass's ``high`` and are picked up by the next run.
* **records with no ``updated_time``** are delivered when seen, unless byte-for-byte
  what the last completed pass read (their fingerprints are kept too). If the
  source sorts them after the stop point an incremental pass cannot see them: ``--full``
  does.
* **the sort is verified**: if a page is not in descending ``updated_time`` order (a
  source that ignores ``sort_column``), the pass reads to the end instead of stopping
  early.
* **deletions** are invisible to an incremental pass (Zoho lists only what exists);
  ``--full`` reads everything and the engine reconciles. A record deleted *during* a pass
  shifts the following records up by one and can hide one record across a page boundary
  until the next ``--full`` — the price of number-based paging with no modified filter.
* **plans** are few and carry no reliable change stamp on every org: they are read in
  full on every run (one or two calls), and only those whose fingerprint differs from
  the last pass are delivered.

Users
-----
Zoho lists contact persons only per customer (``/customers/{id}/contactpersons``: one
call per customer). The users stream walks the customers like the accounts stream and
emits each customer's own contact (its name, e-mail and phone; id
``primary_contactperson_id``, else ``"{customer_id}:primary"``) from the customer payload
at no extra cost. With ``contact_persons=changed`` (default) it also lists the contact
persons of customers whose ``updated_time`` is newer than the users cursor (not those only
inside the overlap window, nor those with no stamp) — never on the first or a ``--full``
pass, which would cost one call per customer; ``all`` also does it on those passes and
``primary`` never. When a customer's contact persons are listed, the stand-in primary user
(if one was needed) is emitted as deleted, since the real contact person replaces it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlsplit

from desktop.errors import ConfigurationError
from desktop.sync import zoho_normalise as zn
from desktop.sync.base import (
    AccountBundle,
    AuthorisationError,
    CheckResult,
    ConnectionConfig,
    FieldInfo,
    Page,
    RecordNotFound,
    SourceHttp,
    SourceResponseError,
)
from desktop.sync.records import (
    InvoiceRecord,
    Record,
    RecordProblem,
    Stream,
    SubscriptionRecord,
    UserRecord,
)
from desktop.sync.watermark import MAX_SEEN, fingerprint
from desktop.sync.zoho_oauth import (
    TokenRejected,
    ZohoCredentials,
    ZohoTokenManager,
    accounts_url,
    api_domain,
    check_url,
    exchange_grant_code,
    normalise_data_centre,
    parse_zoho_secret,
)
from desktop.timeutil import Clock, parse_timestamp

__all__ = [
    "ZohoBillingConnector",
    "ZohoCredentials",
    "exchange_grant_code",
    "parse_zoho_secret",
]

log = logging.getLogger(__name__)

ORG_HEADER: Final[str] = "X-com-zoho-subscriptions-organizationid"
API_PATH: Final[str] = "/billing/v1"
PER_PAGE: Final[int] = 200
#: How far before the cursor an incremental pass keeps reading.
OVERLAP: Final[timedelta] = timedelta(minutes=10)
#: Zoho's code for "not authorized" (a bad or expired token, or a missing scope).
CODE_NOT_AUTHORISED: Final[int] = 57
#: Zoho's code for "<entity> does not exist".
CODE_NOT_FOUND: Final[int] = 1002
#: How many contact-person lists run at once within one page.
CONTACT_CONCURRENCY: Final[int] = 4


@dataclass(frozen=True)
class _Listing:
    """How one stream is listed: path, the payload key and the record builder."""

    path: str
    key: str
    sorted_by_update: bool


_LISTINGS: Final[dict[Stream, _Listing]] = {
    Stream.PLANS: _Listing("/plans", "plans", sorted_by_update=False),
    Stream.ACCOUNTS: _Listing("/customers", "customers", sorted_by_update=True),
    Stream.USERS: _Listing("/customers", "customers", sorted_by_update=True),
    Stream.SUBSCRIPTIONS: _Listing("/subscriptions", "subscriptions", sorted_by_update=True),
    Stream.INVOICES: _Listing("/invoices", "invoices", sorted_by_update=True),
}


_ID_KEYS: Final[dict[Stream, str]] = {
    Stream.PLANS: "plan_code",
    Stream.ACCOUNTS: "customer_id",
    Stream.USERS: "customer_id",
    Stream.SUBSCRIPTIONS: "subscription_id",
    Stream.INVOICES: "invoice_id",
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class ZohoBillingConnector:
    """Reads one Zoho Billing organization.

    Args:
        config: the connection's settings (``org_id``, ``data_centre``, overrides).
        secret: the JSON OAuth secret.
        http: the connection's read-only client.
        clock: the injected clock (token expiry, invoice overdue dates).

    Raises:
        ConfigurationError: for a missing org id, an unknown data centre, a bad override
            URL or a malformed secret.
    """

    kind: ClassVar[str] = "zoho-billing"
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream.PLANS,
        Stream.ACCOUNTS,
        Stream.USERS,
        Stream.SUBSCRIPTIONS,
        Stream.INVOICES,
    )

    def __init__(
        self, config: ConnectionConfig, secret: str, http: SourceHttp, clock: Clock
    ) -> None:
        settings = config.settings
        self._name = config.name
        org_id = str(settings.get("org_id") or settings.get("organization_id") or "").strip()
        if not org_id:
            raise ConfigurationError(
                f"The Zoho Billing connection {config.name!r} needs an organization id."
            )
        self._org_id = org_id
        self._data_centre = normalise_data_centre(settings.get("data_centre") or "us")
        base = settings.get("base_url")
        self._base_override = _api_base(check_url(str(base), "base URL")) if base else None
        auth = settings.get("auth_url")
        auth_url = check_url(str(auth), "auth URL") if auth else accounts_url(self._data_centre)
        mode = str(settings.get("contact_persons") or "changed").lower()
        if mode not in {"changed", "all", "primary"}:
            raise ConfigurationError(
                f"contact_persons must be changed, all or primary, not {mode!r}."
            )
        self._contact_mode = mode
        self._http = http
        self._clock = clock
        self.credentials = parse_zoho_secret(secret)
        self.tokens = ZohoTokenManager(
            http, self.credentials, auth_url, clock, name=f"the connection {config.name!r}"
        )
        self._organization: dict[str, Any] | None = None

    @property
    def reconciled_streams(self) -> frozenset[Stream]:
        """Streams whose full pass lists every record (the engine reconciles only these).

        Users only when contact persons are listed on full passes too
        (``contact_persons=all``) or never (``primary``): by default (``changed``) a full
        pass brings only each customer's primary contact, and the contact persons listed
        by earlier incremental passes must not be taken for deleted.
        """
        complete = set(self.streams)
        if self._contact_mode == "changed":
            complete.discard(Stream.USERS)
        return frozenset(complete)

    # ------------------------------------------------------------------- requests

    @property
    def base_url(self) -> str:
        """The API base in use (override, else the token's api_domain, else the DC's)."""
        if self._base_override:
            return self._base_override
        return (self.tokens.api_domain or api_domain(self._data_centre)) + API_PATH

    async def _get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        with_org: bool = True,
        key: str | None = None,
        single: bool = False,
    ) -> dict[str, Any]:
        """GETs an API path with a fresh token and the org header; checks Zoho's ``code``.

        Args:
            path: the path under the API base.
            params: query parameters.
            with_org: whether to send the organization header.
            key: the payload key the answer must carry.
            single: a one-record GET, where a 400 means "no such record".

        Raises:
            RecordNotFound: when Zoho says the entity does not exist (code 1002, 404).
            ConfigurationError: when a refusal turns out to be a wrong organization id.
            SourceResponseError: for another non-zero ``code`` or a missing payload key.
        """

        async def attempt(auth: dict[str, str]) -> dict[str, Any]:
            headers = {**auth, ORG_HEADER: self._org_id} if with_org else dict(auth)
            body = await self._http.get_json(self.base_url + path, params=params, headers=headers)
            code = zn.integer(body.get("code"))
            if code == CODE_NOT_AUTHORISED or body.get("code") == "INVALID_TOKEN":
                raise TokenRejected()
            if code == CODE_NOT_FOUND:
                raise RecordNotFound(f"Zoho Billing has no record at {path} in {self._name!r}.")
            if code not in (0, None):
                message = zn.text(body, "message") or "no message"
                raise SourceResponseError(
                    f"Zoho Billing refused a request of {self._name!r} (code {code}: {message})."
                )
            if key is not None and key not in body:
                raise SourceResponseError(
                    f"Zoho Billing answered {path} for {self._name!r} without {key!r}."
                )
            return body

        try:
            return await self.tokens.call(attempt)
        except AuthorisationError as error:
            if with_org and self._organization is None:
                try:
                    await self._organization_info()  # a wrong org id gets its own sentence
                except AuthorisationError:
                    raise error from None
            raise
        except SourceResponseError as error:
            status = getattr(error, "status", None)
            if status == 404 or (status == 400 and single):
                raise RecordNotFound(
                    f"Zoho Billing has no record at {path} in {self._name!r}."
                ) from None
            raise

    async def _organization_info(self) -> dict[str, Any]:
        """The configured organization from ``GET /organizations`` (cached).

        Raises:
            ConfigurationError: when the org id is not one of the account's organizations.
        """
        if self._organization is not None:
            return self._organization
        body = await self._get("/organizations", with_org=False, key="organizations")
        organizations = [o for o in body.get("organizations") or [] if isinstance(o, dict)]
        for org in organizations:
            if zn.text(org, "organization_id") == self._org_id:
                self._organization = org
                return org
        known = ", ".join(
            f"{zn.text(o, 'name') or '?'} ({zn.text(o, 'organization_id') or '?'})"
            for o in organizations
        )
        raise ConfigurationError(
            f"Organization id {self._org_id} is not one of the Zoho Billing organizations "
            f"these credentials can read ({known or 'none'}); check the organization id "
            f"(and the data centre) of {self._name!r}."
        )

    async def _default_currency(self, items: list[Any]) -> str | None:
        """The org's currency, fetched only when a payload on the page lacks its own."""
        if all(isinstance(i, dict) and zn.text(i, "currency_code") for i in items):
            return None
        try:
            org = await self._organization_info()
        except ConfigurationError:
            return None
        code = zn.text(org, "currency_code")
        return code.upper() if code else None

    # ---------------------------------------------------------------------- check

    async def check(self) -> CheckResult:
        """Obtains a token, finds the organization and reads one customer page."""
        org = await self._organization_info()
        details = [f"data centre {self._data_centre.upper()}", f"organization id {self._org_id}"]
        currency = zn.text(org, "currency_code")
        if currency:
            details.append(f"currency {currency.upper()}")
        if self.tokens.api_domain and not self._base_override:
            details.append(f"API domain {self.tokens.api_domain}")
        counts: dict[str, int] = {}
        body = await self._get("/customers", {"page": 1, "per_page": PER_PAGE}, key="customers")
        customers = body.get("customers") or []
        if not _has_more(body):
            counts[Stream.ACCOUNTS.value] = len(customers)
        return CheckResult(
            label=zn.text(org, "name") or self._org_id, details=details, counts=counts
        )

    # ---------------------------------------------------------------------- pages

    async def pages(
        self, stream: Stream, cursor: dict[str, Any] | None, *, full: bool = False
    ) -> AsyncIterator[Page]:
        """Yields a stream's pages; see the module docstring for the incremental rules."""
        listing = _LISTINGS[stream]
        if not listing.sorted_by_update:
            async for page in self._plain_pages(stream, listing, cursor, full=full):
                yield page
            return
        state = dict(cursor or {})
        since = parse_timestamp(state.get("since"))
        running = state.get("pass") if isinstance(state.get("pass"), dict) else None
        if running is None or (full and not running.get("full")):
            running = {"page": 1, "high": None, "full": full or since is None}
        page_number = max(zn.integer(running.get("page")) or 1, 1)
        high = parse_timestamp(running.get("high"))
        whole = bool(running.get("full")) or since is None
        threshold = since - OVERLAP if since and not whole else None
        seen = _str_map(state.get("seen")) if not whole else {}
        window = _str_map(running.get("window"))
        while True:
            params = {
                "page": page_number,
                "per_page": PER_PAGE,
                "sort_column": "updated_time",
                "sort_order": "D",
            }
            body = await self._get(listing.path, params, key=listing.key)
            items = body.get(listing.key)
            items = items if isinstance(items, list) else []
            stamps = [zn.updated_at(i) if isinstance(i, dict) else None for i in items]
            for value in stamps:
                if value is not None and (high is None or value > high):
                    high = value
            more = _has_more(body) and bool(items)
            if threshold is not None and not _sorted_newest_first(stamps):
                log.warning("Zoho Billing ignores sort_column here; reading %s to the end.", stream)
                threshold = None
            reached = threshold is not None and _reached_old(stamps, threshold)
            if high is not None:
                _remember(window, items, stamps, high - OVERLAP)
            if threshold is not None:  # unchanged since the last completed pass: skip
                items = [
                    item
                    for item, value in zip(items, stamps, strict=True)
                    if (value is None or value >= threshold) and not _known(seen, item)
                ]
            records, problems = await self._normalise(
                stream, items, changed_since=None if whole else since
            )
            if not more or reached:
                new_since = high or since
                yield Page(records, problems, {"since": _iso(new_since), "seen": window}, done=True)
                return
            page_number += 1
            next_cursor = {
                "since": _iso(since),
                "seen": seen,
                "pass": {
                    "page": page_number,
                    "high": _iso(high),
                    "full": whole,
                    "window": window,
                },
            }
            yield Page(records, problems, next_cursor, done=False)

    async def _plain_pages(
        self, stream: Stream, listing: _Listing, cursor: dict[str, Any] | None, *, full: bool
    ) -> AsyncIterator[Page]:
        """Reads a small stream (plans) in full, delivering only what changed.

        The cursor keeps each record's fingerprint from the last pass (``seen``), so an
        unchanged plan is read but not written again; a ``--full`` pass delivers all.
        """
        known = {} if full else _str_map((cursor or {}).get("seen"))
        read: dict[str, str] = {}
        page_number = 1
        while True:
            params = {"page": page_number, "per_page": PER_PAGE}
            body = await self._get(listing.path, params, key=listing.key)
            items = body.get(listing.key)
            items = items if isinstance(items, list) else []
            fresh = []
            for item in items:
                ident = _record_id(item) if isinstance(item, dict) else None
                if ident is not None and len(read) < MAX_SEEN:
                    read[ident] = fingerprint(item)
                if ident is None or known.get(ident) != read.get(ident):
                    fresh.append(item)
            records, problems = await self._normalise(stream, fresh)
            last = not _has_more(body) or not items
            # mid-pass, what was known still counts for the pages not read yet
            state = {"seen": dict(read) if last else {**known, **read}}
            yield Page(records, problems, state, done=last)
            if last:
                return
            page_number += 1

    async def _normalise(
        self, stream: Stream, items: list[Any], *, changed_since: datetime | None = None
    ) -> tuple[list[Record], list[RecordProblem]]:
        """Normalises one page; a bad record becomes a problem and the page goes on.

        ``changed_since`` is the cursor of an incremental pass (``None`` on a whole
        pass); the users stream lists contact persons by it.
        """
        if stream is Stream.USERS:
            return await self._users_of(items, changed_since)
        currency = None
        if stream in (Stream.PLANS, Stream.SUBSCRIPTIONS, Stream.INVOICES):
            currency = await self._default_currency(items)
        today = self._clock().date()
        build: Callable[[Any], Record]
        if stream is Stream.PLANS:
            build = lambda item: zn.plan_record(item, currency)  # noqa: E731
        elif stream is Stream.ACCOUNTS:
            build = zn.account_record
        elif stream is Stream.SUBSCRIPTIONS:
            build = lambda item: zn.subscription_record(item, currency)  # noqa: E731
        else:
            build = lambda item: zn.invoice_record(item, today, currency)  # noqa: E731
        records: list[Record] = []
        problems: list[RecordProblem] = []
        for item in items:
            try:
                records.append(build(item))
            except zn.Unnormalisable as error:
                problems.append(_problem(stream, item, str(error)))
            except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as error:
                problems.append(
                    _problem(stream, item, f"It could not be read ({type(error).__name__}).")
                )
        return records, problems

    def _lists_contacts(self, customer: dict[str, Any], changed_since: datetime | None) -> bool:
        """Whether to list a customer's contact persons (see *Users* in the module doc).

        On a whole pass only with ``contact_persons=all``; on an incremental pass for
        customers whose ``updated_time`` is newer than the cursor (not those merely inside
        the overlap window, nor those without a stamp, which every pass sees again).
        """
        if self._contact_mode == "primary":
            return False
        if changed_since is None:
            return self._contact_mode == "all"
        stamp = zn.updated_at(customer)
        return stamp is not None and stamp > changed_since

    # ---------------------------------------------------------------------- users

    async def _users_of(
        self, customers: list[Any], changed_since: datetime | None
    ) -> tuple[list[Record], list[RecordProblem]]:
        """Users of a page of customers: each one's own contact, plus contact persons."""
        records: list[Record] = []
        problems: list[RecordProblem] = []
        listed: list[tuple[dict[str, Any], str]] = []
        for item in customers:
            customer_id = zn.text(item, "customer_id") if isinstance(item, dict) else None
            if customer_id is None or not isinstance(item, dict):
                problems.append(_problem(Stream.USERS, item, "A customer has no customer_id."))
            elif self._lists_contacts(item, changed_since):
                listed.append((item, customer_id))
            else:
                user = zn.primary_user_record(item)
                if user is not None:
                    records.append(user)
        limit = asyncio.Semaphore(CONTACT_CONCURRENCY)

        async def one(item: dict[str, Any], customer_id: str) -> list[UserRecord]:
            async with limit:
                return await self._contacts_of(item, customer_id)

        results = await asyncio.gather(*(one(i, c) for i, c in listed), return_exceptions=True)
        for (item, customer_id), result in zip(listed, results, strict=True):
            if isinstance(result, RecordNotFound):
                continue  # deleted since the customer page was read
            if isinstance(result, zn.Unnormalisable):
                problems.append(_problem(Stream.USERS, item, str(result), customer_id))
            elif isinstance(result, BaseException):
                raise result
            else:
                records.extend(result)
        return records, problems

    async def _contacts_of(self, customer: dict[str, Any], customer_id: str) -> list[UserRecord]:
        """A customer's contact persons, plus a deleted stand-in primary where needed."""
        path = f"/customers/{quote(customer_id, safe='')}/contactpersons"
        body = await self._get(path, {"per_page": PER_PAGE}, key="contactpersons")
        people = body.get("contactpersons")
        users = (
            [zn.user_record(p, customer_id) for p in people if isinstance(p, dict)]
            if (isinstance(people, list))
            else []
        )
        stand_in = f"{customer_id}:primary"
        if zn.primary_user_id(customer, customer_id) == stand_in and users:
            users.append(
                UserRecord(source_id=stand_in, account_source_id=customer_id, deleted=True)
            )
        elif not users:
            primary = zn.primary_user_record(customer)
            users = [primary] if primary else []
        return users

    # ---------------------------------------------------------------- fetch one

    async def fetch_account(self, source_id: str) -> AccountBundle:
        """One customer with its contact persons, subscriptions and invoices."""
        path = f"/customers/{quote(source_id, safe='')}"
        body = await self._get(path, key="customer", single=True)
        customer = body.get("customer")
        if not isinstance(customer, dict):
            raise RecordNotFound(f"Zoho Billing has no customer {source_id} in {self._name!r}.")
        try:
            account = zn.account_record(customer)
        except zn.Unnormalisable as error:
            raise SourceResponseError(str(error)) from None
        users = await self._contacts_of(customer, account.source_id)
        subscriptions = await self._all_of(Stream.SUBSCRIPTIONS, account.source_id)
        invoices = await self._all_of(Stream.INVOICES, account.source_id)
        return AccountBundle(
            account=account,
            users=[u for u in users if not u.deleted],
            subscriptions=[r for r in subscriptions if isinstance(r, SubscriptionRecord)],
            invoices=[r for r in invoices if isinstance(r, InvoiceRecord)],
        )

    async def _all_of(self, stream: Stream, customer_id: str) -> list[Record]:
        """Every record of ``stream`` belonging to one customer (problems are logged)."""
        listing = _LISTINGS[stream]
        records: list[Record] = []
        page_number = 1
        while True:
            params = {"customer_id": customer_id, "page": page_number, "per_page": PER_PAGE}
            body = await self._get(listing.path, params, key=listing.key)
            items = body.get(listing.key)
            items = items if isinstance(items, list) else []
            found, problems = await self._normalise(stream, items)
            records.extend(found)
            for problem in problems:
                log.warning("Skipped a %s record: %s", stream.value, problem.reason)
            if not _has_more(body) or not items:
                return records
            page_number += 1

    # ------------------------------------------------------------- custom fields

    async def custom_fields(self, sample_size: int = 20) -> list[FieldInfo]:
        """Custom fields on the newest customers and subscriptions, with sample values."""
        per_page = min(max(sample_size, 1), PER_PAGE)
        found: list[FieldInfo] = []
        for object_name, listing in (
            ("account", _LISTINGS[Stream.ACCOUNTS]),
            ("subscription", _LISTINGS[Stream.SUBSCRIPTIONS]),
        ):
            params = {"page": 1, "per_page": per_page, "sort_column": "updated_time"}
            body = await self._get(listing.path, {**params, "sort_order": "D"}, key=listing.key)
            samples: dict[str, list[str]] = {}
            for item in body.get(listing.key) or []:
                if not isinstance(item, dict):
                    continue
                for name, value in zn.custom_fields(item).items():
                    values = samples.setdefault(name, [])
                    if value not in values and len(values) < 5:
                        values.append(value)
            found.extend(FieldInfo(object_name, name, values) for name, values in samples.items())
        return found


# ----------------------------------------------------------------------- helpers


def _api_base(url: str) -> str:
    """A base URL override; a bare origin gets Zoho Billing's ``/billing/v1`` path."""
    if urlsplit(url).path in ("", "/"):
        return url.rstrip("/") + API_PATH
    return url.rstrip("/")


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _remember(
    window: dict[str, str], items: list[Any], stamps: list[datetime | None], floor: datetime
) -> None:
    """Keeps fingerprints of records the next pass reads again: those inside its overlap
    and those with no stamp (the source sorts them where it likes)."""
    for item, value in zip(items, stamps, strict=True):
        if len(window) >= MAX_SEEN:
            return
        if (value is None or value >= floor) and isinstance(item, dict):
            ident = _record_id(item)
            if ident is not None:
                window[ident] = fingerprint(item)


def _known(seen: dict[str, str], item: object) -> bool:
    """Whether ``item`` is byte-for-byte what the last completed pass delivered."""
    if not seen or not isinstance(item, dict):
        return False
    ident = _record_id(item)
    return ident is not None and seen.get(ident) == fingerprint(item)


def _record_id(item: dict[str, Any]) -> str | None:
    for key in ("customer_id", "subscription_id", "invoice_id", "plan_code"):
        value = item.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return f"{key}:{value}"
    return None


def _has_more(body: dict[str, Any]) -> bool:
    context = body.get("page_context")
    if not isinstance(context, dict):
        return False
    return zn.boolean(context.get("has_more_page")) is True


def _sorted_newest_first(stamps: list[datetime | None]) -> bool:
    """Whether the known stamps of a page are in descending order."""
    known = [s for s in stamps if s is not None]
    return all(later <= earlier for earlier, later in pairwise(known))


def _reached_old(stamps: list[datetime | None], threshold: datetime) -> bool:
    """Whether a page sorted newest-first reaches records older than ``threshold``."""
    known = [s for s in stamps if s is not None]
    return bool(known) and known[-1] < threshold


def _problem(
    stream: Stream, item: object, reason: str, source_id: str | None = None
) -> RecordProblem:
    payload = item if isinstance(item, dict) else None
    if source_id is None and payload is not None:
        source_id = zn.text(payload, _ID_KEYS[stream])
    return RecordProblem(stream=stream, source_id=source_id, reason=reason, payload=payload)
