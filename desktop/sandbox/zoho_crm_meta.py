"""Zoho CRM metadata answers (users, org, currencies, modules, fields, views, layouts,
pipelines) and the response helpers every CRM route uses.

The payload functions map the :class:`~desktop.sandbox.zoho_crm_store.CrmStore` to JSON;
:class:`MetaRoutes` adds scopes, parameters and HTTP statuses. The record endpoints live
in :mod:`desktop.sandbox.zoho_crm`.
"""

from __future__ import annotations

from typing import Any, Final

from desktop.sandbox.core import SandboxRequest, SandboxResponse, json_response
from desktop.sandbox.crm_data import CRM_ORG_ID, CrmUser, CrmView
from desktop.sandbox.zoho_crm_schema import (
    LAYOUT_IDS,
    MODULE_IDS,
    MODULES,
    field_id,
    field_metadata,
    layout,
    pipelines,
)
from desktop.sandbox.zoho_crm_store import CrmStore, iso_time
from desktop.sandbox.zoho_oauth import AccessToken

__all__ = ["MetaRoutes", "Refusal", "allowed", "bad_url", "empty", "error", "json_response"]


def error(status: int, code: str, message: str, **details: Any) -> SandboxResponse:
    """A top-level Zoho CRM error ``{"code","details","message","status":"error"}``."""
    return json_response(
        status, {"code": code, "details": details, "message": message, "status": "error"}
    )


def empty(status: int) -> SandboxResponse:
    """A response without a body (204, 304)."""
    return SandboxResponse(status=status, body=b"")


def bad_url() -> SandboxResponse:
    """404 ``INVALID_URL_PATTERN``."""
    return error(
        404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
    )


class Refusal(Exception):
    """Stops a request with a prepared error response."""

    def __init__(self, response: SandboxResponse) -> None:
        super().__init__(response.status)
        self.response = response


def allowed(token: AccessToken, group: str, sub: str | None, op: str) -> bool:
    """Whether the token's scopes allow ``op`` (read/create/update/delete) on a resource.

    ``ZohoCRM.{group}.ALL``, ``ZohoCRM.{group}.{sub}.ALL`` and
    ``ZohoCRM.{group}.{sub}.{OP}`` grant access (``WRITE`` covers every change,
    ``ZohoCRM.{group}.READ`` every read); scopes compare case-insensitively.
    """
    scopes = {s.lower() for s in token.scopes}
    base = f"zohocrm.{group}"
    wanted = {f"{base}.all"}
    if sub is None:
        wanted.add(f"{base}.{op}")
    else:
        wanted |= {f"{base}.{sub}.all", f"{base}.{sub}.{op}"}
        if op != "read":
            wanted.add(f"{base}.{sub}.write")
    if op == "read":
        wanted.add(f"{base}.read")
    return not scopes.isdisjoint(wanted)


#: ``GET /users?type=`` values and which users each keeps.
USER_TYPES: Final[tuple[str, ...]] = (
    "AllUsers",
    "ActiveUsers",
    "DeactiveUsers",
    "ConfirmedUsers",
    "NotConfirmedUsers",
    "DeletedUsers",
    "ActiveConfirmedUsers",
    "AdminUsers",
    "ActiveConfirmedAdmins",
    "CurrentUser",
)
_CURRENCY_NAMES: Final[dict[str, tuple[str, str, str]]] = {
    "USD": ("US Dollar", "$", "en_US"),
    "EUR": ("Euro", "€", "de_DE"),
    "GBP": ("Pound Sterling", "£", "en_GB"),
    "JPY": ("Japanese Yen", "¥", "ja_JP"),
}
_RATES: Final[dict[str, str]] = {"USD": "1.0", "EUR": "0.92", "GBP": "0.79", "JPY": "151.2"}
#: Columns shown by the custom views of each module.
VIEW_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "Accounts": ("Account_Name", "Phone", "Website", "Owner", "Tenant_ID"),
    "Contacts": ("Full_Name", "Account_Name", "Email", "Phone", "Owner"),
    "Deals": ("Deal_Name", "Amount", "Stage", "Closing_Date", "Account_Name", "Owner"),
}
_CATEGORIES: Final[dict[str, str]] = {
    "public_views": "Public Views",
    "other_users_views": "Other Users' Views",
    "shared_with_me": "Shared With Me",
    "created_by_me": "Created By Me",
}
_PROFILE_IDS: Final[dict[str, str]] = {
    "Administrator": "5725767000000026011",
    "Standard": "5725767000000026014",
}


