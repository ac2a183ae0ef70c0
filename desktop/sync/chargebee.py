"""Chargebee connector: read-only, API v2, one site (test or live) per connection.

Settings (on the Connection): ``site`` (``acme`` for a live site, ``acme-test`` for its
test site) and an optional ``base_url`` replacing ``https://{site}.chargebee.com/api/v2``
(a proxy, the sandbox's loopback URL). The secret is the site's API key, sent as the
user of HTTP Basic auth with an empty password. A site whose name ends in ``-test`` or a
key starting with ``test_`` is a *test site*; :meth:`ChargebeeConnector.check` says so.

Streams and their sources:

* **plans** — Product Catalog 2.0 item prices of type plan (``/item_prices``) or, on a
  PC 1.0 site, ``/plans``; the version comes from ``GET /configurations`` (assumed 2.0
  when that answer does not say);
* **accounts** — ``/customers``;
* **users** — also ``/customers``: each customer is its own primary user
  (``customer:<id>``), plus one user per entry of ``contacts[]``
  (``contact:<customer id>:<contact id>``). The users stream keeps its own cursor (its
  rows and cursor still commit together, page by page), but while its cursor equals the
  accounts stream's — always, after a completed run — both streams are given the same
  ``/customers`` answers: one request per page for the two streams;
* **subscriptions** — ``/subscriptions`` (MRR: see :mod:`desktop.sync.chargebee_normalise`);
* **invoices** — ``/invoices``.

Incremental sync
----------------
Lists are read 100 at a time (Chargebee's largest page) with
``include_deleted=true&sort_by[asc]=updated_at`` and, once a stream has completed a pass,
``updated_at[after]=<watermark - 1>``. The watermark is the start of the last completed
pass (the site's ``Date`` header on the pass's first answer, else the local clock) minus
an overlap (:mod:`desktop.sync.watermark`): every record changed before a pass started
has been listed by its end. Records inside the overlap that come back unchanged are
dropped by fingerprint, so a run with no changes makes one request per list. The cursor
committed with each page holds the watermark, those fingerprints and, while a pass runs,
its start and the vendor's ``next_offset``: a run killed at any page resumes at the next
page with the same filter.

* **Deleted records** come back with ``deleted: true`` (``include_deleted``) and are
  delivered as deleted records.
* **Records changed during a pass** move to the end of the ``updated_at`` order and are
  read later in the same pass (Chargebee's offsets are positions in the sort, not row
  numbers, so nothing is skipped).
* **Records with no ``updated_at``** (drift, or a field the site leaves out) are
  delivered when the source sends them. Whether the source filters them by their hidden
  update or creation time or leaves them out of filtered lists, they cannot hold the
  watermark back (it comes from the pass's start, not from the records' stamps), so they
  are not read again on every run. The first pass of a stream (empty cursor) and
  ``--full`` (``full=True``) read everything with no filter, so the engine can reconcile
  records a filter could not see.
* **PC 1.0 plans** cannot be filtered by ``updated_at``: they are read in full on every
  run (a page or two) and unchanged ones are dropped the same way. The Product Catalog
  version is asked (``/configurations``) on a stream's first and ``--full`` passes and
  kept in the plans cursor with when it was asked, so an incremental run asks one list
  per stream; it is asked again once it is :data:`CATALOG_RECHECK_SECONDS` old (a site
  migrated from 1.0 to 2.0 is noticed by the next daily run, and its plans read anew).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Final
from urllib.parse import quote

from desktop.errors import ConfigurationError
from desktop.sync import chargebee_normalise as cn
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
)
from desktop.sync.watermark import PassTracker, get_json_dated
from desktop.timeutil import Clock

__all__ = ["ChargebeeConnector", "is_test_site"]

PAGE_SIZE: Final[int] = 100
#: Lists read by more than one stream (accounts and users), whose pages are shared.
_SHARED_LISTS: Final[frozenset[str]] = frozenset({"customers"})
#: Shared answers kept for the other stream at most (pages, about 100 KB each).
SHARED_PAGES: Final[int] = 16
#: How many pages ``fetch_account`` reads per list at most (10,000 records).
MAX_ACCOUNT_PAGES: Final[int] = 100
#: how long a remembered Product Catalog version is trusted (less than a day, so every
#: daily run asks ``/configurations`` once; runs in between do not)
CATALOG_RECHECK_SECONDS: Final[int] = 20 * 3600

Normaliser = Callable[[dict[str, Any], dict[str, Any]], list[Record]]


def is_test_site(site: str, api_key: str = "") -> bool:
    """Whether a Chargebee site is a test site (``-test`` name or a ``test_`` key)."""
    return site.strip().lower().endswith("-test") or api_key.startswith("test_")


def _problem_reason(error: Exception, what: str) -> str:
    if isinstance(error, cn.Unnormalisable):
        return str(error)
    return f"The Chargebee {what} could not be read ({type(error).__name__})."


def _plan_normaliser(_wrapper: dict[str, Any], payload: dict[str, Any]) -> list[Record]:
    return [cn.plan_record(payload)]


class ChargebeeConnector:
    """Reads one Chargebee site (see the module docstring).

    Args:
        config: the connection's settings (``site``, optional ``base_url``).
        secret: the site's API key.
        http: the read-only HTTP client.
        clock: the clock (for statuses that depend on "now", such as overdue).

    Raises:
        ConfigurationError: when the site or the key is missing or the site is malformed.
    """

    kind: ClassVar[str] = "chargebee"
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
        self.config = config
        self._http = http
        self._clock = clock
        site = str(config.settings.get("site") or "").strip().lower()
        base_url = str(config.settings.get("base_url") or "").strip()
        if not site and not base_url:
            raise ConfigurationError(
                f"The Chargebee connection {config.name!r} needs its site name "
                "(for example acme or acme-test)."
            )
        if site and not all(c.isalnum() or c == "-" for c in site):
            raise ConfigurationError(
                f"The Chargebee site name {site!r} may only contain letters, digits and "
                "hyphens (for example acme-test)."
            )
        key = secret.strip()
        if not key:
            raise ConfigurationError(
                f"The Chargebee connection {config.name!r} has no API key; enter the "
                "site's API key."
            )
        self.site = site
        self.base_url = (base_url or f"https://{site}.chargebee.com/api/v2").rstrip("/")
        self.test_site = is_test_site(site, key)
        token = base64.b64encode(f"{key}:".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        self._catalog_version: str | None = None
        self._shared: dict[
            tuple[str, tuple[tuple[str, str], ...]], asyncio.Future[tuple[dict[str, Any], int]]
        ] = {}

    # ------------------------------------------------------------------ plumbing

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _site_label(self) -> str:
        return self.site or self.config.name

    async def _get(self, path: str, params: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        try:
            return await self._http.get_json(self._url(path), params=params, headers=self._headers)
        except AuthorisationError:
            raise self._refused() from None

    async def _get_dated(
        self, path: str, params: list[tuple[str, str]]
    ) -> tuple[dict[str, Any], int | None]:
        """GETs a list page and the site's clock when it answered (``Date``)."""
        try:
            return await get_json_dated(
                self._http, self._url(path), params=params, headers=self._headers
            )
        except AuthorisationError:
            raise self._refused() from None

    async def _list_page(
        self, path: str, params: list[tuple[str, str]]
    ) -> tuple[dict[str, Any], int]:
        """A list page and when the site answered it (``Date``, else the local clock).

        The accounts and users streams both read ``/customers`` with equal cursors: the
        first of them to ask for a page fetches it and the other is given the same answer
        (one request for both). Answers the other stream has not asked for within
        :data:`SHARED_PAGES` later pages are dropped (it then fetches its own).
        """
        if path not in _SHARED_LISTS:
            return await self._fetch_page(path, params)
        key = (path, tuple(params))
        shared = self._shared.pop(key, None)
        if shared is not None:
            return await shared
        future: asyncio.Future[tuple[dict[str, Any], int]] = (
            asyncio.get_running_loop().create_future()
        )
        self._shared[key] = future
        while len(self._shared) > SHARED_PAGES:
            self._shared.pop(next(iter(self._shared)))
        try:
            answer = await self._fetch_page(path, params)
        except BaseException as error:
            if self._shared.get(key) is future:
                del self._shared[key]
            if isinstance(error, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(error)
                future.exception()  # retrieved: the waiting stream (if any) raises it too
            raise
        future.set_result(answer)
        return answer

    async def _fetch_page(
        self, path: str, params: list[tuple[str, str]]
    ) -> tuple[dict[str, Any], int]:
        asked = int(self._clock().timestamp())
        data, answered = await self._get_dated(path, params)
        return data, answered if answered is not None else asked

    def _refused(self) -> AuthorisationError:
        return AuthorisationError(
            f"Chargebee refused the API key of site {self._site_label()!r} (test and "
            "live sites have different keys); enter a read-only API key of this site "
            "and re-authorise this connection."
        )

    async def _get_one(self, path: str, what: str, source_id: str) -> dict[str, Any]:
        try:
            return await self._get(path)
        except SourceResponseError as error:
            if getattr(error, "status", None) == 404:
                raise RecordNotFound(
                    f"Chargebee site {self._site_label()!r} has no {what} with id {source_id!r}."
                ) from None
            raise

    async def catalog_version(self) -> str:
        """``"v1"`` or ``"v2"``: the site's Product Catalog version (asked once)."""
        if self._catalog_version is None:
            version = "v2"
            try:
                data = await self._get("configurations")
            except SourceResponseError as error:
                if getattr(error, "status", None) is None:
                    raise
                data = {}
            configurations = data.get("configurations")
            if isinstance(configurations, list):
                chosen = next(
                    (
                        c
                        for c in configurations
                        if isinstance(c, dict) and c.get("domain") == self.site
                    ),
                    configurations[0] if configurations else None,
                )
                if isinstance(chosen, dict) and chosen.get("product_catalog_version") == "v1":
                    version = "v1"
            self._catalog_version = version
        return self._catalog_version

    # ------------------------------------------------------------------- streams

    def _normaliser(self, stream: Stream) -> tuple[str, str, Normaliser]:
        """(list path, wrapper key, wrapper + resource → records) for a stream."""
        now = self._clock()
        if stream is Stream.ACCOUNTS:
            return "customers", "customer", lambda _w, c: [cn.account_record(c)]
        if stream is Stream.USERS:
            return "customers", "customer", lambda _w, c: list(cn.user_records(c))
        if stream is Stream.SUBSCRIPTIONS:

            def subscription(wrapper: dict[str, Any], payload: dict[str, Any]) -> list[Record]:
                owner = wrapper.get("customer")
                customer = owner if isinstance(owner, dict) else None
                return [cn.subscription_record(payload, now, customer)]

            return "subscriptions", "subscription", subscription
        if stream is Stream.INVOICES:
            return "invoices", "invoice", lambda _w, i: [cn.invoice_record(i, now)]
        raise ValueError(f"Chargebee has no {stream} stream here.")

    async def pages(
        self, stream: Stream, cursor: dict[str, Any] | None, *, full: bool = False
    ) -> AsyncIterator[Page]:
        """Yields the stream's pages from ``cursor`` (see the module docstring)."""
        tracker = PassTracker(cursor, full=full)
        filtered = True
        normalise: Normaliser
        catalog: str | None = None
        checked: int | None = None
        if stream is Stream.PLANS:
            known, checked = _remembered_catalog(cursor, int(self._clock().timestamp()))
            if known is not None and not full and self._catalog_version is None:
                self._catalog_version = known
            else:
                checked = None
            catalog = await self.catalog_version()
            if checked is None:
                checked = int(self._clock().timestamp())
            if known is not None and catalog != known:
                tracker = PassTracker(None, full=True)  # another catalog: read it anew
            if catalog == "v1":
                path, key = "plans", "plan"
                filtered = False
            else:
                path, key = "item_prices", "item_price"
            normalise = _plan_normaliser
        else:
            path, key, normalise = self._normaliser(stream)
        offset = tracker.resume
        while True:
            params: list[tuple[str, str]] = [("limit", str(PAGE_SIZE))]
            params.append(("include_deleted", "true"))
            if filtered:
                params.append(("sort_by[asc]", "updated_at"))
                if tracker.lower is not None:
                    params.append(("updated_at[after]", str(tracker.lower - 1)))
            if stream is Stream.PLANS and path == "item_prices":
                params.append(("item_type[is]", "plan"))
            if offset:
                params.append(("offset", offset))
            data, answered = await self._list_page(path, params)
            tracker.begin(answered)
            records, problems = self._read_list(stream, data, key, normalise, tracker)
            next_offset = data.get("next_offset")
            offset = next_offset if isinstance(next_offset, str) and next_offset else None
            state = tracker.cursor(offset)
            if catalog is not None:
                state["catalog"] = catalog
                state["catalog_checked"] = checked
            yield Page(records, problems, state, done=offset is None)
            if offset is None:
                return

    def _read_list(
        self,
        stream: Stream,
        data: dict[str, Any],
        key: str,
        normalise: Normaliser,
        tracker: PassTracker | None,
    ) -> tuple[list[Record], list[RecordProblem]]:
        entries = data.get("list")
        if not isinstance(entries, list):
            raise SourceResponseError(
                f"Chargebee site {self._site_label()!r} sent a list answer without a list; "
                "try again later."
            )
        records: list[Record] = []
        problems: list[RecordProblem] = []
        what = key.replace("_", " ")
        for entry in entries:
            payload = entry.get(key) if isinstance(entry, dict) else None
            if not isinstance(payload, dict):
                problems.append(
                    RecordProblem(
                        stream,
                        None,
                        f"A Chargebee list entry has no {what} object.",
                        entry if isinstance(entry, dict) else None,
                    )
                )
                continue
            source_id = cn.text(payload, "id")
            if tracker is not None and source_id is not None:
                changed = cn.epoch(payload.get("updated_at"))
                created = cn.epoch(payload.get("created_at"))
                if not tracker.accept(source_id, payload, changed, created):
                    continue
            try:
                records.extend(normalise(entry, payload))
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                problems.append(
                    RecordProblem(stream, source_id, _problem_reason(error, what), payload)
                )
        return records, problems

    # --------------------------------------------------------------------- check

    async def check(self) -> CheckResult:
        """Reads the site configuration: its name, test or live, Product Catalog version.

        Raises:
            AuthorisationError: with a sentence saying to enter a key of this site.
        """
        details = ["test site" if self.test_site else "live site"]
        try:
            data = await self._get("configurations")
        except SourceResponseError as error:
            if getattr(error, "status", None) is None:
                raise
            # Older sites or proxies without /configurations: a one-record list works.
            await self._get("customers", [("limit", "1")])
            return CheckResult(label=self._site_label(), details=details)
        configurations = data.get("configurations")
        domain = None
        if isinstance(configurations, list) and configurations:
            first = next(
                (c for c in configurations if isinstance(c, dict) and c.get("domain") == self.site),
                configurations[0],
            )
            if isinstance(first, dict):
                domain = cn.text(first, "domain")
                version = cn.text(first, "product_catalog_version")
                if version:
                    self._catalog_version = "v1" if version == "v1" else "v2"
                    details.append(f"Product Catalog {'1.0' if version == 'v1' else '2.0'}")
        label = domain or self._site_label()
        if domain and is_test_site(domain) and not self.test_site:
            details[0] = "test site"
            self.test_site = True
        return CheckResult(label=label, details=details)

    # --------------------------------------------------------------- fetch one

    async def _all(
        self, path: str, key: str, stream: Stream, params: list[tuple[str, str]]
    ) -> list[Record]:
        now = self._clock()
        found: list[Record] = []
        offset: str | None = None
        for _ in range(MAX_ACCOUNT_PAGES):
            query = [("limit", str(PAGE_SIZE)), *params]
            if offset:
                query.append(("offset", offset))
            data = await self._get(path, query)

            def normalise(wrapper: dict[str, Any], payload: dict[str, Any]) -> list[Record]:
                if key == "invoice":
                    return [cn.invoice_record(payload, now)]
                owner = wrapper.get("customer")
                customer = owner if isinstance(owner, dict) else None
                return [cn.subscription_record(payload, now, customer)]

            records, _problems = self._read_list(stream, data, key, normalise, None)
            found.extend(records)
            next_offset = data.get("next_offset")
            offset = next_offset if isinstance(next_offset, str) and next_offset else None
            if offset is None:
                break
        return found

    async def fetch_account(self, source_id: str) -> AccountBundle:
        """One customer with its users, subscriptions and invoices.

        Raises:
            RecordNotFound: when the site has no such customer.
        """
        data = await self._get_one(f"customers/{quote(source_id, safe='')}", "customer", source_id)
        customer = data.get("customer")
        if not isinstance(customer, dict):
            raise SourceResponseError(
                f"Chargebee site {self._site_label()!r} sent an unreadable customer answer."
            )
        account = cn.account_record(customer)
        users = cn.user_records(customer)
        wanted = [("customer_id[is]", account.source_id)]
        subscriptions = await self._all(
            "subscriptions", "subscription", Stream.SUBSCRIPTIONS, wanted
        )
        invoices = await self._all("invoices", "invoice", Stream.INVOICES, wanted)
        return AccountBundle(
            account=account,
            users=users,
            subscriptions=[r for r in subscriptions if isinstance(r, SubscriptionRecord)],
            invoices=[r for r in invoices if isinstance(r, InvoiceRecord)],
        )

    # ----------------------------------------------------------- custom fields

    async def custom_fields(self, sample_size: int = 20) -> list[FieldInfo]:
        """``cf_*`` fields found on a sample of customers and subscriptions."""
        limit = str(max(1, min(sample_size, PAGE_SIZE)))
        found: list[FieldInfo] = []
        for object_name, path, key in (
            ("account", "customers", "customer"),
            ("subscription", "subscriptions", "subscription"),
        ):
            data = await self._get(path, [("limit", limit)])
            fields: dict[str, list[str]] = {}
            entries = data.get("list")
            for entry in entries if isinstance(entries, list) else []:
                payload = entry.get(key) if isinstance(entry, dict) else None
                if not isinstance(payload, dict):
                    continue
                values = cn.custom_fields(payload)
                for name in payload:
                    if not (isinstance(name, str) and name.startswith("cf_")):
                        continue
                    samples = fields.setdefault(name, [])
                    value = values.get(name)
                    if value is not None and value not in samples and len(samples) < 5:
                        samples.append(value)
            found.extend(
                FieldInfo(object_name, name, samples) for name, samples in sorted(fields.items())
            )
        return found


def _remembered_catalog(cursor: dict[str, Any] | None, now: int) -> tuple[str | None, int | None]:
    """The plans cursor's Product Catalog version and when it was asked, if still trusted."""
    if not isinstance(cursor, dict):
        return None, None
    known, checked = cursor.get("catalog"), cursor.get("catalog_checked")
    if known not in ("v1", "v2") or type(checked) is not int:
        return None, None
    if not 0 <= now - checked < CATALOG_RECHECK_SECONDS:
        return None, None
    return str(known), checked
