"""Field mapping between Zoho CRM and Billbridge: the catalogue, defaults and type checks.

A CRM Account or Contact fills a Billbridge Account (and, for Contacts, the account's
person, a User). The Billbridge fields a mapping may target per CRM module are listed in
:data:`LOCAL_FIELDS`, each with a kind; a CRM field may fill it only when its
``data_type`` is one the kind accepts (:data:`ACCEPTS`). Custom Billbridge fields are
``custom:NAME`` (kept with the CRM record; at most ten per module). When both ways are
synced the same pairs are used in reverse to push customers to Contacts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from desktop.crm.settings import MAX_CUSTOM_FIELDS, FieldMapping
from desktop.errors import ConfigurationError


@dataclass(frozen=True)
class CrmField:
    """A CRM field as its metadata describes it.

    Attributes:
        api_name: the API name.
        label: the label people see.
        data_type: Zoho's data type (``text``, ``email``, ``lookup``, ``currency`` …).
        custom: an admin-created field.
        mandatory: system mandatory.
        read_only: written only by the CRM.
        unique: "do not allow duplicate values" is on.
        picklist: a picklist's values.
        lookup: the module a lookup points to.
    """

    api_name: str
    label: str
    data_type: str
    custom: bool = False
    mandatory: bool = False
    read_only: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    lookup: str | None = None

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> CrmField:
        """Builds one from a ``GET /settings/fields`` entry."""
        lookup = data.get("lookup") or {}
        module = lookup.get("module") if isinstance(lookup, dict) else None
        picks = data.get("pick_list_values") or []
        return cls(
            api_name=str(data.get("api_name") or ""),
            label=str(data.get("display_label") or data.get("field_label") or ""),
            data_type=str(data.get("data_type") or "text"),
            custom=bool(data.get("custom_field")),
            mandatory=bool(data.get("system_mandatory")),
            read_only=bool(data.get("read_only") or data.get("field_read_only")),
            unique=bool(data.get("unique")),
            picklist=tuple(
                str(p.get("actual_value"))
                for p in picks
                if isinstance(p, dict) and p.get("actual_value")
            ),
            lookup=str(module.get("api_name")) if isinstance(module, dict) else None,
        )


@dataclass(frozen=True)
class LocalField:
    """A Billbridge field a CRM field can fill.

    Attributes:
        name: its name in mappings (``email``).
        label: what people see ("E-mail").
        kind: ``text``, ``email``, ``phone``, ``identifier``, ``currency_code``.
        required: a mapping must fill it.
    """

    name: str
    label: str
    kind: str
    required: bool = False


#: CRM data types each Billbridge field kind accepts.
ACCEPTS: Final[dict[str, frozenset[str]]] = {
    "text": frozenset(
        {"text", "textarea", "email", "phone", "website", "picklist", "autonumber", "lookup",
         "integer", "bigint"}
    ),
    "email": frozenset({"email"}),
    "phone": frozenset({"phone", "text"}),
    "identifier": frozenset({"text", "autonumber", "bigint", "integer", "email"}),
    "currency_code": frozenset({"picklist", "text"}),
}  # fmt: skip

_ACCOUNT_FIELDS: Final[tuple[LocalField, ...]] = (
    LocalField("identifier", "Account identifier", "identifier"),
    LocalField("name", "Name", "text", required=True),
    LocalField("company", "Company", "text"),
    LocalField("email", "E-mail", "email"),
    LocalField("phone", "Phone", "phone"),
    LocalField("currency", "Currency", "currency_code"),
)
_CONTACT_FIELDS: Final[tuple[LocalField, ...]] = (
    LocalField("identifier", "Account identifier", "identifier"),
    LocalField("first_name", "First name", "text"),
    LocalField("last_name", "Last name", "text", required=True),
    LocalField("email", "E-mail", "email"),
    LocalField("phone", "Phone", "phone"),
    LocalField("company", "Company", "text"),
)
#: Billbridge fields per CRM module.
LOCAL_FIELDS: Final[dict[str, tuple[LocalField, ...]]] = {
    "Accounts": _ACCOUNT_FIELDS,
    "Contacts": _CONTACT_FIELDS,
}
#: Default pairs per CRM module (used when the CRM has the field).
DEFAULT_PAIRS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "Accounts": (
        ("Account_Name", "name"),
        ("Phone", "phone"),
    ),
    "Contacts": (
        ("First_Name", "first_name"),
        ("Last_Name", "last_name"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Account_Name", "company"),
    ),
}
_CUSTOM_NAME: Final = re.compile(r"^custom:[A-Za-z][A-Za-z0-9_]{0,63}$")
_IDENTIFIER_HINT: Final = re.compile(r"tenant|account_?id|customer_?id|external_?id", re.I)


@dataclass(frozen=True)
class MappingProblem:
    """One problem of a proposed mapping, for the wizard to show beside the row.

    Attributes:
        crm_field: the CRM field of the row (``""`` for a missing required target).
        local_field: the Billbridge field of the row.
        message: a sentence.
    """

    crm_field: str
    local_field: str
    message: str


@dataclass(frozen=True)
class MappingCheck:
    """The result of checking one module's mapping.

    Attributes:
        problems: every problem found (empty: the mapping is usable).
        required: the Billbridge fields that must be filled, and whether they are.
    """

    problems: tuple[MappingProblem, ...] = ()
    required: dict[str, bool] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the mapping can be saved."""
        return not self.problems

    def raise_first(self) -> None:
        """Raises the first problem as a :class:`ConfigurationError`."""
        if self.problems:
            raise ConfigurationError(self.problems[0].message)


