"""Zoho CRM metadata of the sandbox org: fields, picklists, layouts, pipelines, views.

The three simulated modules (Contacts, Accounts, Deals) each have the standard fields a
client relies on plus a few custom ones (``Tenant_ID`` among them). One :class:`CrmField`
describes a field both for ``GET /settings/fields`` and for validating values written
through the API (:func:`coerce`). Values are kept in a *canonical* form: lookups as the
target record id, owners as the user id, datetimes as epoch seconds, dates as
``YYYY-MM-DD``, currency amounts as floats in major units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from desktop.sandbox.crm_data import DEAL_STAGES, INDUSTRIES

MODULES: Final[tuple[str, ...]] = ("Accounts", "Contacts", "Deals")
#: Module ids (``module.id`` in lookups and duplicate-record details).
MODULE_IDS: Final[dict[str, str]] = {
    "Accounts": "5725767000000002177",
    "Contacts": "5725767000000002179",
    "Deals": "5725767000000002181",
}
#: Fields an upsert matches on when the request names none.
DEFAULT_DUPLICATE_CHECK: Final[dict[str, tuple[str, ...]]] = {
    "Contacts": ("Email",),
    "Accounts": ("Account_Name",),
    "Deals": ("Deal_Name",),
}
#: JSON type of each data type (``json_type`` in field metadata).
JSON_TYPES: Final[dict[str, str]] = {
    "text": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "website": "string",
    "picklist": "string",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "userlookup": "jsonobject",
    "integer": "integer",
    "bigint": "string",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "boolean": "boolean",
    "date": "string",
    "datetime": "string",
    "autonumber": "string",
}
LEAD_SOURCES: Final[tuple[str, ...]] = (
    "Advertisement",
    "Cold Call",
    "Employee Referral",
    "Partner",
    "Web Download",
    "Trade Show",
)
BILLING_SYSTEMS: Final[tuple[str, ...]] = ("Zoho Billing", "Recurly", "Chargebee", "None")
#: Pipelines of the Deals layout: name → its stages (the first is the default pipeline).
PIPELINES: Final[dict[str, tuple[str, ...]]] = {
    "Standard": DEAL_STAGES,
    "Renewals": ("Qualification", "Negotiation/Review", "Closed Won", "Closed Lost"),
}
STAGE_FORECAST: Final[dict[str, tuple[int, str, str]]] = {
    "Qualification": (10, "Open", "Pipeline"),
    "Needs Analysis": (20, "Open", "Pipeline"),
    "Value Proposition": (40, "Open", "Pipeline"),
    "Id. Decision Makers": (60, "Open", "Pipeline"),
    "Proposal/Price Quote": (75, "Open", "Best Case"),
    "Negotiation/Review": (90, "Open", "Commit"),
    "Closed Won": (100, "Closed Won", "Closed"),
    "Closed Lost": (0, "Closed Lost", "Omitted"),
    "Closed Lost to Competition": (0, "Closed Lost", "Omitted"),
}
LAYOUT_IDS: Final[dict[str, str]] = {
    "Accounts": "5725767000000091055",
    "Contacts": "5725767000000091033",
    "Deals": "5725767000000091023",
}
PIPELINE_IDS: Final[dict[str, str]] = {
    "Standard": "5725767000000610002",
    "Renewals": "5725767000000610010",
}


@dataclass(frozen=True)
class CrmField:
    """One field of a module.

    Attributes:
        api_name: the field's API name.
        label: its label in the UI.
        data_type: Zoho's data type (``text``, ``lookup``, ``currency`` ...).
        length: maximum length (0: not limited / not text).
        mandatory: system mandatory (``MANDATORY_NOT_FOUND`` when missing on insert).
        custom: a field the admin created.
        read_only: written only by the system (ignored in writes).
        picklist: allowed values of a picklist.
        lookup: the module a lookup points to.
        decimals: decimal places of a number.
    """

    api_name: str
    label: str
    data_type: str
    length: int = 0
    mandatory: bool = False
    custom: bool = False
    read_only: bool = False
    picklist: tuple[str, ...] = ()
    lookup: str | None = None
    decimals: int | None = None

    @property
    def json_type(self) -> str:
        """Zoho's ``json_type`` for this field."""
        return JSON_TYPES.get(self.data_type, "string")


