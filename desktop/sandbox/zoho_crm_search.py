"""Zoho CRM search, record counts and the recycle bin.

``GET /{module}/search`` takes exactly one of ``criteria`` > ``email`` > ``phone`` >
``word`` (that priority), answers at most 2,000 records (``LIMIT_REACHED`` beyond) and
204 when nothing matches; records created less than ``search_index_delay`` seconds ago
are not found yet. ``GET /{module}/actions/count`` and ``GET /{module}/deleted`` live
here too. ``/deleted`` honours ``If-Modified-Since``: only records deleted at or after it
(304 when there are none).
"""

from __future__ import annotations

from typing import Final

from desktop.sandbox.core import SandboxRequest, SandboxResponse
from desktop.sandbox.zoho_crm_meta import Refusal, empty, error, json_response, user_ref
from desktop.sandbox.zoho_crm_query import CriteriaError, Predicate, parse_criteria
from desktop.sandbox.zoho_crm_read import RecordReader
from desktop.sandbox.zoho_crm_schema import fields_of
from desktop.sandbox.zoho_crm_store import CrmRecord, iso_time

#: Most records a search (or ``page`` paging) reaches.
SEARCH_LIMIT: Final[int] = 2_000


class SearchRoutes:
    """Search, count and deleted-records endpoints.

    Args:
        reader: renders records and parses the shared parameters.
    """

    def __init__(self, reader: RecordReader) -> None:
        self.reader = reader
        self.store = reader.store

    def _filter(self, request: SandboxRequest, module: str) -> Predicate:
        criteria = request.param("criteria")
        try:
            if criteria is not None:
                return parse_criteria(module, criteria)
        except CriteriaError as problem:
            raise Refusal(
                error(
                    400,
                    "INVALID_QUERY",
                    "invalid query formed",
                    reason=problem.message,
                    **problem.details,
                )
            ) from None
        email = request.param("email")
        if email is not None:
            wanted = email.strip().lower()
            names = [f.api_name for f in fields_of(module) if f.data_type == "email"]
            return lambda get: any(str(get(n) or "").lower() == wanted for n in names)
        phone = request.param("phone")
        if phone is not None:
            digits = "".join(c for c in phone if c.isdigit())
            names = [f.api_name for f in fields_of(module) if f.data_type == "phone"]
            return lambda get: (
                bool(digits)
                and any(
                    digits in "".join(c for c in str(get(n) or "") if c.isdigit()) for n in names
                )
            )
        word = request.param("word")
        if word is not None:
            if len(word.strip()) < 2:
                raise Refusal(
                    error(
                        400,
                        "INVALID_QUERY",
                        "invalid query formed",
                        reason="the word should have at least 2 characters",
                        param_name="word",
                    )
                )
            needle = word.strip().lower()
            names = [
                f.api_name
                for f in fields_of(module)
                if f.data_type in ("text", "email", "phone", "website", "textarea", "lookup")
            ]
            return lambda get: any(needle in str(get(n) or "").lower() for n in names)
        raise Refusal(
            error(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                param_name="criteria",
            )
        )

    def matching(self, request: SandboxRequest, module: str, now: int) -> list[CrmRecord]:
        """Searchable live records passing the search filter, by ascending id."""
        predicate = self._filter(request, module)
        ordered = self.store.ordered(module, "id", False)
        return [
            r
            for r in ordered.records
            if self.store.searchable(r, now) and predicate(self.reader.getter(module, r))
        ]

    def search(self, request: SandboxRequest, module: str, now: int) -> SandboxResponse:
        """``GET /{module}/search``."""
        fields = self.reader.fields(request, module)
        found = self.matching(request, module, now)
        page, per_page = self.reader.paging(request)
        if page * per_page > SEARCH_LIMIT:
            return error(
                400,
                "LIMIT_REACHED",
                "search results exceed the limit of 2000 records",
                limit=SEARCH_LIMIT,
            )
        found = found[:SEARCH_LIMIT]
        start = (page - 1) * per_page
        chunk = found[start : start + per_page]
        if not chunk:
            return empty(204)
        info = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": start + per_page < len(found),
        }
        data = [self.reader.render(module, r, fields) for r in chunk]
        return json_response(200, {"data": data, "info": info})

    def count(self, request: SandboxRequest, module: str, now: int) -> SandboxResponse:
        """``GET /{module}/actions/count``."""
        _, view_filter = self.reader.view(request, module)
        if any(request.param(p) is not None for p in ("criteria", "email", "phone", "word")):
            return json_response(200, {"count": len(self.matching(request, module, now))})
        records = self.store.live(module)
        if view_filter is not None:
            records = [r for r in records if view_filter(self.reader.getter(module, r))]
        return json_response(200, {"count": len(records)})

    def deleted(
        self, request: SandboxRequest, module: str, since: int | None = None
    ) -> SandboxResponse:
        """``GET /{module}/deleted`` (``type`` all, recycle or permanent).

        Args:
            request: the request (``type``, ``page``, ``per_page``).
            module: the CRM module.
            since: ``If-Modified-Since`` as epoch seconds: only records deleted since.
        """
        kind = request.param("type") or "all"
        if kind not in ("all", "recycle", "permanent"):
            return error(
                400,
                "INVALID_DATA",
                "invalid data",
                param_name="type",
                supported_values=["all", "recycle", "permanent"],
            )
        entries = [] if kind == "permanent" else self.store.deleted_entries(module)
        if since is not None:
            entries = [e for e in entries if e.deleted_time >= since]
        page, per_page = self.reader.paging(request)
        start = (page - 1) * per_page
        chunk = entries[start : start + per_page]
        if not chunk:
            return empty(304 if since is not None and not entries else 204)
        offset = self.store.config.time_offset_minutes
        data = [
            {
                "deleted_by": user_ref(self.store.user(e.deleted_by), email=False),
                "id": e.id,
                "display_name": e.display_name,
                "type": "recycle",
                "created_by": user_ref(self.store.user(e.created_by), email=False),
                "deleted_time": iso_time(e.deleted_time, offset),
            }
            for e in chunk
        ]
        info = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": start + per_page < len(entries),
        }
        return json_response(200, {"data": data, "info": info})
