"""The five setup steps as a Qt-free model: what the wizard shows, checks and saves.

:class:`CrmSetup` is loaded once with the CRM's metadata (fields of Accounts, Contacts and
Deals incl. custom fields; the custom views of Accounts and Contacts incl. user-created
ones; the Deals pipelines; the org's currencies) and the connection's current settings.
Each step has a setter that checks its input at once (the wizard's ``validatePage``) and
raises :class:`~desktop.errors.ConfigurationError` with a sentence; nothing is written
until :meth:`CrmSetup.save`, which validates everything and writes the settings in one
transaction (Cancel = drop the object). Usage::

    setup = integration.setup("CRM")
    setup.choose_module(SyncModule.ACCOUNTS_AND_CONTACTS, include_orphans=True)   # step 1
    setup.choose_extent(Extent.BOTH)                                               # step 2
    setup.count_duplicates(DuplicatePolicy.OVERWRITE)  # live count for step 3
    setup.choose_duplicates(DuplicatePolicy.OVERWRITE)
    setup.custom_views("Accounts"); setup.choose_views({"Accounts": cvid, "Contacts": cvid})
    setup.fields("Contacts"); setup.default_mappings("Contacts")                   # step 5
    setup.check_mapping("Contacts", mappings); setup.set_mapping("Contacts", mappings)
    setup.summary(); setup.save()

``count_duplicates`` reads the chosen view's records once (cached per view) and matches
them against the workspace exactly as a pull does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from desktop.crm.client import CrmClient
from desktop.crm.connect import CrmEndpoint
from desktop.crm.fields import LOCAL_FIELDS as _LOCAL_FIELDS
from desktop.crm.fields import (
    CrmField,
    LocalField,
    MappingCheck,
    check_mapping,
    default_mappings,
)
from desktop.crm.links import AccountIndex, links
from desktop.crm.pull import _values, mapping_for, pull_fields
from desktop.crm.remote import CrmReader, CrmView, Pipeline
from desktop.crm.settings import (
    CrmSettings,
    DealStage,
    DuplicatePolicy,
    Extent,
    FieldMapping,
    PushRules,
    SyncModule,
)
from desktop.errors import ConfigurationError
from desktop.storage.models import Subscription

if TYPE_CHECKING:
    from desktop.crm.service import CrmIntegration

#: The setup's steps, in order (the wizard's pages).
STEPS: tuple[str, ...] = ("module", "extent", "duplicates", "view", "mapping")


@dataclass(frozen=True)
class DuplicateCount:
    """How many CRM records of the chosen view already exist in the workspace.

    Attributes:
        policy: the policy the count is phrased for.
        records: records in the chosen view(s) that would become accounts.
        linked: records already linked by an earlier sync (updated, not duplicates).
        by_identifier / by_email / by_name: duplicates, by how they matched.
    """

    policy: DuplicatePolicy
    records: int
    linked: int
    by_identifier: int
    by_email: int
    by_name: int

    @property
    def duplicates(self) -> int:
        """Every duplicate the policy applies to."""
        return self.by_identifier + self.by_email + self.by_name

    def sentence(self) -> str:
        """What the wizard shows under the choice."""
        n = self.duplicates
        what = f"{n:,} of the {self.records:,} CRM records already exist in Billbridge"
        if self.policy is DuplicatePolicy.OVERWRITE:
            return f"{what}; they will be merged into the existing accounts (CRM values win)."
        if self.policy is DuplicatePolicy.CLONE:
            return f"{what}; each will be added as a separate new account."
        return f"{what}; they will not be synced."


@dataclass(frozen=True)
class CurrencyRow:
    """One row of the multi-currency mapping: a Billbridge currency and its CRM currency."""

    local: str
    crm: str | None
    enabled_in_crm: bool


class CrmSetup:
    """The setup steps' model (see the module docstring).

    Attributes:
        name: the connection's name.
        settings: the draft settings (saved only by :meth:`save`).
        multi_currency: whether CRM multi-currency is on (the currency mapping applies).
        base_currency: the CRM's base currency.
        currencies: the CRM's enabled currencies.
    """

    def __init__(
        self,
        integration: CrmIntegration,
        name: str,
        settings: CrmSettings,
        *,
        fields: dict[str, list[CrmField]],
        views: dict[str, list[CrmView]],
        pipelines: list[Pipeline],
        owner: dict[str, Any],
        secret_override: str | None = None,
    ) -> None:
        self._integration = integration
        self.name = name
        self.settings = settings
        self._fields = fields
        self._views = views
        self._pipelines = pipelines
        self.base_currency = str(owner.get("crm_base_currency") or "")
        self.multi_currency = bool(owner.get("crm_multi_currency"))
        self.currencies = tuple(owner.get("crm_currencies") or (self.base_currency,))
        self._secret_override = secret_override
        self._records: dict[tuple[str, str], list[dict[str, Any]]] = {}

    @classmethod
    def load(
        cls, integration: CrmIntegration, name: str, *, secret_override: str | None = None
    ) -> CrmSetup:
        """Reads the connection's settings and the CRM's metadata (one round of calls)."""
        row = integration._row(name)
        settings = CrmSettings.from_json((row.settings or {}).get("crm"))
        credentials = integration._credentials(row, secret_override)

        async def main(client: CrmClient) -> tuple[dict[str, Any], dict[str, Any], list[Pipeline]]:
            reader = CrmReader(client)
            fields = {m: await reader.fields(m) for m in ("Accounts", "Contacts", "Deals")}
            views = {m: await reader.views(m) for m in ("Accounts", "Contacts")}
            return fields, views, await reader.pipelines()

        fields, views, pipelines = integration._run_async(CrmEndpoint.of(row), credentials, main)
        return cls(
            integration,
            row.name,
            settings,
            fields=fields,
            views=views,
            pipelines=pipelines,
            owner=dict(row.settings or {}),
            secret_override=secret_override,
        )

    # ================================================================ step 1

    @staticmethod
    def modules() -> list[SyncModule]:
        """Step 1's choices."""
        return list(SyncModule)

    def choose_module(self, module: SyncModule | str, *, include_orphans: bool = False) -> None:
        """Step 1 (views and hand-picked contacts of other modules are dropped)."""
        chosen = _enum(SyncModule, module, "module")
        views = {m: v for m, v in self.settings.views.items() if m in chosen.crm_modules}
        contact_ids = (
            self.settings.contact_ids if chosen is SyncModule.ACCOUNTS_AND_CONTACTS else ()
        )
        self.settings = self.settings.with_changes(
            module=chosen,
            include_orphans=include_orphans and chosen is SyncModule.ACCOUNTS_AND_CONTACTS,
            views=views,
            contact_ids=contact_ids,
        )

    # ================================================================ step 2

    @staticmethod
    def extents() -> list[Extent]:
        """Step 2's choices."""
        return list(Extent)

    def choose_extent(self, extent: Extent | str) -> None:
        """Step 2."""
        self.settings = self.settings.with_changes(extent=_enum(Extent, extent, "extent"))

    # ================================================================ step 3

    @staticmethod
    def duplicate_policies() -> list[DuplicatePolicy]:
        """Step 3's choices."""
        return list(DuplicatePolicy)

    def choose_duplicates(self, policy: DuplicatePolicy | str) -> None:
        """Step 3."""
        self.settings = self.settings.with_changes(
            duplicates=_enum(DuplicatePolicy, policy, "duplicate policy")
        )

    def count_duplicates(self, policy: DuplicatePolicy | str | None = None) -> DuplicateCount:
        """Step 3's live count: CRM records of the chosen views that already exist here.

        Needs the views (step 4) — until they are chosen, each module's default view is
        used. The view's records are read once and cached.
        """
        chosen = _enum(DuplicatePolicy, policy or self.settings.duplicates, "duplicate policy")
        database = self._integration.database
        row = self._integration._row(self.name)
        records: list[tuple[str, dict[str, Any]]] = []
        for module in self._account_modules():
            cvid = self.settings.views.get(module) or self._default_view(module)
            for record in self._view_records(module, cvid):
                if (
                    module == "Contacts"
                    and self.settings.module is SyncModule.ACCOUNTS_AND_CONTACTS
                ):
                    lookup = record.get("Account_Name")
                    if lookup:  # a person of a synced account, not an account itself
                        continue
                records.append((module, record))
        counts = {"identifier": 0, "email": 0, "name": 0}
        linked = 0
        with database.session() as session:
            index = AccountIndex.for_pull(session, row.id)
            known = {
                module: set(links(session, row.id, module, "account"))
                for module in ("Accounts", "Contacts")
            }
        for module, record in records:
            if str(record.get("id")) in known[module]:
                linked += 1
                continue
            values = _values(module, record, mapping_for(self.settings, module))
            match = index.match(values.identifier, values.email, values.name)
            if match is not None:
                counts[match.how] += 1
        return DuplicateCount(
            chosen, len(records), linked, counts["identifier"], counts["email"], counts["name"]
        )

    def _account_modules(self) -> list[str]:
        module = self.settings.module
        if module is SyncModule.ACCOUNTS:
            return ["Accounts"]
        if module is SyncModule.CONTACTS:
            return ["Contacts"]
        return ["Accounts", "Contacts"] if self.settings.include_orphans else ["Accounts"]

    def _view_records(self, module: str, cvid: str | None) -> list[dict[str, Any]]:
        key = (module, cvid or "")
        if key not in self._records:
            row = self._integration._row(self.name)
            fields = pull_fields(module, mapping_for(self.settings, module))

            async def main(client: CrmClient) -> list[dict[str, Any]]:
                out: list[dict[str, Any]] = []
                async for page in CrmReader(client).pages(module, fields, cvid=cvid):
                    out.extend(page)
                return out

            credentials = self._integration._credentials(row, self._secret_override)
            self._records[key] = self._integration._run_async(
                CrmEndpoint.of(row), credentials, main
            )
        return self._records[key]

    # ================================================================ step 4

    def custom_views(self, module: str) -> list[CrmView]:
        """Step 4: the module's CRM views (Zoho's own and user-created ones)."""
        return list(self._views.get(module, []))

    def _default_view(self, module: str) -> str | None:
        views = self._views.get(module, [])
        chosen = next((v for v in views if v.default), views[0] if views else None)
        return chosen.id if chosen else None

    def choose_views(self, views: dict[str, str], contact_ids: list[str] | None = None) -> None:
        """Step 4: the view per CRM module (by id or name), and optional picked contacts.

        Raises:
            ConfigurationError: a module is missing, or a view is not one of its views.
        """
        chosen: dict[str, str] = {}
        for module in self.settings.module.crm_modules:
            wanted = views.get(module)
            if not wanted:
                raise ConfigurationError(f"Choose the CRM view whose {module} are synced.")
            found = next((v for v in self._views.get(module, []) if wanted in (v.id, v.name)), None)
            if found is None:
                names = ", ".join(v.name for v in self._views.get(module, []))
                raise ConfigurationError(
                    f"Zoho CRM has no {module} view {wanted!r}; choose one of: {names}."
                )
            chosen[module] = found.id
        picked = tuple(str(i).strip() for i in contact_ids or () if str(i).strip())
        if picked and self.settings.module is not SyncModule.ACCOUNTS_AND_CONTACTS:
            raise ConfigurationError(
                "Hand-picked contacts only apply to 'Accounts and their Contacts'."
            )
        bad = [i for i in picked if not i.isdigit()]
        if bad:
            raise ConfigurationError(f"{bad[0]!r} is not a Zoho CRM record id.")
        self.settings = self.settings.with_changes(views=chosen, contact_ids=picked)

    # ================================================================ step 5

    def fields(self, module: str) -> list[CrmField]:
        """Step 5: the CRM module's fields (custom fields included)."""
        return list(self._fields.get(module, []))

    @staticmethod
    def local_fields(module: str) -> list[LocalField]:
        """Step 5: the Billbridge fields a CRM field of ``module`` can fill (required flagged)."""
        return list(_LOCAL_FIELDS.get(module, ()))

    def default_mappings(self, module: str) -> tuple[FieldMapping, ...]:
        """Step 5's suggested mapping for a module."""
        return default_mappings(module, self.fields(module))

    def check_mapping(self, module: str, mappings: tuple[FieldMapping, ...]) -> MappingCheck:
        """Step 5's live check of one module's mapping (types, required, ≤10 custom)."""
        return check_mapping(module, tuple(mappings), self.fields(module))

    def set_mapping(
        self, module: str, mappings: tuple[FieldMapping, ...] | list[FieldMapping]
    ) -> None:
        """Step 5: sets one module's mapping after checking it.

        Raises:
            ConfigurationError: the first problem :meth:`check_mapping` finds.
        """
        if module not in self.settings.module.crm_modules:
            raise ConfigurationError(
                f"The {module} module is not synced with the chosen module "
                f"({self.settings.module.label})."
            )
        items = tuple(mappings)
        self.check_mapping(module, items).raise_first()
        self.settings = self.settings.with_changes(
            mappings={**self.settings.mappings, module: items}
        )

    def currency_mapping(self) -> list[CurrencyRow]:
        """Step 5's multi-currency mapping: each currency the workspace's subscriptions use.

        Empty when CRM multi-currency is off (then only the base currency is used).
        """
        if not self.multi_currency:
            return []
        with self._integration.database.session() as session:
            used = sorted(
                {c.upper() for c in session.scalars(select(Subscription.currency).distinct()) if c}
            )
        rows = []
        for code in used:
            target = self.settings.currency_map.get(code, code)
            rows.append(CurrencyRow(code, target, target in self.currencies))
        return rows

    def set_currency_map(self, mapping: dict[str, str]) -> None:
        """Step 5: Billbridge currency → CRM currency (multi-currency only).

        Raises:
            ConfigurationError: multi-currency is off, or a target is not enabled in CRM.
        """
        if mapping and not self.multi_currency:
            raise ConfigurationError(
                "Zoho CRM multi-currency is off, so there is no currency mapping to set."
            )
        clean = {k.strip().upper(): v.strip().upper() for k, v in mapping.items()}
        for local, crm in clean.items():
            if crm not in self.currencies:
                raise ConfigurationError(
                    f"Zoho CRM has no currency {crm} enabled (for {local}); enabled: "
                    f"{', '.join(self.currencies)}."
                )
        self.settings = self.settings.with_changes(currency_map=clean)

    # ================================================================ push rules

    def pipelines(self) -> list[Pipeline]:
        """The Deals pipelines and their stages (for the Active / Non-renewing choice)."""
        return list(self._pipelines)

    def set_rules(self, rules: PushRules) -> None:
        """The push rules (both ways only), checking the pipeline/stage choices.

        Raises:
            ConfigurationError: an unknown pipeline, or a stage not in its pipeline.
        """
        for label, choice in (("Active", rules.active), ("Non-renewing", rules.non_renewing)):
            self._check_stage(label, choice)
        self.settings = self.settings.with_changes(rules=rules)

    def _check_stage(self, label: str, choice: DealStage) -> None:
        stage_field = next((f for f in self.fields("Deals") if f.api_name == "Stage"), None)
        pipeline_field = next((f for f in self.fields("Deals") if f.api_name == "Pipeline"), None)
        if choice.pipeline:
            found = next((p for p in self._pipelines if p.name == choice.pipeline), None)
            if found is None:
                names = ", ".join(p.name for p in self._pipelines) or "none"
                raise ConfigurationError(
                    f"Zoho CRM has no pipeline {choice.pipeline!r} (for {label} subscriptions); "
                    f"pipelines: {names}."
                )
            if choice.stage not in found.stages:
                raise ConfigurationError(
                    f"The pipeline {found.name} has no stage {choice.stage!r} (for {label} "
                    f"subscriptions); its stages: {', '.join(found.stages)}."
                )
        elif pipeline_field is not None and pipeline_field.mandatory:
            raise ConfigurationError(
                f"Zoho CRM requires a pipeline on every Deal: choose one for {label} subscriptions."
            )
        elif (
            stage_field is not None
            and stage_field.picklist
            and choice.stage not in stage_field.picklist
        ):
            raise ConfigurationError(
                f"Zoho CRM has no Deal stage {choice.stage!r} (for {label} subscriptions)."
            )

    def set_interval(self, minutes: int) -> None:
        """How often the automatic sync runs (default every 60 minutes)."""
        self.settings = self.settings.with_changes(interval_minutes=int(minutes))
        self.settings.validate_basics()

    # ================================================================ finish

    def validate(self) -> None:
        """Checks every step together (what Finish does before writing).

        Raises:
            ConfigurationError: naming the first problem.
        """
        settings = self.settings
        settings.validate_basics()
        for module in settings.module.crm_modules:
            view = settings.views[module]
            if not any(v.id == view for v in self._views.get(module, [])):
                raise ConfigurationError(f"The chosen {module} view no longer exists in Zoho CRM.")
            mappings = settings.mapping(module) or self.default_mappings(module)
            self.check_mapping(module, mappings).raise_first()
            needed = pull_fields(module, mappings)
            if len(set(needed)) + 1 > 50:
                raise ConfigurationError(
                    f"The {module} mapping reads more than 50 CRM fields; map fewer fields."
                )
        if settings.extent is Extent.BOTH and settings.rules.push_deals:
            self._check_stage("Active", settings.rules.active)
            self._check_stage("Non-renewing", settings.rules.non_renewing)

    def summary(self) -> list[tuple[str, str]]:
        """The summary page's lines (label, value)."""
        s = self.settings
        lines = [
            (
                "Module",
                s.module.label
                + (" (with contacts without an account)" if s.include_orphans else ""),
            ),
            ("Extent", s.extent.label),
            ("Duplicates", s.duplicates.label),
        ]
        for module in s.module.crm_modules:
            view = next(
                (v.name for v in self._views.get(module, []) if v.id == s.views.get(module)), "?"
            )
            lines.append((f"{module} view", view))
        if s.contact_ids:
            lines.append(("Hand-picked contacts", f"{len(s.contact_ids):,}"))
        for module in s.module.crm_modules:
            mappings = s.mapping(module) or self.default_mappings(module)
            text = ", ".join(f"{m.crm_field} → {m.local_field}" for m in mappings)
            lines.append((f"{module} fields", text))
        if s.currency_map:
            lines.append(("Currencies", ", ".join(f"{k} → {v}" for k, v in s.currency_map.items())))
        if s.extent is Extent.BOTH:
            r = s.rules
            lines += [
                ("No matching contact", r.no_match.value),
                ("Matching contact", r.match.value),
                ("Company without a CRM Account", r.company.value),
                (
                    "Active subscriptions",
                    f"{r.active.pipeline or 'no pipeline'} / {r.active.stage}",
                ),
                (
                    "Non-renewing subscriptions",
                    f"{r.non_renewing.pipeline or 'no pipeline'} / {r.non_renewing.stage}",
                ),
            ]
        lines.append(("Automatic sync", f"every {s.interval_minutes} minutes"))
        return lines

    def save(self) -> CrmSettings:
        """Validates everything and writes the settings once; returns what was saved."""
        settings = self.settings
        filled = dict(settings.mappings)
        for module in settings.module.crm_modules:
            if not filled.get(module):
                filled[module] = self.default_mappings(module)
        self.settings = settings.with_changes(mappings=filled, configured=True)
        self.validate()
        self._integration.save_settings(self.name, self.settings)
        return self.settings


def _enum(kind: Any, value: Any, what: str) -> Any:
    try:
        return kind(value.value if hasattr(value, "value") else str(value))
    except ValueError:
        options = ", ".join(v.value for v in kind)
        raise ConfigurationError(
            f"{value!r} is not a valid {what}; use one of {options}."
        ) from None