def _common_tail() -> list[CrmField]:
    return [
        CrmField("Created_By", "Created By", "userlookup", read_only=True),
        CrmField("Modified_By", "Modified By", "userlookup", read_only=True),
        CrmField("Created_Time", "Created Time", "datetime", read_only=True),
        CrmField("Modified_Time", "Modified Time", "datetime", read_only=True),
        CrmField("Description", "Description", "textarea", length=32000),
    ]


_FIELDS: Final[dict[str, tuple[CrmField, ...]]] = {
    "Contacts": (
        CrmField("Owner", "Contact Owner", "ownerlookup"),
        CrmField("First_Name", "First Name", "text", length=40),
        CrmField("Last_Name", "Last Name", "text", length=80, mandatory=True),
        CrmField("Full_Name", "Full Name", "text", length=120, read_only=True),
        CrmField("Email", "Email", "email", length=100),
        CrmField("Secondary_Email", "Secondary Email", "email", length=100),
        CrmField("Phone", "Phone", "phone", length=30),
        CrmField("Mobile", "Mobile", "phone", length=30),
        CrmField("Account_Name", "Account Name", "lookup", lookup="Accounts"),
        CrmField("Title", "Title", "text", length=100),
        CrmField("Department", "Department", "text", length=30),
        CrmField("Lead_Source", "Lead Source", "picklist", picklist=("-None-", *LEAD_SOURCES)),
        CrmField("Mailing_City", "Mailing City", "text", length=30),
        CrmField("Mailing_Country", "Mailing Country", "text", length=30),
        CrmField("Email_Opt_Out", "Email Opt Out", "boolean"),
        CrmField("Date_of_Birth", "Date of Birth", "date"),
        *_common_tail(),
        CrmField("Tenant_ID", "Tenant ID", "text", length=50, custom=True),
        CrmField("Billing_Contact", "Billing Contact", "boolean", custom=True),
    ),
    "Accounts": (
        CrmField("Owner", "Account Owner", "ownerlookup"),
        CrmField("Account_Name", "Account Name", "text", length=200, mandatory=True),
        CrmField("Account_Number", "Account Number", "text", length=40),
        CrmField(
            "Account_Type",
            "Account Type",
            "picklist",
            picklist=("-None-", "Customer", "Prospect", "Partner", "Reseller", "Other"),
        ),
        CrmField("Industry", "Industry", "picklist", picklist=("-None-", *INDUSTRIES)),
        CrmField("Phone", "Phone", "phone", length=30),
        CrmField("Website", "Website", "website", length=255),
        CrmField("Parent_Account", "Parent Account", "lookup", lookup="Accounts"),
        CrmField("Billing_City", "Billing City", "text", length=30),
        CrmField("Billing_Country", "Billing Country", "text", length=30),
        CrmField("Annual_Revenue", "Annual Revenue", "currency", decimals=2),
        CrmField("Employees", "Employees", "integer", length=9),
        *_common_tail(),
        CrmField("Tenant_ID", "Tenant ID", "text", length=50, custom=True),
        CrmField(
            "Billing_System",
            "Billing System",
            "picklist",
            custom=True,
            picklist=("-None-", *BILLING_SYSTEMS),
        ),
        CrmField("MRR", "MRR", "currency", custom=True, decimals=2),
        CrmField("Customer_Since", "Customer Since", "date", custom=True),
    ),
    "Deals": (
        CrmField("Owner", "Deal Owner", "ownerlookup"),
        CrmField("Deal_Name", "Deal Name", "text", length=120, mandatory=True),
        CrmField("Amount", "Amount", "currency", decimals=2),
        CrmField("Currency", "Currency", "picklist", length=3),
        CrmField("Exchange_Rate", "Exchange Rate", "double", decimals=9, read_only=True),
        CrmField("Closing_Date", "Closing Date", "date"),
        CrmField("Pipeline", "Pipeline", "picklist", picklist=tuple(PIPELINES)),
        CrmField("Stage", "Stage", "picklist", mandatory=True, picklist=DEAL_STAGES),
        CrmField("Probability", "Probability (%)", "integer", length=3),
        CrmField("Account_Name", "Account Name", "lookup", lookup="Accounts"),
        CrmField("Contact_Name", "Contact Name", "lookup", lookup="Contacts"),
        CrmField(
            "Type",
            "Type",
            "picklist",
            picklist=("-None-", "Existing Business", "New Business"),
        ),
        CrmField("Lead_Source", "Lead Source", "picklist", picklist=("-None-", *LEAD_SOURCES)),
        CrmField("Next_Step", "Next Step", "text", length=100),
        *_common_tail(),
        CrmField("Tenant_ID", "Tenant ID", "text", length=50, custom=True),
        CrmField("Subscription_ID", "Subscription ID", "text", length=60, custom=True),
    ),
}