def user_ref(user: CrmUser, email: bool = True) -> dict[str, str]:
    """A user as a lookup value (``Owner``, ``Created_By``)."""
    ref = {"name": user.full_name, "id": user.id}
    if email:
        ref["email"] = user.email
    return ref


def _keep(kind: str, user: CrmUser, current: CrmUser) -> bool:
    active = user.status == "active"
    admin = user.profile == "Administrator"
    return {
        "AllUsers": True,
        "ActiveUsers": active,
        "DeactiveUsers": not active,
        "ConfirmedUsers": True,
        "NotConfirmedUsers": False,
        "DeletedUsers": False,
        "ActiveConfirmedUsers": active,
        "AdminUsers": admin,
        "ActiveConfirmedAdmins": admin and active,
        "CurrentUser": user is current,
    }[kind]


def users(store: CrmStore, kind: str, user_id: str | None = None) -> list[dict[str, Any]]:
    """The users of one ``type`` (or the one user ``user_id``)."""
    data = store.data
    current = data.users[data.current_user]
    offset = store.config.time_offset_minutes
    out = []
    for index, user in enumerate(data.users):
        if user_id is not None and user.id != user_id:
            continue
        if user_id is None and not _keep(kind, user, current):
            continue
        out.append(
            {
                "id": user.id,
                "full_name": user.full_name,
                "first_name": user.first_name,
                "last_name": user.last_name,
                "email": user.email,
                "status": user.status,
                "confirm": True,
                "role": {"name": user.role, "id": str(5725767000000026005 + index)},
                "profile": {"name": user.profile, "id": _PROFILE_IDS[user.profile]},
                "zuid": user.id[-8:],
                "time_zone": store.config.time_zone,
                "locale": "en_US",
                "country": "US",
                "created_time": iso_time(store.world.now - 1000 * 86_400, offset),
                "Modified_Time": iso_time(store.world.now - 400 * 86_400, offset),
                "Reporting_To": None,
            }
        )
    return out


def org(store: CrmStore) -> dict[str, Any]:
    """``GET /org``: the org with its home currency and multi-currency flag."""
    config = store.config
    name, symbol, locale = _CURRENCY_NAMES.get(config.base_currency, (config.base_currency,) * 3)
    admin = store.data.users[store.data.current_user]
    return {
        "org": [
            {
                "id": "5725767000000393001",
                "company_name": "Acme Inc",
                "domain_name": f"org{CRM_ORG_ID}",
                "zgid": CRM_ORG_ID,
                "primary_email": admin.email,
                "primary_zuid": admin.id[-8:],
                "time_zone": config.time_zone,
                "country_code": "US",
                "currency": f"{name} - {config.base_currency}",
                "currency_symbol": symbol,
                "currency_locale": locale,
                "iso_code": config.base_currency,
                "mc_status": config.multi_currency,
                "type": "production",
                "license_details": {
                    "paid": True,
                    "paid_type": "enterprise",
                    "users_license_purchased": len(store.data.users),
                },
            }
        ]
    }


