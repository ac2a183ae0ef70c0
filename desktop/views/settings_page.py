"""The Settings page: this workspace, where its secrets live, and the reporting currency.

The "Reporting currency and exchange rates" group edits what
:mod:`desktop.health.settings` stores (``billbridge rates`` is the command-line
equivalent): the currency health reports in and, for each other currency, how many units
of the reporting currency one unit of it is worth. Saving recomputes health the way a
finished sync does, as a background job.
"""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop import __version__
from desktop.errors import BillbridgeError, ConfigurationError
from desktop.health.after_sync import HealthRefresh, refresh_health
from desktop.health.settings import (
    CurrencySettings,
    load_currency_settings,
    normalise_currency,
    parse_rate,
    reporting_currency,
    save_currency_settings,
)
from desktop.jobs import JobContext
from desktop.storage.database import Database
from desktop.timeutil import Clock, utc_now
from desktop.views.jobs import JobRunner
from desktop.views.page import Page

GROUP_TITLE = "Reporting currency and exchange rates"


def _error_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("fieldError")
    label.setStyleSheet("color: #c62828;")
    label.setWordWrap(True)
    label.hide()
    return label


def _show_error(label: QLabel, sentence: str | None) -> None:
    label.setText(sentence or "")
    label.setVisible(bool(sentence))


class RateRow:
    """One line of the rate list: ``1 [EUR] = [1.08] USD  Remove``, and its error."""

    def __init__(self, code: str, rate: str, reporting: str) -> None:
        self.code = QLineEdit(code)
        self.code.setPlaceholderText("EUR")
        self.code.setMaxLength(3)
        self.code.setFixedWidth(64)
        self.code.setAccessibleName("Currency")
        self.rate = QLineEdit(rate)
        self.rate.setPlaceholderText("1.08")
        self.rate.setFixedWidth(120)
        self.rate.setAccessibleName("Rate")
        self.target = QLabel(reporting)
        self.remove = QPushButton("Remove")
        self.error = _error_label()
        self.one = QLabel("1")
        self.equals = QLabel("=")

    def set_reporting(self, reporting: str) -> None:
        """Names the reporting currency after the rate."""
        self.target.setText(reporting)

    def widgets(self) -> list[QWidget]:
        """Every widget of the row (to remove them together)."""
        return [self.one, self.code, self.equals, self.rate, self.target, self.remove, self.error]