def fields_of(module: str) -> tuple[CrmField, ...]:
    """The fields of a module, in layout order."""
    return _FIELDS[module]


def field_named(module: str, api_name: str) -> CrmField | None:
    """The field of ``module`` with this API name (case-sensitive, like Zoho), or ``None``."""
    for candidate in _FIELDS[module]:
        if candidate.api_name == api_name:
            return candidate
    return None


def field_id(module: str, api_name: str) -> str:
    """A stable field id."""
    position = [f.api_name for f in _FIELDS[module]].index(api_name)
    return str(5725767000000002200 + MODULES.index(module) * 200 + position)


def field_metadata(
    module: str, unique: frozenset[str], multi_currency: bool, pipeline_mandatory: bool
) -> list[dict[str, Any]]:
    """``GET /settings/fields`` entries of a module.

    Args:
        module: the module.
        unique: API names with "Do not allow duplicate values" switched on.
        multi_currency: whether the org has several currencies (``Currency`` shows up).
        pipeline_mandatory: whether the Deals ``Pipeline`` is mandatory.
    """
    out: list[dict[str, Any]] = []
    for spec in _FIELDS[module]:
        if spec.api_name in ("Currency", "Exchange_Rate") and not multi_currency:
            continue
        mandatory = spec.mandatory or (spec.api_name == "Pipeline" and pipeline_mandatory)
        picks = [
            {"display_value": v, "actual_value": v, "id": str(5725767000000300000 + i)}
            for i, v in enumerate(spec.picklist)
        ]
        out.append(
            {
                "id": field_id(module, spec.api_name),
                "api_name": spec.api_name,
                "field_label": spec.label,
                "display_label": spec.label,
                "data_type": spec.data_type,
                "json_type": spec.json_type,
                "system_mandatory": mandatory,
                "custom_field": spec.custom,
                "read_only": spec.read_only,
                "field_read_only": spec.read_only,
                "visible": True,
                "length": spec.length or None,
                "decimal_place": spec.decimals,
                "pick_list_values": picks,
                "lookup": (
                    {"module": {"api_name": spec.lookup, "id": MODULE_IDS[spec.lookup]}}
                    if spec.lookup
                    else {}
                ),
                "unique": {"casesensitive": False} if spec.api_name in unique else {},
                "default_value": None,
                "created_source": "crm" if spec.custom else "default",
                "sortable": spec.api_name in ("Created_Time", "Modified_Time"),
                "searchable": spec.data_type not in ("boolean",),
            }
        )
    return out


# ------------------------------------------------------------------ coercion


class FieldProblem(Exception):
    """A value a client wrote does not fit its field.

    Attributes:
        code: the per-record error code (``INVALID_DATA``, ``MANDATORY_NOT_FOUND``).
        details: extra ``details`` keys (``expected_data_type``, ``maximum_length`` ...).
    """

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER: Final = re.compile(r"^-?\d+(\.\d+)?$")


