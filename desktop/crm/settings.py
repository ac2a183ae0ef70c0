"""The Zoho CRM integration's settings: the five setup steps plus the push rules.

One :class:`CrmSettings` value holds everything a CRM connection's syncs need. It lives
in the connection's ``settings["crm"]`` (JSON, versioned), is built and validated by
:class:`desktop.crm.setup.CrmSetup` (the wizard's model) and written once by its
``save()``. Loading never fails on an old or hand-edited value: unknown keys are ignored
and missing ones take their defaults; :meth:`CrmSettings.validate` says what is wrong.

Steps (Zoho's own "five step process"):

1. **module** — :class:`SyncModule`: CRM Accounts, Contacts, or Accounts and their
   Contacts (``include_orphans``: also contacts with no account);
2. **extent** — :class:`Extent`: fetch from CRM only, or both ways;
3. **duplicates** — :class:`DuplicatePolicy` for a CRM record that already exists in the
   workspace (matched by identifier, then e-mail, then exact name);
4. **views** — the CRM custom view id per CRM module (``{"Accounts": cvid, …}``) and, for
   Accounts and their Contacts, optional hand-picked ``contact_ids``;
5. **mappings** — CRM field → Billbridge field per CRM module (:class:`FieldMapping`),
   and ``currency_map`` (Billbridge currency → CRM currency) when CRM multi-currency is
   on.

Push rules (both ways only): :class:`NoMatchRule`, :class:`MatchRule`,
:class:`CompanyRule`, and the Deal pipeline/stage for Active and Non-renewing
subscriptions (:class:`DealStage`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any, Final

from desktop.errors import ConfigurationError

SETTINGS_VERSION: Final[int] = 1
#: Most custom fields one module's mapping may bring in (Zoho's limit).
MAX_CUSTOM_FIELDS: Final[int] = 10
#: Default minutes between automatic syncs.
DEFAULT_INTERVAL_MINUTES: Final[int] = 60


class SyncModule(enum.StrEnum):
    """Step 1: which CRM records become Billbridge accounts."""

    ACCOUNTS = "accounts"
    CONTACTS = "contacts"
    ACCOUNTS_AND_CONTACTS = "accounts-and-contacts"

    @property
    def label(self) -> str:
        """What the wizard shows."""
        return {
            "accounts": "Accounts",
            "contacts": "Contacts",
            "accounts-and-contacts": "Accounts and their Contacts",
        }[self.value]

    @property
    def crm_modules(self) -> tuple[str, ...]:
        """The CRM modules read for this choice."""
        if self is SyncModule.ACCOUNTS:
            return ("Accounts",)
        if self is SyncModule.CONTACTS:
            return ("Contacts",)
        return ("Accounts", "Contacts")


class Extent(enum.StrEnum):
    """Step 2: one way (CRM → Billbridge) or both ways."""

    FETCH = "fetch"
    BOTH = "both"

    @property
    def label(self) -> str:
        """What the wizard shows."""
        return "Fetch from CRM" if self is Extent.FETCH else "Sync both ways"


class DuplicatePolicy(enum.StrEnum):
    """Step 3: what to do with a CRM record that already exists in the workspace."""

    OVERWRITE = "overwrite"
    CLONE = "clone"
    SKIP = "skip"

    @property
    def label(self) -> str:
        """What the wizard shows."""
        return {
            "overwrite": "Overwrite (merge into one record)",
            "clone": "Clone (keep both)",
            "skip": "Skip (don't sync it)",
        }[self.value]


class NoMatchRule(enum.StrEnum):
    """Push rule: a customer with no matching CRM Contact."""

    CREATE = "create"
    SKIP = "skip"


class MatchRule(enum.StrEnum):
    """Push rule: a customer with a matching CRM Contact."""

    OVERWRITE = "overwrite"
    BLANK_ONLY = "blank-only"
    SKIP = "skip"


class CompanyRule(enum.StrEnum):
    """Push rule: a customer's company that matches no CRM Account."""

    CREATE = "create"
    LEAVE_EMPTY = "leave-empty"


