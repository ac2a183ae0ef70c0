"""The Zoho CRM setup wizard: Zoho's five steps, the push rules, and a summary with a dry run.

Pages (declarative, in :data:`PAGES`): 1. Module → 2. Extent → 3. Duplicates (live count)
→ 4. View → 5. Field mapping → Push rules and schedule → Summary. The wizard loads a
:class:`~desktop.crm.setup.CrmSetup` (the CRM's fields, views and pipelines, and the
connection's saved settings — so the same wizard edits them later) on the job runner;
every page hands its choice to the setup's setters on Next. The summary lists the choices
and has *Dry run*, which previews on the job runner what a sync with the unsaved settings
would create, update, skip and fail per module. Finish calls ``setup.save()`` once (on the
job runner); Cancel drops the setup and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from desktop.crm.report import SyncReport
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import CrmSettings
from desktop.crm.setup import CrmSetup
from desktop.errors import BillbridgeError
from desktop.jobs import JobContext
from desktop.views.jobs import JobHandle, JobRunner
from desktop.wizards.crm_common import JobStrip, ReportView, cancellable
from desktop.wizards.crm_mapping import MappingPage, RulesPage
from desktop.wizards.crm_pages import (
    CrmPageBase,
    DuplicatesPage,
    ExtentPage,
    ModulePage,
    ViewPage,
)

#: Opens a search for CRM Contacts and returns the ids picked (step 4's *Find…*).
FindContacts = Callable[[QWidget], list[str]]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SummaryPage(CrmPageBase):
    """The choices, a *Dry run* of them, and Finish (which saves once)."""

    def __init__(self, wizard: CrmWizard) -> None:
        super().__init__(
            wizard,
            "Summary",
            "Finish saves these settings once. Dry run shows what a sync would do first; it "
            "writes nothing, in Billbridge or in Zoho CRM.",
        )
        content = QWidget()
        inner = QVBoxLayout(content)
        inner.setContentsMargins(0, 0, 8, 0)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        inner.addWidget(self.text)
        self.dry_run_button = QPushButton("Dry run")
        self.dry_run_button.setToolTip("Previews the sync with these settings; writes nothing.")
        self.dry_run_button.clicked.connect(self.start_dry_run)
        inner.addWidget(self.dry_run_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.strip = JobStrip()
        inner.addWidget(self.strip)
        self.report = ReportView()
        inner.addWidget(self.report)
        inner.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidget(content)
        self.body.addWidget(self.scroll_area, 1)
        self.report.shown.connect(self._report_shown)
        self.saving = False

    def initializePage(self) -> None:
        lines = self.setup().summary()
        self.text.setText(
            "<table cellpadding='3'>"
            + "".join(
                f"<tr><td valign='top'><b>{_escape(k)}</b></td><td>{_escape(v)}</td></tr>"
                for k, v in lines
            )
            + "</table>"
        )
        self.report.hide()
        self.show_problem("")

    def cleanupPage(self) -> None:
        self.strip.cancel()

    def start_dry_run(self) -> None:
        """Previews the sync with the wizard's (unsaved) settings on the job runner."""
        if self.strip.busy:
            return
        setup = self.setup()
        integration = self.wizard_.integration
        name = self.wizard_.name
        settings = setup.settings.with_changes(
            mappings={
                m: setup.settings.mapping(m) or setup.default_mappings(m)
                for m in setup.settings.module.crm_modules
            },
            configured=True,
        )

        def work(context: JobContext) -> SyncReport:
            return integration.preview(name, settings=settings, context=context)

        self.report.hide()
        self.show_problem("")
        try:
            handle = self.wizard_.jobs.run(
                work,
                title=f"Dry run of {name}",
                key=f"crm-dry-run:{name}",
                on_success=self.report.show_report,
                on_error=self.show_problem,
                changes_data=False,
            )
        except BillbridgeError as error:
            self.show_problem(str(error))
            return
        handle.cancelled.connect(lambda: self.show_problem("Dry run cancelled."))
        self.strip.follow(handle, "Dry run: reading Zoho CRM and comparing…")
        handle.finished.connect(self._update)
        self._update()

    def _report_shown(self) -> None:
        bar = self.scroll_area.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _update(self) -> None:
        self.dry_run_button.setEnabled(not self.strip.busy and not self.saving)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.loaded() and not self.saving


