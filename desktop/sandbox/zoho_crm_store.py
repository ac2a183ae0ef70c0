"""The live Zoho CRM records of the sandbox, over the world's generated CRM data.

:class:`CrmStore` reads and changes the records of :attr:`World.crm` in place (so the
world stays the one source of truth) and keeps what the generated dataclasses have no
room for — fields such as ``Description`` or ``Pipeline``, who created or changed a
record, when it was deleted — beside them. Every value goes in and out in the canonical
form of :mod:`desktop.sandbox.zoho_crm_schema`. All methods expect the caller to hold
:attr:`CrmStore.lock` (the world's lock) when they read or write several records.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from desktop.sandbox import catalog as cat
from desktop.sandbox.crm_data import CrmAccount, CrmContact, CrmData, CrmDeal, CrmUser
from desktop.sandbox.dataset import World
from desktop.sandbox.store import NONE
from desktop.sandbox.zoho_crm_schema import MODULES, PIPELINES, fields_of

CrmRecord = CrmAccount | CrmContact | CrmDeal

#: First id of records created through the API when a module starts empty.
_NEW_ID_BASE: Final[dict[str, int]] = {
    "Accounts": 5725767000001000000,
    "Contacts": 5725767000003000000,
    "Deals": 5725767000006000000,
}
_SORT_COLUMNS: Final[dict[str, str]] = {
    "id": "id",
    "Created_Time": "created",
    "Modified_Time": "modified",
}
_CACHE_SIZE: Final[int] = 32


@dataclass(frozen=True)
class CrmConfig:
    """Per-run settings of the CRM simulator.

    Attributes:
        dc: the data centre the CRM org lives in (tokens of other data centres fail).
        contact_email_unique: "Do not allow duplicate values" on Contacts ``Email``.
        unique_fields: further unique fields per module (``{"Accounts": ("Tenant_ID",)}``).
        base_currency: the org's home currency (``GET /org`` ``iso_code``).
        multi_currency: whether the org has several currencies (Deals get ``Currency``).
        currencies: the currencies the org has enabled (multi-currency only).
        pipeline_mandatory: whether inserting a Deal needs ``Pipeline``.
        search_index_delay: seconds (sandbox clock) before a new record is searchable.
        time_offset_minutes: the org's UTC offset used to render times.
        time_zone: the org's time-zone name reported by ``GET /org`` and ``GET /users``.
        page_token_ttl: seconds a ``page_token`` stays valid.
    """

    dc: str = "com"
    contact_email_unique: bool = False
    unique_fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    base_currency: str = "USD"
    multi_currency: bool = True
    currencies: tuple[str, ...] = cat.CURRENCIES
    pipeline_mandatory: bool = True
    search_index_delay: float = 0.0
    time_offset_minutes: int = -420
    time_zone: str = "America/Phoenix"
    page_token_ttl: int = 86_400

    def unique(self, module: str) -> frozenset[str]:
        """The unique fields of a module."""
        names = set(self.unique_fields.get(module, ()))
        if module == "Contacts" and self.contact_email_unique:
            names.add("Email")
        return frozenset(names)


@dataclass(frozen=True)
class DeletedEntry:
    """A record in the recycle bin (``GET /{module}/deleted``)."""

    module: str
    id: str
    display_name: str
    deleted_time: int
    deleted_by: int
    created_by: int


@dataclass
class Ordered:
    """Records in one order with ascending keys, for offset and keyset paging."""

    records: list[CrmRecord]
    keys: list[tuple[int, int]]

    def after(self, key: tuple[int, int]) -> int:
        """The position of the first record strictly after ``key``."""
        return bisect.bisect_right(self.keys, key)


def minor_digits(currency: str) -> int:
    """Decimal digits of a currency (2 unless the catalogue says otherwise)."""
    index = cat.CURRENCY_CODE.get(currency)
    return cat.MINOR_DIGITS[index] if index is not None else 2


class CrmStore:
    """The CRM records, their side fields and the query helpers the simulator needs.

    Args:
        world: the sandbox world (its :attr:`World.crm` is built on first use).
        config: per-run settings.
    """

    def __init__(self, world: World, config: CrmConfig) -> None:
        self.world = world
        self.config = config
        self.data: CrmData = world.crm
        self.lock = world.lock
        self.version = 0
        self._extra: dict[str, dict[str, Any]] = {}
        self._deleted: dict[str, tuple[int, int]] = {}
        self._searchable_at: dict[str, float] = {}
        self._by_id: dict[str, dict[str, CrmRecord]] = {}
        self._position: dict[str, int] = {}
        self._next_id: dict[str, int] = {}
        self._orders: OrderedDict[tuple[object, ...], Ordered] = OrderedDict()
        for module in MODULES:
            records = self.all(module)
            self._by_id[module] = {r.id: r for r in records}
            self._position.update({r.id: i for i, r in enumerate(records)})
            top = max((int(r.id) for r in records), default=_NEW_ID_BASE[module] - 1)
            self._next_id[module] = top + 1

    # ------------------------------------------------------------- records

    def all(self, module: str) -> list[CrmRecord]:
        """Every record of a module, deleted ones included, in creation order."""
        records: list[CrmRecord]
        if module == "Accounts":
            records = list(self.data.accounts)
        elif module == "Contacts":
            records = list(self.data.contacts)
        else:
            records = list(self.data.deals)
        return records

    def live(self, module: str) -> list[CrmRecord]:
        """The records of a module that are not deleted."""
        return [r for r in self.all(module) if not r.deleted]

    def get(self, module: str, record_id: str, include_deleted: bool = False) -> CrmRecord | None:
        """A record by id (``None`` when unknown, or deleted unless asked for)."""
        found = self._by_id[module].get(record_id)
        if found is None or (found.deleted and not include_deleted):
            return None
        return found

    def position(self, record_id: str) -> int:
        """The index of a record in its module's list (what lookups store)."""
        return self._position[record_id]

    def user(self, index: int) -> CrmUser:
        """A user by index (``-1`` and out-of-range fall back to the current user)."""
        users = self.data.users
        return users[index] if 0 <= index < len(users) else users[self.data.current_user]

    def user_index(self, user_id: str) -> int | None:
        """The index of a user id, or ``None``."""
        for index, candidate in enumerate(self.data.users):
            if candidate.id == user_id:
                return index
        return None

    def display_name(self, module: str, record: CrmRecord) -> str:
        """What Zoho shows for a record in lookups (``name`` of a lookup object)."""
        if isinstance(record, CrmContact):
            return " ".join(p for p in (record.first_name, record.last_name) if p)
        return record.name

    # -------------------------------------------------------------- values

    def value(self, module: str, record: CrmRecord, api_name: str) -> Any:
        """One field of a record in canonical form (``None`` when empty)."""
        extra = self._extra.get(record.id, {})
        if api_name in extra:
            return extra[api_name]
        if api_name == "id":
            return record.id
        if api_name == "Owner":
            return self.user(record.owner).id
        if api_name in ("Created_By", "Modified_By"):
            return self.user(record.owner).id
        if api_name == "Created_Time":
            return record.created
        if api_name == "Modified_Time":
            return record.modified
        reader = _READERS[module].get(api_name)
        return reader(self, record) if reader is not None else _DEFAULTS.get(api_name)

    def values(self, module: str, record: CrmRecord) -> dict[str, Any]:
        """Every field of a record in canonical form, plus ``id``."""
        out: dict[str, Any] = {"id": record.id}
        for spec in fields_of(module):
            out[spec.api_name] = self.value(module, record, spec.api_name)
        if isinstance(record, CrmDeal) and not self.config.multi_currency:
            out.pop("Currency", None)
            out.pop("Exchange_Rate", None)
        return out

    def write(
        self, module: str, record: CrmRecord, changes: dict[str, Any], user: int, now: int
    ) -> None:
        """Applies canonical values to a record and stamps it as modified by ``user``."""
        extra = self._extra.setdefault(record.id, {})
        ordered = sorted(changes.items(), key=lambda item: item[0] != "Currency")
        for api_name, value in ordered:
            writer = _WRITERS[module].get(api_name)
            if writer is not None:
                writer(self, record, value)
                extra.pop(api_name, None)
            else:
                extra[api_name] = value
        if "Created_By" not in extra:
            extra["Created_By"] = self.user(record.owner).id
        extra["Modified_By"] = self.user(user).id
        record.modified = now
        self.changed()

    def create(self, module: str, changes: dict[str, Any], user: int, now: int) -> CrmRecord:
        """Creates a record owned by ``user`` (unless ``changes`` names an Owner)."""
        record_id = str(self._next_id[module])
        self._next_id[module] += 1
        record: CrmRecord
        if module == "Accounts":
            record = CrmAccount(record_id, "", user, None, None, None, None, None, None, now, now)
            self._position[record_id] = len(self.data.accounts)
            self.data.accounts.append(record)
        elif module == "Contacts":
            record = CrmContact(record_id, None, "", None, None, None, user, None, now, now)
            self._position[record_id] = len(self.data.contacts)
            self.data.contacts.append(record)
        else:
            currency = self.config.base_currency
            record = CrmDeal(record_id, "", NONE, None, "", 0, currency, "", user, now, now)
            self._position[record_id] = len(self.data.deals)
            self.data.deals.append(record)
        self._by_id[module][record_id] = record
        self._extra[record_id] = {"Created_By": self.user(user).id}
        self._searchable_at[record_id] = now + self.config.search_index_delay
        self.write(module, record, changes, user, now)
        return record

    def delete(self, module: str, record: CrmRecord, user: int, now: int) -> None:
        """Moves a record to the recycle bin."""
        record.deleted = True
        self._deleted[record.id] = (now, user)
        self.changed()

    def restore(self, record: CrmRecord, now: int) -> None:
        """Takes a record back out of the recycle bin (it counts as modified now)."""
        record.deleted = False
        record.modified = now
        self._deleted.pop(record.id, None)
        self.changed()

    def deleted_entries(self, module: str) -> list[DeletedEntry]:
        """The module's recycle bin, most recently deleted first."""
        out = []
        for record in self.all(module):
            if not record.deleted:
                continue
            when, user = self._deleted.get(record.id, (record.modified, self.data.current_user))
            out.append(
                DeletedEntry(
                    module=module,
                    id=record.id,
                    display_name=self.display_name(module, record),
                    deleted_time=when,
                    deleted_by=user,
                    created_by=record.owner,
                )
            )
        out.sort(key=lambda e: (-e.deleted_time, -int(e.id)))
        return out

    def searchable(self, record: CrmRecord, now: float) -> bool:
        """Whether search already finds a record (see ``search_index_delay``)."""
        return now >= self._searchable_at.get(record.id, 0.0)

    def changed(self) -> None:
        """Records that something changed (drops cached orders)."""
        self.version += 1
        self._orders.clear()
        self.world.touch()

    # ---------------------------------------------------------------- orders

    def ordered(
        self,
        module: str,
        sort_by: str,
        descending: bool,
        scope: tuple[object, ...] = (),
        keep: Callable[[CrmRecord], bool] | None = None,
    ) -> Ordered:
        """Live records filtered by ``keep`` and sorted, cached per ``scope`` and version.

        Args:
            module: the module.
            sort_by: ``id``, ``Created_Time`` or ``Modified_Time``.
            descending: newest / highest id first.
            scope: a hashable description of ``keep`` (the cache key).
            keep: an optional filter.
        """
        cache_key = (self.version, module, sort_by, descending, scope)
        cached = self._orders.get(cache_key)
        if cached is not None:
            self._orders.move_to_end(cache_key)
            return cached
        column = _SORT_COLUMNS[sort_by]
        sign = -1 if descending else 1
        pairs = []
        for record in self.live(module):
            if keep is not None and not keep(record):
                continue
            number = int(record.id)
            primary = number if column == "id" else int(getattr(record, column))
            pairs.append(((sign * primary, sign * number), record))
        pairs.sort(key=lambda pair: pair[0])
        result = Ordered(records=[p[1] for p in pairs], keys=[p[0] for p in pairs])
        self._orders[cache_key] = result
        while len(self._orders) > _CACHE_SIZE:
            self._orders.popitem(last=False)
        return result

    # ----------------------------------------------------------------- truth

    def truth(self, module: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Ground truth for tests: every record's canonical values plus ``deleted``."""
        with self.lock:
            out = []
            for record in self.all(module):
                if record.deleted and not include_deleted:
                    continue
                values = self.values(module, record)
                values["deleted"] = record.deleted
                out.append(values)
            return out


# --------------------------------------------------------------- bindings


def _account_id(store: CrmStore, index: int | None) -> str | None:
    if index is None or index < 0:
        return None
    return store.data.accounts[index].id


def _contact_id(store: CrmStore, index: int | None) -> str | None:
    if index is None or index < 0:
        return None
    return store.data.contacts[index].id


def _index_of(store: CrmStore, module: str, record_id: str | None) -> int | None:
    if record_id is None:
        return None
    if store.get(module, record_id, include_deleted=True) is None:
        return None
    return store.position(record_id)


def _contact_tenant(store: CrmStore, record: CrmContact) -> str | None:
    """Half the contacts made from a billing customer carry its tenant id."""
    if record.billing_customer is None or int(record.id) % 2:
        return None
    return store.world.tenant_id(record.billing_customer)


def _owner(store: CrmStore, record: CrmRecord, value: Any) -> None:
    index = store.user_index(value) if isinstance(value, str) else None
    record.owner = index if index is not None else store.data.current_user


def _amount(store: CrmStore, record: CrmRecord) -> float | None:
    assert isinstance(record, CrmDeal)
    digits = minor_digits(record.currency)
    return round(record.amount_minor / 10**digits, digits) if digits else float(record.amount_minor)


def _set_amount(store: CrmStore, record: CrmRecord, value: Any) -> None:
    assert isinstance(record, CrmDeal)
    record.amount_minor = (
        0 if value is None else round(float(value) * 10 ** minor_digits(record.currency))
    )


def _exchange_rate(store: CrmStore, record: CrmRecord) -> float:
    assert isinstance(record, CrmDeal)
    return (
        1.0 if record.currency == store.config.base_currency else _RATES.get(record.currency, 1.0)
    )


_RATES: Final[dict[str, float]] = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "JPY": 0.0067}

