"""The sandbox-only admin endpoint, ``/_sandbox/...``, present on every mount.

Never part of a vendor's API; requests to it are logged as ``sandbox-admin`` and are
exempt from faults and rate limits.

* ``GET  /_sandbox/status`` — seed, size, clock, origins, fault rules, budgets.
* ``POST /_sandbox/mutate`` — one change or a list of changes, as
  ``{"op": "create|update|delete|touch|renew", "kind": "customer|subscription|invoice",
  "vendor": "...", "site": "...", "id": "...", "fields": {...}}``, or for Zoho CRM
  ``{"op": ..., "module": "Contacts|Accounts|Deals", "id": "...", "fields": {...}}``
  (API-shaped field values, e.g. ``{"Last_Name": "Okafor"}``).
* ``POST /_sandbox/clock`` — ``{"advance": seconds}``.
* ``POST /_sandbox/faults`` — ``{"faults": "5xx=0.05,chargebee:reset=#3"}`` (``""`` clears).
* ``POST /_sandbox/rate-limits`` — ``{"chargebee": "100/60", "recurly": null}``.
* ``GET  /_sandbox/log`` (``?vendor=``) and ``POST /_sandbox/log/clear``.
* ``GET  /_sandbox/truth?vendor=&kind=customers|subscriptions|invoices[&site=]`` — ids;
  ``?vendor=zoho-crm&module=Contacts|Accounts|Deals`` — ids and canonical records.
* ``POST /_sandbox/crm/configure`` — Zoho CRM settings, e.g.
  ``{"base_currency": "EUR", "multi_currency": true, "contact_email_unique": false}``.
* ``POST /_sandbox/zoho/expire-tokens`` — expires every Zoho access token.
* ``POST /_sandbox/zoho/deliver-events`` — ``{"url": "http://127.0.0.1:P/...",
  "since": "<event id>", "site": "10234695", "secret": "...", "headers": {...},
  "query": {...}}`` delivers the Zoho Billing change events as webhooks (loopback only).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from desktop.errors import BillbridgeError
from desktop.sandbox.clock import epoch
from desktop.sandbox.core import AdminHandler, SandboxRequest, SandboxResponse, json_response

if TYPE_CHECKING:
    from desktop.sandbox.facade import Sandbox


def _error(status: int, message: str) -> SandboxResponse:
    return json_response(status, {"error": message})


def make_admin(sandbox: Sandbox) -> AdminHandler:
    """Builds the admin handler bound to one sandbox."""

    def handle(request: SandboxRequest, mount: str) -> SandboxResponse:
        path = request.path.rstrip("/")
        try:
            body: Any = request.json() if request.method == "POST" else None
        except ValueError:
            return _error(400, "The admin request body is not valid JSON.")
        try:
            return _dispatch(sandbox, request, path, body, mount)
        except (BillbridgeError, ValueError, TypeError, KeyError) as error:
            return _error(400, str(error))

    return handle


def _dispatch(
    sandbox: Sandbox, request: SandboxRequest, path: str, body: Any, mount: str
) -> SandboxResponse:
    method = request.method
    if path == "/_sandbox/status" and method == "GET":
        return json_response(200, _status(sandbox))
    if path == "/_sandbox/mutate" and method == "POST":
        changes = body if isinstance(body, list) else [body]
        results = [_mutate(sandbox, change) for change in changes]
        return json_response(200, {"results": results})
    if path == "/_sandbox/crm/configure" and method == "POST":
        config = sandbox.configure_crm(dict(body))
        return json_response(200, {"crm": _jsonable(asdict(config))})
    if path == "/_sandbox/clock" and method == "POST":
        sandbox.advance_clock(float(body.get("advance", 0)))
        return json_response(200, {"now": epoch(sandbox.clock)})
    if path == "/_sandbox/faults" and method == "POST":
        sandbox.set_faults(str(body.get("faults", "")))
        return json_response(200, {"faults": [_fault(f) for f in sandbox.injector.faults]})
    if path == "/_sandbox/rate-limits" and method == "POST":
        for name, budget in dict(body).items():
            sandbox.set_rate_limit(name, budget)
        return json_response(200, _status(sandbox)["rate_limits"])
    if path == "/_sandbox/log" and method == "GET":
        entries = sandbox.log.entries(request.param("vendor"))
        return json_response(200, {"requests": [asdict(e) for e in entries]})
    if path == "/_sandbox/log/clear" and method == "POST":
        sandbox.log.clear()
        return json_response(200, {"cleared": True})
    if path == "/_sandbox/truth" and method == "GET":
        return json_response(200, _truth(sandbox, request))
    if path == "/_sandbox/zoho/deliver-events" and method == "POST":
        options = {k: body[k] for k in ("secret", "headers", "query", "method") if k in body}
        deliveries = sandbox.deliver_zoho_events(
            str(body["url"]), body.get("since"), body.get("site"), **options
        )
        return json_response(
            200,
            {
                "deliveries": [
                    {
                        "event_id": r.event_id,
                        "status": r.status,
                        "delivered": r.delivered,
                        "error": r.error,
                    }
                    for r in deliveries
                ]
            },
        )
    if path == "/_sandbox/zoho/expire-tokens" and method == "POST":
        sandbox.tokens.expire_all()
        return json_response(200, {"expired": True})
    return _error(404, f"The sandbox admin API has no {method} {path} (mount {mount}).")


def _mutate(sandbox: Sandbox, change: Any) -> dict[str, Any]:
    """Routes one change to Zoho CRM (it names a ``module``) or to the billing world."""
    if not isinstance(change, dict):
        raise ValueError("Each change must be a JSON object.")
    if "module" in change or change.get("vendor") == "zoho-crm":
        return {**sandbox.crm.mutations.apply(change), "vendor": "zoho-crm"}
    return sandbox.mutations.apply(change)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return value


def _fault(fault: Any) -> dict[str, Any]:
    data = asdict(fault)
    data["at"] = sorted(data["at"])
    return data


def _status(sandbox: Sandbox) -> dict[str, Any]:
    world = sandbox.world
    return {
        "seed": world.seed,
        "size": world.size,
        "vendors": list(world.vendors),
        "history_end": world.now,
        "now": epoch(sandbox.clock),
        "origins": {name: sandbox.origin(name) for name in sandbox.mounts},
        "crm": _jsonable(asdict(sandbox.crm.config)),
        "faults": [_fault(f) for f in sandbox.injector.faults],
        "rate_limits": {
            name: (
                {"limit": limiter.budget.limit, "window": limiter.budget.window}
                if limiter.budget
                else None
            )
            for name, limiter in sandbox.limiters.items()
        },
    }


def _truth(sandbox: Sandbox, request: SandboxRequest) -> dict[str, Any]:
    vendor = request.param("vendor") or "chargebee"
    kind = request.param("kind") or "customers"
    site = request.param("site")
    deleted = request.param("include_deleted") == "true"
    if vendor == "zoho-crm":
        module = request.param("module") or kind
        rows = sandbox.crm.truth(module, deleted)
        ids = [row["id"] for row in rows]
        return {"vendor": vendor, "module": module, "count": len(rows), "ids": ids, "records": rows}
    truth = sandbox.truth
    if kind == "customers":
        records: list[Any] = truth.customers(vendor, site, deleted)
    elif kind == "subscriptions":
        records = truth.subscriptions(vendor, site, deleted)
    elif kind == "invoices":
        records = truth.invoices(vendor, site, deleted)
    else:
        raise ValueError(f"{kind!r} is not customers, subscriptions or invoices.")
    return {"vendor": vendor, "kind": kind, "count": len(records), "ids": [r.id for r in records]}
