"""Zoho Billing API v1 simulator, per data centre, behind the shared Zoho OAuth server.

The API domain of data centre ``dc`` is ``{origin}/zoho/{dc}/api`` (the token response's
``api_domain``), so Billing lives at ``{origin}/zoho/{dc}/api/billing/v1`` (the older
``/subscriptions/v1`` prefix is accepted too). Calls need ``Authorization:
Zoho-oauthtoken <token>`` issued by the same data centre and the
``X-com-zoho-subscriptions-organizationid`` header naming an organization of that user.

Zoho has no documented "modified since" filter; lists support ``sort_column`` =
``created_time`` (default) or ``updated_time`` (alias ``last_modified_time``), with
``sort_order`` ``A``/``D`` (default ``D``), so a client can page oldest-first by
``updated_time`` and stop early, or page newest-first and stop at its bookmark.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox import zoho_billing_render as render
from desktop.sandbox.common import date_header
from desktop.sandbox.core import (
    CallContext,
    Identity,
    SandboxRequest,
    SandboxResponse,
    json_response,
)
from desktop.sandbox.dataset import Filter, Query, World
from desktop.sandbox.faults import FaultKind
from desktop.sandbox.ids import Kind, parse_id
from desktop.sandbox.zoho_events import ZohoEvents
from desktop.sandbox.zoho_oauth import AccessToken, TokenStore, split_zoho_path

VENDOR: Final[str] = "zoho-billing"
ORG_HEADER: Final[str] = "x-com-zoho-subscriptions-organizationid"
_CODE_57 = "You are not authorized to perform this operation"
_RESOURCES: Final[dict[str, tuple[Kind, str, str]]] = {
    "customers": ("customer", "customers", "customer"),
    "subscriptions": ("subscription", "subscriptions", "subscription"),
    "invoices": ("invoice", "invoices", "invoice"),
}
_REPORT_NAMES: Final[dict[Kind, str]] = {
    "customer": "Customers",
    "subscription": "Subscriptions",
    "invoice": "Invoices",
}
_SUB_FILTERS: Final[dict[str, tuple[int, ...]]] = {
    "all": tuple(range(len(cat.SUB_STATUSES))),
    "active": (cat.SUB_ACTIVE, cat.SUB_TRIAL, cat.SUB_NON_RENEWING),
    "live": (cat.SUB_ACTIVE,),
    "future": (cat.SUB_FUTURE,),
    "trial": (cat.SUB_TRIAL,),
    "non_renewing": (cat.SUB_NON_RENEWING,),
    "cancelled": (cat.SUB_CANCELLED,),
    "paused": (cat.SUB_PAUSED,),
    "past_due": (),
    "unpaid": (),
    "cancelled_from_dunning": (),
    "expired": (),
    "trial_expired": (),
    "cancelled_last_month": (cat.SUB_CANCELLED,),
    "cancelled_this_month": (cat.SUB_CANCELLED,),
}
_INV_FILTERS: Final[dict[str, tuple[int, ...]]] = {
    "all": tuple(range(len(cat.INV_STATUSES))),
    "sent": (cat.INV_OPEN,),
    "draft": (),
    "pending": (),
    "overdue": (cat.INV_OVERDUE,),
    "paid": (cat.INV_PAID,),
    "partiallypaid": (cat.INV_PARTIAL,),
    "void": (cat.INV_VOID,),
    "unpaid": (cat.INV_OPEN, cat.INV_PARTIAL, cat.INV_OVERDUE),
}
_SORT_COLUMNS: Final[dict[str, str]] = {
    "created_time": "created",
    "updated_time": "updated",
    "last_modified_time": "updated",
}


class ZohoError(Exception):
    """A Zoho error answer: HTTP status, Zoho ``code`` and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> SandboxResponse:
        """``{"code": ..., "message": ...}`` with the HTTP status."""
        return json_response(self.status, {"code": self.code, "message": self.message})


def _wants_pdf(request: SandboxRequest) -> bool:
    """``?accept=pdf`` or ``Accept: application/pdf`` asks for an invoice as a PDF."""
    return request.param("accept") == "pdf" or "application/pdf" in (request.header("accept") or "")


