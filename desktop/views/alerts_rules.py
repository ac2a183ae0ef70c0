"""The alert-rule editor: rules on the left; name, severity and condition rows on the right.

While a rule is edited, the number of accounts it would alert on now is counted in the
background (:func:`desktop.health.count_matching_accounts`) once typing pauses, and the
core's validation sentence shows instead when the condition is incomplete. Saving,
enabling, disabling and deleting run on the job runner and evaluate the rules again, so
the alert list follows at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.orm import Session

from desktop.health import (
    AlertRuleView,
    count_matching_accounts,
    delete_rule,
    evaluate_alerts,
    list_rules,
    save_rule,
    set_rule_enabled,
)
from desktop.jobs import JobContext
from desktop.storage.database import Database
from desktop.timeutil import Clock, utc_now
from desktop.views.jobs import JobRunner
from desktop.views.models.formatting import ALERT_COLOUR, WARN_COLOUR, status_text
from desktop.views.models.loader import Loader
from desktop.views.models.table import ColumnSpec, RowsTableModel
from desktop.views.widgets.common import make_table
from desktop.views.widgets.condition_editor import ListBesideEditor, LiveConditionEditor

SEVERITY_COLOURS = {"critical": ALERT_COLOUR, "warning": WARN_COLOUR}

RULE_COLUMNS: list[ColumnSpec[AlertRuleView]] = [
    ColumnSpec("On", lambda r: "✓" if r.enabled else "—"),
    ColumnSpec("Rule", lambda r: r.name, tooltip=lambda r: r.description),
    ColumnSpec(
        "Severity",
        lambda r: status_text(r.severity),
        colour=lambda r: SEVERITY_COLOURS.get(r.severity),
    ),
    ColumnSpec(
        "Condition",
        lambda r: r.last_error or r.summary,
        tooltip=lambda r: r.last_error or r.summary,
        colour=lambda r: ALERT_COLOUR if r.last_error or r.condition is None else None,
    ),
]


class RuleEditor(QWidget):
    """Lists the alert rules and edits one.

    Signals:
        rules_changed(): a rule was saved, switched on or off, or deleted (alerts were
            evaluated again).
    """

    rules_changed = Signal()

    def __init__(
        self,
        loader: Loader,
        jobs: JobRunner,
        database: Database,
        clock: Clock = utc_now,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._loader = loader
        self._jobs = jobs
        self._database = database
        self._clock = clock
        self._current: AlertRuleView | None = None
        self._select_after_load: str | None = None
        self.model: RowsTableModel[AlertRuleView] = RowsTableModel(RULE_COLUMNS, self)

        self.table = make_table(self.model, sortable=False)
        self.table.setColumnWidth(0, 34)
        self.table.setColumnWidth(1, 230)
        self.table.setColumnWidth(2, 80)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.new_button = QPushButton("New rule")
        self.new_button.clicked.connect(self.new_rule)
        self.toggle_button = QPushButton("Disable")
        self.toggle_button.clicked.connect(self._toggle)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self._delete)
        split = ListBesideEditor(
            self.table, [self.new_button, self.toggle_button, self.delete_button]
        )
        right_layout = split.editor_layout
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Invoice overdue more than 15 days")
        self.name.textEdited.connect(self._edited)
        self.severity = QComboBox()
        for severity in ("info", "warning", "critical"):
            self.severity.addItem(status_text(severity), severity)
        self.severity.currentIndexChanged.connect(self._edited)
        self.description = QLineEdit()
        self.description.setPlaceholderText("optional: what the rule is for")
        self.description.textEdited.connect(self._edited)
        form.addRow("Name:", self.name)
        form.addRow("Severity:", self.severity)
        form.addRow("Description:", self.description)
        right_layout.addLayout(form)

        def count(condition: Any) -> Callable[[], int]:
            return lambda: count_matching_accounts(database, condition, clock)

        self.editor = LiveConditionEditor(
            "alert",
            jobs,
            count,
            title="Counting matching accounts",
            key="health:rule-count",
            preview_name="rulePreview",
            counting="Counting",
        )
        self.editor.changed.connect(self._edited)
        self.editor.counted.connect(self._show_count)
        self.conditions = self.editor.conditions
        self.preview = self.editor.preview
        self.banner = self.editor.banner
        right_layout.addWidget(self.editor)
        right_layout.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.revert_button = QPushButton("Undo changes")
        self.revert_button.clicked.connect(self._revert)
        self.save_button = QPushButton("Save rule")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        right_layout.addLayout(buttons)
        split.attach(self)
        self._dirty = False
        self._update_buttons()

    # ---------------------------------------------------------------- loading

    def reload(self, select_name: str | None = None) -> None:
        """Reads the rules again (and selects ``select_name`` when given)."""
        self._select_after_load = select_name or (self._current.name if self._current else None)
        database = self._database

        def query(_session: Session) -> list[AlertRuleView]:
            return list_rules(database)

        self._loader.submit(query, self._loaded, self._load_failed)

    def _load_failed(self, message: str) -> None:
        self.banner.show_message(message, "error")

    def _loaded(self, rules: list[AlertRuleView]) -> None:
        self.model.set_rows(rules)
        wanted = self._select_after_load
        row = next((i for i, r in enumerate(rules) if r.name == wanted), 0 if rules else -1)
        if row >= 0 and not self._dirty:
            self.table.selectRow(row)
            self._show_rule(rules[row])
        elif not rules:
            self.new_rule()
        self._update_buttons()

    def _row_changed(self, current: Any, _previous: Any) -> None:
        rule = self.model.row_at(current.row()) if current.isValid() else None
        if rule is not None and (self._current is None or rule.id != self._current.id):
            self._show_rule(rule)

    def _show_rule(self, rule: AlertRuleView) -> None:
        self._current = rule
        self.name.setText(rule.name)
        self.severity.setCurrentIndex(max(self.severity.findData(rule.severity), 0))
        self.description.setText(rule.description or "")
        self.description.setCursorPosition(0)
        self.conditions.set_condition(rule.condition_json)
        if rule.last_error:
            self.banner.show_message(f"Last run: {rule.last_error}", "error")
        self._dirty = False
        self._update_buttons()

    def new_rule(self) -> None:
        """Starts a new, empty rule."""
        self._current = None
        self.table.clearSelection()
        self.name.clear()
        self.description.clear()
        self.severity.setCurrentIndex(1)
        self.conditions.set_condition(None)
        self._dirty = True
        self.name.setFocus()
        self._update_buttons()

    # ---------------------------------------------------------------- editing

    def _edited(self, *_args: object) -> None:
        self._dirty = True
        self._update_buttons()

    def _show_count(self, count: object) -> None:
        number = int(count) if isinstance(count, int) else 0
        self.preview.setText(
            f"Would alert on {number:,} account{'s' if number != 1 else ''} now."
            if number
            else "Matches no account now."
        )

    def _update_buttons(self) -> None:
        has_rule = self._current is not None
        self.toggle_button.setEnabled(has_rule)
        self.delete_button.setEnabled(has_rule)
        if self._current is not None:
            self.toggle_button.setText("Disable" if self._current.enabled else "Enable")
        valid = self.editor.is_valid()
        self.save_button.setEnabled(self._dirty and valid and bool(self.name.text().strip()))
        self.revert_button.setEnabled(self._dirty and has_rule)

    def _revert(self) -> None:
        if self._current is not None:
            self._show_rule(self._current)

    # ---------------------------------------------------------------- actions

    def _run(self, title: str, work: Callable[[], Any], select_name: str | None) -> None:
        database, clock = self._database, self._clock

        def job(_context: JobContext) -> Any:
            result = work()
            evaluate_alerts(database, clock)
            return result

        self._jobs.run(
            job,
            title=title,
            on_success=lambda _r: self._after_change(select_name),
            on_error=lambda message: self.banner.show_message(message, "error"),
        )

    def _after_change(self, select_name: str | None) -> None:
        self._dirty = False
        self.reload(select_name)
        self.rules_changed.emit()

    def save(self) -> None:
        """Validates and saves the edited rule, then evaluates the rules again."""
        condition = self.editor.checked()
        if condition is None:
            return
        name = self.name.text().strip()
        if not name:
            self.banner.show_message("An alert rule needs a name.", "warning")
            return
        rule_id = self._current.id if self._current is not None else None
        enabled = self._current.enabled if self._current is not None else True
        severity = str(self.severity.currentData())
        description = self.description.text().strip() or None
        database = self._database
        self.save_button.setEnabled(False)
        self._run(
            f"Saving the alert rule {name}",
            partial(
                save_rule,
                database,
                name=name,
                condition=condition,
                rule_id=rule_id,
                description=description,
                severity=severity,
                enabled=enabled,
            ),
            name,
        )

    def _toggle(self) -> None:
        rule = self._current
        if rule is None:
            return
        self._run(
            f"{'Disabling' if rule.enabled else 'Enabling'} {rule.name}",
            partial(set_rule_enabled, self._database, rule.id, not rule.enabled),
            rule.name,
        )

    def _delete(self) -> None:
        rule = self._current
        if rule is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete alert rule",
            f"Delete “{rule.name}” and its alerts? This cannot be undone.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_now()

    def delete_now(self) -> None:
        """Deletes the shown rule without asking (the button asks first)."""
        rule = self._current
        if rule is None:
            return
        self._current = None
        self._run(f"Deleting {rule.name}", partial(delete_rule, self._database, rule.id), None)


class RulesDialog(QDialog):
    """The rule editor in a window of its own."""

    def __init__(self, editor: RuleEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alert rules")
        self.resize(1040, 560)
        self.editor = editor
        layout = QVBoxLayout(self)
        layout.addWidget(editor, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
