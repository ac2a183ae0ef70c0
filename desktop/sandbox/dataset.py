"""The sandbox world: one deterministic, vendor-neutral dataset behind every simulator.

:class:`World` holds the billing tables (customers, subscriptions, invoices, each row
living on one vendor and site), derives text fields such as names and e-mails from compact
codes, answers ordered and filtered queries with a small cache, and lazily builds the
Zoho CRM side (:attr:`World.crm`). Vendor simulators render rows in their own shapes;
:mod:`desktop.sandbox.mutations` changes rows; :mod:`desktop.sandbox.truth` lists them.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal, TypeVar, cast

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.clock import Clock, SystemClock, epoch
from desktop.sandbox.generate import generate
from desktop.sandbox.ids import Kind, format_id, parse_id
from desktop.sandbox.store import NONE, Array, BoolArray, IntArray, Table

if TYPE_CHECKING:
    from desktop.sandbox.crm_data import CrmData

Op = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "present", "absent"]

T = TypeVar("T")
_ROW_BITS = 24
_CACHE_SIZE = 48


@dataclass(frozen=True)
class Filter:
    """A condition on one numeric column (``updated`` means updated, else created).

    Attributes:
        column: a table column name, or ``"updated"`` for the effective update time.
        op: comparison operator.
        value: an int, or a tuple of ints for ``in``/``not_in``.
    """

    column: str
    op: Op
    value: int | tuple[int, ...] = 0


@dataclass(frozen=True)
class Query:
    """What a list endpoint asks for, independent of vendor syntax.

    Attributes:
        kind: record kind.
        vendor: vendor name.
        site: site code on that vendor.
        include_deleted: whether rows flagged deleted are included.
        sort: the column ordering the result (``created``, ``updated``, ``date``).
        descending: newest first when true.
        filters: all must hold.
    """

    kind: Kind
    vendor: str
    site: int
    include_deleted: bool = False
    sort: str = "created"
    descending: bool = False
    filters: tuple[Filter, ...] = ()


@dataclass
class Selection:
    """An ordered query result: row numbers and their ascending composite sort keys."""

    rows: IntArray
    keys: IntArray

    def __len__(self) -> int:
        return len(self.rows)

    def after(self, cursor: int | None, limit: int) -> tuple[IntArray, int | None]:
        """Returns up to ``limit`` rows strictly after ``cursor`` and the next cursor."""
        start = 0 if cursor is None else int(np.searchsorted(self.keys, cursor, side="right"))
        page = self.rows[start : start + limit]
        if start + limit < len(self.rows) and len(page):
            return page, int(self.keys[start + limit - 1])
        return page, None


@dataclass(frozen=True)
class Change:
    """One change made through the mutation API, as listeners (vendor event logs) see it.

    Attributes:
        kind: the record kind.
        row: the record's row.
        action: ``created``, ``updated``, ``renewed``, ``deleted`` or ``touched``.
        at: the sandbox clock when it happened, epoch seconds.
        previous_status: the status code before an update (``None`` otherwise).
        previous_amount: for subscriptions, the per-period amount before an update; for
            invoices, the amount paid before an update (minor units, ``None`` otherwise).
    """

    kind: Kind
    row: int
    action: str
    at: int
    previous_status: int | None = None
    previous_amount: int | None = None


@dataclass(frozen=True)
class Person:
    """A customer's derived text fields (``None`` where absent)."""

    first_name: str | None
    last_name: str | None
    company: str | None
    email: str | None
    phone: str | None
    tenant_id: str | None
    display_name: str


@dataclass
class _Names:
    first: tuple[str, ...] = cat.FIRST_NAMES
    last: tuple[str, ...] = cat.LAST_NAMES
    first_ascii: tuple[str, ...] = field(default_factory=tuple)
    last_ascii: tuple[str, ...] = field(default_factory=tuple)


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


