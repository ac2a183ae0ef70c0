"""The Zoho CRM wizard's field-mapping page (step 5) and its push-rules page.

The mapping page shows, per synced CRM module, every CRM field from CRM's fields metadata
(custom fields included) with a combo box of the Billbridge fields it may fill; each row
shows the problem :meth:`desktop.crm.setup.CrmSetup.check_mapping` finds for it (a type
the Billbridge field cannot hold, a field filled twice), and the module's required
Billbridge fields and the ten-custom-field limit are shown under the table. When CRM
multi-currency is on, the workspace's currencies are mapped to CRM currencies too.

The rules page holds the push rules (both ways only) and the automatic-sync interval.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.crm.fields import CrmField, MappingCheck
from desktop.crm.settings import (
    MAX_CUSTOM_FIELDS,
    CompanyRule,
    DealStage,
    Extent,
    FieldMapping,
    MatchRule,
    NoMatchRule,
    PushRules,
)
from desktop.crm.setup import CrmSetup, CurrencyRow
from desktop.wizards.crm_common import ERROR_STYLE, JobStrip
from desktop.wizards.crm_pages import CrmPageBase

if TYPE_CHECKING:
    from desktop.wizards.crm_wizard import CrmWizard

NOT_MAPPED = "— not mapped —"
_SAFE = re.compile(r"[^A-Za-z0-9_]")


def custom_name(field: CrmField) -> str:
    """The Billbridge custom field a CRM field fills when mapped as custom."""
    name = _SAFE.sub("_", field.api_name).strip("_").lower() or "field"
    if not name[0].isalpha():
        name = f"f_{name}"
    return f"custom:{name[:63]}"


class ModuleMapping(QWidget):
    """One CRM module's mapping table, checked on every change."""

    def __init__(self, page: MappingPage, setup: CrmSetup, module: str) -> None:
        super().__init__()
        self.page = page
        self.setup = setup
        self.module = module
        self.crm_fields = setup.fields(module)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.table = QTableWidget(len(self.crm_fields), 4)
        self.table.setHorizontalHeaderLabels(["CRM field", "Type", "Billbridge field", "Check"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        current = {m.crm_field: m.local_field for m in setup.settings.mapping(module)}
        if not current:
            current = {m.crm_field: m.local_field for m in setup.default_mappings(module)}
        self.combos: list[QComboBox] = []
        for row, field in enumerate(self.crm_fields):
            self.table.setItem(row, 0, QTableWidgetItem(f"{field.label} ({field.api_name})"))
            kind = field.data_type + (" · custom" if field.custom else "")
            kind += " · mandatory in CRM" if field.mandatory else ""
            self.table.setItem(row, 1, QTableWidgetItem(kind))
            combo = QComboBox()
            combo.addItem(NOT_MAPPED, None)
            for local in setup.local_fields(module):
                combo.addItem(local.label + (" (required)" if local.required else ""), local.name)
            combo.addItem(f"Custom field {custom_name(field).removeprefix('custom:')}",
                          custom_name(field))  # fmt: skip
            wanted = current.get(field.api_name)
            if wanted is not None:
                index = combo.findData(wanted)
                if index < 0:
                    combo.addItem(wanted, wanted)
                    index = combo.count() - 1
                combo.setCurrentIndex(index)
            combo.currentIndexChanged.connect(self.recheck)
            self.table.setCellWidget(row, 2, combo)
            self.table.setItem(row, 3, QTableWidgetItem(""))
            self.combos.append(combo)
        layout.addWidget(self.table, 1)
        self.required = QLabel()
        self.required.setWordWrap(True)
        layout.addWidget(self.required)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet(ERROR_STYLE)
        layout.addWidget(self.problems)
        self.check: MappingCheck = MappingCheck()
        self.recheck()

    def mappings(self) -> tuple[FieldMapping, ...]:
        """The mapping the combo boxes describe."""
        out = []
        for field, combo in zip(self.crm_fields, self.combos, strict=True):
            target = combo.currentData()
            if target:
                out.append(FieldMapping(field.api_name, str(target)))
        return tuple(out)

    def set_target(self, crm_field: str, local: str | None) -> None:
        """Maps one CRM field (``None``: unmaps it) — used by tests and keyboard users."""
        for field, combo in zip(self.crm_fields, self.combos, strict=True):
            if field.api_name == crm_field:
                index = combo.findData(local) if local else 0
                if index < 0:
                    combo.addItem(str(local), local)
                    index = combo.count() - 1
                combo.setCurrentIndex(index)
                return
        raise KeyError(crm_field)

    def row_problem(self, crm_field: str) -> str:
        """The problem shown beside one CRM field's row ("" when none)."""
        for row, field in enumerate(self.crm_fields):
            if field.api_name == crm_field:
                item = self.table.item(row, 3)
                return item.text() if item is not None and not item.text().startswith("✓") else ""
        raise KeyError(crm_field)

    def recheck(self, *_args: object) -> None:
        """Checks the mapping and shows each row's problem, the required fields and limits."""
        mappings = self.mappings()
        self.check = self.setup.check_mapping(self.module, mappings)
        by_row: dict[str, list[str]] = {}
        for problem in self.check.problems:
            if problem.crm_field:
                by_row.setdefault(problem.crm_field, []).append(problem.message)
        mapped = {m.crm_field for m in mappings}
        for row, field in enumerate(self.crm_fields):
            messages = by_row.get(field.api_name, [])
            item = self.table.item(row, 3)
            assert item is not None
            if messages:
                item.setText("✗ " + " ".join(messages))
                item.setForeground(Qt.GlobalColor.red)
            else:
                item.setText("✓" if field.api_name in mapped else "")
                item.setForeground(Qt.GlobalColor.darkGreen)
            item.setToolTip(item.text())
        labels = {f.name: f.label for f in self.setup.local_fields(self.module)}
        required = ", ".join(
            f"{labels.get(name, name)} {'✓' if filled else '✗ not mapped'}"
            for name, filled in self.check.required.items()
        )
        custom = sum(1 for m in mappings if m.is_custom)
        self.required.setText(
            f"Required Billbridge fields: {required or 'none'} · custom fields "
            f"{custom} of at most {MAX_CUSTOM_FIELDS}."
        )
        overall = [
            (f"{p.crm_field}: " if p.crm_field else "") + p.message for p in self.check.problems
        ]
        self.problems.setText("\n".join(overall))
        self.problems.setVisible(bool(overall))
        self.page.completeChanged.emit()


class MappingPage(CrmPageBase):
    """Step 5: CRM fields → Billbridge fields per module, and the currency mapping."""

    def __init__(self, wizard: CrmWizard) -> None:
        super().__init__(
            wizard,
            "5. Field mapping",
            "Choose the Billbridge field each CRM field fills. Types are checked as you "
            "choose; required Billbridge fields are marked, and a module may bring in at most "
            f"{MAX_CUSTOM_FIELDS} custom fields. When both ways are synced, the same pairs "
            "push customers to CRM Contacts.",
        )
        self.tabs = QTabWidget()
        self.body.addWidget(self.tabs, 1)
        self.currency_box = QGroupBox("Currencies (Zoho CRM multi-currency)")
        self.currency_form = QFormLayout(self.currency_box)
        self.body.addWidget(self.currency_box)
        self.currency_box.hide()
        self.strip = JobStrip()
        self.body.addWidget(self.strip)
        self.modules: dict[str, ModuleMapping] = {}
        self.currency_combos: dict[str, QComboBox] = {}
        self._currencies_loaded = False

    def initializePage(self) -> None:
        setup = self.setup()
        self.tabs.clear()
        for widget in self.modules.values():
            widget.deleteLater()
        self.modules = {}
        for module in setup.settings.module.crm_modules:
            widget = ModuleMapping(self, setup, module)
            self.modules[module] = widget
            self.tabs.addTab(widget, f"CRM {module}")
        self._load_currencies(setup)
        self.completeChanged.emit()

    def _load_currencies(self, setup: CrmSetup) -> None:
        self._currencies_loaded = not setup.multi_currency
        self.currency_box.hide()
        if not setup.multi_currency:
            return
        handle = self.wizard_.jobs.run(
            lambda _context: setup.currency_mapping(),
            title="Reading the workspace's currencies",
            on_success=self._show_currencies,
            on_error=self.show_problem,
            changes_data=False,
        )
        self.strip.follow(handle, "Loading the workspace's currencies…", can_cancel=False)

    def _show_currencies(self, rows: list[CurrencyRow]) -> None:
        setup = self.setup()
        while self.currency_form.rowCount():
            self.currency_form.removeRow(0)
        self.currency_combos = {}
        for row in rows:
            combo = QComboBox()
            for code in setup.currencies:
                combo.addItem(code, code)
            index = combo.findData(row.crm)
            if index < 0:
                combo.insertItem(0, f"{row.crm} (not enabled in CRM)", row.crm)
                index = 0
            combo.setCurrentIndex(index)
            combo.currentIndexChanged.connect(lambda *_a: self.completeChanged.emit())
            self.currency_form.addRow(f"Billbridge {row.local} →", combo)
            self.currency_combos[row.local] = combo
        if not rows:
            self.currency_form.addRow(QLabel("No subscriptions yet: nothing to map."))
        self.currency_box.setVisible(True)
        self._currencies_loaded = True
        self.completeChanged.emit()

    def currency_map(self) -> dict[str, str]:
        """Billbridge currency → CRM currency as chosen."""
        return {local: str(combo.currentData()) for local, combo in self.currency_combos.items()}

    def isComplete(self) -> bool:
        return (
            self.loaded()
            and bool(self.modules)
            and self._currencies_loaded
            and all(m.check.ok for m in self.modules.values())
        )

    def apply(self, setup: CrmSetup) -> None:
        for module, widget in self.modules.items():
            setup.set_mapping(module, widget.mappings())
        if setup.multi_currency and self.currency_combos:
            setup.set_currency_map(self.currency_map())


_NO_MATCH = ((NoMatchRule.CREATE, "Create a CRM Contact"), (NoMatchRule.SKIP, "Skip the customer"))
_MATCH = (
    (MatchRule.OVERWRITE, "Overwrite the Contact with Billbridge's values"),
    (MatchRule.BLANK_ONLY, "Update only the Contact's blank fields"),
    (MatchRule.SKIP, "Skip it (only link it)"),
)
_COMPANY = (
    (CompanyRule.CREATE, "Create the CRM Account"),
    (CompanyRule.LEAVE_EMPTY, "Leave the Contact's Account empty"),
)


def _combo(choices: tuple[tuple[object, str], ...], current: object) -> QComboBox:
    combo = QComboBox()
    for value, label in choices:
        combo.addItem(label, value)
    combo.setCurrentIndex(max(combo.findData(current), 0))
    return combo


class StageChoice(QWidget):
    """A Deals pipeline and one of its stages."""

    def __init__(self, setup: CrmSetup, current: DealStage) -> None:
        super().__init__()
        self.setup = setup
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.pipeline = QComboBox()
        self.stage = QComboBox()
        pipelines = setup.pipelines()
        if not pipelines:
            self.pipeline.addItem("(no pipelines)", None)
        for pipeline in pipelines:
            self.pipeline.addItem(pipeline.name + (" (default)" if pipeline.default else ""),
                                  pipeline.name)  # fmt: skip
        index = self.pipeline.findData(current.pipeline)
        if index < 0:
            index = next((i for i, p in enumerate(pipelines) if p.default), 0)
        self.pipeline.setCurrentIndex(index)
        layout.addWidget(QLabel("Pipeline"))
        layout.addWidget(self.pipeline, 1)
        layout.addWidget(QLabel("Stage"))
        layout.addWidget(self.stage, 1)
        self._fill_stages(current.stage)
        self.pipeline.currentIndexChanged.connect(lambda *_a: self._fill_stages(None))

    def _fill_stages(self, wanted: str | None) -> None:
        name = self.pipeline.currentData()
        found = next((p for p in self.setup.pipelines() if p.name == name), None)
        if found is not None:
            stages = list(found.stages)
        else:
            stage_field = next((f for f in self.setup.fields("Deals") if f.api_name == "Stage"),
                               None)  # fmt: skip
            stages = list(stage_field.picklist) if stage_field else []
        self.stage.clear()
        self.stage.addItems(stages)
        if wanted in stages:
            self.stage.setCurrentText(wanted)

    def value(self) -> DealStage:
        """The chosen pipeline and stage."""
        pipeline = self.pipeline.currentData()
        return DealStage(str(pipeline) if pipeline else None, self.stage.currentText())


class RulesPage(CrmPageBase):
    """Push rules (both ways only) and how often the automatic sync runs."""

    def __init__(self, wizard: CrmWizard) -> None:
        super().__init__(
            wizard,
            "Push rules and schedule",
            "How billing customers and subscriptions go into Zoho CRM, and how often the "
            "automatic sync runs.",
        )
        self.rules_box = QGroupBox("Billbridge → Zoho CRM")
        self.rules_form = QFormLayout(self.rules_box)
        self.body.addWidget(self.rules_box)
        self.fetch_note = QLabel(
            "You chose 'Fetch from CRM': nothing is pushed to Zoho CRM, so these rules do not "
            "apply. Go back to step 2 to sync both ways."
        )
        self.fetch_note.setWordWrap(True)
        self.fetch_note.setObjectName("pageSubtitle")
        self.body.addWidget(self.fetch_note)
        form = QFormLayout()
        self.interval = QSpinBox()
        self.interval.setRange(5, 7 * 24 * 60)
        self.interval.setSuffix(" minutes")
        self.interval.setSingleStep(15)
        form.addRow("Automatic sync every:", self.interval)
        self.body.addLayout(form)
        self.body.addStretch(1)
        self.no_match: QComboBox | None = None
        self.match: QComboBox | None = None
        self.company: QComboBox | None = None
        self.push_deals: QCheckBox | None = None
        self.active: StageChoice | None = None
        self.non_renewing: StageChoice | None = None

    def initializePage(self) -> None:
        setup = self.setup()
        rules = setup.settings.rules
        while self.rules_form.rowCount():
            self.rules_form.removeRow(0)
        self.no_match = _combo(_NO_MATCH, rules.no_match)
        self.match = _combo(_MATCH, rules.match)
        self.company = _combo(_COMPANY, rules.company)
        self.push_deals = QCheckBox("Push subscriptions as Deals (kept up to date)")
        self.push_deals.setChecked(rules.push_deals)
        self.active = StageChoice(setup, rules.active)
        self.non_renewing = StageChoice(setup, rules.non_renewing)
        self.rules_form.addRow("No matching Contact:", self.no_match)
        self.rules_form.addRow("Matching Contact:", self.match)
        self.rules_form.addRow("Company without a CRM Account:", self.company)
        self.rules_form.addRow("", self.push_deals)
        self.rules_form.addRow("Active subscriptions:", self.active)
        self.rules_form.addRow("Non-renewing subscriptions:", self.non_renewing)
        self.push_deals.toggled.connect(self._deals_toggled)
        self._deals_toggled(rules.push_deals)
        both = setup.settings.extent is Extent.BOTH
        self.rules_box.setEnabled(both)
        self.fetch_note.setVisible(not both)
        self.interval.setValue(setup.settings.interval_minutes)
        self.show_problem("")

    def _deals_toggled(self, on: bool) -> None:
        for widget in (self.active, self.non_renewing):
            if widget is not None:
                widget.setEnabled(on)

    def rules(self) -> PushRules:
        """The rules the page describes."""
        assert self.no_match is not None
        assert self.match is not None
        assert self.company is not None
        assert self.push_deals is not None
        assert self.active is not None
        assert self.non_renewing is not None
        return PushRules(
            no_match=NoMatchRule(str(self.no_match.currentData())),
            match=MatchRule(str(self.match.currentData())),
            company=CompanyRule(str(self.company.currentData())),
            push_deals=self.push_deals.isChecked(),
            active=self.active.value(),
            non_renewing=self.non_renewing.value(),
        )

    def apply(self, setup: CrmSetup) -> None:
        if setup.settings.extent is Extent.BOTH:
            rules = self.rules()
            if rules.push_deals:
                setup.set_rules(rules)
            else:
                setup.settings = setup.settings.with_changes(rules=rules)
        setup.set_interval(self.interval.value())