class CurrencyGroup(QGroupBox):
    """Edits the reporting currency and the exchange rates; Save validates, stores, recomputes."""

    def __init__(
        self,
        database: Database,
        jobs: JobRunner,
        clock: Clock = utc_now,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(GROUP_TITLE, parent)
        self._database = database
        self._jobs = jobs
        self._clock = clock
        self._automatic = "USD"
        self.rows: list[RateRow] = []
        layout = QVBoxLayout(self)
        explain = QLabel(
            "Health shows every total in the reporting currency. Amounts in a currency "
            "without a rate are left out of the totals, never converted 1:1."
        )
        explain.setWordWrap(True)
        layout.addWidget(explain)
        top = QHBoxLayout()
        top.addWidget(QLabel("Reporting currency:"))
        self.reporting = QLineEdit()
        self.reporting.setMaxLength(3)
        self.reporting.setFixedWidth(64)
        self.reporting.setAccessibleName("Reporting currency")
        top.addWidget(self.reporting)
        self.automatic_hint = QLabel("")
        self.automatic_hint.setWordWrap(True)
        top.addWidget(self.automatic_hint, 1)
        self.reporting_error = _error_label()
        top.addWidget(self.reporting_error, 1)
        layout.addLayout(top)
        rates_title = QLabel("Exchange rates (one unit of each currency is worth):")
        rates_title.setWordWrap(True)
        layout.addWidget(rates_title)
        self.no_rates = QLabel("No rates set.")
        layout.addWidget(self.no_rates)
        self._grid = QGridLayout()
        self._grid.setColumnStretch(6, 1)
        layout.addLayout(self._grid)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add rate")
        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.save_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.reporting.textChanged.connect(self._reporting_changed)
        self.add_button.clicked.connect(lambda: self.add_row())
        self.save_button.clicked.connect(self.save)
        self.load()

    # ------------------------------------------------------------------ state

    def current_reporting(self) -> str:
        """The reporting currency the rates are against (typed, else the automatic one)."""
        text = self.reporting.text().strip().upper()
        return text if len(text) == 3 else self._automatic

    def load(self) -> None:
        """Shows the stored settings (discarding unsaved edits)."""
        with self._database.transaction() as session:
            settings = load_currency_settings(session)
            self._automatic = reporting_currency(session, settings)
        self.reporting.setPlaceholderText(self._automatic)
        self.automatic_hint.setText(
            f"Left blank, it is the currency most subscriptions use (now {self._automatic})."
        )
        self.reporting.setText(settings.reporting or "")
        for row in list(self.rows):
            self._remove_row(row)
        for code, rate in sorted(settings.rates.items()):
            self.add_row(code, str(rate))
        _show_error(self.reporting_error, None)

    def add_row(self, code: str = "", rate: str = "") -> RateRow:
        """Adds a rate line (empty for the admin to fill in)."""
        row = RateRow(code, rate, self.current_reporting())
        index = len(self.rows) * 2
        self._grid.addWidget(row.one, index, 0)
        self._grid.addWidget(row.code, index, 1)
        self._grid.addWidget(row.equals, index, 2)
        self._grid.addWidget(row.rate, index, 3)
        self._grid.addWidget(row.target, index, 4)
        self._grid.addWidget(row.remove, index, 5)
        self._grid.addWidget(row.error, index + 1, 1, 1, 6)
        row.remove.clicked.connect(lambda: self._remove_row(row))
        self.rows.append(row)
        self._rows_changed()
        if not code:
            row.code.setFocus()
        return row

    def _remove_row(self, row: RateRow) -> None:
        self.rows.remove(row)
        for widget in row.widgets():
            self._grid.removeWidget(widget)
            widget.deleteLater()
        self._rows_changed()

    def _rows_changed(self) -> None:
        self.no_rates.setVisible(not self.rows)

    def _reporting_changed(self) -> None:
        for row in self.rows:
            row.set_reporting(self.current_reporting())

    # ------------------------------------------------------------------- save

    def _validated(self) -> CurrencySettings | None:
        """The settings typed, or ``None`` after showing a sentence next to each bad field."""
        ok = True
        reporting: str | None = None
        typed = self.reporting.text().strip()
        try:
            reporting = normalise_currency(typed) if typed else None
            _show_error(self.reporting_error, None)
        except ConfigurationError as error:
            _show_error(self.reporting_error, str(error))
            ok = False
        target = reporting or self._automatic
        rates: dict[str, Decimal] = {}
        for row in self.rows:
            code_text, rate_text = row.code.text().strip(), row.rate.text().strip()
            if not code_text and not rate_text:
                _show_error(row.error, None)
                continue
            try:
                code = normalise_currency(code_text)
                if code == target:
                    raise ConfigurationError(
                        f"{code} is the reporting currency; its rate is always 1."
                    )
                if code in rates:
                    raise ConfigurationError(f"{code} has a rate above already.")
                rates[code] = parse_rate(code, rate_text)
                _show_error(row.error, None)
            except ConfigurationError as error:
                _show_error(row.error, str(error))
                ok = False
        return CurrencySettings(target if rates else reporting, rates) if ok else None

    def save(self) -> None:
        """Validates, stores and recomputes health; nothing is stored if a field is wrong."""
        settings = self._validated()
        if settings is None:
            self.status.setText("Nothing was saved: correct the fields marked above.")
            return
        try:
            with self._database.transaction() as session:
                save_currency_settings(session, settings)
        except BillbridgeError as error:
            self.status.setText(f"Nothing was saved: {error}")
            return
        self.status.setText("Saved. Recomputing health with these rates…")
        self.save_button.setEnabled(False)
        database, clock = self._database, self._clock

        def work(context: JobContext) -> HealthRefresh:
            return refresh_health(database, clock, context)

        try:
            self._jobs.run(
                work,
                title="Recomputing health",
                key="health-refresh",
                on_success=self._recomputed,
                on_error=self._failed,
            )
        except BillbridgeError as error:
            self._failed(str(error))

    def _recomputed(self, _refresh: HealthRefresh) -> None:
        self.save_button.setEnabled(True)
        self.status.setText("Saved. Health figures are recomputed with these rates.")
        self.load()

    def _failed(self, sentence: str) -> None:
        self.save_button.setEnabled(True)
        self.status.setText(
            f"Saved, but health could not be recomputed: {sentence} The next sync recomputes it."
        )


class SettingsPage(Page):
    """Shows the workspace database, the secret store, the version and the currency group."""

    title = "Settings"
    subtitle = "This workspace, how Billbridge keeps its keys, and the reporting currency."

    def __init__(
        self,
        workspace: str,
        secret_store: str,
        dialect: str,
        parent: QWidget | None = None,
        *,
        database: Database | None = None,
        jobs: JobRunner | None = None,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(parent)
        form = QFormLayout()
        self.workspace_label = QLabel(workspace)
        self.workspace_label.setWordWrap(True)
        form.addRow("Workspace database:", self.workspace_label)
        form.addRow(
            "Database kind:",
            QLabel("PostgreSQL (shared)" if dialect == "postgresql" else "SQLite (this computer)"),
        )
        form.addRow("Keys are kept in:", QLabel(secret_store))
        form.addRow("Billbridge version:", QLabel(__version__))
        self.body.addLayout(form)
        self.currency: CurrencyGroup | None = None
        if database is not None and jobs is not None:
            self.currency = CurrencyGroup(database, jobs, clock)
            self.body.addWidget(self.currency, 0, Qt.AlignmentFlag.AlignTop)
        self.body.addStretch(1)
