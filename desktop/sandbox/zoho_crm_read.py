"""Reading Zoho CRM records for the API: rendering, criteria getters and common parameters.

:class:`RecordReader` turns canonical values of the
:class:`~desktop.sandbox.zoho_crm_store.CrmStore` into the API's shapes (lookups as
``{"name", "id"}``, owners with e-mail, times with the org's offset) and parses the
parameters every record route shares (``fields``, ``cvid``, ``page``/``per_page``).
Problems raise :class:`~desktop.sandbox.zoho_crm_meta.Refusal` with Zoho's error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from desktop.sandbox.core import SandboxRequest
from desktop.sandbox.zoho_crm_meta import Refusal, error, user_ref
from desktop.sandbox.zoho_crm_query import Getter, Predicate, view_predicate
from desktop.sandbox.zoho_crm_schema import field_named, fields_of
from desktop.sandbox.zoho_crm_store import CrmRecord, CrmStore, iso_time

MAX_FIELDS: Final[int] = 50
MAX_PER_PAGE: Final[int] = 200
_LOOKUPS: Final[frozenset[str]] = frozenset({"lookup", "ownerlookup", "userlookup"})


class RecordReader:
    """Renders records and parses shared parameters for one CRM store.

    Args:
        store: the CRM store.
    """

    def __init__(self, store: CrmStore) -> None:
        self.store = store

    def render(self, module: str, record: CrmRecord, fields: list[str] | None) -> dict[str, Any]:
        """A record as the API shows it (``fields``: only those, plus ``id``)."""
        store = self.store
        out: dict[str, Any] = {}
        names = fields if fields is not None else [f.api_name for f in fields_of(module)]
        multi = store.config.multi_currency
        for name in names:
            spec = field_named(module, name)
            if spec is None or (name in ("Currency", "Exchange_Rate") and not multi):
                continue
            value = store.value(module, record, name)
            if value is None:
                out[name] = None
            elif spec.data_type in ("ownerlookup", "userlookup"):
                found = store.user_index(value)
                out[name] = user_ref(store.user(found if found is not None else -1))
            elif spec.data_type == "lookup" and spec.lookup is not None:
                target = store.get(spec.lookup, value, include_deleted=True)
                name_of = store.display_name(spec.lookup, target) if target else None
                out[name] = {"name": name_of, "id": value}
            elif spec.data_type == "datetime":
                out[name] = iso_time(value, store.config.time_offset_minutes)
            else:
                out[name] = value
        out["id"] = record.id
        return out

    def getter(self, module: str, record: CrmRecord) -> Getter:
        """Canonical values for criteria; lookups compare by name, ``X.id`` by id."""
        store = self.store

        def get(name: str) -> Any:
            base, _, sub = name.partition(".")
            if base == "id":
                return record.id
            value = store.value(module, record, base)
            spec = field_named(module, base)
            if spec is None or value is None or spec.data_type not in _LOOKUPS or sub == "id":
                return value
            if spec.data_type == "lookup" and spec.lookup is not None:
                target = store.get(spec.lookup, value, include_deleted=True)
                return store.display_name(spec.lookup, target) if target else None
            found = store.user_index(value)
            person = store.user(found if found is not None else -1)
            return person.email if sub == "email" else person.full_name

        return get

    def keep(self, module: str, predicate: Predicate) -> Callable[[CrmRecord], bool]:
        """A record filter from a compiled criteria predicate."""
        return lambda record: predicate(self.getter(module, record))

    def fields(self, request: SandboxRequest, module: str) -> list[str] | None:
        """The ``fields`` parameter (``None`` when absent); at most 50 known API names."""
        raw = request.param("fields")
        if raw is None or raw.strip() == "":
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        if len(names) > MAX_FIELDS:
            raise Refusal(
                error(
                    400,
                    "LIMIT_EXCEEDED",
                    "the number of fields exceeds the limit",
                    param_name="fields",
                    limit=MAX_FIELDS,
                )
            )
        for name in names:
            if name != "id" and field_named(module, name) is None:
                raise Refusal(
                    error(400, "INVALID_DATA", "invalid data", api_name=name, param_name="fields")
                )
        return names

    def view(self, request: SandboxRequest, module: str) -> tuple[str | None, Predicate | None]:
        """The ``cvid`` parameter: the view id and its record filter (``None``: all)."""
        cvid = request.param("cvid")
        if cvid is None:
            return None, None
        view = next((v for v in self.store.data.views if v.id == cvid and v.module == module), None)
        if view is None:
            raise Refusal(error(400, "INVALID_DATA", "invalid data", param_name="cvid"))
        predicate = view_predicate(module, view.criteria)
        if view.mine_only:
            me = self.store.user(self.store.data.current_user).id
            mine: Predicate = lambda get: get("Owner.id") == me  # noqa: E731
            inner = predicate
            predicate = mine if inner is None else (lambda get: mine(get) and inner(get))
        return view.id, predicate

    def paging(self, request: SandboxRequest) -> tuple[int, int]:
        """``page`` (default 1) and ``per_page`` (default and at most 200)."""
        values = []
        for name, default in (("page", 1), ("per_page", MAX_PER_PAGE)):
            raw = request.param(name)
            if raw is None or raw == "":
                values.append(default)
                continue
            if not raw.isdigit() or int(raw) < 1:
                raise Refusal(error(400, "INVALID_DATA", "invalid data", param_name=name))
            values.append(int(raw))
        return values[0], min(values[1], MAX_PER_PAGE)