Reader = Callable[[CrmStore, Any], Any]
Writer = Callable[[CrmStore, Any, Any], None]

_READERS: Final[dict[str, dict[str, Reader]]] = {
    "Accounts": {
        "Account_Name": lambda s, r: r.name,
        "Phone": lambda s, r: r.phone,
        "Website": lambda s, r: r.website,
        "Billing_Country": lambda s, r: r.billing_country,
        "Industry": lambda s, r: r.industry,
        "Tenant_ID": lambda s, r: r.tenant_id,
    },
    "Contacts": {
        "First_Name": lambda s, r: r.first_name,
        "Last_Name": lambda s, r: r.last_name,
        "Full_Name": lambda s, r: " ".join(p for p in (r.first_name, r.last_name) if p),
        "Email": lambda s, r: r.email,
        "Phone": lambda s, r: r.phone,
        "Account_Name": lambda s, r: _account_id(s, r.account),
        "Tenant_ID": lambda s, r: _contact_tenant(s, r),
        "Billing_Contact": lambda s, r: r.billing_customer is not None,
    },
    "Deals": {
        "Deal_Name": lambda s, r: r.name,
        "Account_Name": lambda s, r: _account_id(s, r.account),
        "Contact_Name": lambda s, r: _contact_id(s, r.contact),
        "Stage": lambda s, r: r.stage or None,
        "Amount": _amount,
        "Currency": lambda s, r: r.currency,
        "Exchange_Rate": _exchange_rate,
        "Closing_Date": lambda s, r: r.closing_date or None,
        "Pipeline": lambda s, r: next(iter(PIPELINES)),
        "Tenant_ID": lambda s, r: s.data.accounts[r.account].tenant_id if r.account >= 0 else None,
    },
}