class CrmWizard(QWizard):
    """Sets up (or edits) a Zoho CRM connection's sync.

    Args:
        integration: the CRM operations (called on the job runner only).
        jobs: the job runner.
        name: the CRM connection.
        find_contacts: opens a CRM Contact search for step 4's hand-picking (optional).

    Attributes:
        setup: the loaded setup model (``None`` while loading).
        saved: the settings Finish wrote (``None`` until then).

    Signals:
        loaded(): the CRM metadata arrived.
        load_failed(str): it could not be read (the sentence is shown on step 1).
    """

    loaded = Signal()
    load_failed = Signal(str)

    def __init__(
        self,
        integration: CrmIntegration,
        jobs: JobRunner,
        name: str,
        *,
        find_contacts: FindContacts | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.integration = integration
        self.jobs = jobs
        self.name = name
        self.find_contacts = find_contacts
        self.setup: CrmSetup | None = None
        self.saved: CrmSettings | None = None
        self.load_handle: JobHandle | None = None
        self._closed = False
        self.setWindowTitle(f"Set up the Zoho CRM sync of {name}")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.resize(860, 640)
        self.module = ModulePage(self)
        self.extent = ExtentPage(self)
        self.duplicates = DuplicatesPage(self)
        self.views = ViewPage(self)
        self.mapping = MappingPage(self)
        self.rules = RulesPage(self)
        self.summary = SummaryPage(self)
        for page in self.pages():
            self.addPage(page)
        self.load_failed.connect(self.module.show_problem)
        self.load()

    def pages(self) -> list[QWizardPage]:
        """The pages, in order."""
        return [
            self.module,
            self.extent,
            self.duplicates,
            self.views,
            self.mapping,
            self.rules,
            self.summary,
        ]

    def load(self) -> None:
        """Reads the CRM's metadata and the saved settings on the job runner."""
        integration = self.integration
        name = self.name

        def work(context: JobContext) -> CrmSetup:
            setup: CrmSetup = cancellable(integration, context.cancel).setup(name)
            return setup

        self.load_handle = self.jobs.run(
            work,
            title=f"Loading the Zoho CRM metadata of {name}",
            on_success=self._loaded,
            on_error=lambda message: None if self._closed else self.load_failed.emit(message),
            changes_data=False,
        )
        self.load_handle.finished.connect(self._load_finished)

    def _loaded(self, setup: CrmSetup) -> None:
        if self._closed:
            return
        self.setup = setup
        self.loaded.emit()
        self.module.completeChanged.emit()

    def _load_finished(self) -> None:
        self.load_handle = None

    def accept(self) -> None:
        """Saves the settings once, on the job runner; stays open if that fails."""
        setup = self.setup
        if setup is None or self.summary.saving:
            return
        self.summary.saving = True
        self.summary._update()
        self.summary.show_problem("")

        def work(_context: JobContext) -> CrmSettings:
            return setup.save()

        def failed(message: str) -> None:
            self.summary.saving = False
            self.summary.show_problem(f"Nothing was saved: {message}")
            self.summary._update()

        try:
            self.jobs.run(
                work,
                title=f"Saving the Zoho CRM settings of {self.name}",
                key=f"crm-save:{self.name}",
                on_success=self._saved,
                on_error=failed,
            )
        except BillbridgeError as error:
            failed(str(error))

    def _saved(self, settings: CrmSettings) -> None:
        self.saved = settings
        self.summary.saving = False
        self._closed = True
        super().accept()

    def reject(self) -> None:
        """Cancels whatever runs in the background; writes nothing."""
        if self.summary.saving:
            return  # the save is one short transaction: let it finish
        self._closed = True
        if self.load_handle is not None:
            self.load_handle.cancel()
        self.duplicates.strip.cancel()
        self.summary.strip.cancel()
        super().reject()
