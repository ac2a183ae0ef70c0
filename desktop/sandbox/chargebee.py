"""Chargebee API v2 simulator (Product Catalog 2.0).

Addressing over loopback, tried in this order:

1. path prefix ``/chargebee/{site}/api/v2/...`` (the published base URL
   ``http://127.0.0.1:PORT/chargebee/{site}/api/v2``);
2. plain ``/api/v2/...`` with ``Host: {site}.chargebee.com`` (what an unmodified client
   sends when its traffic is redirected);
3. plain ``/api/v2/...`` with any host: the site whose API key was presented.

Serves ``customers``, ``subscriptions``, ``invoices`` (list + retrieve), ``items`` and
``item_prices`` (the plan catalogue) and ``configurations``. Everything else, and every
non-GET method, answers with a Chargebee error. Every answer carries a ``Date`` header
from the sandbox clock, as any HTTP server's does.

Records without ``updated_at``: to model drift, a record that was never changed after it
was created is rendered without ``updated_at`` (and invoices, like Chargebee's, carry no
``created_at`` at all). The server still knows when each record last changed, so
``updated_at[after|before|on|between]`` and ``sort_by[asc|desc]=updated_at`` treat such a
record as updated when it was created — the behaviour of a vendor whose ``updated_at``
column defaults to the creation time and is merely left out of the answer. Such a record
therefore comes back from an ``updated_at[after]`` filter once, when it is new, and
never again until it changes (and then it carries ``updated_at``).
"""

from __future__ import annotations

import json
from typing import Any, Final

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.chargebee_query import FilterError, ListSpec, parse_list
from desktop.sandbox.common import (
    PLAN_MONTHS,
    PRICES,
    basic_user,
    column,
    compact,
    date_header,
)
from desktop.sandbox.core import (
    CallContext,
    Identity,
    SandboxRequest,
    SandboxResponse,
    json_response,
)
from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.sandbox.dataset import Query, World
from desktop.sandbox.faults import FaultKind
from desktop.sandbox.ids import Kind, format_ids
from desktop.sandbox.store import NONE

VENDOR: Final[str] = "chargebee"
_KEY_SITE: Final[dict[str, str]] = {key: site for site, key in CHARGEBEE_KEYS.items()}
_CUSTOMER_COLS = (
    "site", "first", "currency", "country", "net_terms", "auto_collect",
    "created", "updated", "deleted",
)  # fmt: skip
_SUB_COLS = (
    "customer", "currency", "plan", "quantity", "status", "coupon", "started", "trial_start",
    "trial_end", "term_start", "term_end", "cancelled_at", "paused_at", "auto_collect",
    "created", "updated", "deleted",
)  # fmt: skip
_INV_COLS = (
    "customer", "subscription", "currency", "plan", "quantity", "date", "due", "subtotal",
    "discount", "tax", "total", "paid", "status", "paid_at", "voided_at", "updated", "deleted",
)  # fmt: skip
_PERIOD_UNIT = ("month", "month", "year")
_PERIOD = (1, 3, 1)
#: The plan catalogue's creation time, relative to the dataset's "now".
CATALOG_AGE = 900 * cat.DAY


def item_price_id(plan: cat.Plan, currency: int) -> str:
    """``team-USD-monthly``: the PC 2.0 item price id of a plan in a currency."""
    return f"{plan.product.code}-{cat.CURRENCIES[currency]}-{cat.INTERVALS[plan.interval]}"


