"""The Zoho CRM wizard's first four steps: module, extent, duplicates and view.

Each page fills itself from the wizard's :class:`~desktop.crm.setup.CrmSetup` in
``initializePage`` (the setup loads on the job runner; until it arrives the first page
shows *Loading…*), enables Next through ``isComplete`` and, in ``validatePage``, hands the
choice to the setup's setter — which checks it at once and may refuse it with a sentence
shown on the page. Nothing is written before Finish.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWizardPage,
)

from desktop.crm.settings import DuplicatePolicy, Extent, SyncModule
from desktop.crm.setup import CrmSetup, DuplicateCount
from desktop.errors import ConfigurationError
from desktop.views.jobs import JobHandle
from desktop.wizards.crm_common import ERROR_STYLE, JobStrip

if TYPE_CHECKING:
    from desktop.wizards.crm_wizard import CrmWizard

MODULE_HINTS = {
    SyncModule.ACCOUNTS: "Each CRM Account becomes a Billbridge account.",
    SyncModule.CONTACTS: "Each CRM Contact becomes a Billbridge account with that person.",
    SyncModule.ACCOUNTS_AND_CONTACTS: (
        "Each CRM Account becomes a Billbridge account, and its Contacts become its users."
    ),
}
EXTENT_HINTS = {
    Extent.FETCH: "One way: Zoho CRM → Billbridge. Nothing is ever written to Zoho CRM.",
    Extent.BOTH: (
        "Also pushes every billing connection's customers to CRM Contacts (and their "
        "companies to Accounts) and subscriptions to Deals, under the push rules."
    ),
}
DUPLICATE_HINTS = {
    DuplicatePolicy.OVERWRITE: "The CRM record and the existing account become one record.",
    DuplicatePolicy.CLONE: "The CRM record is added as a second account.",
    DuplicatePolicy.SKIP: "The CRM record is left out of the sync.",
}


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setIndent(24)
    label.setObjectName("pageSubtitle")
    return label


class CrmPageBase(QWizardPage):
    """A step of the CRM wizard: a body, a problem line and the setup's setter on Next."""

    def __init__(self, wizard: CrmWizard, title: str, subtitle: str) -> None:
        super().__init__()
        self.wizard_ = wizard
        self.setTitle(title)
        self.setSubTitle(subtitle)
        outer = QVBoxLayout(self)
        self.body = QVBoxLayout()
        outer.addLayout(self.body, 1)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(ERROR_STYLE)
        self.problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem.hide()
        outer.addWidget(self.problem)

    def loaded(self) -> bool:
        """Whether the CRM metadata has arrived."""
        return self.wizard_.setup is not None

    def setup(self) -> CrmSetup:
        """The wizard's setup model (only once loaded)."""
        setup = self.wizard_.setup
        assert setup is not None, "the CRM metadata has not loaded yet"
        return setup

    def show_problem(self, text: str) -> None:
        """Shows (or clears) the page's problem sentence."""
        self.problem.setText(text)
        self.problem.setVisible(bool(text))

    def apply(self, setup: CrmSetup) -> None:
        """Hands the page's choice to the setup (raises ConfigurationError)."""

    def validatePage(self) -> bool:
        if not self.isComplete():
            return False
        try:
            self.apply(self.setup())
        except ConfigurationError as error:
            self.show_problem(str(error))
            return False
        self.show_problem("")
        return True


class ModulePage(CrmPageBase):
    """Step 1: Accounts, Contacts, or Accounts and their Contacts."""

    def __init__(self, wizard: CrmWizard) -> None:
        super().__init__(
            wizard,
            "1. Module",
            "Which Zoho CRM records become Billbridge accounts.",
        )
        self.strip = JobStrip()
        self.body.addWidget(self.strip)
        self.group = QButtonGroup(self)
        self.buttons: dict[SyncModule, QRadioButton] = {}
        for module in CrmSetup.modules():
            button = QRadioButton(module.label)
            button.setObjectName(f"module-{module.value}")
            self.group.addButton(button)
            self.buttons[module] = button
            self.body.addWidget(button)
            self.body.addWidget(_hint(MODULE_HINTS[module]))
        self.orphans = QCheckBox("Also sync Contacts that are not associated with any Account")
        self.body.addSpacing(6)
        self.body.addWidget(self.orphans)
        self.body.addStretch(1)
        self.group.buttonToggled.connect(self._update)
        for button in self.buttons.values():
            button.setEnabled(False)
        self.orphans.setEnabled(False)
        wizard.loaded.connect(self._fill)

    def initializePage(self) -> None:
        if self.loaded():
            self._fill()
        elif self.wizard_.load_handle is not None:
            self.strip.follow(
                self.wizard_.load_handle,
                "Loading Zoho CRM's fields, views and pipelines…",
            )

    def _fill(self) -> None:
        settings = self.setup().settings
        for button in self.buttons.values():
            button.setEnabled(True)
        self.buttons[settings.module].setChecked(True)
        self.orphans.setChecked(settings.include_orphans)
        self._update()

    def chosen(self) -> SyncModule | None:
        """The chosen module."""
        return next((m for m, b in self.buttons.items() if b.isChecked()), None)

    def _update(self, *_args: object) -> None:
        both = self.chosen() is SyncModule.ACCOUNTS_AND_CONTACTS
        self.orphans.setEnabled(both and self.loaded())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.loaded() and self.chosen() is not None

    def apply(self, setup: CrmSetup) -> None:
        module = self.chosen()
        assert module is not None
        setup.choose_module(module, include_orphans=self.orphans.isChecked())