@dataclass(frozen=True)
class FieldMapping:
    """One CRM field mapped to one Billbridge field.

    Attributes:
        crm_field: the CRM field's API name (``Last_Name``, ``Tenant_ID``).
        local_field: the Billbridge field (``last_name``, ``identifier``, ``custom:tier``).
    """

    crm_field: str
    local_field: str

    @property
    def is_custom(self) -> bool:
        """Whether the Billbridge side is a custom field (``custom:NAME``)."""
        return self.local_field.startswith("custom:")

    @classmethod
    def parse(cls, text: str) -> FieldMapping:
        """Parses ``CRM_FIELD=FIELD`` (the CLI's ``--map``).

        Raises:
            ConfigurationError: when it is not of that form.
        """
        crm, sep, local = text.partition("=")
        if not sep or not crm.strip() or not local.strip():
            raise ConfigurationError(
                f"The mapping {text!r} is not of the form CRM_FIELD=FIELD, for example "
                "Last_Name=last_name."
            )
        return cls(crm.strip(), local.strip())


@dataclass(frozen=True)
class DealStage:
    """The pipeline and stage a Deal is given for one subscription state."""

    pipeline: str | None = None
    stage: str = "Closed Won"


@dataclass(frozen=True)
class PushRules:
    """How Billbridge customers and subscriptions are pushed (both ways only).

    Attributes:
        no_match: a customer with no matching Contact — create one or skip it.
        match: a customer with a matching Contact — overwrite it, fill only its blank
            fields, or leave it (link only).
        company: a company matching no CRM Account — create the Account or leave the
            field empty.
        push_deals: whether subscriptions are pushed as Deals.
        active: pipeline and stage for Active subscriptions.
        non_renewing: pipeline and stage for Non-renewing subscriptions.
    """

    no_match: NoMatchRule = NoMatchRule.CREATE
    match: MatchRule = MatchRule.OVERWRITE
    company: CompanyRule = CompanyRule.CREATE
    push_deals: bool = True
    active: DealStage = field(default_factory=DealStage)
    non_renewing: DealStage = field(default_factory=lambda: DealStage(stage="Negotiation/Review"))


