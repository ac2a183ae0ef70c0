"""Recurly API v3 (``v2021-02-25``) simulator, one instance per region (US, EU).

Each region is served on its own origin at the root path, like ``v3.recurly.com`` and
``v3.eu.recurly.com``: ``acme`` lives in the US region and ``acme-eu`` in the EU region,
and a key only works in its own region. Paths work plain (the site comes from the key)
and as ``/sites/{site_id}/...`` with ``site_id`` the opaque id or ``subdomain-<name>``.
Every response carries ``Recurly-Version``, ``X-Request-Id`` and ``X-RateLimit-*``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox import recurly_render as render
from desktop.sandbox.common import basic_user, date_header
from desktop.sandbox.core import (
    CallContext,
    Identity,
    SandboxRequest,
    SandboxResponse,
    json_response,
)
from desktop.sandbox.credentials import RECURLY_KEYS
from desktop.sandbox.dataset import Filter, Op, Query, Selection, World
from desktop.sandbox.faults import FaultKind
from desktop.sandbox.ids import (
    Kind,
    format_id,
    parse_id,
    parse_invoice_number,
    parse_recurly_account_code,
    parse_recurly_uuid,
)

VENDOR: Final[str] = "recurly"
API_VERSION: Final[str] = "v2021-02-25"
ACCEPTED: Final[tuple[str, ...]] = (
    f"application/vnd.recurly.{API_VERSION}",
    f"application/vnd.recurly.{API_VERSION}+json",
    "application/vnd.recurly.latest",
)
_KEY_SITE: Final[dict[str, str]] = {key: site for site, key in RECURLY_KEYS.items()}
_ROW_BITS = 24
_SUB_STATES: Final[dict[str, tuple[int, ...]]] = {
    "active": (cat.SUB_ACTIVE, cat.SUB_TRIAL),
    "canceled": (cat.SUB_NON_RENEWING,),
    "expired": (cat.SUB_CANCELLED,),
    "future": (cat.SUB_FUTURE,),
    "in_trial": (cat.SUB_TRIAL,),
    "live": (cat.SUB_ACTIVE, cat.SUB_TRIAL, cat.SUB_NON_RENEWING, cat.SUB_FUTURE),
    "paused": (cat.SUB_PAUSED,),
}
_INV_STATES: Final[dict[str, tuple[int, ...]]] = {
    "pending": (cat.INV_OPEN, cat.INV_PARTIAL),
    "past_due": (cat.INV_OVERDUE,),
    "paid": (cat.INV_PAID,),
    "failed": (),
}
_LIST_ONLY: Final[frozenset[str]] = frozenset({"limit", "order", "sort", "begin_time", "end_time"})


class RecurlyError(Exception):
    """A request Recurly refuses; carries the HTTP status, error type and message."""

    def __init__(self, status: int, kind: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.param = param

    def response(self) -> SandboxResponse:
        """The Recurly error body."""
        params = [{"param": self.param}] if self.param else []
        return json_response(
            self.status, {"error": {"type": self.kind, "message": self.message, "params": params}}
        )


def _time(text: str, name: str) -> int:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise RecurlyError(
            400, "bad_request", f"{name} is not a valid ISO8601 time", name
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


class RecurlyHandler:
    """The Recurly simulator for one region's sites."""

    name = VENDOR

    def __init__(self, world: World, region: str) -> None:
        self.world = world
        self.region = region
        self.sites = tuple(s for s in cat.sites_of(VENDOR) if s.region == region)

    def matches(self, request: SandboxRequest) -> bool:
        """A region's mount is all Recurly."""
        return True

    def identify(self, request: SandboxRequest) -> Identity:
        """Key → site; every request is counted (Recurly reports counters on all)."""
        key = basic_user(request)
        site = _KEY_SITE.get(key) if key else None
        if key is None:
            return Identity("none", None, f"anonymous-{self.region}")
        if site is None or all(s.name != site for s in self.sites):
            return Identity("unknown", None, f"anonymous-{self.region}")
        return Identity(f"recurly:{site}", site, site)

    # -------------------------------------------------------------- answers

    def handle(self, request: SandboxRequest, ctx: CallContext) -> SandboxResponse:
        """Answers one Recurly API request."""
        try:
            self._check_accept(request)
            site = self._site(ctx.identity)
            if request.method not in ("GET", "HEAD"):
                raise RecurlyError(
                    405,
                    "bad_request",
                    "The sandbox Recurly is read-only; use the sandbox admin API.",
                )
            parts = request.segments()
            if parts[:1] == ["sites"] and len(parts) >= 2:
                addressed = self._site_by_id(parts[1])
                if addressed is None or addressed.name != site.name:
                    raise RecurlyError(
                        404, "not_found", f"Couldn't find Site with id = {parts[1]}", "site_id"
                    )
                if len(parts) == 2:
                    return json_response(200, render.site(self.world, site))
                parts = parts[2:]
            elif parts == ["sites"]:
                return self._static_list(request, [render.site(self.world, site)])
            return self._route(site, parts, request)
        except RecurlyError as error:
            return error.response()

    def _check_accept(self, request: SandboxRequest) -> None:
        accept = (request.header("accept") or "").split(";")[0].strip().lower()
        if accept not in ACCEPTED:
            raise _NotAcceptable()

    def _site(self, identity: Identity) -> cat.Site:
        for site in self.sites:
            if site.name == identity.site:
                return site
        raise RecurlyError(401, "unauthorized", "The API key is not valid for this region.")

    def _site_by_id(self, text: str) -> cat.Site | None:
        for site in self.sites:
            if text in (render.site_id(site), f"subdomain-{site.name}"):
                return site
        return None

    def _route(self, site: cat.Site, parts: list[str], request: SandboxRequest) -> SandboxResponse:
        kinds: dict[str, Kind] = {
            "accounts": "customer",
            "subscriptions": "subscription",
            "invoices": "invoice",
        }
        if parts == ["plans"]:
            return self._static_list(request, [render.plan(self.world, p) for p in cat.PLANS])
        if len(parts) == 2 and parts[0] == "plans":
            for plan in cat.PLANS:
                if parts[1] in (render.plan_id(plan), f"code-{plan.code}"):
                    return json_response(200, render.plan(self.world, plan))
            raise RecurlyError(
                404, "not_found", f"Couldn't find Plan with id = {parts[1]}", "plan_id"
            )
        kind = kinds.get(parts[0]) if parts else None
        if kind is None or len(parts) > 3:
            raise RecurlyError(404, "not_found", "The requested resource does not exist.")
        if len(parts) == 1:
            return self._list(kind, site, request, owner=None)
        with self.world.lock:
            row = self._lookup(kind, site, parts[1])
            if len(parts) == 2:
                return json_response(200, self._render(kind, np.array([row], dtype=np.int64))[0])
        nested = kinds.get(parts[2])
        if kind != "customer" or nested not in ("subscription", "invoice"):
            raise RecurlyError(404, "not_found", "The requested resource does not exist.")
        return self._list(nested, site, request, owner=row)

    def _lookup(self, kind: Kind, site: cat.Site, text: str) -> int:
        row: int | None
        if kind == "customer" and text.startswith("code-"):
            row = parse_recurly_account_code(text[5:])
        elif kind == "subscription" and text.startswith("uuid-"):
            row = parse_recurly_uuid(text[5:])
        elif kind == "invoice" and text.startswith("number-"):
            row = parse_invoice_number(text[7:])
        else:
            row = parse_id(VENDOR, kind, text)
        found = self.world.check_row(VENDOR, kind, row, site.code)
        table = self.world.table(kind)
        if found is None or (kind != "customer" and table.get("deleted", found)):
            label = {"customer": "Account", "subscription": "Subscription", "invoice": "Invoice"}[
                kind
            ]
            raise RecurlyError(404, "not_found", f"Couldn't find {label} with id = {text}", "id")
        return found

    def _render(self, kind: Kind, rows: Any) -> list[dict[str, Any]]:
        if kind == "customer":
            return render.accounts(self.world, rows)
        if kind == "subscription":
            return render.subscriptions(self.world, rows)
        return render.invoices(self.world, rows)

    # ---------------------------------------------------------------- lists

    def _list(
        self, kind: Kind, site: cat.Site, request: SandboxRequest, owner: int | None
    ) -> SandboxResponse:
        given = dict(request.query)
        if "ids" in given:
            return self._by_ids(kind, site, request, given)
        limit = _bounded(given.get("limit"), 20, 200, "limit")
        order = given.get("order", "desc")
        sort = given.get("sort", "created_at")
        if order not in ("asc", "desc"):
            raise RecurlyError(400, "bad_request", "order must be asc or desc", "order")
        if sort not in ("created_at", "updated_at"):
            raise RecurlyError(400, "bad_request", "sort must be created_at or updated_at", "sort")
        column = "created" if sort == "created_at" else "updated"
        filters: list[Filter] = []
        if "begin_time" in given:
            filters.append(Filter(column, "gte", _time(given["begin_time"], "begin_time")))
        if "end_time" in given:
            filters.append(Filter(column, "lte", _time(given["end_time"], "end_time")))
        if owner is not None:
            filters.append(Filter("customer", "eq", owner))
        filters.extend(self._kind_filters(kind, given))
        query = Query(
            kind=kind,
            vendor=VENDOR,
            site=site.code,
            include_deleted=kind == "customer",
            sort=column,
            descending=order == "desc",
            filters=tuple(filters),
        )
        with self.world.lock:
            selection = self.world.select(query)
            if kind == "customer" and "email" in given:
                selection = _email_filter(self.world, selection, given["email"])
            if request.method == "HEAD":
                return _count(len(selection))
            cursor = _cursor(given.get("cursor"), kind, order == "desc")
            rows, next_key = selection.after(cursor, limit)
            data = self._render(kind, rows)
        next_path = None
        if next_key is not None:
            value = -next_key if order == "desc" else next_key
            row = value & ((1 << _ROW_BITS) - 1)
            token = f"{format_id(VENDOR, kind, row)}:{value >> _ROW_BITS}.0"
            params = sorted(
                [(k, v) for k, v in request.query if k != "cursor"] + [("cursor", token)]
            )
            next_path = f"{request.path}?{urlencode(params)}"
        return json_response(
            200,
            {"object": "list", "has_more": next_path is not None, "next": next_path, "data": data},
        )

    def _kind_filters(self, kind: Kind, given: dict[str, str]) -> list[Filter]:
        filters: list[Filter] = []
        state = given.get("state")
        if kind == "subscription" and state is not None:
            if state not in _SUB_STATES:
                raise RecurlyError(400, "bad_request", f"state {state} is not valid", "state")
            filters.append(Filter("status", "in", _SUB_STATES[state]))
        if kind == "invoice" and state is not None:
            if state not in _INV_STATES:
                raise RecurlyError(400, "bad_request", f"state {state} is not valid", "state")
            filters.append(Filter("status", "in", _INV_STATES[state] or (-99,)))
        if kind == "invoice" and given.get("type") in ("credit", "legacy"):
            filters.append(Filter("status", "in", (-99,)))
        if kind == "customer" and given.get("subscriber") in ("true", "false"):
            flags = render.account_flags(self.world)["live"]
            rows = tuple(int(r) for r in np.flatnonzero(flags))
            op: Op = "in" if given["subscriber"] == "true" else "not_in"
            filters.append(Filter("row", op, rows or (-99,)))
        if kind == "customer" and given.get("past_due") == "true":
            rows = tuple(
                int(r) for r in np.flatnonzero(render.account_flags(self.world)["past_due"])
            )
            filters.append(Filter("row", "in", rows or (-99,)))
        return filters

    def _by_ids(
        self, kind: Kind, site: cat.Site, request: SandboxRequest, given: dict[str, str]
    ) -> SandboxResponse:
        if _LIST_ONLY & given.keys():
            raise RecurlyError(
                400, "bad_request", "ids cannot be combined with other list parameters", "ids"
            )
        ids = [i for i in given["ids"].split(",") if i][:200]
        with self.world.lock:
            rows = []
            for text in ids:
                row = self.world.check_row(VENDOR, kind, parse_id(VENDOR, kind, text), site.code)
                if row is not None and (
                    kind == "customer" or not self.world.table(kind).get("deleted", row)
                ):
                    rows.append(row)
            if request.method == "HEAD":
                return _count(len(rows))
            data = self._render(kind, np.array(rows, dtype=np.int64))
        return json_response(200, {"object": "list", "has_more": False, "next": None, "data": data})

    def _static_list(self, request: SandboxRequest, items: list[dict[str, Any]]) -> SandboxResponse:
        limit = _bounded(request.param("limit"), 20, 200, "limit")
        if request.method == "HEAD":
            return _count(len(items))
        cursor = request.param("cursor")
        start = int(cursor) if cursor and cursor.isdigit() else 0
        page = items[start : start + limit]
        next_path = None
        if start + limit < len(items):
            params = sorted(
                [(k, v) for k, v in request.query if k != "cursor"]
                + [("cursor", str(start + limit))]
            )
            next_path = f"{request.path}?{urlencode(params)}"
        return json_response(
            200,
            {"object": "list", "has_more": next_path is not None, "next": next_path, "data": page},
        )

    # ---------------------------------------------------------------- faults

    def fault_response(
        self, kind: FaultKind, status: int, request: SandboxRequest, ctx: CallContext
    ) -> SandboxResponse:
        """Recurly's 429, 5xx and authentication errors."""
        if kind == "rate_limited":
            return RecurlyError(
                429, "rate_limited", "You have made too many API requests in the last 5 minutes."
            ).response()
        if kind == "expired_token":
            return RecurlyError(401, "unauthorized", "The API key is not valid.").response()
        kinds = {
            500: "internal_server_error",
            502: "service_not_available",
            503: "service_not_available",
            504: "service_not_available",
        }
        return RecurlyError(
            status,
            kinds.get(status, "internal_server_error"),
            "The service is temporarily unavailable. Please try again.",
        ).response()

    def decorate(
        self, response: SandboxResponse, request: SandboxRequest, ctx: CallContext
    ) -> None:
        """Adds ``Date`` (the sandbox clock), ``Recurly-Version``, ``X-Request-Id`` and the
        rate-limit counters."""
        rate = ctx.rate
        response.headers.extend(
            [
                date_header(ctx.now),
                ("Recurly-Version", f"recurly.{API_VERSION}"),
                ("X-Request-Id", ctx.request_id),
                ("X-RateLimit-Limit", str(rate.limit if rate else 2000)),
                ("X-RateLimit-Remaining", str(rate.remaining if rate else 2000)),
                ("X-RateLimit-Reset", str(rate.reset if rate else int(ctx.now) + 300)),
            ]
        )
        if response.status == 429 and rate is not None:
            response.headers.append(("Retry-After", str(rate.retry_after)))