class ExtentPage(CrmPageBase):
    """Step 2: fetch from CRM only, or sync both ways."""

    def __init__(self, wizard: CrmWizard) -> None:
        super().__init__(wizard, "2. Extent", "Which way records go.")
        self.group = QButtonGroup(self)
        self.buttons: dict[Extent, QRadioButton] = {}
        for extent in CrmSetup.extents():
            button = QRadioButton(extent.label)
            self.group.addButton(button)
            self.buttons[extent] = button
            self.body.addWidget(button)
            self.body.addWidget(_hint(EXTENT_HINTS[extent]))
        self.body.addStretch(1)
        self.group.buttonToggled.connect(lambda *_a: self.completeChanged.emit())

    def initializePage(self) -> None:
        self.buttons[self.setup().settings.extent].setChecked(True)

    def chosen(self) -> Extent | None:
        """The chosen extent."""
        return next((e for e, b in self.buttons.items() if b.isChecked()), None)

    def isComplete(self) -> bool:
        return self.loaded() and self.chosen() is not None

    def apply(self, setup: CrmSetup) -> None:
        extent = self.chosen()
        assert extent is not None
        setup.choose_extent(extent)


class DuplicatesPage(CrmPageBase):
    """Step 3: what to do with a CRM record that already exists here, with a live count."""

    def __init__(self, wizard: CrmWizard) -> None:
        super().__init__(
            wizard,
            "3. Duplicates",
            "A CRM record already exists in Billbridge when its identifier, then its e-mail, "
            "then its exact name matches an account.",
        )
        self.group = QButtonGroup(self)
        self.buttons: dict[DuplicatePolicy, QRadioButton] = {}
        for policy in CrmSetup.duplicate_policies():
            button = QRadioButton(policy.label)
            self.group.addButton(button)
            self.buttons[policy] = button
            self.body.addWidget(button)
            self.body.addWidget(_hint(DUPLICATE_HINTS[policy]))
        self.body.addSpacing(8)
        self.strip = JobStrip()
        self.body.addWidget(self.strip)
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        self.count_label.setObjectName("duplicateCount")
        self.body.addWidget(self.count_label)
        self.body.addStretch(1)
        self.count: DuplicateCount | None = None
        self._generation = 0
        self._handle: JobHandle | None = None
        self.group.buttonToggled.connect(self._toggled)

    def initializePage(self) -> None:
        self.buttons[self.setup().settings.duplicates].setChecked(True)
        self.start_count()

    def cleanupPage(self) -> None:
        self.strip.cancel()

    def chosen(self) -> DuplicatePolicy | None:
        """The chosen policy."""
        return next((p for p, b in self.buttons.items() if b.isChecked()), None)

    def _toggled(self, _button: object, checked: bool) -> None:
        if checked:
            self.start_count()
        self.completeChanged.emit()

    def start_count(self) -> None:
        """Counts, in the background, the duplicates the chosen policy applies to.

        A newer count replaces a pending one (the older result is ignored).
        """
        policy = self.chosen()
        if policy is None or not self.loaded():
            return
        setup = self.setup()
        self._generation += 1
        generation = self._generation
        if self._handle is not None:
            self._handle.cancel()
        views = self._view_names(setup)
        self.count = None
        self.count_label.setText("")
        handle = self.wizard_.jobs.run(
            lambda _context: setup.count_duplicates(policy),
            title="Counting CRM duplicates",
            on_success=lambda count: self._counted(generation, count, views),
            on_error=lambda message: self._count_failed(generation, message),
            changes_data=False,
        )
        self._handle = handle
        self.strip.follow(handle, f"Counting the duplicates in {views}…")

    @staticmethod
    def _view_names(setup: CrmSetup) -> str:
        names = []
        modules = ["Accounts", "Contacts"] if setup.settings.include_orphans else []
        modules = modules or list(setup.settings.module.crm_modules)[:1]
        for module in modules:
            chosen = setup.settings.views.get(module)
            views = setup.custom_views(module)
            view = next((v for v in views if v.id == chosen), None) or next(
                (v for v in views if v.default), views[0] if views else None
            )
            if view is not None:
                names.append(f"the view {view.name}")
        return " and ".join(names) or "the CRM"

    def _counted(self, generation: int, count: DuplicateCount, views: str) -> None:
        if generation != self._generation:
            return
        self._handle = None
        self.count = count
        linked = (
            f" {count.linked:,} are already linked by an earlier sync and are simply updated."
            if count.linked
            else ""
        )
        how = (
            f" (by identifier {count.by_identifier:,}, by e-mail {count.by_email:,}, by name "
            f"{count.by_name:,})"
            if count.duplicates
            else ""
        )
        self.count_label.setText(
            f"{count.sentence()}{how}{linked} Counted in {views}; step 4 can change the view."
        )

    def _count_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self._handle = None
            self.count_label.setText(f"The duplicates could not be counted: {message}")

    def isComplete(self) -> bool:
        return self.loaded() and self.chosen() is not None

    def apply(self, setup: CrmSetup) -> None:
        policy = self.chosen()
        assert policy is not None
        setup.choose_duplicates(policy)


