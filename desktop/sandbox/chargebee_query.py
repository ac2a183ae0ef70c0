"""Chargebee list parameters: ``limit``, ``offset``, ``include_deleted``, ``sort_by``, filters.

Filters use Chargebee's ``<field>[<op>]=<value>`` syntax with epoch-second timestamps and
list literals (``status[in]=["active","in_trial"]``). Unknown filter fields or operators
are refused with ``param_wrong_value`` rather than silently ignored, so a client never
believes it filtered when it did not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.dataset import Filter, Query, Selection, World
from desktop.sandbox.ids import Kind, parse_id

VENDOR: Final[str] = "chargebee"
_ROW_BITS = 24
_PARAM = re.compile(r"^([a-z_]+)\[([a-z_]+)\]$")

FieldType = Literal["timestamp", "enum", "id", "text", "number", "boolean"]

#: Filterable fields per kind: name -> (type, column or reference kind).
_FIELDS: Final[dict[Kind, dict[str, tuple[FieldType, str]]]] = {
    "customer": {
        "id": ("id", "customer"),
        "email": ("text", "email"),
        "first_name": ("text", "first_name"),
        "last_name": ("text", "last_name"),
        "company": ("text", "company"),
        "created_at": ("timestamp", "created"),
        "updated_at": ("timestamp", "updated"),
    },
    "subscription": {
        "id": ("id", "subscription"),
        "customer_id": ("id", "customer"),
        "status": ("enum", "status"),
        "created_at": ("timestamp", "created"),
        "updated_at": ("timestamp", "updated"),
        "activated_at": ("timestamp", "started"),
        "cancelled_at": ("timestamp", "cancelled_at"),
        "next_billing_at": ("timestamp", "term_end"),
    },
    "invoice": {
        "id": ("id", "invoice"),
        "customer_id": ("id", "customer"),
        "subscription_id": ("id", "subscription"),
        "status": ("enum", "status"),
        "recurring": ("boolean", "subscription"),
        "date": ("timestamp", "date"),
        "updated_at": ("timestamp", "updated"),
        "paid_at": ("timestamp", "paid_at"),
        "voided_at": ("timestamp", "voided_at"),
        "total": ("number", "total"),
        "amount_paid": ("number", "paid"),
    },
}
_SORTABLE: Final[dict[Kind, dict[str, str]]] = {
    "customer": {"created_at": "created", "updated_at": "updated"},
    "subscription": {"created_at": "created", "updated_at": "updated"},
    "invoice": {"date": "date", "updated_at": "updated", "created_at": "created"},
}
_OPS: Final[dict[FieldType, tuple[str, ...]]] = {
    "timestamp": ("after", "before", "on", "between"),
    "enum": ("is", "is_not", "in", "not_in"),
    "id": ("is", "is_not", "in", "not_in"),
    "text": ("is", "is_not", "starts_with", "is_present"),
    "number": ("is", "is_not", "lt", "lte", "gt", "gte", "between"),
    "boolean": ("is",),
}
_NEUTRAL_SUB: Final[dict[str, int]] = {
    word: i for i, word in enumerate(cat.SUB_STATUS_BY_VENDOR[VENDOR])
}
_NEUTRAL_INV: Final[dict[str, int]] = {
    word: i for i, word in enumerate(cat.INV_STATUS_BY_VENDOR[VENDOR])
}
_EXTRA_STATUSES: Final[dict[Kind, frozenset[str]]] = {
    "subscription": frozenset({"transferred"}),
    "invoice": frozenset({"pending"}),
}
_IGNORED: Final[frozenset[str]] = frozenset({"limit", "offset", "include_deleted"})


class FilterError(Exception):
    """A list parameter Chargebee would refuse; carries the message and parameter name."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass
class ListSpec:
    """A parsed Chargebee list request."""

    query: Query
    limit: int
    cursor: int | None
    text_filter: Callable[[Selection], Selection] | None

    def encode_offset(self, key: int) -> str:
        """The opaque ``next_offset`` for a composite sort key."""
        value = -key if self.query.descending else key
        return json.dumps([str(value >> _ROW_BITS), str(value & ((1 << _ROW_BITS) - 1))])


def _values(text: str, param: str) -> list[str]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        # The Python SDK sends str(list): ['active', 'in_trial'] (single quotes).
        parts = text.strip().strip("[]").split(",")
        parsed = [p.strip().strip("'\"").strip() for p in parts if p.strip().strip("'\"")]
    if not isinstance(parsed, list):
        parsed = [parsed]
    values = [str(v) for v in parsed]
    if not values:
        raise FilterError(f"{param} : The value cannot be empty", param)
    return values


