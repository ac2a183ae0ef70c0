"""Zoho CRM REST API simulator (``/crm/v2`` … ``/crm/v8``): Contacts, Accounts, Deals.

Addressing over loopback, on the sandbox's Zoho origin:

1. ``/zoho/{dc}/api/crm/{version}/...`` — the ``api_domain`` the sandbox's accounts
   server hands out is ``http://127.0.0.1:PORT/zoho/{dc}/api``, so a client that
   follows ``api_domain`` lands here;
2. plain ``/crm/{version}/...`` with ``Host: www.zohoapis.{tld}`` (a redirected,
   unmodified client), or with any other host for the org's own data centre.

Auth is ``Authorization: Zoho-oauthtoken <access token>`` from
:class:`~desktop.sandbox.zoho_oauth.TokenStore`; the token must come from the CRM org's
data centre and carry a matching scope (``ZohoCRM.modules.ALL`` or
``ZohoCRM.modules.contacts.READ`` …, ``ZohoCRM.settings.ALL``, ``ZohoCRM.users.READ``,
``ZohoCRM.org.READ``). Records, search and writes follow
``shared/reference/zoho-crm.md``; metadata is in :mod:`desktop.sandbox.zoho_crm_meta`.

:class:`ZohoCrmHandler` bundles the records, the HTTP handler, ground truth and mutations;
the facade registers it on the Zoho mount with
``self.register(ZohoCrmHandler(self.world, self.tokens), "zoho")`` and tests find it with
``crm_of(sandbox.mounts["zoho"].handlers)``.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any, Final

from desktop.sandbox.core import CallContext, Identity, SandboxRequest, SandboxResponse
from desktop.sandbox.crm_data import CRM_ORG_ID
from desktop.sandbox.dataset import World
from desktop.sandbox.faults import FaultKind
from desktop.sandbox.zoho_crm_meta import (
    VIEW_COLUMNS,
    MetaRoutes,
    Refusal,
    allowed,
    bad_url,
    empty,
    error,
)
from desktop.sandbox.zoho_crm_meta import json_response as _json
from desktop.sandbox.zoho_crm_read import RecordReader
from desktop.sandbox.zoho_crm_schema import MODULES, field_named, parse_datetime
from desktop.sandbox.zoho_crm_search import SearchRoutes
from desktop.sandbox.zoho_crm_store import CrmConfig, CrmRecord, CrmStore, Ordered, iso_time
from desktop.sandbox.zoho_crm_write import MAX_RECORDS, CrmMutations, CrmWriter, batch_status
from desktop.sandbox.zoho_oauth import AccessToken, TokenStore, split_zoho_path

VENDOR: Final[str] = "zoho-crm"
VERSIONS: Final[tuple[str, ...]] = ("v2", "v2.1", "v3", "v4", "v5", "v6", "v7", "v8")
#: Records reachable with ``page`` alone, and with ``page_token``.
DISCRETE_LIMIT: Final[int] = 2_000
TOKEN_LIMIT: Final[int] = 100_000
_SORTS: Final[tuple[str, ...]] = ("id", "Created_Time", "Modified_Time")
_HOST_DC: Final[dict[str, str]] = {
    "com": "com",
    "eu": "eu",
    "in": "in",
    "com.au": "com.au",
    "jp": "jp",
    "ca": "ca",
    "com.cn": "com.cn",
    "sa": "sa",
}


@dataclass(frozen=True)
class _PageToken:
    signature: tuple[object, ...]
    last_key: tuple[int, int]
    page: int
    expires: int


@dataclass(frozen=True)
class Call:
    """One routed API request.

    Attributes:
        dc: the data centre addressed.
        version: ``v2`` … ``v8``.
        rest: the path after ``/crm/{version}``.
        token: the caller's access token.
        now: the sandbox clock (epoch seconds, never before the dataset's "now").
    """

    dc: str
    version: str
    rest: list[str]
    token: AccessToken
    now: int

    @property
    def modern(self) -> bool:
        """v3 or later (``fields`` required, ``page_token``, 207)."""
        return self.version not in ("v2", "v2.1")


class ZohoCrmHandler:
    """The CRM simulator: a :class:`~desktop.sandbox.core.VendorHandler` plus its records,
    ground truth and mutations.

    Args:
        world: the sandbox world (its CRM data is built on first use).
        tokens: the sandbox's Zoho token store (shared with Zoho Billing).
        config: per-run settings (unique e-mail, currencies, pipelines, index delay ...).

    Attributes:
        store: the live CRM records.
        mutations: sandbox-side create/update/delete/touch (also for an admin endpoint).
    """

    name = VENDOR

    def __init__(self, world: World, tokens: TokenStore, config: CrmConfig | None = None) -> None:
        self.store = CrmStore(world, config or CrmConfig())
        self.tokens = tokens
        self.writer = CrmWriter(self.store)
        self.meta = MetaRoutes(self.store)
        self.reader = RecordReader(self.store)
        self.search = SearchRoutes(self.reader)
        self.mutations = CrmMutations(self.store)
        self._page_tokens: OrderedDict[str, _PageToken] = OrderedDict()
        self._token_count = 0

    # ---------------------------------------------------------- test hooks

    @property
    def config(self) -> CrmConfig:
        """The current per-run settings."""
        return self.store.config

    def configure(self, **changes: Any) -> CrmConfig:
        """Changes settings mid-run (``configure(contact_email_unique=True)``)."""
        with self.store.lock:
            self.store.config = replace(self.store.config, **changes)
            self.store.changed()
            return self.store.config

    def truth(self, module: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Ground truth: every record of a module in canonical form (lookups as ids,
        times as epoch seconds, amounts in major units) plus ``deleted``."""
        if module not in MODULES:
            raise ValueError(f"The sandbox CRM has no module {module!r}; use {MODULES}.")
        return self.store.truth(module, include_deleted)

    # ------------------------------------------------------------ routing

    def _route(self, request: SandboxRequest) -> tuple[str, list[str]] | None:
        parts = request.segments()
        if parts[:1] == ["zoho"]:
            split = split_zoho_path(parts)
            if split is None or split[1] != "api" or split[2][:1] != ["crm"]:
                return None
            return split[0], split[2][1:]
        if parts[:1] != ["crm"]:
            return None
        host = request.host.lower()
        dc = self.store.config.dc
        if ".zohoapis." in f".{host}":
            dc = _HOST_DC.get(host.split("zohoapis.", 1)[1], dc)
        return dc, parts[1:]

    def matches(self, request: SandboxRequest) -> bool:
        """Serves ``/zoho/{dc}/api/crm/...`` and ``/crm/...``."""
        return self._route(request) is not None

    def identify(self, request: SandboxRequest) -> Identity:
        """The caller's Zoho login; calls with a valid token count against the org's budget."""
        routed = self._route(request)
        dc = routed[0] if routed else self.store.config.dc
        checked = self.tokens.check(request.header("authorization"), dc)
        if isinstance(checked, AccessToken):
            return Identity(
                credential=f"zoho:{checked.user.email}",
                site=CRM_ORG_ID,
                bucket=f"{VENDOR}:{CRM_ORG_ID}",
            )
        label = "none" if checked == "missing" else "unknown"
        return Identity(credential=label, site=CRM_ORG_ID, bucket=None)

    def handle(self, request: SandboxRequest, ctx: CallContext) -> SandboxResponse:
        """Authenticates, routes and answers one CRM call."""
        routed = self._route(request)
        assert routed is not None
        dc, rest = routed
        if not rest or rest[0] not in VERSIONS:
            return bad_url()
        checked = self.tokens.check(request.header("authorization"), dc)
        if checked == "missing":
            return error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        if not isinstance(checked, AccessToken):
            return error(401, "INVALID_TOKEN", "invalid oauth token")
        if dc != self.store.config.dc:
            return error(
                403, "NO_PERMISSION", "permission denied", permissions=["Crm_Implied_Api_Access"]
            )
        call = Call(dc, rest[0], rest[1:], checked, self.store.world.clock_now())
        try:
            return self._dispatch(request, call)
        except Refusal as refusal:
            return refusal.response

    def _dispatch(self, request: SandboxRequest, call: Call) -> SandboxResponse:
        rest = call.rest
        method = request.method
        if not rest:
            return bad_url()
        if rest[0] in ("users", "org", "settings"):
            return self.meta.answer(request, call.token, rest, call.modern)
        module = next((m for m in MODULES if m.lower() == rest[0].lower()), None)
        if module is None:
            return error(
                400,
                "INVALID_MODULE",
                "the module name given seems to be invalid",
                resource_path_index=0,
            )
        tail = rest[1:]
        routes: dict[tuple[str, ...], dict[str, tuple[str, Callable[[], SandboxResponse]]]] = {
            (): {
                "GET": ("read", lambda: self._list(request, call, module)),
                "POST": ("create", lambda: self._write(request, call, module, "insert")),
                "PUT": ("update", lambda: self._write(request, call, module, "update")),
                "DELETE": ("delete", lambda: self._delete(request, call, module, None)),
            },
            ("upsert",): {"POST": ("upsert", lambda: self._write(request, call, module, "upsert"))},
            ("search",): {"GET": ("read", lambda: self.search.search(request, module, call.now))},
            ("actions", "count"): {
                "GET": ("read", lambda: self.search.count(request, module, call.now))
            },
            ("deleted",): {
                "GET": ("read", lambda: self.search.deleted(request, module, self._since(request)))
            },
        }
        handlers = routes.get(tuple(tail))
        if handlers is None and len(tail) == 1 and tail[0].isdigit():
            record_id = tail[0]
            handlers = {
                "GET": ("read", lambda: self._get(request, call, module, record_id)),
                "PUT": (
                    "update",
                    lambda: self._write(request, call, module, "update", record_id),
                ),
                "DELETE": ("delete", lambda: self._delete(request, call, module, record_id)),
            }
        if handlers is None:
            return bad_url()
        chosen = handlers.get(method)
        if chosen is None:
            return error(
                405, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
            )
        op, run = chosen
        if not self._may(call.token, module, op):
            return error(401, "OAUTH_SCOPE_MISMATCH", "Unauthorized")
        if op == "read" and tail == ["search"] and not call.modern:
            scopes = {s.lower() for s in call.token.scopes}
            if not allowed(call.token, "modules", module.lower(), "read") or (
                "zohosearch.securesearch.read" not in scopes
                and "zohosearch.securesearch.all" not in scopes
                and "zohocrm.modules.all" not in scopes
            ):
                return error(401, "OAUTH_SCOPE_MISMATCH", "Unauthorized")
        with self.store.lock:
            return run()

    def _may(self, token: AccessToken, module: str, op: str) -> bool:
        sub = module.lower()
        if op == "upsert":
            return allowed(token, "modules", sub, "create") and allowed(
                token, "modules", sub, "update"
            )
        return allowed(token, "modules", sub, op)

    # ----------------------------------------------------------- rendering

    # ----------------------------------------------------------------- list

    def _list(self, request: SandboxRequest, call: Call, module: str) -> SandboxResponse:
        fields = self.reader.fields(request, module)
        cvid, view_filter = self.reader.view(request, module)
        ids_raw = request.param("ids")
        if fields is None and call.modern and cvid is None and ids_raw is None:
            return error(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                param_name="fields",
            )
        if fields is None and cvid is not None:
            view = next(v for v in self.store.data.views if v.id == cvid)
            fields = list(VIEW_COLUMNS[view.module])
        sort_by = request.param("sort_by")
        if sort_by is not None and cvid is not None:
            return error(
                400,
                "INVALID_DATA",
                "sort_by cannot be used along with cvid",
                param_name="sort_by",
            )
        sort_by = sort_by or "id"
        if sort_by not in _SORTS:
            return error(
                400,
                "INVALID_DATA",
                "invalid data",
                param_name="sort_by",
                supported_values=list(_SORTS),
            )
        order = request.param("sort_order") or "desc"
        if order not in ("asc", "desc"):
            return error(
                400,
                "INVALID_DATA",
                "invalid data",
                param_name="sort_order",
                supported_values=["asc", "desc"],
            )
        since = self._since(request)
        ids = {i.strip() for i in ids_raw.split(",") if i.strip()} if ids_raw else None
        if ids is not None and len(ids) > MAX_RECORDS:
            return error(400, "LIMIT_EXCEEDED", "too many ids", param_name="ids", limit=MAX_RECORDS)

        def keep(record: CrmRecord) -> bool:
            if ids is not None and record.id not in ids:
                return False
            if since is not None and record.modified <= since:
                return False
            return view_filter is None or view_filter(self.reader.getter(module, record))

        plain = ids is None and since is None and view_filter is None
        scope = (cvid, since, tuple(sorted(ids)) if ids else None)
        ordered = self.store.ordered(
            module, sort_by, order == "desc", scope, None if plain else keep
        )
        signature = (module, sort_by, order, *scope)
        return self._page(request, call, module, ordered, fields, signature, since is not None)

    def _since(self, request: SandboxRequest) -> int | None:
        header = request.header("if-modified-since")
        if not header:
            return None
        parsed = parse_datetime(header)
        if parsed is None:
            try:
                parsed = int(parsedate_to_datetime(header).timestamp())
            except (TypeError, ValueError):
                raise Refusal(
                    error(400, "INVALID_DATA", "invalid data", param_name="If-Modified-Since")
                ) from None
        return parsed

    def _page(
        self,
        request: SandboxRequest,
        call: Call,
        module: str,
        ordered: Ordered,
        fields: list[str] | None,
        signature: tuple[object, ...],
        incremental: bool,
    ) -> SandboxResponse:
        page, per_page = self.reader.paging(request)
        token = request.param("page_token")
        if token is not None and call.modern:
            if request.param("page") is not None:
                return error(
                    400,
                    "INVALID_REQUEST",
                    "page and page_token cannot be given together",
                    param_name="page_token",
                )
            entry = self._page_tokens.get(token)
            if entry is None or entry.signature != signature:
                return error(400, "INVALID_DATA", "invalid page token", param_name="page_token")
            if entry.expires <= call.now:
                return error(400, "INVALID_DATA", "page token expired", param_name="page_token")
            start, page = ordered.after(entry.last_key), entry.page
        else:
            if page * per_page > DISCRETE_LIMIT and call.modern:
                return error(
                    400,
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "Cannot fetch more than 2000 records with page; use page_token.",
                    limit=DISCRETE_LIMIT,
                )
            start = (page - 1) * per_page
        if start >= TOKEN_LIMIT:
            return error(
                400,
                "PAGINATION_LIMIT_EXCEEDED",
                "Cannot fetch more than 100000 records.",
                limit=TOKEN_LIMIT,
            )
        end = min(start + per_page, len(ordered.records), TOKEN_LIMIT)
        chunk = ordered.records[start:end]
        if not chunk:
            return empty(304 if incremental else 204)
        more = end < len(ordered.records)
        info: dict[str, Any] = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": more,
        }
        if call.modern:
            next_token = None
            expiry = None
            if more and end < TOKEN_LIMIT:
                expires = call.now + self.store.config.page_token_ttl
                next_token = self._issue(
                    _PageToken(signature, ordered.keys[end - 1], page + 1, expires)
                )
                expiry = iso_time(expires, self.store.config.time_offset_minutes)
            info.update(
                {
                    "sort_by": signature[1],
                    "sort_order": signature[2],
                    "next_page_token": next_token,
                    "previous_page_token": None,
                    "page_token_expiry": expiry,
                    "call": False,
                    "email": False,
                }
            )
        data = [self.reader.render(module, r, fields) for r in chunk]
        return _json(200, {"data": data, "info": info})

    def _issue(self, entry: _PageToken) -> str:
        self._token_count += 1
        digest = hashlib.sha256(f"{entry}:{self._token_count}".encode()).hexdigest()
        token = f"{digest[:40]}{self._token_count:x}"
        self._page_tokens[token] = entry
        while len(self._page_tokens) > 20_000:
            self._page_tokens.popitem(last=False)
        return token

    def _get(
        self, request: SandboxRequest, call: Call, module: str, record_id: str
    ) -> SandboxResponse:
        fields = self.reader.fields(request, module)
        record = self.store.get(module, record_id)
        if record is None:
            return empty(204)
        return _json(200, {"data": [self.reader.render(module, record, fields)]})

    # --------------------------------------------------------------- search

    # --------------------------------------------------------------- writes

    def _write(
        self,
        request: SandboxRequest,
        call: Call,
        module: str,
        mode: str,
        record_id: str | None = None,
    ) -> SandboxResponse:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return error(400, "INVALID_DATA", "body is not a valid JSON object")
        items = body.get("data")
        if items is None:
            return error(400, "MANDATORY_NOT_FOUND", "required field not found", api_name="data")
        if not isinstance(items, list) or not items:
            return error(
                400, "INVALID_DATA", "invalid data", api_name="data", expected_data_type="jsonarray"
            )
        if len(items) > MAX_RECORDS or (record_id is not None and len(items) > 1):
            limit = 1 if record_id is not None else MAX_RECORDS
            return error(
                400, "LIMIT_EXCEEDED", "the number of records exceeds the limit", limit=limit
            )
        checks = body.get("duplicate_check_fields") or []
        if mode == "upsert":
            bad = [c for c in checks if not isinstance(c, str) or field_named(module, c) is None]
            if not isinstance(checks, list) or bad:
                return error(
                    400,
                    "INVALID_DATA",
                    "invalid data",
                    param_name="duplicate_check_fields",
                    api_name=str(bad[0]) if bad else "duplicate_check_fields",
                )
        user = self.store.data.current_user
        results = self.writer.write(
            module,
            "insert" if mode == "insert" else "update" if mode == "update" else "upsert",
            items,
            user,
            checks,
            record_id,
        )
        ok = {"insert": 201, "update": 200, "upsert": 200}[mode]
        status = batch_status(results, ok, 207 if call.modern else 202)
        return _json(status, {"data": results})

    def _delete(
        self, request: SandboxRequest, call: Call, module: str, record_id: str | None
    ) -> SandboxResponse:
        ids = [record_id] if record_id else []
        if record_id is None:
            raw = request.param("ids") or ""
            ids = [i.strip() for i in raw.split(",") if i.strip()]
            if not ids:
                return error(
                    400,
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    param_name="ids",
                )
            if len(ids) > MAX_RECORDS:
                return error(
                    400, "LIMIT_EXCEEDED", "too many ids", param_name="ids", limit=MAX_RECORDS
                )
        results = self.writer.delete(module, ids, self.store.data.current_user)
        status = batch_status(results, 200, 207 if call.modern else 202)
        return _json(status, {"data": results})

    # ------------------------------------------------------- vendor hooks

    def fault_response(
        self, kind: FaultKind, status: int, request: SandboxRequest, ctx: CallContext
    ) -> SandboxResponse:
        """Zoho CRM's 429, expired-token and server-error answers."""
        if kind == "rate_limited":
            return error(
                429,
                "TOO_MANY_REQUESTS",
                "The number of API requests has exceeded the allowed limit. Try again later.",
            )
        if kind == "expired_token":
            return error(401, "INVALID_TOKEN", "invalid oauth token")
        return error(status, "INTERNAL_ERROR", "Internal Server Error")

    def decorate(
        self, response: SandboxResponse, request: SandboxRequest, ctx: CallContext
    ) -> None:
        """Zoho CRM sends no per-response rate-limit headers the clients rely on."""


def crm_of(mount_handlers: Iterable[object]) -> ZohoCrmHandler:
    """Finds the CRM simulator among a mount's handlers (``sandbox.mounts["zoho"].handlers``)."""
    for handler in mount_handlers:
        if isinstance(handler, ZohoCrmHandler):
            return handler
    raise LookupError("The Zoho CRM simulator is not registered on this mount.")