class _NotAcceptable(RecurlyError):
    def __init__(self) -> None:
        super().__init__(
            406, "invalid_api_version", "The Accept header must name a supported API version."
        )

    def response(self) -> SandboxResponse:
        acceptable = [
            "application/vnd.recurly.v2016-03-01",
            "application/vnd.recurly.v2019-10-10",
            f"application/vnd.recurly.{API_VERSION}",
        ]
        return json_response(
            406,
            {
                "error": {
                    "type": self.kind,
                    "message": self.message,
                    "acceptable_accept_headers": acceptable,
                }
            },
        )


def _bounded(text: str | None, default: int, high: int, name: str) -> int:
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= high:
        raise RecurlyError(400, "bad_request", f"{name} must be between 1 and {high}", name)
    return int(text)


def _cursor(text: str | None, kind: Kind, descending: bool) -> int | None:
    if not text:
        return None
    record_id, _, stamp = text.partition(":")
    row = parse_id(VENDOR, kind, record_id)
    try:
        value = int(float(stamp))
    except ValueError:
        row = None
    if row is None:
        raise RecurlyError(400, "bad_request", "cursor is not valid", "cursor")
    key = (value << _ROW_BITS) | row
    return -key if descending else key


def _count(total: int) -> SandboxResponse:
    return SandboxResponse(status=200, headers=[("Recurly-Total-Records", str(total))])


def _email_filter(world: World, selection: Selection, email: str) -> Selection:
    wanted = email or None
    mask = np.fromiter(
        (world.email(int(r)) == wanted for r in selection.rows), dtype=bool, count=len(selection)
    )
    return Selection(rows=selection.rows[mask], keys=selection.keys[mask])