def parse_datetime(text: str) -> int | None:
    """Parses Zoho's ISO 8601 date-time with an offset into epoch seconds (``None``: bad)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        return None
    return int(value.timestamp())


def _invalid(expected: str, **extra: Any) -> FieldProblem:
    return FieldProblem("INVALID_DATA", "invalid data", expected_data_type=expected, **extra)


def coerce(spec: CrmField, value: Any) -> Any:
    """Checks a written value and returns its canonical form.

    Lookup existence is checked by the caller (it needs the store); here a lookup only
    has to name an id. ``None`` clears the field.

    Raises:
        FieldProblem: when the value does not fit the field.
    """
    if value is None:
        return None
    kind = spec.data_type
    if kind in ("text", "textarea", "email", "phone", "website"):
        if not isinstance(value, str):
            raise _invalid("string")
        if spec.length and len(value) > spec.length:
            raise FieldProblem("INVALID_DATA", "invalid data", maximum_length=spec.length)
        if kind == "email" and value and not _EMAIL.match(value):
            raise _invalid("email")
        return value
    if kind == "picklist":
        if not isinstance(value, str):
            raise _invalid("string")
        if spec.picklist and value not in spec.picklist:
            raise FieldProblem("INVALID_DATA", "invalid data", supported_values=list(spec.picklist))
        return None if value == "-None-" else value
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _invalid("integer")
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            raise _invalid("integer")
        return int(value)
    if kind in ("double", "currency", "percent"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _invalid("double")
        if isinstance(value, str) and not _NUMBER.match(value.strip()):
            raise _invalid("double")
        return round(float(value), spec.decimals if spec.decimals is not None else 2)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _invalid("boolean")
        return value
    if kind == "date":
        if not isinstance(value, str):
            raise _invalid("date")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _invalid("date") from None
    if kind == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise _invalid("datetime")
        return parsed
    if kind in ("lookup", "ownerlookup", "userlookup"):
        ident = value.get("id") if isinstance(value, dict) else value
        if isinstance(ident, int) and not isinstance(ident, bool):
            ident = str(ident)
        if not isinstance(ident, str) or not ident.isdigit():
            raise _invalid("jsonobject")
        return ident
    return value


# ------------------------------------------------------------------ layouts


def layout(module: str) -> dict[str, Any]:
    """The module's single ``Standard`` layout (``GET /settings/layouts``)."""
    fields = [
        {"api_name": f.api_name, "id": field_id(module, f.api_name), "field_label": f.label}
        for f in _FIELDS[module]
    ]
    singular = module[:-1]
    return {
        "id": LAYOUT_IDS[module],
        "name": "Standard",
        "display_label": "Standard",
        "api_name": "Standard",
        "status": "active",
        "visible": True,
        "source": "crm",
        "has_more_profiles": False,
        "profiles": [
            {"id": "5725767000000026011", "name": "Administrator", "default": True},
            {"id": "5725767000000026014", "name": "Standard", "default": True},
        ],
        "sections": [
            {
                "display_label": f"{singular} Information",
                "api_name": f"{singular} Information",
                "sequence_number": 1,
                "column_count": 2,
                "fields": fields,
            }
        ],
    }


def pipelines() -> list[dict[str, Any]]:
    """The Deals layout's pipelines with their stages (``GET /settings/pipeline``)."""
    out = []
    for position, (name, stages) in enumerate(PIPELINES.items()):
        maps = []
        for stage in stages:
            probability, forecast, category = STAGE_FORECAST[stage]
            maps.append(
                {
                    "id": str(5725767000000006801 + DEAL_STAGES.index(stage) * 2),
                    "display_value": stage,
                    "actual_value": stage,
                    "sequence_number": DEAL_STAGES.index(stage) + 1,
                    "forecast_type": forecast,
                    "forecast_category": {
                        "name": category,
                        "id": str(5725767000000090001 + len(category)),
                    },
                    "probability": probability,
                    "colour_code": None,
                }
            )
        out.append(
            {
                "id": PIPELINE_IDS[name],
                "display_value": name,
                "actual_value": name,
                "default": position == 0,
                "child_available": False,
                "parent": None,
                "maps": maps,
            }
        )
    return out