def currencies(store: CrmStore) -> list[dict[str, Any]]:
    """``GET /org/currencies``: the home currency plus the others when multi-currency."""
    config = store.config
    codes = [config.base_currency]
    if config.multi_currency:
        codes += [c for c in config.currencies if c != config.base_currency]
    out = []
    for position, code in enumerate(codes):
        name, symbol, _ = _CURRENCY_NAMES.get(code, (code, code, "en_US"))
        out.append(
            {
                "id": str(5725767000000501001 + position),
                "name": f"{name} - {code}",
                "iso_code": code,
                "symbol": symbol,
                "is_base": code == config.base_currency,
                "is_active": True,
                "exchange_rate": "1.000000000"
                if code == config.base_currency
                else _RATES.get(code, "1.0"),
                "format": {"decimal_separator": "Period", "thousand_separator": "Comma"},
            }
        )
    return out


def modules() -> list[dict[str, Any]]:
    """``GET /settings/modules``: the simulated modules."""
    return [
        {
            "id": MODULE_IDS[name],
            "api_name": name,
            "module_name": name,
            "plural_label": name,
            "singular_label": name[:-1],
            "api_supported": True,
            "generated_type": "default",
            "creatable": True,
            "editable": True,
            "deletable": True,
            "viewable": True,
            "visible": True,
        }
        for name in MODULES
    ]


def _category(view: CrmView) -> str:
    return "public_views" if view.system_defined else "created_by_me"


def view_summary(store: CrmStore, view: CrmView) -> dict[str, Any]:
    """A custom view as listed by ``GET /settings/custom_views``."""
    return {
        "id": view.id,
        "name": view.name,
        "display_value": view.name,
        "system_name": view.system_name,
        "system_defined": view.system_defined,
        "default": view.default,
        "category": _category(view),
        "sort_by": None,
        "sort_order": None,
        "favorite": None,
        "offline": True,
        "access_type": "public" if view.system_defined else "only_to_me",
        "created_by": None
        if view.system_defined
        else user_ref(store.data.users[store.data.current_user], email=False),
    }


def _criteria(module: str, criteria: dict[str, Any]) -> dict[str, Any]:
    if "group" in criteria:
        return {
            "group_operator": criteria.get("group_operator", "AND"),
            "group": [_criteria(module, child) for child in criteria["group"]],
        }
    name = str(criteria["field"]["api_name"])
    comparator = criteria.get("comparator")
    return {
        "comparator": "equal" if comparator == "equals" else comparator,
        "field": {"api_name": name, "id": field_id(module, name)},
        "value": criteria.get("value"),
    }


def view_detail(store: CrmStore, view: CrmView) -> dict[str, Any]:
    """``GET /settings/custom_views/{id}``: the summary plus criteria and columns."""
    detail = view_summary(store, view)
    criteria = view.criteria
    if view.mine_only:
        criteria = {
            "comparator": "equal",
            "field": {"api_name": "Owner"},
            "value": "${CURRENTUSER}",
        }
    detail["criteria"] = _criteria(view.module, criteria) if criteria else None
    detail["fields"] = [
        {"api_name": name, "id": field_id(view.module, name), "_pin": False}
        for name in VIEW_COLUMNS[view.module]
    ]
    return detail


def views_info(views: list[CrmView], page: int, per_page: int) -> dict[str, Any]:
    """The ``info`` block of a custom-view list."""
    default = next((v.id for v in views if v.default), None)
    return {
        "per_page": per_page,
        "count": len(views),
        "page": page,
        "more_records": False,
        "default": default,
        "translation": dict(_CATEGORIES),
    }


def _scope_error() -> SandboxResponse:
    return error(401, "OAUTH_SCOPE_MISMATCH", "Unauthorized")


