"""Reading Zoho CRM: users, org, fields, views, pipelines, record pages and search.

:class:`CrmReader` wraps a :class:`~desktop.crm.client.CrmClient` with the CRM's read
conventions:

* **lists** (``GET /{module}``) always name their ``fields`` (required since v3, at most
  50), read ``per_page=200`` with ``page`` 1–10 and continue past 2,000 records with the
  ``next_page_token`` the tenth page hands out; a 204 (empty) ends the list;
* **incremental** lists send ``If-Modified-Since``; a 304 means nothing changed;
* **search** takes one of ``criteria``, ``email`` or ``word`` (at least two characters);
  a 204 means no match — also right after a record was created, because of Zoho's
  indexing delay, so links use ids, never search;
* **metadata** answers are turned into small frozen dataclasses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from desktop.crm.client import DISCRETE_LIMIT, PER_PAGE, CrmClient, CrmRequestError
from desktop.crm.fields import CrmField
from desktop.errors import ConfigurationError

#: Most fields one list call may name.
MAX_FIELDS: Final[int] = 50
#: Most ids one ``ids=`` call may name.
MAX_IDS: Final[int] = 100


@dataclass(frozen=True)
class CrmUser:
    """A CRM user (a possible record owner)."""

    id: str
    name: str
    email: str
    active: bool


@dataclass(frozen=True)
class CrmOrg:
    """The CRM organization's currency facts.

    Attributes:
        name: the company name.
        base_currency: the home currency (ISO code).
        multi_currency: whether several currencies are enabled.
        currencies: the enabled currencies (the base one first).
    """

    name: str
    base_currency: str
    multi_currency: bool
    currencies: tuple[str, ...]


@dataclass(frozen=True)
class CrmView:
    """A CRM custom view (system-defined or created by a user).

    Attributes:
        id: the view id (``cvid``).
        name: its name.
        module: its CRM module.
        system_defined: one of Zoho's own views (else created by a user).
        default: the module's default view.
    """

    id: str
    name: str
    module: str
    system_defined: bool
    default: bool


@dataclass(frozen=True)
class Pipeline:
    """A Deals pipeline with its stages."""

    name: str
    stages: tuple[str, ...]
    default: bool = False


def iso(moment: datetime) -> str:
    """A time as Zoho wants it in ``If-Modified-Since`` and criteria."""
    return moment.isoformat(timespec="seconds")


class CrmReader:
    """Reads one CRM org through a client.

    Args:
        client: the connection's CRM client.
    """

    def __init__(self, client: CrmClient) -> None:
        self.client = client

    # ------------------------------------------------------------ metadata

    async def users(self) -> list[CrmUser]:
        """Every CRM user."""
        answer = await self.client.get("/users", {"type": "AllUsers"})
        out = []
        for item in (answer or {}).get("users") or []:
            if isinstance(item, dict) and item.get("id"):
                out.append(
                    CrmUser(
                        id=str(item["id"]),
                        name=str(item.get("full_name") or item.get("email") or ""),
                        email=str(item.get("email") or ""),
                        active=str(item.get("status") or "active") == "active",
                    )
                )
        return out

    async def org(self) -> CrmOrg:
        """The org's name, base currency and multi-currency state (with its currencies)."""
        answer = await self.client.get("/org")
        items = (answer or {}).get("org") or [{}]
        data = items[0] if isinstance(items[0], dict) else {}
        base = str(data.get("iso_code") or "").upper()
        multi = bool(data.get("mc_status"))
        currencies: tuple[str, ...] = (base,) if base else ()
        if multi:
            listed = await self.client.get("/org/currencies")
            codes = [
                str(c.get("iso_code")).upper()
                for c in (listed or {}).get("currencies") or []
                if isinstance(c, dict) and c.get("iso_code") and c.get("is_active", True)
            ]
            currencies = tuple(dict.fromkeys([base, *codes])) if base else tuple(codes)
        return CrmOrg(str(data.get("company_name") or ""), base, multi, currencies)

    async def fields(self, module: str) -> list[CrmField]:
        """The module's fields (custom fields included)."""
        answer = await self.client.get("/settings/fields", {"module": module})
        return [
            CrmField.from_metadata(item)
            for item in (answer or {}).get("fields") or []
            if isinstance(item, dict) and item.get("api_name")
        ]

    async def views(self, module: str) -> list[CrmView]:
        """The module's custom views, Zoho's own and user-created ones."""
        answer = await self.client.get("/settings/custom_views", {"module": module})
        return [
            CrmView(
                id=str(item["id"]),
                name=str(item.get("display_value") or item.get("name") or item["id"]),
                module=module,
                system_defined=bool(item.get("system_defined")),
                default=bool(item.get("default")),
            )
            for item in (answer or {}).get("custom_views") or []
            if isinstance(item, dict) and item.get("id")
        ]

    async def pipelines(self) -> list[Pipeline]:
        """The Deals pipelines of the module's layouts, with their stages."""
        layouts = await self.client.get("/settings/layouts", {"module": "Deals"})
        out: dict[str, Pipeline] = {}
        for layout in (layouts or {}).get("layouts") or []:
            if not isinstance(layout, dict) or not layout.get("id"):
                continue
            try:
                answer = await self.client.get("/settings/pipeline", {"layout_id": layout["id"]})
            except CrmRequestError:
                continue  # an org without pipelines: Stage alone
            for item in (answer or {}).get("pipeline") or []:
                if not isinstance(item, dict):
                    continue
                name = str(item.get("actual_value") or item.get("display_value") or "")
                stages = tuple(
                    str(m.get("actual_value") or m.get("display_value"))
                    for m in item.get("maps") or []
                    if isinstance(m, dict)
                )
                if name and name not in out:
                    out[name] = Pipeline(name, stages, bool(item.get("default")))
        return list(out.values())

    # ------------------------------------------------------------- records

    async def pages(
        self,
        module: str,
        fields: Sequence[str],
        *,
        cvid: str | None = None,
        since: datetime | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yields a module's (or a view's) records page by page.

        ``page`` 1–10 reach the first 2,000 records; the tenth page's
        ``next_page_token`` continues beyond. 204 (empty) and 304 (nothing changed since
        ``since``) end the list.
        """
        names = _field_list(fields)
        params: dict[str, Any] = {"fields": names, "per_page": PER_PAGE}
        if cvid:
            params["cvid"] = cvid
        else:
            params["sort_by"] = "id"
            params["sort_order"] = "asc"
        headers = {"If-Modified-Since": iso(since)} if since else None
        page = 1
        token: str | None = None
        while True:
            query = dict(params)
            if token:
                query["page_token"] = token
            else:
                query["page"] = page
            answer = await self.client.get(f"/{module}", query, headers=headers)
            if answer is None:
                return
            records = [r for r in answer.get("data") or [] if isinstance(r, dict)]
            if records:
                yield records
            info = answer.get("info") or {}
            if not info.get("more_records") or not records:
                return
            next_token = info.get("next_page_token")
            if token or page * PER_PAGE >= DISCRETE_LIMIT:
                if not next_token:
                    raise ConfigurationError(
                        f"Zoho CRM has more than {DISCRETE_LIMIT:,} {module} to read but gave "
                        "no page token; use API version 3 or later."
                    )
                token = str(next_token)
            page += 1

    async def by_ids(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Records by id (100 per call; unknown ids are left out)."""
        out: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(i for i in ids if i))
        for start in range(0, len(unique), MAX_IDS):
            chunk = unique[start : start + MAX_IDS]
            answer = await self.client.get(
                f"/{module}", {"ids": ",".join(chunk), "fields": _field_list(fields)}
            )
            out.extend(r for r in (answer or {}).get("data") or [] if isinstance(r, dict))
        return out

    async def record(
        self, module: str, record_id: str, fields: Sequence[str] | None = None
    ) -> dict[str, Any] | None:
        """One record by id (``None`` when the CRM has none)."""
        params = {"fields": _field_list(fields)} if fields else None
        try:
            answer = await self.client.get(f"/{module}/{record_id}", params)
        except CrmRequestError as error:
            if error.status in (400, 404):
                return None
            raise
        items = (answer or {}).get("data") or []
        return items[0] if items and isinstance(items[0], dict) else None

    async def search(
        self,
        module: str,
        fields: Sequence[str],
        *,
        criteria: str | None = None,
        email: str | None = None,
        word: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Search results (``[]`` on a 204: nothing matches, or not indexed yet).

        Raises:
            ConfigurationError: no query, or a word shorter than two characters.
        """
        params: dict[str, Any] = {"fields": _field_list(fields), "per_page": min(limit, PER_PAGE)}
        if criteria:
            params["criteria"] = criteria
        elif email:
            params["email"] = email.strip()
        elif word:
            if len(word.strip()) < 2:
                raise ConfigurationError("Search for a word of at least two characters.")
            params["word"] = word.strip()
        else:
            raise ConfigurationError("Give a word, an e-mail address or a criteria to search for.")
        answer = await self.client.get(f"/{module}/search", params)
        return [r for r in (answer or {}).get("data") or [] if isinstance(r, dict)][:limit]

    async def deleted(
        self, module: str, since: datetime | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yields the module's deleted records (``type=all``) page by page, to the end.

        ``since`` goes as ``If-Modified-Since``: only records deleted since then. 204
        (none) and 304 (none since) end the list.
        """
        headers = {"If-Modified-Since": iso(since)} if since else None
        page = 1
        while True:
            params = {"type": "all", "page": page, "per_page": PER_PAGE}
            answer = await self.client.get(f"/{module}/deleted", params, headers=headers)
            if answer is None:
                return
            entries = [e for e in answer.get("data") or [] if isinstance(e, dict)]
            if entries:
                yield entries
            if not (answer.get("info") or {}).get("more_records") or not entries:
                return
            page += 1

    async def count(self, module: str, cvid: str | None = None) -> int:
        """How many records a module (or one of its views) has."""
        answer = await self.client.get(f"/{module}/actions/count", {"cvid": cvid} if cvid else None)
        try:
            return int((answer or {}).get("count") or 0)
        except (TypeError, ValueError):
            return 0


def _field_list(fields: Sequence[str] | None) -> str:
    names = list(dict.fromkeys(["id", *(fields or ())]))
    if len(names) > MAX_FIELDS:
        raise ConfigurationError(
            f"Zoho CRM reads at most {MAX_FIELDS} fields at once; the mapping needs {len(names)}."
        )
    return ",".join(names)


def escape_criteria(value: str) -> str:
    """Escapes a value for a search criteria (``(``, ``)``, ``,`` and ``\\``)."""
    out = value.replace("\\", "\\\\")
    for char in "(),":
        out = out.replace(char, "\\" + char)
    return out