class World:
    """The generated dataset plus everything needed to read and change it.

    Args:
        seed: random seed; the same seed, size, vendors and day give the same data.
        size: number of billing customer records across the chosen vendors.
        vendors: vendors that receive customers (default: all three).
        clock: the sandbox clock; the dataset's history ends at the start of its
            current UTC day, so a real clock gives the same data all day.

    Attributes:
        now: the end of the generated history, epoch seconds.
        lock: held while reading or changing the tables (servers are threaded).
        version: increases on every change; query caches key on it.
    """

    def __init__(
        self,
        seed: int = 7,
        size: int = 1_000,
        vendors: Sequence[str] = cat.VENDORS,
        clock: Clock | None = None,
    ) -> None:
        unknown = [v for v in vendors if v not in cat.VENDOR_CODE]
        if unknown:
            raise ValueError(f"Unknown billing vendor {unknown[0]!r}; use one of {cat.VENDORS}.")
        if size < 0:
            raise ValueError("The dataset size cannot be negative.")
        self.seed = seed
        self.size = size
        self.vendors = tuple(vendors)
        self.clock: Clock = clock or SystemClock()
        self.now = epoch(self.clock) // cat.DAY * cat.DAY
        tables = generate(seed, size, self.vendors, self.now)
        self.customers = tables.customers
        self.subscriptions = tables.subscriptions
        self.invoices = tables.invoices
        self.lock = threading.RLock()
        self.version = 0
        #: Called (under :attr:`lock`) with every :class:`Change` the mutation API makes.
        self.listeners: list[Callable[[Change], None]] = []
        self._cache: OrderedDict[tuple[int, Query], Selection] = OrderedDict()
        self._derived: dict[str, tuple[int, object]] = {}
        self._people: dict[int, Person] = {}
        self._people_version = -1
        self._names = _Names(
            first_ascii=tuple(_ascii(n) for n in cat.FIRST_NAMES),
            last_ascii=tuple(_ascii(n) for n in cat.LAST_NAMES),
        )

    # ----------------------------------------------------------------- tables

    def table(self, kind: Kind) -> Table:
        """Returns the table of one record kind."""
        if kind == "customer":
            return self.customers
        if kind == "subscription":
            return self.subscriptions
        return self.invoices

    def touch(self) -> None:
        """Records that the data changed (invalidates query caches)."""
        self.version += 1

    def emit(self, change: Change) -> None:
        """Tells every listener about a change (call with :attr:`lock` held)."""
        for listener in self.listeners:
            listener(change)

    def clock_now(self) -> int:
        """The sandbox clock in epoch seconds (never before the dataset's history end)."""
        return max(epoch(self.clock), self.now)

    # ---------------------------------------------------------------- queries

    def select(self, query: Query) -> Selection:
        """Returns the rows matching ``query`` in its order, from a cache when possible."""
        key = (self.version, query)
        with self.lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            result = self._select(query)
            self._cache[key] = result
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
            return result

    def _select(self, query: Query) -> Selection:
        table = self.table(query.kind)
        mask = (table.col("vendor") == cat.VENDOR_CODE[query.vendor]) & (
            table.col("site") == query.site
        )
        if not query.include_deleted:
            mask &= ~table.col("deleted")
        for condition in query.filters:
            mask &= _condition(self.column(query.kind, condition.column), condition)
        rows = np.flatnonzero(mask).astype(np.int64)
        values = self.column(query.kind, query.sort)[rows].astype(np.int64)
        keys = (values << _ROW_BITS) | rows
        if query.descending:
            keys = -keys
        order = np.argsort(keys, kind="stable")
        return Selection(rows=rows[order], keys=keys[order])

    def column(self, kind: Kind, name: str) -> Array:
        """Returns a column; ``updated`` is the update time, or creation time when absent."""
        table = self.table(kind)
        if name == "row":
            return np.arange(table.size, dtype=np.int64)
        if name == "updated":
            updated = table.col("updated")
            return np.where(updated >= 0, updated, table.col("created"))
        return table.col(name)

    def cached(self, name: str, compute: Callable[[], T]) -> T:
        """Returns ``compute()``, reusing the last result until the data changes."""
        with self.lock:
            hit = self._derived.get(name)
            if hit is not None and hit[0] == self.version:
                return cast(T, hit[1])
            value = compute()
            self._derived[name] = (self.version, value)
            return value

    def row_of(
        self, vendor: str, kind: Kind, record_id: str, site: int | None = None
    ) -> int | None:
        """Returns the row of a vendor record id (any deleted state), or ``None``."""
        row = parse_id(vendor, kind, record_id)
        return self.check_row(vendor, kind, row, site)

    def check_row(self, vendor: str, kind: Kind, row: int | None, site: int | None) -> int | None:
        """Returns ``row`` if it exists and lives on ``vendor`` (and ``site``), else ``None``."""
        table = self.table(kind)
        if row is None or row < 0 or row >= table.size:
            return None
        if table.get("vendor", row) != cat.VENDOR_CODE[vendor]:
            return None
        if site is not None and table.get("site", row) != site:
            return None
        return row

    def vendor_id(self, kind: Kind, row: int) -> str:
        """Returns the vendor id of a row, on the vendor it lives on."""
        vendor = cat.VENDORS[self.table(kind).get("vendor", row)]
        return format_id(vendor, kind, row)

    # -------------------------------------------------------- derived text

    def person(self, row: int) -> Person:
        """All text fields of a customer, cached until the data changes."""
        if self._people_version != self.version:
            self._people = {}
            self._people_version = self.version
        found = self._people.get(row)
        if found is None:
            found = Person(
                first_name=self.first_name(row),
                last_name=self.last_name(row),
                company=self.company(row),
                email=self.email(row),
                phone=self.phone(row),
                tenant_id=self.tenant_id(row),
                display_name=self.display_name(row),
            )
            self._people[row] = found
        return found

    def _override(self, row: int, name: str) -> str | bool | None:
        return self.customers.text_of(row, name)

    def first_name(self, row: int) -> str | None:
        """The customer's first name, or ``None``."""
        value = self._override(row, "first_name")
        if value is not False:
            return value if isinstance(value, str) else None
        code = self.customers.get("first", row)
        return cat.FIRST_NAMES[code] if code >= 0 else None

    def last_name(self, row: int) -> str | None:
        """The customer's last name, or ``None``."""
        value = self._override(row, "last_name")
        if value is not False:
            return value if isinstance(value, str) else None
        code = self.customers.get("last", row)
        return cat.LAST_NAMES[code] if code >= 0 else None

    def company(self, row: int) -> str | None:
        """The customer's company name, or ``None``."""
        value = self._override(row, "company")
        if value is not False:
            return value if isinstance(value, str) else None
        code = self.customers.get("company", row)
        return cat.company_name(code) if code >= 0 else None

    def display_name(self, row: int) -> str:
        """Company, else full name, else a placeholder (Zoho requires a display name)."""
        company = self.company(row)
        if company:
            return company
        parts = [p for p in (self.first_name(row), self.last_name(row)) if p]
        return " ".join(parts) if parts else f"Customer {row + 1}"

    def email(self, row: int) -> str | None:
        """The customer's e-mail, or ``None``; billing twins share one."""
        value = self._override(row, "email")
        if value is not False:
            return value if isinstance(value, str) else None
        if self.customers.get("no_email", row):
            return None
        first = self.customers.get("first", row)
        last = self.customers.get("last", row)
        company = self.customers.get("company", row)
        if first >= 0 and last >= 0:
            local = f"{self._names.first_ascii[first]}.{self._names.last_ascii[last]}"
        else:
            local = "billing"
        if company >= 0:
            return f"{local}@{cat.company_slug(company)}.example"
        return f"{local}.{row + 1}@mail.example"

    def phone(self, row: int) -> str | None:
        """The customer's phone number, or ``None`` for about a third of them."""
        value = self._override(row, "phone")
        if value is not False:
            return value if isinstance(value, str) else None
        if row % 3 == 2:
            return None
        return f"+1 415 555 {row % 10_000:04d}"

    def tenant_id(self, row: int) -> str | None:
        """The tenant id custom field (shared by billing twins), or ``None``."""
        value = self._override(row, "tenant_id")
        if value is not False:
            return value if isinstance(value, str) else None
        tenant = self.customers.get("tenant", row)
        return f"t-{tenant}" if tenant >= 0 else None

    def currency(self, kind: Kind, row: int) -> str:
        """The ISO currency of a row."""
        return cat.CURRENCIES[self.table(kind).get("currency", row)]

    # ------------------------------------------------------------------ CRM

    @cached_property
    def crm(self) -> CrmData:
        """The Zoho CRM side of the world (built on first use)."""
        from desktop.sandbox.crm_data import build_crm

        with self.lock:
            return build_crm(self)


def _condition(values: Array, condition: Filter) -> BoolArray:
    op = condition.op
    value = condition.value
    result: BoolArray
    if op in ("in", "not_in"):
        result = np.isin(values, np.asarray(value, dtype=np.int64))
        return result if op == "in" else ~result
    if op == "present":
        result = values != NONE
    elif op == "absent":
        result = values == NONE
    elif not isinstance(value, int):
        raise ValueError(f"The filter operator {op} needs a single number.")
    elif op == "eq":
        result = values == value
    elif op == "ne":
        result = values != value
    elif op == "gt":
        result = values > value
    elif op == "gte":
        result = values >= value
    elif op == "lt":
        result = (values < value) & (values != NONE)
    else:
        result = (values <= value) & (values != NONE)
    return result