class ViewPage(CrmPageBase):
    """Step 4: the CRM view whose records sync, per module; optionally hand-picked contacts."""

    def __init__(self, wizard: CrmWizard) -> None:
        super().__init__(
            wizard,
            "4. View",
            "Only the records in the chosen Zoho CRM view are synced. Views created by your "
            "CRM users are listed too.",
        )
        self.form = QFormLayout()
        self.body.addLayout(self.form)
        self.pick = QCheckBox("Hand-pick the Contacts to sync (instead of the whole contact view)")
        self.contact_ids = QLineEdit()
        self.contact_ids.setPlaceholderText("CRM Contact ids, separated by commas or spaces")
        self.find_button = QPushButton("Find in Zoho CRM…")
        self.find_button.clicked.connect(self._find)
        pick_row = QHBoxLayout()
        pick_row.addWidget(self.contact_ids, 1)
        pick_row.addWidget(self.find_button)
        self.body.addSpacing(8)
        self.body.addWidget(self.pick)
        self.body.addLayout(pick_row)
        self.body.addStretch(1)
        self.combos: dict[str, QComboBox] = {}
        self.pick.toggled.connect(self._update)
        self.contact_ids.textChanged.connect(self._update)

    def initializePage(self) -> None:
        setup = self.setup()
        while self.form.rowCount():
            self.form.removeRow(0)
        self.combos = {}
        both = setup.settings.module is SyncModule.ACCOUNTS_AND_CONTACTS
        for module in setup.settings.module.crm_modules:
            combo = QComboBox()
            for view in setup.custom_views(module):
                who = "Zoho's" if view.system_defined else "created by a user"
                extra = ", default" if view.default else ""
                combo.addItem(f"{view.name}  ({who}{extra})", view.id)
            wanted = setup.settings.views.get(module)
            index = combo.findData(wanted) if wanted else -1
            if index < 0:
                index = max(next((i for i in range(combo.count())
                                  if setup.custom_views(module)[i].default), 0), 0)  # fmt: skip
            combo.setCurrentIndex(index)
            combo.currentIndexChanged.connect(self._update)
            label = (
                ("Account view:" if module == "Accounts" else "Contact view:")
                if both
                else (f"{module} view:")
            )
            self.form.addRow(label, combo)
            self.combos[module] = combo
        self.pick.setVisible(both)
        self.contact_ids.setVisible(both)
        self.find_button.setVisible(both)
        self.pick.setChecked(both and bool(setup.settings.contact_ids))
        self.contact_ids.setText(", ".join(setup.settings.contact_ids))
        self._update()

    def picked(self) -> list[str]:
        """The hand-picked contact ids (empty unless the box is ticked)."""
        if not self.pick.isChecked() or not self.pick.isVisible():
            return []
        return [p for p in self.contact_ids.text().replace(",", " ").split() if p]

    def _update(self, *_args: object) -> None:
        picking = self.pick.isChecked()
        self.contact_ids.setEnabled(picking)
        self.find_button.setEnabled(picking and self.wizard_.find_contacts is not None)
        bad = next((p for p in self.picked() if not p.isdigit()), None)
        if bad is not None:
            self.show_problem(f"{bad!r} is not a Zoho CRM record id (digits only).")
        elif picking and not self.picked():
            self.show_problem("Enter the ids of the Contacts to sync, or untick the box.")
        else:
            self.show_problem("")
        self.completeChanged.emit()

    def _find(self) -> None:
        find = self.wizard_.find_contacts
        if find is None:
            return
        found = find(self)
        if found:
            current = self.picked()
            merged = current + [i for i in found if i not in current]
            self.contact_ids.setText(", ".join(merged))

    def isComplete(self) -> bool:
        if not self.loaded() or not self.combos:
            return False
        if any(combo.currentData() is None for combo in self.combos.values()):
            return False
        picked = self.picked()
        if self.pick.isChecked() and self.pick.isVisible() and not picked:
            return False
        return all(p.isdigit() for p in picked)

    def apply(self, setup: CrmSetup) -> None:
        views = {module: str(combo.currentData()) for module, combo in self.combos.items()}
        setup.choose_views(views, self.picked())