def _int(text: str, param: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise FilterError(f"{param} : invalid value {text}", param) from None


def parse_list(world: World, kind: Kind, site: int, params: Sequence[tuple[str, str]]) -> ListSpec:
    """Turns Chargebee list parameters into a query.

    Raises:
        FilterError: for an out-of-range ``limit``, a bad ``offset``, an unknown sort
            attribute, filter field, operator or value.
    """
    given = dict(params)
    limit_text = given.get("limit", "10")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        raise FilterError("limit : The value must be between 1 and 100", "limit")
    include_deleted = given.get("include_deleted", "false").lower() == "true"
    sort, descending = "created", False
    filters: list[Filter] = []
    texts: list[tuple[str, str, str]] = []
    for name, value in params:
        if name in _IGNORED:
            continue
        match = _PARAM.match(name)
        if match is None:
            raise FilterError(f"{name} : The parameter is not supported by the sandbox", name)
        field, op = match.groups()
        if field == "sort_by":
            column = _SORTABLE[kind].get(value)
            if op not in ("asc", "desc") or column is None:
                raise FilterError(f"sort_by : Sorting on {value} is not supported", "sort_by")
            sort, descending = column, op == "desc"
            continue
        spec = _FIELDS[kind].get(field)
        if spec is None or op not in _OPS[spec[0]]:
            raise FilterError(f"{name} : The filter is not supported", name)
        ftype, column = spec
        if ftype == "text":
            texts.append((column, op, value))
        else:
            filters.extend(_filter(world, kind, site, ftype, column, op, value, name))
    query = Query(
        kind=kind,
        vendor=VENDOR,
        site=site,
        include_deleted=include_deleted,
        sort=sort,
        descending=descending,
        filters=tuple(filters),
    )
    return ListSpec(
        query=query,
        limit=int(limit_text),
        cursor=_cursor(given.get("offset"), descending),
        text_filter=_text_filter(world, texts) if texts else None,
    )


def _cursor(offset: str | None, descending: bool) -> int | None:
    if not offset:
        return None
    try:
        value, row = (int(part) for part in json.loads(offset))
    except (ValueError, TypeError, json.JSONDecodeError):
        raise FilterError("offset : The offset is invalid", "offset") from None
    key = (value << _ROW_BITS) | row
    return -key if descending else key


def _filter(
    world: World,
    kind: Kind,
    site: int,
    ftype: FieldType,
    column: str,
    op: str,
    value: str,
    param: str,
) -> list[Filter]:
    if ftype == "timestamp":
        if op == "between":
            low, high = (_int(v, param) for v in _values(value, param)[:2])
            return [Filter(column, "gte", low), Filter(column, "lte", high)]
        stamp = _int(value, param)
        if op == "on":
            start = stamp // cat.DAY * cat.DAY
            return [Filter(column, "gte", start), Filter(column, "lt", start + cat.DAY)]
        return [Filter(column, "gt" if op == "after" else "lt", stamp)]
    if ftype == "number":
        if op == "between":
            low, high = (_int(v, param) for v in _values(value, param)[:2])
            return [Filter(column, "gte", low), Filter(column, "lte", high)]
        mapped = {"is": "eq", "is_not": "ne"}.get(op, op)
        return [Filter(column, mapped, _int(value, param))]  # type: ignore[arg-type]
    if ftype == "boolean":
        return [Filter(column, "present" if value.lower() == "true" else "absent")]
    words = _values(value, param) if op in ("in", "not_in") else [value]
    if ftype == "enum":
        codes = tuple(_status_code(kind, w, param) for w in words)
        codes = tuple(c for c in codes if c >= 0) or (-99,)
    else:
        target: Kind = "customer" if column == "customer" else column  # type: ignore[assignment]
        rows = (parse_id(VENDOR, target, w) for w in words)
        codes = tuple(r for r in rows if r is not None) or (-99,)
        if column in ("customer", "subscription", "invoice") and column == kind:
            column = "row"
    if column == "row":
        return [_row_filter(op, codes)]
    return [Filter(column, "in" if op in ("is", "in") else "not_in", codes)]


def _row_filter(op: str, rows: tuple[int, ...]) -> Filter:
    return Filter("row", "in" if op in ("is", "in") else "not_in", rows)


def _status_code(kind: Kind, word: str, param: str) -> int:
    table = _NEUTRAL_SUB if kind == "subscription" else _NEUTRAL_INV
    if word in table:
        return table[word]
    if word in _EXTRA_STATUSES.get(kind, frozenset()):
        return -1
    raise FilterError(f"{param} : invalid value {word}", param)


def _text_filter(
    world: World, texts: list[tuple[str, str, str]]
) -> Callable[[Selection], Selection]:
    getters: dict[str, Callable[[int], str | None]] = {
        "email": world.email,
        "first_name": world.first_name,
        "last_name": world.last_name,
        "company": world.company,
    }

    def keep(row: int) -> bool:
        for column, op, value in texts:
            actual = getters[column](row)
            if op == "is" and actual != value:
                return False
            if op == "is_not" and actual == value:
                return False
            if op == "starts_with" and not (actual or "").startswith(value):
                return False
            if op == "is_present" and (actual is not None) != (value.lower() == "true"):
                return False
        return True

    def apply(selection: Selection) -> Selection:
        mask = np.fromiter((keep(int(r)) for r in selection.rows), dtype=bool, count=len(selection))
        return Selection(rows=selection.rows[mask], keys=selection.keys[mask])

    return apply