def _set(attr: str, empty: Any = None) -> Writer:
    def write(store: CrmStore, record: Any, value: Any) -> None:
        setattr(record, attr, empty if value is None else value)

    return write


def _set_ref(attr: str, module: str, empty: int | None) -> Writer:
    def write(store: CrmStore, record: Any, value: Any) -> None:
        index = _index_of(store, module, value)
        setattr(record, attr, empty if index is None else index)

    return write


_WRITERS: Final[dict[str, dict[str, Writer]]] = {
    "Accounts": {
        "Owner": _owner,
        "Account_Name": _set("name", ""),
        "Phone": _set("phone"),
        "Website": _set("website"),
        "Billing_Country": _set("billing_country"),
        "Industry": _set("industry"),
        "Tenant_ID": _set("tenant_id"),
    },
    "Contacts": {
        "Owner": _owner,
        "First_Name": _set("first_name"),
        "Last_Name": _set("last_name", ""),
        "Email": _set("email"),
        "Phone": _set("phone"),
        "Account_Name": _set_ref("account", "Accounts", None),
    },
    "Deals": {
        "Owner": _owner,
        "Deal_Name": _set("name", ""),
        "Account_Name": _set_ref("account", "Accounts", NONE),
        "Contact_Name": _set_ref("contact", "Contacts", None),
        "Stage": _set("stage", ""),
        "Amount": _set_amount,
        "Currency": _set("currency"),
        "Closing_Date": _set("closing_date", ""),
    },
}
_DEFAULTS: Final[dict[str, Any]] = {"Email_Opt_Out": False, "Billing_Contact": False}


def iso_time(epoch: int, offset_minutes: int) -> str:
    """Epoch seconds as Zoho renders them: ``2024-05-10T01:10:47-07:00``."""
    from datetime import timedelta, timezone

    zone = timezone(timedelta(minutes=offset_minutes))
    return datetime.fromtimestamp(epoch, UTC).astimezone(zone).isoformat(timespec="seconds")