def error_body(
    status: int, code: str, message: str, kind: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """A Chargebee error body with every field the SDKs read."""
    return compact(
        {
            "message": message,
            "type": kind,
            "api_error_code": code,
            "param": param,
            "error_code": code,
            "error_msg": message,
            "error_param": param,
            "http_status_code": status,
        }
    )


def _error(
    status: int, code: str, message: str, kind: str | None = None, param: str | None = None
) -> SandboxResponse:
    return json_response(status, error_body(status, code, message, kind, param))


_NOT_FOUND = "Sorry, we couldn't find that resource"


class ChargebeeHandler:
    """The Chargebee v2 simulator for every Chargebee site of a :class:`World`."""

    name = VENDOR

    def __init__(self, world: World) -> None:
        self.world = world

    # ------------------------------------------------------------ routing

    def matches(self, request: SandboxRequest) -> bool:
        """Serves ``/chargebee/{site}/api/v2/...`` and ``/api/v2/...``."""
        return request.path.startswith(("/chargebee/", "/api/v2"))

    def _split(self, request: SandboxRequest) -> tuple[str | None, list[str]]:
        """Returns (site from path or Host, resource segments after ``/api/v2``)."""
        parts = request.segments()
        site: str | None = None
        if parts and parts[0] == "chargebee":
            site = parts[1] if len(parts) > 1 else ""
            parts = parts[2:]
        elif request.host.endswith(".chargebee.com"):
            site = request.host.removesuffix(".chargebee.com")
        if parts[:2] != ["api", "v2"]:
            return site, []
        return site, parts[2:]

    def identify(self, request: SandboxRequest) -> Identity:
        """Key → site; the addressed site is the rate-limit bucket."""
        key = basic_user(request)
        key_site = _KEY_SITE.get(key) if key else None
        credential = "none" if key is None else (f"chargebee:{key_site}" if key_site else "unknown")
        site, _ = self._split(request)
        site = site if site is not None else key_site
        known = site is not None and cat.site_named(VENDOR, site) is not None
        return Identity(credential=credential, site=site, bucket=site if known else None)

    # ------------------------------------------------------------ answers

    def handle(self, request: SandboxRequest, ctx: CallContext) -> SandboxResponse:
        """Answers one Chargebee API request."""
        site_name, resource = self._split(request)
        key = basic_user(request)
        if site_name is None:
            site_name = _KEY_SITE.get(key or "")
        site = cat.site_named(VENDOR, site_name or "")
        if site is None:
            return _error(
                404,
                "site_not_found",
                f"Sorry, the site {site_name or ''} was not found.",
                "invalid_request",
            )
        if key is None or _KEY_SITE.get(key) != site.name:
            return _error(
                401, "api_authentication_failed", "Sorry, authentication failed. Invalid api key"
            )
        if request.method not in ("GET", "HEAD"):
            return _error(
                405,
                "operation_not_supported",
                "The sandbox Chargebee is read-only; change data through the sandbox admin API.",
                "invalid_request",
            )
        if not resource:
            return _error(404, "resource_not_found", _NOT_FOUND, "invalid_request")
        try:
            return self._route(site, resource, request)
        except FilterError as error:
            return _error(400, "param_wrong_value", error.message, "invalid_request", error.param)

    def _route(
        self, site: cat.Site, resource: list[str], request: SandboxRequest
    ) -> SandboxResponse:
        name = resource[0]
        if name == "configurations" and len(resource) == 1:
            return json_response(200, {"configurations": [self._configuration(site)]})
        if name in ("items", "item_prices"):
            return self._catalog(name, resource[1:], request)
        kinds: dict[str, Kind] = {
            "customers": "customer",
            "subscriptions": "subscription",
            "invoices": "invoice",
        }
        kind = kinds.get(name)
        if kind is None or len(resource) > 2:
            return _error(404, "resource_not_found", _NOT_FOUND, "invalid_request")
        if len(resource) == 2:
            return self._retrieve(kind, site, resource[1])
        spec = parse_list(self.world, kind, site.code, request.query)
        return self._list(kind, site, spec)

    def _configuration(self, site: cat.Site) -> dict[str, Any]:
        return {
            "domain": site.name,
            "product_catalog_version": "v2",
            "chargebee_response_schema_type": "compat",
            "object": "configuration",
        }

    def _retrieve(self, kind: Kind, site: cat.Site, record_id: str) -> SandboxResponse:
        with self.world.lock:
            row = self.world.row_of(VENDOR, kind, record_id, site.code)
            table = self.world.table(kind)
            if row is None or table.get("deleted", row):
                return _error(
                    404,
                    "resource_not_found",
                    f"{kind} not found for id {record_id}",
                    "invalid_request",
                    "id",
                )
            import numpy as np

            return json_response(200, self._wrap(kind, np.array([row], dtype=np.int64))[0])

    def _list(self, kind: Kind, site: cat.Site, spec: ListSpec) -> SandboxResponse:
        with self.world.lock:
            selection = self.world.select(spec.query)
            if spec.text_filter is not None:
                selection = spec.text_filter(selection)
            rows, cursor = selection.after(spec.cursor, spec.limit)
            payload: dict[str, Any] = {"list": self._wrap(kind, rows)}
            if cursor is not None:
                payload["next_offset"] = spec.encode_offset(cursor)
        return json_response(200, payload)

    def _wrap(self, kind: Kind, rows: Any) -> list[dict[str, Any]]:
        if kind == "customer":
            return [{"customer": c} for c in self.customers(rows)]
        if kind == "invoice":
            return [{"invoice": i} for i in self.invoices(rows)]
        subs = self.subscriptions(rows)
        owners = self.customers(self.world.subscriptions.col("customer")[rows].astype("int64"))
        return [{"subscription": s, "customer": c} for s, c in zip(subs, owners, strict=True)]

    # ---------------------------------------------------------- rendering

    def customers(self, rows: Any) -> list[dict[str, Any]]:
        """Renders customer rows as Chargebee customer objects (computed page by page)."""
        w = self.world
        table = w.customers
        created_a = column(table, "created", rows)
        updated_a = column(table, "updated", rows)
        version = (np.where(updated_a != NONE, updated_a, created_a) * 1000).tolist()
        ids = format_ids(VENDOR, "customer", rows)
        currencies = column(table, "currency", rows).tolist()
        countries = column(table, "country", rows).tolist()
        net_terms = column(table, "net_terms", rows).tolist()
        collect = column(table, "auto_collect", rows).tolist()
        deleted = column(table, "deleted", rows).tolist()
        created, updated = created_a.tolist(), updated_a.tolist()
        out = []
        for i, row in enumerate(rows.tolist()):
            person = w.person(row)
            first, last, email, company = (
                person.first_name,
                person.last_name,
                person.email,
                person.company,
            )
            country = countries[i]
            auto = collect[i]
            address = {
                "first_name": first,
                "last_name": last,
                "email": email,
                "company": company,
                "city": cat.CITIES[country % len(cat.CITIES)],
                "country": cat.COUNTRIES[country],
                "validation_status": "not_validated",
                "object": "billing_address",
            }
            record = {
                "id": ids[i],
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": person.phone,
                "company": company,
                "auto_collection": "on" if auto else "off",
                "net_term_days": net_terms[i],
                "allow_direct_debit": False,
                "created_at": created[i],
                "taxability": "taxable",
                "updated_at": _opt(updated[i]),
                "pii_cleared": "active",
                "channel": "web",
                "resource_version": version[i],
                "deleted": deleted[i],
                "object": "customer",
                "billing_address": _without_none(address, _ADDRESS_OPTIONAL),
                "card_status": "valid" if auto else "no_card",
                "promotional_credits": 0,
                "refundable_credits": 0,
                "excess_payments": 0,
                "unbilled_charges": 0,
                "preferred_currency_code": cat.CURRENCIES[currencies[i]],
                "cf_tenant_id": person.tenant_id,
            }
            out.append(_without_none(record, _CUSTOMER_OPTIONAL))
        return out

    def subscriptions(self, rows: Any) -> list[dict[str, Any]]:
        """Renders subscription rows as Chargebee (PC 2.0) subscription objects."""
        subs = self.world.subscriptions
        status_a = column(subs, "status", rows)
        plan_a = column(subs, "plan", rows)
        currency_a = column(subs, "currency", rows)
        quantity_a = column(subs, "quantity", rows)
        coupon_a = column(subs, "coupon", rows)
        created_a = column(subs, "created", rows)
        updated_a = column(subs, "updated", rows)
        unit_a = PRICES[plan_a, currency_a]
        amount_a = unit_a * quantity_a
        percent = COUPON_PERCENT[np.maximum(coupon_a, 0)]
        discounted = np.where(coupon_a >= 0, amount_a - amount_a * percent // 100, amount_a)
        live = np.isin(status_a, (cat.SUB_ACTIVE, cat.SUB_NON_RENEWING))
        mrr = np.where(live, discounted // PLAN_MONTHS[plan_a], 0).tolist()
        version = (np.where(updated_a != NONE, updated_a, created_a) * 1000).tolist()
        ids = format_ids(VENDOR, "subscription", rows)
        customer_ids = format_ids(VENDOR, "customer", column(subs, "customer", rows))
        statuses, plans, currencies = status_a.tolist(), plan_a.tolist(), currency_a.tolist()
        quantities, units, amounts = quantity_a.tolist(), unit_a.tolist(), amount_a.tolist()
        coupons, created, updated = coupon_a.tolist(), created_a.tolist(), updated_a.tolist()
        times = {
            name: column(subs, name, rows).tolist()
            for name in (
                "started", "trial_start", "trial_end", "term_start", "term_end",
                "cancelled_at", "paused_at",
            )
        }  # fmt: skip
        collect = column(subs, "auto_collect", rows).tolist()
        deleted = column(subs, "deleted", rows).tolist()
        out = []
        for i in range(len(ids)):
            plan = cat.PLANS[plans[i]]
            status = statuses[i]
            future = status == cat.SUB_FUTURE
            started = times["started"][i]
            record: dict[str, Any] = {
                "id": ids[i],
                "billing_period": _PERIOD[plan.interval],
                "billing_period_unit": _PERIOD_UNIT[plan.interval],
                "customer_id": customer_ids[i],
                "status": cat.SUB_STATUS_BY_VENDOR[VENDOR][status],
                "current_term_start": None if future else times["term_start"][i],
                "current_term_end": None if future else times["term_end"][i],
                "next_billing_at": times["term_end"][i]
                if status in (cat.SUB_ACTIVE, cat.SUB_TRIAL)
                else None,
                "start_date": started if future else None,
                "trial_start": _opt(times["trial_start"][i]),
                "trial_end": _opt(times["trial_end"][i]),
                "started_at": None if future else started,
                "activated_at": started if status not in (cat.SUB_FUTURE, cat.SUB_TRIAL) else None,
                "cancelled_at": _opt(times["cancelled_at"][i]),
                "pause_date": _opt(times["paused_at"][i]),
                "created_at": created[i],
                "updated_at": _opt(updated[i]),
                "has_scheduled_changes": False,
                "channel": "web",
                "resource_version": version[i],
                "deleted": deleted[i],
                "object": "subscription",
                "currency_code": cat.CURRENCIES[currencies[i]],
                "auto_collection": "on" if collect[i] else "off",
                "due_invoices_count": 0,
                "mrr": mrr[i],
                "subscription_items": [
                    {
                        "item_price_id": item_price_id(plan, currencies[i]),
                        "item_type": "plan",
                        "quantity": quantities[i],
                        "unit_price": units[i],
                        "amount": amounts[i],
                        "free_quantity": 0,
                        "object": "subscription_item",
                    }
                ],
            }
            coupon = coupons[i]
            if coupon >= 0:
                record["coupons"] = [
                    {"coupon_id": cat.COUPONS[coupon].code, "applied_count": 1, "object": "coupon"}
                ]
            out.append(_without_none(record, _SUBSCRIPTION_OPTIONAL))
        return out

    def invoices(self, rows: Any) -> list[dict[str, Any]]:
        """Renders invoice rows as Chargebee invoice objects (computed page by page)."""
        inv = self.world.invoices
        status_a = column(inv, "status", rows)
        total_a = column(inv, "total", rows)
        paid_a = column(inv, "paid", rows)
        date_a = column(inv, "date", rows)
        due_a = column(inv, "due", rows)
        plan_a = column(inv, "plan", rows)
        currency_a = column(inv, "currency", rows)
        updated_a = column(inv, "updated", rows)
        quantity_a = column(inv, "quantity", rows)
        subtotal_a = column(inv, "subtotal", rows)
        settled = np.isin(status_a, (cat.INV_PAID, cat.INV_VOID))
        open_amount = np.where(settled, 0, total_a - paid_a).tolist()
        net_terms = np.maximum(0, (due_a - date_a) // cat.DAY).tolist()
        version = (np.where(updated_a != NONE, updated_a, date_a) * 1000).tolist()
        date_to = (date_a + PLAN_MONTHS[plan_a] * cat.MONTH_SECONDS).tolist()
        unit = (subtotal_a // np.maximum(quantity_a, 1)).tolist()
        customer_ids = format_ids(VENDOR, "customer", column(inv, "customer", rows))
        sub_ids = format_ids(VENDOR, "subscription", column(inv, "subscription", rows))
        statuses = status_a.tolist()
        totals, paids = total_a.tolist(), paid_a.tolist()
        dates, dues = date_a.tolist(), due_a.tolist()
        plans, currencies = plan_a.tolist(), currency_a.tolist()
        updated, quantities = updated_a.tolist(), quantity_a.tolist()
        subtotals = subtotal_a.tolist()
        paid_at = column(inv, "paid_at", rows).tolist()
        voided_at = column(inv, "voided_at", rows).tolist()
        discounts = column(inv, "discount", rows).tolist()
        taxes = column(inv, "tax", rows).tolist()
        deleted = column(inv, "deleted", rows).tolist()
        out = []
        for i, row in enumerate(rows.tolist()):
            status = statuses[i]
            plan = cat.PLANS[plans[i]]
            currency = cat.CURRENCIES[currencies[i]]
            customer_id = customer_ids[i]
            sub_id = sub_ids[i]
            recurring = sub_id is not None
            discount = discounts[i]
            tax = taxes[i]
            record: dict[str, Any] = {
                "id": f"INV-{row + 1001}",
                "customer_id": customer_id,
                "subscription_id": sub_id,
                "recurring": recurring,
                "status": cat.INV_STATUS_BY_VENDOR[VENDOR][status],
                "price_type": "tax_exclusive",
                "date": dates[i],
                "due_date": dues[i],
                "net_term_days": net_terms[i],
                "exchange_rate": 1.0,
                "currency_code": currency,
                "total": totals[i],
                "amount_paid": paids[i],
                "amount_adjusted": 0,
                "write_off_amount": 0,
                "credits_applied": 0,
                "amount_due": open_amount[i],
                "paid_at": _opt(paid_at[i]),
                "voided_at": _opt(voided_at[i]),
                "dunning_status": _DUNNING.get(status),
                "updated_at": _opt(updated[i]),
                "resource_version": version[i],
                "deleted": deleted[i],
                "object": "invoice",
                "first_invoice": False,
                "has_advance_charges": False,
                "term_finalized": True,
                "is_gifted": False,
                "amount_to_collect": open_amount[i],
                "round_off_amount": 0,
                "new_sales_amount": 0,
                "base_currency_code": currency,
                "sub_total": subtotals[i],
                "tax": tax,
                "line_items": [
                    {
                        "id": f"li_{row:08d}",
                        "date_from": dates[i],
                        "date_to": date_to[i],
                        "unit_amount": unit[i],
                        "quantity": quantities[i],
                        "amount": subtotals[i],
                        "pricing_model": "per_unit",
                        "is_taxed": tax > 0,
                        "tax_amount": tax,
                        "object": "line_item",
                        "subscription_id": sub_id,
                        "customer_id": customer_id,
                        "description": plan.name if recurring else "One-time charge",
                        "entity_type": "plan_item_price" if recurring else "adhoc",
                        "entity_id": item_price_id(plan, currencies[i]) if recurring else None,
                        "discount_amount": discount,
                        "item_level_discount_amount": 0,
                    }
                ],
            }
            if discount:
                record["discounts"] = [
                    {
                        "amount": discount,
                        "entity_type": "document_level_coupon",
                        "object": "discount",
                    }
                ]
            out.append(_without_none(record, _INVOICE_OPTIONAL))
        return out

    def _catalog(self, name: str, rest: list[str], request: SandboxRequest) -> SandboxResponse:
        created = self.world.now - CATALOG_AGE
        if name == "items":
            records = [_item(product, created) for product in cat.PRODUCTS]
        else:
            records = [
                _item_price(plan, currency, created)
                for plan in cat.PLANS
                for currency in range(len(cat.CURRENCIES))
            ]
        key = "item" if name == "items" else "item_price"
        if rest:
            found = [r for r in records if r["id"] == rest[0]]
            if not found or len(rest) > 1:
                return _error(404, "resource_not_found", _NOT_FOUND, "invalid_request", "id")
            return json_response(200, {key: found[0]})
        limit_text = request.param("limit")
        limit = int(limit_text) if limit_text and limit_text.isdigit() else 10
        if not 1 <= limit <= 100:
            return _error(
                400,
                "param_wrong_value",
                "limit : The value must be between 1 and 100",
                "invalid_request",
                "limit",
            )
        offset = request.param("offset")
        start = int(json.loads(offset)[0]) if offset else 0
        page = records[start : start + limit]
        payload: dict[str, Any] = {"list": [{key: r} for r in page]}
        if start + limit < len(records):
            payload["next_offset"] = json.dumps([str(start + limit)])
        return json_response(200, payload)

    # ------------------------------------------------------------- faults

    def fault_response(
        self, kind: FaultKind, status: int, request: SandboxRequest, ctx: CallContext
    ) -> SandboxResponse:
        """Chargebee's 429 (with ``Retry-After``), 5xx and authentication errors."""
        if kind == "rate_limited":
            response = _error(
                429,
                "api_request_limit_exceeded",
                "Sorry, access has been blocked temporarily due to request count exceeding "
                "acceptable limits.",
                "operation_failed",
            )
            retry = ctx.rate.retry_after if ctx.rate is not None else 60
            response.headers.append(("Retry-After", str(retry)))
            return response
        if kind == "expired_token":
            return _error(
                401, "api_authentication_failed", "Sorry, authentication failed. Invalid api key"
            )
        if status == 503:
            return _error(
                503,
                "internal_temporary_error",
                "Sorry, the request could not be processed right now. Please try again.",
            )
        return _error(
            status,
            "internal_error",
            "Sorry, something went wrong when trying to process the request.",
        )

    def decorate(
        self, response: SandboxResponse, request: SandboxRequest, ctx: CallContext
    ) -> None:
        """Adds the ``Date`` header (the sandbox clock); Chargebee sends no special ones."""
        response.headers.append(date_header(ctx.now))


#: Keys of rendered records that may be absent (Chargebee omits absent values).
_CUSTOMER_OPTIONAL = (
    "first_name", "last_name", "email", "phone", "company", "updated_at", "cf_tenant_id",
)  # fmt: skip
_ADDRESS_OPTIONAL = ("first_name", "last_name", "email", "company")
_SUBSCRIPTION_OPTIONAL = (
    "current_term_start", "current_term_end", "next_billing_at", "start_date", "trial_start",
    "trial_end", "started_at", "activated_at", "cancelled_at", "pause_date", "updated_at",
)  # fmt: skip
COUPON_PERCENT = np.array([coupon.percent for coupon in cat.COUPONS], dtype=np.int64)
_DUNNING: Final[dict[int, str]] = {cat.INV_OVERDUE: "exhausted", cat.INV_PARTIAL: "in_progress"}
#: Top-level invoice keys that may be absent (Chargebee omits absent values).
_INVOICE_OPTIONAL = ("subscription_id", "paid_at", "voided_at", "dunning_status", "updated_at")


def _without_none(record: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """Drops those of ``keys`` whose value is ``None`` (cheaper than :func:`compact` when
    only a few keys can be absent)."""
    for key in keys:
        if record[key] is None:
            del record[key]
    return record


def _opt(value: int) -> int | None:
    return value if value != NONE else None


def _item(product: cat.Product, created: int) -> dict[str, Any]:
    return {
        "id": product.code,
        "name": product.name,
        "external_name": product.name,
        "status": "active",
        "resource_version": created * 1000,
        "updated_at": created,
        "item_family_id": "acme-saas",
        "type": "plan",
        "is_shippable": False,
        "is_giftable": False,
        "enabled_for_checkout": True,
        "enabled_in_portal": True,
        "item_applicability": "all",
        "metered": False,
        "channel": "web",
        "created_at": created,
        "object": "item",
    }


def _item_price(plan: cat.Plan, currency: int, created: int) -> dict[str, Any]:
    trial = plan.product.trial_days
    return compact(
        {
            "id": item_price_id(plan, currency),
            "name": f"{plan.product.name} {cat.CURRENCIES[currency]} "
            f"{cat.INTERVALS[plan.interval].title()}",
            "item_family_id": "acme-saas",
            "item_id": plan.product.code,
            "status": "active",
            "external_name": plan.name,
            "pricing_model": "per_unit",
            "price": plan.prices[currency],
            "period": _PERIOD[plan.interval],
            "period_unit": _PERIOD_UNIT[plan.interval],
            "trial_period": trial or None,
            "trial_period_unit": "day" if trial else None,
            "free_quantity": 0,
            "channel": "web",
            "resource_version": created * 1000,
            "updated_at": created,
            "created_at": created,
            "currency_code": cat.CURRENCIES[currency],
            "is_taxable": True,
            "item_type": "plan",
            "show_description_in_invoices": False,
            "show_description_in_quotes": False,
            "object": "item_price",
        }
    )


__all__ = ["ChargebeeHandler", "Query", "error_body", "item_price_id"]