def invoice_pdf(invoice: dict[str, Any]) -> bytes:
    """A small, valid one-page PDF naming the invoice, its customer, date and amounts."""
    lines = [
        f"Invoice {invoice['invoice_number']}",
        f"{invoice['customer_name']}",
        f"Date {invoice['invoice_date']}  Due {invoice['due_date']}",
        (
            f"Total {invoice['currency_code']} {invoice['total']:.2f}  "
            f"Balance {invoice['balance']:.2f}  Status {invoice['status']}"
        ),
    ]
    text = "".join(
        f"BT /F1 12 Tf 72 {720 - 20 * i} Td ({_pdf_text(line)}) Tj ET\n"
        for i, line in enumerate(lines)
    ).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
        ),
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        start,
    )
    return bytes(out)


def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _success(payload: dict[str, Any]) -> SandboxResponse:
    return json_response(200, {"code": 0, "message": "success", **payload})


class ZohoBillingHandler:
    """The Zoho Billing simulator for every organization of a :class:`World`."""

    name = VENDOR

    def __init__(self, world: World, tokens: TokenStore, events: ZohoEvents | None = None) -> None:
        self.world = world
        self.tokens = tokens
        self.events = events or ZohoEvents(world)

    def matches(self, request: SandboxRequest) -> bool:
        """Serves ``/zoho/{dc}/api/billing/v1/...`` and ``.../subscriptions/v1/...``."""
        split = split_zoho_path(request.segments())
        return (
            split is not None
            and split[1] == "api"
            and split[2][:2] in (["billing", "v1"], ["subscriptions", "v1"])
        )

    def identify(self, request: SandboxRequest) -> Identity:
        """Token → user label; the organization header is the rate-limit bucket."""
        split = split_zoho_path(request.segments())
        dc = split[0] if split else "com"
        token = self.tokens.check(request.header("authorization"), dc)
        credential = f"zoho:{dc}:{token.user.email}" if isinstance(token, AccessToken) else token
        org = request.header(ORG_HEADER)
        known = org is not None and cat.site_named(VENDOR, org) is not None
        return Identity(credential=credential, site=org, bucket=org if known else None)

    # ----------------------------------------------------------------- answers

    def handle(self, request: SandboxRequest, ctx: CallContext) -> SandboxResponse:
        """Answers one Zoho Billing request."""
        split = split_zoho_path(request.segments())
        assert split is not None
        dc, _, rest = split
        try:
            token = self.tokens.check(request.header("authorization"), dc)
            if not isinstance(token, AccessToken) or not token.has_scope("ZohoSubscriptions."):
                raise ZohoError(401, 57, _CODE_57)
            if request.method not in ("GET", "HEAD"):
                raise ZohoError(
                    405, 37, "The sandbox Zoho Billing is read-only; use the sandbox admin API."
                )
            resource = rest[2:]
            if resource == ["organizations"]:
                orgs = [
                    render.organization(o, self.world)
                    for o in render.ORGS
                    if o.site.name in token.user.organizations and o.site.region == dc
                ]
                return _success({"organizations": orgs})
            org = self._org(request, token, dc)
            return self._route(org, resource, request)
        except ZohoError as error:
            return error.response()

    def _org(self, request: SandboxRequest, token: AccessToken, dc: str) -> render.Org:
        org_id = request.header(ORG_HEADER)
        if not org_id:
            raise ZohoError(
                400,
                6042,
                "Please send the organization id in the "
                "X-com-zoho-subscriptions-organizationid header.",
            )
        for org in render.ORGS:
            if (
                org.site.name == org_id
                and org_id in token.user.organizations
                and org.site.region == dc
            ):
                return org
        raise ZohoError(
            401, 6041, f"This user is not associated with the CompanyID/CompanyName:{org_id}."
        )

    def _route(
        self, org: render.Org, resource: list[str], request: SandboxRequest
    ) -> SandboxResponse:
        if not resource:
            raise ZohoError(404, 5, "Invalid URL Passed")
        head = resource[0]
        if head == "plans":
            return self._plans(org, resource[1:], request)
        if head == "events":
            return self._events(org, resource[1:], request)
        spec = _RESOURCES.get(head)
        if spec is None:
            raise ZohoError(404, 5, "Invalid URL Passed")
        kind, list_key, one_key = spec
        if len(resource) == 1:
            return self._list(kind, list_key, org, request)
        with self.world.lock:
            row = self._lookup(kind, org, resource[1])
            if len(resource) == 2:
                record = self._render(kind, np.array([row], dtype=np.int64), org)[0]
                if kind == "invoice" and _wants_pdf(request):
                    return SandboxResponse(
                        status=200, body=invoice_pdf(record), content_type="application/pdf"
                    )
                return _success({one_key: record})
            if kind == "customer" and resource[2] == "contactpersons":
                people = render.contact_persons(self.world, row, org)
                if len(resource) == 3:
                    return _success({"contactpersons": people})
                found = [p for p in people if p["contactperson_id"] == resource[3]]
                if found and len(resource) == 4:
                    return _success({"contactperson": found[0]})
                raise ZohoError(404, 1002, "Contact person does not exist.")
        raise ZohoError(404, 5, "Invalid URL Passed")

    def _lookup(self, kind: Kind, org: render.Org, text: str) -> int:
        row = self.world.row_of(VENDOR, kind, text, org.site.code)
        if row is None or self.world.table(kind).get("deleted", row):
            raise ZohoError(404, 1002, f"{_REPORT_NAMES[kind][:-1]} does not exist.")
        return row

    def _render(self, kind: Kind, rows: Any, org: render.Org) -> list[dict[str, Any]]:
        if kind == "customer":
            return render.customers(self.world, rows, org)
        if kind == "subscription":
            return render.subscriptions(self.world, rows, org)
        return render.invoices(self.world, rows, org)

    # ------------------------------------------------------------------- lists

    def _paging(self, request: SandboxRequest) -> tuple[int, int]:
        page_text = request.param("page") or "1"
        per_text = request.param("per_page") or "200"
        if not page_text.isdigit() or int(page_text) < 1:
            raise ZohoError(400, 2, "Invalid value passed for page")
        if not per_text.isdigit() or not 1 <= int(per_text) <= 200:
            raise ZohoError(400, 2, "Invalid value passed for per_page")
        return int(page_text), int(per_text)

    def _list(
        self, kind: Kind, key: str, org: render.Org, request: SandboxRequest
    ) -> SandboxResponse:
        page, per_page = self._paging(request)
        sort_name = request.param("sort_column") or "created_time"
        column = _SORT_COLUMNS.get(sort_name)
        if kind == "invoice" and sort_name in ("date", "invoice_date"):
            column = "date"
        if column is None:
            raise ZohoError(400, 2, "Invalid value passed for sort_column")
        order = (request.param("sort_order") or "D").upper()
        if order not in ("A", "D"):
            raise ZohoError(400, 2, "Invalid value passed for sort_order")
        filters, applied = self._filters(kind, request)
        query = Query(kind, VENDOR, org.site.code, False, column, order == "D", tuple(filters))
        with self.world.lock:
            selection = self.world.select(query)
            rows = selection.rows
            email = request.param("email")
            if kind == "customer" and email is not None:
                rows = np.array(
                    [r for r in rows.tolist() if self.world.email(r) == email], dtype=np.int64
                )
            start = (page - 1) * per_page
            chunk = rows[start : start + per_page]
            records = self._render(kind, chunk, org)
        context = {
            "page": page,
            "per_page": per_page,
            "has_more_page": start + per_page < len(rows),
            "report_name": _REPORT_NAMES[kind],
            "applied_filter": applied,
            "sort_column": sort_name,
            "sort_order": order,
        }
        return _success({key: records, "page_context": context})

    def _filters(self, kind: Kind, request: SandboxRequest) -> tuple[list[Filter], str]:
        filters: list[Filter] = []
        raw = request.param("filter_by") or ""
        word = raw.split(".", 1)[1].lower() if "." in raw else raw.lower()
        applied = raw or "Status.All"
        for name, column, target in (
            ("customer_id", "customer", "customer"),
            ("subscription_id", "subscription", "subscription"),
        ):
            value = request.param(name)
            if value is not None and (kind != "customer"):
                row = parse_id(VENDOR, target, value)  # type: ignore[arg-type]
                filters.append(Filter(column, "eq", row if row is not None else -99))
        if not raw:
            return filters, applied
        if kind == "subscription":
            codes = _SUB_FILTERS.get(word)
            if codes is None or not raw.lower().startswith("subscriptionstatus."):
                raise ZohoError(400, 2, "Invalid value passed for filter_by")
            filters.append(Filter("status", "in", codes or (-99,)))
            if word.startswith("cancelled_") and word != "cancelled_from_dunning":
                filters.extend(self._cancel_window(word))
        elif kind == "invoice":
            codes = _INV_FILTERS.get(word)
            if codes is None or not raw.lower().startswith("status."):
                raise ZohoError(400, 2, "Invalid value passed for filter_by")
            filters.append(Filter("status", "in", codes or (-99,)))
        else:
            if word not in (
                "all",
                "active",
                "inactive",
                "crm",
                "nonsubscribers",
                "portalenabled",
                "portaldisabled",
                "gapps",
            ):
                raise ZohoError(400, 2, "Invalid value passed for filter_by")
            if word in ("active", "inactive"):
                filters.append(Filter("inactive", "eq", int(word == "inactive")))
            elif word in ("crm", "portalenabled", "gapps"):
                filters.append(Filter("row", "in", (-99,)))
            elif word == "nonsubscribers":
                subs = self.world.subscriptions
                live = np.isin(
                    subs.col("status"), (cat.SUB_ACTIVE, cat.SUB_TRIAL, cat.SUB_NON_RENEWING)
                ) & ~subs.col("deleted")
                owners = tuple(int(r) for r in np.unique(subs.col("customer")[live]))
                filters.append(Filter("row", "not_in", owners or (-99,)))
        return filters, applied

    def _cancel_window(self, word: str) -> list[Filter]:
        from datetime import UTC, datetime

        now = datetime.fromtimestamp(self.world.clock_now(), UTC)
        this_month = int(datetime(now.year, now.month, 1, tzinfo=UTC).timestamp())
        if word == "cancelled_this_month":
            return [Filter("cancelled_at", "gte", this_month)]
        prev = datetime(now.year - (now.month == 1), (now.month - 2) % 12 + 1, 1, tzinfo=UTC)
        return [
            Filter("cancelled_at", "gte", int(prev.timestamp())),
            Filter("cancelled_at", "lt", this_month),
        ]

    def _plans(self, org: render.Org, rest: list[str], request: SandboxRequest) -> SandboxResponse:
        plans = [render.plan(self.world, p, org) for p in cat.PLANS]
        if rest:
            found = [p for p in plans if p["plan_code"] == rest[0]]
            if not found or len(rest) > 1:
                raise ZohoError(404, 1002, "Plan does not exist.")
            return _success({"plan": found[0]})
        page, per_page = self._paging(request)
        start = (page - 1) * per_page
        context = {
            "page": page,
            "per_page": per_page,
            "has_more_page": start + per_page < len(plans),
            "report_name": "Plans",
        }
        return _success({"plans": plans[start : start + per_page], "page_context": context})

    def _events(self, org: render.Org, rest: list[str], request: SandboxRequest) -> SandboxResponse:
        if rest:
            found = self.events.find(rest[0], org.site.code) if len(rest) == 1 else None
            if found is None:
                raise ZohoError(404, 1002, "Event does not exist.")
            return _success({"event": found})
        page, per_page = self._paging(request)
        start = (page - 1) * per_page
        events, total = self.events.page(org.site.code, start, per_page)
        context = {
            "page": page,
            "per_page": per_page,
            "has_more_page": start + per_page < total,
            "report_name": "Events",
        }
        return _success({"events": events, "page_context": context})

    # ------------------------------------------------------------------ faults

    def fault_response(
        self, kind: FaultKind, status: int, request: SandboxRequest, ctx: CallContext
    ) -> SandboxResponse:
        """Zoho's code 44 (429), code 57 (401) and code 1000 (5xx) answers."""
        if kind == "rate_limited":
            return ZohoError(
                429,
                44,
                "For security reasons your organization has been blocked as it has exceeded "
                "the maximum number of requests per minute.",
            ).response()
        if kind == "expired_token":
            return ZohoError(401, 57, _CODE_57).response()
        return ZohoError(status, 1000, "Internal error. Please try again later.").response()

    def decorate(
        self, response: SandboxResponse, request: SandboxRequest, ctx: CallContext
    ) -> None:
        """Adds the ``Date`` header (the sandbox clock); Zoho Billing sends no special ones."""
        response.headers.append(date_header(ctx.now))