def local_field(module: str, name: str) -> LocalField | None:
    """The Billbridge field ``name`` of a CRM module (custom fields are text)."""
    if name.startswith("custom:"):
        return (
            LocalField(name, name.removeprefix("custom:"), "text")
            if _CUSTOM_NAME.match(name)
            else None
        )
    return next((f for f in LOCAL_FIELDS.get(module, ()) if f.name == name), None)


def default_mappings(module: str, fields: list[CrmField]) -> tuple[FieldMapping, ...]:
    """The default mapping of a module for the CRM's fields.

    The standard pairs (when the CRM has the field), plus the first custom text field that
    looks like an identifier (``Tenant_ID``, ``Customer_ID`` …) as the account identifier.
    """
    by_name = {f.api_name: f for f in fields}
    pairs = [
        FieldMapping(crm, local) for crm, local in DEFAULT_PAIRS.get(module, ()) if crm in by_name
    ]
    hint = next(
        (
            f
            for f in fields
            if f.custom
            and _IDENTIFIER_HINT.search(f.api_name)
            and f.data_type in ACCEPTS["identifier"]
        ),
        None,
    )
    if hint is not None:
        pairs.append(FieldMapping(hint.api_name, "identifier"))
    return tuple(pairs)


def check_mapping(
    module: str, mappings: tuple[FieldMapping, ...], fields: list[CrmField]
) -> MappingCheck:
    """Checks one module's mapping against the CRM's fields metadata.

    Finds: unknown CRM fields, unknown Billbridge fields, type mismatches (a CRM field
    whose data type the Billbridge field cannot hold), a Billbridge field filled twice,
    more than ten custom fields, and required Billbridge fields left unfilled.
    """
    by_name = {f.api_name: f for f in fields}
    problems: list[MappingProblem] = []
    seen: set[str] = set()
    custom = 0
    for item in mappings:
        crm = by_name.get(item.crm_field)
        target = local_field(module, item.local_field)
        if crm is None:
            problems.append(
                MappingProblem(
                    item.crm_field,
                    item.local_field,
                    f"Zoho CRM's {module} module has no field {item.crm_field!r}.",
                )
            )
            continue
        if target is None:
            known = ", ".join(f.name for f in LOCAL_FIELDS.get(module, ()))
            problems.append(
                MappingProblem(
                    item.crm_field,
                    item.local_field,
                    f"{item.local_field!r} is not a Billbridge field for {module}; use one of "
                    f"{known} or custom:NAME.",
                )
            )
            continue
        if crm.data_type not in ACCEPTS[target.kind]:
            problems.append(
                MappingProblem(
                    item.crm_field,
                    item.local_field,
                    f"The CRM field {crm.api_name} holds {crm.data_type} values, which the "
                    f"Billbridge field {target.label} ({target.kind}) cannot hold.",
                )
            )
        if item.local_field in seen:
            problems.append(
                MappingProblem(
                    item.crm_field,
                    item.local_field,
                    f"The Billbridge field {target.label} is filled by more than one CRM field.",
                )
            )
        seen.add(item.local_field)
        if item.is_custom:
            custom += 1
    if custom > MAX_CUSTOM_FIELDS:
        problems.append(
            MappingProblem(
                "",
                "custom:",
                f"The {module} mapping brings in {custom} custom fields; at most "
                f"{MAX_CUSTOM_FIELDS} are allowed.",
            )
        )
    required = {f.name: f.name in seen for f in LOCAL_FIELDS.get(module, ()) if f.required}
    for name, filled in required.items():
        if not filled:
            label = next(f.label for f in LOCAL_FIELDS[module] if f.name == name)
            problems.append(
                MappingProblem(
                    "", name, f"The Billbridge field {label} is required: map a CRM field to it."
                )
            )
    return MappingCheck(tuple(problems), required)


def crm_value(raw: Any) -> str | None:
    """A CRM record's field value as text (a lookup gives its name; empty gives ``None``)."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        raw = raw.get("name")
        if raw is None:
            return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, list):
        return ", ".join(str(v) for v in raw) or None
    text = str(raw).strip()
    return text or None


def apply_mapping(
    mappings: tuple[FieldMapping, ...], record: dict[str, Any]
) -> dict[str, str | None]:
    """The Billbridge values a CRM record gives under ``mappings`` (by Billbridge field)."""
    return {m.local_field: crm_value(record.get(m.crm_field)) for m in mappings}