class MetaRoutes:
    """``/users``, ``/org`` and ``/settings/...`` of one CRM org.

    Args:
        store: the CRM store.
    """

    def __init__(self, store: CrmStore) -> None:
        self.store = store

    def answer(
        self, request: SandboxRequest, token: AccessToken, rest: list[str], modern: bool
    ) -> SandboxResponse:
        """Answers a metadata path (``rest`` starts with users, org or settings)."""
        if request.method != "GET":
            return error(
                405, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
            )
        head = rest[0]
        if head == "users" and len(rest) <= 2:
            if not allowed(token, "users", None, "read"):
                return _scope_error()
            return self._users(request, rest[1] if len(rest) == 2 else None)
        if head == "org" and len(rest) == 1:
            if not allowed(token, "org", None, "read"):
                return _scope_error()
            return json_response(200, org(self.store))
        if head == "org" and rest[1:] == ["currencies"]:
            if not (
                allowed(token, "org", None, "read")
                or allowed(token, "settings", "currencies", "read")
            ):
                return _scope_error()
            return json_response(200, {"currencies": currencies(self.store)})
        if head == "settings" and len(rest) in (2, 3):
            sub = rest[1]
            if sub not in ("fields", "custom_views", "layouts", "pipeline", "modules"):
                return bad_url()
            if not allowed(token, "settings", sub, "read"):
                return _scope_error()
            with self.store.lock:
                return self._settings(request, sub, rest[2] if len(rest) == 3 else None)
        return bad_url()

    def _users(self, request: SandboxRequest, user_id: str | None) -> SandboxResponse:
        kind = request.param("type") or "AllUsers"
        if kind not in USER_TYPES:
            return error(
                400,
                "INVALID_DATA",
                "invalid data",
                param_name="type",
                supported_values=list(USER_TYPES),
            )
        found = users(self.store, kind, user_id)
        if not found:
            return empty(204)
        info = {"per_page": 200, "count": len(found), "page": 1, "more_records": False}
        return json_response(200, {"users": found, "info": info})

    def _module(self, request: SandboxRequest) -> str:
        raw = request.param("module")
        if raw is None or raw == "":
            raise Refusal(
                error(
                    400,
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    param_name="module",
                )
            )
        module = next((m for m in MODULES if m.lower() == raw.lower()), None)
        if module is None:
            raise Refusal(error(400, "INVALID_MODULE", "the module name given seems to be invalid"))
        return module

    def _settings(self, request: SandboxRequest, sub: str, item: str | None) -> SandboxResponse:
        config = self.store.config
        if sub == "modules":
            listed = modules()
            if item is not None:
                listed = [m for m in listed if m["api_name"].lower() == item.lower()]
                if not listed:
                    return error(400, "INVALID_MODULE", "the module name given seems to be invalid")
            return json_response(200, {"modules": listed})
        if sub == "pipeline":
            layout_id = request.param("layout_id")
            if not layout_id:
                return error(
                    400,
                    "REQUIRED_PARAM_MISSING",
                    "One of the expected parameter is missing",
                    param_name="layout_id",
                )
            if layout_id != LAYOUT_IDS["Deals"]:
                return error(400, "INVALID_DATA", "invalid data", param_name="layout_id")
            return json_response(200, {"pipeline": pipelines()})
        module = self._module(request)
        if sub == "fields":
            fields = field_metadata(
                module,
                config.unique(module),
                config.multi_currency,
                config.pipeline_mandatory,
            )
            if item is not None:
                fields = [f for f in fields if f["id"] == item]
                if not fields:
                    return error(400, "INVALID_DATA", "invalid data", param_name="id")
            return json_response(200, {"fields": fields})
        if sub == "layouts":
            found = layout(module)
            if item is not None and item != found["id"]:
                return error(400, "INVALID_DATA", "invalid data", param_name="id")
            return json_response(200, {"layouts": [found]})
        views = [v for v in self.store.data.views if v.module == module]
        if item is not None:
            view = next((v for v in views if v.id == item), None)
            if view is None:
                return error(400, "INVALID_DATA", "invalid data", param_name="id")
            return json_response(200, {"custom_views": [view_detail(self.store, view)]})
        if not views:
            return empty(204)
        return json_response(
            200,
            {
                "custom_views": [view_summary(self.store, v) for v in views],
                "info": views_info(views, 1, 200),
            },
        )