@dataclass(frozen=True)
class CrmSettings:
    """Everything a CRM connection's syncs need (see the module docstring).

    Attributes:
        module: step 1.
        include_orphans: step 1, Accounts and their Contacts: also contacts with no account.
        extent: step 2.
        duplicates: step 3.
        views: step 4, CRM module → custom view id.
        contact_ids: step 4, hand-picked contacts (Accounts and their Contacts only).
        mappings: step 5, CRM module → its field mappings.
        currency_map: step 5, Billbridge currency → CRM currency (multi-currency only).
        rules: the push rules.
        interval_minutes: minutes between automatic syncs.
        configured: whether the five steps were completed and saved.
    """

    module: SyncModule = SyncModule.ACCOUNTS_AND_CONTACTS
    include_orphans: bool = False
    extent: Extent = Extent.FETCH
    duplicates: DuplicatePolicy = DuplicatePolicy.SKIP
    views: dict[str, str] = field(default_factory=dict)
    contact_ids: tuple[str, ...] = ()
    mappings: dict[str, tuple[FieldMapping, ...]] = field(default_factory=dict)
    currency_map: dict[str, str] = field(default_factory=dict)
    rules: PushRules = field(default_factory=PushRules)
    interval_minutes: int = DEFAULT_INTERVAL_MINUTES
    configured: bool = False

    def with_changes(self, **changes: Any) -> CrmSettings:
        """A copy with some values replaced."""
        return replace(self, **changes)

    def mapping(self, module: str) -> tuple[FieldMapping, ...]:
        """The mappings of one CRM module (empty when none)."""
        return self.mappings.get(module, ())

    def validate_basics(self) -> None:
        """Checks what needs no CRM metadata (choices, interval, custom-field count).

        Raises:
            ConfigurationError: naming the first problem.
        """
        if not 5 <= self.interval_minutes <= 7 * 24 * 60:
            raise ConfigurationError(
                "The automatic sync interval must be between 5 minutes and 7 days."
            )
        if self.contact_ids and self.module is not SyncModule.ACCOUNTS_AND_CONTACTS:
            raise ConfigurationError(
                "Hand-picked contacts only apply to 'Accounts and their Contacts'."
            )
        for module in self.module.crm_modules:
            if not self.views.get(module):
                raise ConfigurationError(f"Choose the CRM view whose {module} are synced.")
        for module, items in self.mappings.items():
            custom = [m for m in items if m.is_custom]
            if len(custom) > MAX_CUSTOM_FIELDS:
                raise ConfigurationError(
                    f"The {module} mapping brings in {len(custom)} custom fields; at most "
                    f"{MAX_CUSTOM_FIELDS} are allowed."
                )
            targets = [m.local_field for m in items]
            repeated = sorted({t for t in targets if targets.count(t) > 1})
            if repeated:
                raise ConfigurationError(
                    f"The {module} mapping fills the Billbridge field {repeated[0]} from "
                    "more than one CRM field; map each Billbridge field once."
                )

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """The JSON stored in ``Connection.settings["crm"]``."""
        rules = self.rules
        return {
            "version": SETTINGS_VERSION,
            "configured": self.configured,
            "module": self.module.value,
            "include_orphans": self.include_orphans,
            "extent": self.extent.value,
            "duplicates": self.duplicates.value,
            "views": dict(self.views),
            "contact_ids": list(self.contact_ids),
            "mappings": {
                module: [[m.crm_field, m.local_field] for m in items]
                for module, items in self.mappings.items()
            },
            "currency_map": dict(self.currency_map),
            "rules": {
                "no_match": rules.no_match.value,
                "match": rules.match.value,
                "company": rules.company.value,
                "push_deals": rules.push_deals,
                "active": {"pipeline": rules.active.pipeline, "stage": rules.active.stage},
                "non_renewing": {
                    "pipeline": rules.non_renewing.pipeline,
                    "stage": rules.non_renewing.stage,
                },
            },
            "interval_minutes": self.interval_minutes,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> CrmSettings:
        """Reads stored settings; bad or unknown values fall back to defaults."""
        data = dict(data or {})
        default = cls()

        def choice(enum_type: type[enum.StrEnum], key: str, fallback: Any, src: Any = data) -> Any:
            try:
                return enum_type(str(src.get(key)))
            except ValueError:
                return fallback

        mappings: dict[str, tuple[FieldMapping, ...]] = {}
        raw_maps = data.get("mappings")
        if isinstance(raw_maps, dict):
            for module, items in raw_maps.items():
                if isinstance(items, list):
                    mappings[str(module)] = tuple(
                        FieldMapping(str(pair[0]), str(pair[1]))
                        for pair in items
                        if isinstance(pair, list | tuple) and len(pair) == 2
                    )
        raw_rules = data.get("rules") if isinstance(data.get("rules"), dict) else {}
        assert isinstance(raw_rules, dict)

        def stage(key: str, fallback: DealStage) -> DealStage:
            raw = raw_rules.get(key)
            if not isinstance(raw, dict) or not raw.get("stage"):
                return fallback
            pipeline = raw.get("pipeline")
            return DealStage(str(pipeline) if pipeline else None, str(raw["stage"]))

        base_rules = default.rules
        rules = PushRules(
            no_match=choice(NoMatchRule, "no_match", base_rules.no_match, raw_rules),
            match=choice(MatchRule, "match", base_rules.match, raw_rules),
            company=choice(CompanyRule, "company", base_rules.company, raw_rules),
            push_deals=bool(raw_rules.get("push_deals", True)),
            active=stage("active", base_rules.active),
            non_renewing=stage("non_renewing", base_rules.non_renewing),
        )
        try:
            interval = int(data.get("interval_minutes") or DEFAULT_INTERVAL_MINUTES)
        except (TypeError, ValueError):
            interval = DEFAULT_INTERVAL_MINUTES
        views = data.get("views") if isinstance(data.get("views"), dict) else {}
        currency_map = (
            data.get("currency_map") if isinstance(data.get("currency_map"), dict) else {}
        )
        assert isinstance(views, dict)
        assert isinstance(currency_map, dict)
        return cls(
            module=choice(SyncModule, "module", default.module),
            include_orphans=bool(data.get("include_orphans", False)),
            extent=choice(Extent, "extent", default.extent),
            duplicates=choice(DuplicatePolicy, "duplicates", default.duplicates),
            views={str(k): str(v) for k, v in views.items() if v},
            contact_ids=tuple(str(i) for i in data.get("contact_ids") or () if str(i).strip()),
            mappings=mappings,
            currency_map={str(k).upper(): str(v).upper() for k, v in currency_map.items()},
            rules=rules,
            interval_minutes=interval,
            configured=bool(data.get("configured", False)),
        )
