"""Recurly connector: read-only, API v3 (``v2021-02-25``), one site or several.

Settings (on the Connection): ``region`` (``us`` → ``https://v3.recurly.com``, default;
``eu`` → ``https://v3.eu.recurly.com``), optional ``base_url`` replacing that host (a
proxy, the sandbox), and for a one-site connection ``subdomain``. A connection whose
sites live in both regions names the exceptions in ``site_regions``
(``{"acme-eu": "eu"}``) and, when overriding hosts, gives one per region in
``base_urls`` (``{"us": …, "eu": …}``; ``base_url`` then covers the regions not listed).
A key only works in its own site's region. The secret is either
that site's private API key, or a JSON object mapping each site's subdomain to its key
(``{"acme": "…", "acme-eu": "…"}``), validated by :func:`parse_recurly_secret`. Keys go
out as the user of HTTP Basic auth with an empty password, each only to its own site,
with ``Accept: application/vnd.recurly.v2021-02-25``.

Source ids
----------
With one site, records keep Recurly's ids (``abc123``). With several sites, every source
id is prefixed with its site's subdomain and a colon (``acme:abc123``,
``acme-eu:account:abc123``), so records of two sites can never collide. A connection
that later goes from one site to several therefore sees new ids: add a second site as a
second connection if the first one's history must keep its ids.

Incremental sync
----------------
Each stream reads each site in turn, 200 records a page (Recurly's largest), with
``sort=updated_at&order=asc`` and, once the site's stream has completed a pass,
``begin_time=<watermark>`` (inclusive), then follows the relative ``next`` path to the
end. The watermark is the completed pass's start (the site's ``Date`` header, else the
local clock) minus an overlap; records in that window that come back unchanged are
dropped by fingerprint (:mod:`desktop.sync.watermark`), so a run with no changes makes one
request per stream and site. The cursor is ``{"sites": {subdomain: pass cursor}}``;
each site's pass cursor keeps the ``next`` path while a pass runs, so a run killed at any
page resumes at that page of that site (sites already finished in that run start a new,
cheap incremental pass).

* **Deleted accounts** come back as closed (``state: inactive``) or with ``deleted_at``
  and are delivered as deleted; Recurly lists no deleted subscriptions or invoices, so an
  incremental pass cannot see those deletions: ``--full`` reads everything and lets the
  engine reconcile.
* **Records with no ``updated_at``** are delivered when sent and, since the watermark
  comes from the pass's start time, do not come back once they fall behind it; the first
  pass of a stream and every ``--full``
  pass read with no ``begin_time``.
* **Plans** are read the same way; subscriptions also need each plan's interval for MRR,
  so the connector lists a site's plans once (or fetches a single unknown plan) the
  first time a subscription page needs them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Final
from urllib.parse import quote

from desktop.errors import ConfigurationError
from desktop.sync import recurly_normalise as rn
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

__all__ = ["REGIONS", "RecurlyConnector", "parse_recurly_secret"]

REGIONS: Final[dict[str, str]] = {
    "us": "https://v3.recurly.com",
    "eu": "https://v3.eu.recurly.com",
}
ACCEPT: Final[str] = "application/vnd.recurly.v2021-02-25"
PAGE_SIZE: Final[int] = 200
#: How many pages ``fetch_account`` and the plan lookup read per list at most.
MAX_LIST_PAGES: Final[int] = 50
_SUBDOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_MODES: Final[dict[str, str]] = {
    "production": "production site",
    "sandbox": "sandbox site",
    "development": "development site",
}

_STREAM_PATHS: Final[dict[Stream, str]] = {
    Stream.PLANS: "plans",
    Stream.ACCOUNTS: "accounts",
    Stream.USERS: "accounts",
    Stream.SUBSCRIPTIONS: "subscriptions",
    Stream.INVOICES: "invoices",
}


# ------------------------------------------------------------------------- secrets


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ConfigurationError(
                f"The Recurly secret names the site {key!r} twice; give each site once."
            )
        result[key] = value
    return result


def parse_recurly_secret(secret: str, subdomain: str | None = None) -> dict[str, str]:
    """Reads a Recurly secret into a subdomain → API key map.

    The secret is a JSON object ``{"subdomain": "API key", …}`` (several sites), or —
    when ``subdomain`` is given — one site's plain API key. Messages name the problem but
    never repeat a key.

    Args:
        secret: the secret as the user entered it.
        subdomain: the site of a one-site connection, for a plain (non-JSON) key.

    Returns:
        The sites' API keys by subdomain, in the order given.

    Raises:
        ConfigurationError: for malformed JSON, something other than an object, an empty
            map, a key or value that is not a non-empty string, an invalid subdomain, or a
            plain key without a subdomain.
    """
    text = secret.strip()
    if not text:
        raise ConfigurationError("The Recurly secret is empty; enter the site's API key.")
    if text[0] not in '{["':
        if subdomain is None or not subdomain.strip():
            raise ConfigurationError(
                "A single Recurly API key needs the site's subdomain; give the subdomain, "
                'or enter the secret as a JSON object {"subdomain": "API key"}.'
            )
        site = subdomain.strip()
        if not _SUBDOMAIN.match(site):
            raise ConfigurationError(
                f"{site!r} is not a Recurly subdomain (letters, digits and hyphens)."
            )
        return {site: text}
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicates)
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"The Recurly secret is not valid JSON (line {error.lineno}, column "
            f'{error.colno}); write it as {{"subdomain": "API key", …}}.'
        ) from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            "The Recurly secret must be a JSON object mapping each site's subdomain to its "
            f'API key, like {{"acme": "…"}}, not a JSON {type(data).__name__}.'
        )
    if not data:
        raise ConfigurationError(
            'The Recurly secret lists no sites; add at least one "subdomain": "API key" pair.'
        )
    sites: dict[str, str] = {}
    for key, value in data.items():
        if not key.strip():
            raise ConfigurationError("The Recurly secret has an empty site subdomain.")
        if not _SUBDOMAIN.match(key.strip()):
            raise ConfigurationError(
                f"{key!r} in the Recurly secret is not a site subdomain "
                "(letters, digits and hyphens)."
            )
        if not isinstance(value, str):
            kind = "null" if value is None else type(value).__name__
            raise ConfigurationError(
                f"The API key for the Recurly site {key!r} must be a string, not {kind}."
            )
        if not value.strip():
            raise ConfigurationError(f"The API key for the Recurly site {key!r} is empty.")
        sites[key.strip()] = value.strip()
    return sites


# ------------------------------------------------------------------------ connector


@dataclass
class _Site:
    """One Recurly site this connection reads."""

    subdomain: str
    region: str
    base_url: str
    headers: dict[str, str]
    prefix: str
    plans: dict[str, rn.Interval] | None = None
    missing_plans: set[str] = field(default_factory=set)
    plan_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _region(value: object, what: str) -> str:
    region = str(value).strip().lower()
    if region not in REGIONS:
        raise ConfigurationError(f"{value!r} is not a Recurly region for {what}; use us or eu.")
    return region


def _iso(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _problem_reason(error: Exception, what: str) -> str:
    if isinstance(error, rn.Unnormalisable):
        return str(error)
    return f"The Recurly {what} could not be read ({type(error).__name__})."


class RecurlyConnector:
    """Reads one or several Recurly sites (see the module docstring).

    Args:
        config: the connection's settings (``region``, ``base_url``, ``subdomain``).
        secret: one API key, or a JSON object subdomain → API key.
        http: the read-only HTTP client.
        clock: the clock (trials and non-renewing subscriptions depend on "now").

    Raises:
        ConfigurationError: for an unknown region or an invalid secret.
    """

    kind: ClassVar[str] = "recurly"
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
        settings = config.settings
        self.region = _region(settings.get("region") or "us", "the connection")
        site_regions = settings.get("site_regions") or {}
        base_urls = settings.get("base_urls") or {}
        if not isinstance(site_regions, dict) or not isinstance(base_urls, dict):
            raise ConfigurationError(
                "The Recurly settings site_regions and base_urls must map names to values."
            )
        base_url = str(settings.get("base_url") or "").strip()
        subdomain = settings.get("subdomain") or settings.get("site")
        keys = parse_recurly_secret(secret, str(subdomain) if subdomain else None)
        several = len(keys) > 1
        self.sites: list[_Site] = []
        for name, key in keys.items():
            region = _region(site_regions.get(name) or self.region, f"the site {name!r}")
            url = str(base_urls.get(region) or base_url or REGIONS[region]).strip()
            token = base64.b64encode(f"{key}:".encode()).decode("ascii")
            self.sites.append(
                _Site(
                    subdomain=name,
                    region=region,
                    base_url=url.rstrip("/"),
                    headers={"Authorization": f"Basic {token}", "Accept": ACCEPT},
                    prefix=f"{name}:" if several else "",
                )
            )

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _url(site: _Site, path: str) -> str:
        return f"{site.base_url}/{path.lstrip('/')}"

    def _refused(self, site: _Site) -> AuthorisationError:
        return AuthorisationError(
            f"Recurly refused the API key of site {site.subdomain!r}; enter a private API "
            f"key of that site ({site.region.upper()} region) and re-authorise this "
            "connection."
        )

    async def _get(
        self, site: _Site, path: str, params: list[tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        try:
            return await self._http.get_json(
                self._url(site, path), params=params, headers=site.headers
            )
        except AuthorisationError:
            raise self._refused(site) from None

    async def _get_dated(
        self, site: _Site, path: str, params: list[tuple[str, str]]
    ) -> tuple[dict[str, Any], int | None]:
        """GETs a pass's first page and the site's clock when it answered (``Date``)."""
        try:
            return await get_json_dated(
                self._http, self._url(site, path), params=params, headers=site.headers
            )
        except AuthorisationError:
            raise self._refused(site) from None

    async def _count(self, site: _Site, path: str, params: list[tuple[str, str]]) -> int | None:
        try:
            response = await self._http.head(
                self._url(site, path), params=params, headers=site.headers
            )
        except AuthorisationError:
            raise self._refused(site) from None
        value = response.headers.get("Recurly-Total-Records")
        if response.status_code != 200 or value is None:
            return None
        return rn.integer(value)

    def _site_of(self, source_id: str) -> tuple[list[_Site], str]:
        """The site(s) to look in for a (possibly prefixed) source id, and the bare id."""
        if len(self.sites) > 1:
            head, sep, rest = source_id.partition(":")
            for site in self.sites:
                if sep and site.subdomain == head:
                    return [site], rest
        return list(self.sites), source_id

    # ---------------------------------------------------------------------- plans

    async def _list_plans(self, site: _Site) -> None:
        plans: dict[str, rn.Interval] = {}
        path: str | None = "plans"
        params: list[tuple[str, str]] | None = [("limit", str(PAGE_SIZE))]
        for _ in range(MAX_LIST_PAGES):
            if path is None:
                break
            data = await self._get(site, path, params)
            for plan in data.get("data") or []:
                if isinstance(plan, dict):
                    self._remember_plan(plans, plan)
            path, params = self._next(data), None
        site.plans = {**plans, **(site.plans or {})}

    @staticmethod
    def _remember_plan(plans: dict[str, rn.Interval], plan: dict[str, Any]) -> None:
        interval = rn.plan_interval(plan)
        for key in (rn.text(plan, "id"), rn.text(plan, "code")):
            if key is not None:
                plans[key] = interval

    async def _interval(self, site: _Site, plan: dict[str, Any]) -> rn.Interval | None:
        """The plan's interval, listing the site's plans (once) or fetching one plan."""
        keys = [k for k in (rn.text(plan, "id"), rn.text(plan, "code")) if k is not None]
        if not keys:
            return None
        async with site.plan_lock:  # concurrent pages list the plans once
            if site.plans is None:
                await self._list_plans(site)
        known = site.plans or {}
        for key in keys:
            if key in known:
                return known[key]
        if keys[0] in site.missing_plans:
            return None
        ident = quote(keys[0], safe="") if rn.text(plan, "id") else f"code-{quote(keys[0])}"
        try:
            found = await self._get(site, f"plans/{ident}")
        except SourceResponseError as error:
            if getattr(error, "status", None) is None:
                raise
            site.missing_plans.add(keys[0])
            return None
        known = site.plans = site.plans or {}
        self._remember_plan(known, found)
        return known.get(keys[0])

    # ------------------------------------------------------------------- streams

    @staticmethod
    def _next(data: dict[str, Any]) -> str | None:
        nxt = data.get("next")
        if data.get("has_more") is False or not isinstance(nxt, str) or not nxt:
            return None
        return nxt

    async def _normalise(
        self, stream: Stream, site: _Site, payload: dict[str, Any], now: datetime
    ) -> Record:
        if stream is Stream.PLANS:
            if site.plans is not None:
                self._remember_plan(site.plans, payload)
            return rn.plan_record(payload, site.prefix)
        if stream is Stream.ACCOUNTS:
            return rn.account_record(payload, site.prefix)
        if stream is Stream.USERS:
            return rn.user_record(payload, site.prefix)
        if stream is Stream.SUBSCRIPTIONS:
            interval = await self._interval(site, rn.sub_object(payload, "plan"))
            return rn.subscription_record(payload, now, interval, site.prefix)
        return rn.invoice_record(payload, now, site.prefix)

    async def _read(
        self,
        stream: Stream,
        site: _Site,
        data: dict[str, Any],
        tracker: PassTracker | None,
    ) -> tuple[list[Record], list[RecordProblem]]:
        entries = data.get("data")
        if not isinstance(entries, list):
            raise SourceResponseError(
                f"Recurly site {site.subdomain!r} sent a list answer without data; try again later."
            )
        now = self._clock()
        what = "account" if stream is Stream.USERS else stream.value.rstrip("s")
        records: list[Record] = []
        problems: list[RecordProblem] = []
        for payload in entries:
            if not isinstance(payload, dict):
                problems.append(
                    RecordProblem(stream, None, f"A Recurly {what} entry is not an object.")
                )
                continue
            source_id = rn.text(payload, "id")
            if tracker is not None and source_id is not None:
                changed = rn.epoch(payload.get("updated_at"))
                created = rn.epoch(payload.get("created_at"))
                if not tracker.accept(source_id, payload, changed, created):
                    continue
            try:
                records.append(await self._normalise(stream, site, payload, now))
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                problems.append(
                    RecordProblem(
                        stream,
                        f"{site.prefix}{source_id}" if source_id else None,
                        _problem_reason(error, what),
                        payload,
                    )
                )
        return records, problems

    async def pages(
        self, stream: Stream, cursor: dict[str, Any] | None, *, full: bool = False
    ) -> AsyncIterator[Page]:
        """Yields the stream's pages, site after site (see the module docstring)."""
        path = _STREAM_PATHS[stream]
        saved = cursor.get("sites") if isinstance(cursor, dict) else None
        state: dict[str, Any] = {
            site.subdomain: saved[site.subdomain]
            for site in self.sites
            if isinstance(saved, dict) and isinstance(saved.get(site.subdomain), dict)
        }
        trackers = {s.subdomain: PassTracker(state.get(s.subdomain), full=full) for s in self.sites}
        total = await self._totals(path, trackers)
        for index, site in enumerate(self.sites):
            tracker = trackers[site.subdomain]
            resume = tracker.resume
            last_site = index == len(self.sites) - 1
            while True:
                if resume is not None:
                    data = await self._get(site, resume)
                else:
                    asked = int(self._clock().timestamp())
                    data, answered = await self._get_dated(site, path, self._list_params(tracker))
                    tracker.begin(answered if answered is not None else asked)
                records, problems = await self._read(stream, site, data, tracker)
                resume = self._next(data)
                state[site.subdomain] = tracker.cursor(resume)
                done = resume is None and last_site
                yield Page(records, problems, {"sites": dict(state)}, done=done, total=total)
                if resume is None:
                    break

    @staticmethod
    def _list_params(tracker: PassTracker) -> list[tuple[str, str]]:
        params = [("limit", str(PAGE_SIZE)), ("sort", "updated_at"), ("order", "asc")]
        if tracker.lower is not None:
            params.append(("begin_time", _iso(tracker.lower)))
        return params

    async def _totals(self, path: str, trackers: dict[str, PassTracker]) -> int | None:
        """Record counts for a first or full pass (one HEAD per site), else ``None``."""
        if not all(t.full and t.resume is None for t in trackers.values()):
            return None
        total = 0
        for site in self.sites:
            count = await self._count(site, path, [("limit", "1")])
            if count is None:
                return None
            total += count
        return total

    # --------------------------------------------------------------------- check

    async def check(self) -> CheckResult:
        """Checks every site's key; reports each site's mode and rough counts.

        Raises:
            AuthorisationError: naming the site whose key was refused.
        """
        details: list[str] = []
        labels: list[str] = []
        counts: dict[str, int] = {}
        for site in self.sites:
            name, mode = site.subdomain, None
            try:
                data = await self._get(site, f"sites/subdomain-{quote(site.subdomain)}")
            except SourceResponseError as error:
                if getattr(error, "status", None) is None:
                    raise
                await self._get(site, "accounts", [("limit", "1")])
            else:
                name = (
                    rn.text(data, "name")
                    or rn.text(rn.sub_object(data, "settings"), "name")
                    or rn.text(data, "subdomain")
                    or site.subdomain
                )
                mode = rn.text(data, "mode")
            labels.append(name)
            described = _MODES.get(mode or "", f"{mode} site" if mode else "site")
            region = f"{site.region.upper()} region"
            details.append(f"{site.subdomain}: {name} ({described}, {region})")
            for stream, path in (
                (Stream.ACCOUNTS, "accounts"),
                (Stream.SUBSCRIPTIONS, "subscriptions"),
                (Stream.INVOICES, "invoices"),
            ):
                count = await self._count(site, path, [("limit", "1")])
                if count is not None:
                    counts[stream.value] = counts.get(stream.value, 0) + count
        label = labels[0] if len(labels) == 1 else f"{len(labels)} Recurly sites"
        return CheckResult(label=label, details=details, counts=counts)

    # --------------------------------------------------------------- fetch one

    async def _account_list(self, site: _Site, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        target: str | None = path
        params: list[tuple[str, str]] | None = [("limit", str(PAGE_SIZE))]
        for _ in range(MAX_LIST_PAGES):
            if target is None:
                break
            data = await self._get(site, target, params)
            found.extend(p for p in data.get("data") or [] if isinstance(p, dict))
            target, params = self._next(data), None
        return found

    async def fetch_account(self, source_id: str) -> AccountBundle:
        """One account (by id, ``code-<code>``, or ``site:id`` with several sites).

        Raises:
            RecordNotFound: when no site has that account.
        """
        sites, bare = self._site_of(source_id)
        for site in sites:
            try:
                payload = await self._get(site, f"accounts/{quote(bare, safe='')}")
            except SourceResponseError as error:
                if getattr(error, "status", None) == 404:
                    continue
                raise
            account = rn.account_record(payload, site.prefix)
            account_id = rn.text(payload, "id") or bare
            base = f"accounts/{quote(account_id, safe='')}"
            now = self._clock()
            subscriptions: list[SubscriptionRecord] = []
            for item in await self._account_list(site, f"{base}/subscriptions"):
                interval = await self._interval(site, rn.sub_object(item, "plan"))
                subscriptions.append(rn.subscription_record(item, now, interval, site.prefix))
            invoices: list[InvoiceRecord] = [
                rn.invoice_record(item, now, site.prefix)
                for item in await self._account_list(site, f"{base}/invoices")
            ]
            return AccountBundle(
                account=account,
                users=[rn.user_record(payload, site.prefix)],
                subscriptions=subscriptions,
                invoices=invoices,
            )
        where = sites[0].subdomain if len(sites) == 1 else "any of its sites"
        raise RecordNotFound(f"Recurly has no account {source_id!r} on {where}.")

    # ----------------------------------------------------------- custom fields

    async def custom_fields(self, sample_size: int = 20) -> list[FieldInfo]:
        """Custom fields found on a sample of accounts and subscriptions of every site."""
        limit = str(max(1, min(sample_size, PAGE_SIZE)))
        fields: dict[tuple[str, str], list[str]] = {}
        for site in self.sites:
            for object_name, path in (("account", "accounts"), ("subscription", "subscriptions")):
                data = await self._get(site, path, [("limit", limit), ("order", "desc")])
                for payload in data.get("data") or []:
                    if not isinstance(payload, dict):
                        continue
                    entries = payload.get("custom_fields")
                    for entry in entries if isinstance(entries, list) else []:
                        if not isinstance(entry, dict):
                            continue
                        name = rn.text(entry, "name")
                        if name is None:
                            continue
                        samples = fields.setdefault((object_name, name), [])
                        value = rn.text(entry, "value")
                        if value is not None and value not in samples and len(samples) < 5:
                            samples.append(value)
        return [FieldInfo(obj, name, samples) for (obj, name), samples in sorted(fields.items())]
