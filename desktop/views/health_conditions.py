"""Condition rows (field → operator → value, all/any) shared by the rule and segment editors.

The editor offers the fields of :func:`desktop.health.fields_for` with the operators
each field's kind accepts, and builds the condition's JSON form; validation is the core's
(:func:`desktop.health.parse_condition`), whose :class:`~desktop.health.ConditionError`
sentences the editors show as they are (through
:class:`~desktop.views.widgets.condition_editor.LiveConditionEditor`, which also counts
the matches while the rows change).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from itertools import pairwise
from typing import Any

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.health import (
    FIELDS,
    OPERATOR_LABELS,
    ConditionError,
    FieldSpec,
    Kind,
    describe,
    fields_for,
    parse_condition,
)
from desktop.views.models.formatting import status_text

_ENTITY_TITLES = {"invoice": "Invoice", "subscription": "Subscription", "account": "Account"}
_DAY_SUFFIX = {
    "within_next_days": " days",
    "within_last_days": " days",
    "more_than_days_ago": " days ago",
    "more_than_days_ahead": " days ahead",
}
_OP_TEXT = {
    **OPERATOR_LABELS,
    "more_than_days_ago": "is more than (days ago)",
    "more_than_days_ahead": "is more than (days ahead)",
}


def choice_text(value: str) -> str:
    """How a choice reads in a combo box (``non_renewing`` → ``Non-renewing``)."""
    return status_text(value)


def chain_tabs(widgets: Sequence[QWidget]) -> None:
    """Makes Tab go through ``widgets`` in this order (the rest of the chain keeps its order)."""
    for first, second in pairwise(widgets):
        QWidget.setTabOrder(first, second)


class ValueEditor(QWidget):
    """The value part of a row; subclasses hold one kind of input.

    Signals:
        changed(): the value changed.
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)

    def value(self) -> Any:
        """The JSON value (raises :class:`ConditionError` when unreadable)."""
        return None

    def set_value(self, value: Any) -> None:
        """Shows a stored JSON value."""

    def inputs(self) -> list[QWidget]:
        """The inputs, left to right (what Tab visits; none for *is set*)."""
        items = (self._layout.itemAt(i) for i in range(self._layout.count()))
        return [widget for item in items if item and (widget := item.widget()) is not None]


class _NoValue(ValueEditor):
    pass


class _TextValue(ValueEditor):
    def __init__(self, label: str, listed: bool, number: bool = False) -> None:
        super().__init__()
        self._label, self._listed, self._number = label, listed, number
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(
            "values, separated by commas" if listed else ("a number" if number else "a value")
        )
        self.edit.textChanged.connect(self.changed)
        self._layout.addWidget(self.edit)

    def value(self) -> Any:
        text = self.edit.text().strip()
        if self._listed:
            return [part.strip() for part in text.split(",") if part.strip()]
        if not self._number:
            return text
        if not text:
            raise ConditionError(f"{self._label} needs a number.")
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            raise ConditionError(f"{self._label} needs a number, not “{text}”.") from None
        return int(number) if number.is_integer() else number

    def set_value(self, value: Any) -> None:
        if isinstance(value, list):
            self.edit.setText(", ".join(str(v) for v in value))
        elif value is not None:
            self.edit.setText(str(value))


class _ChoiceValue(ValueEditor):
    def __init__(self, choices: Sequence[tuple[str, Any]]) -> None:
        super().__init__()
        self.combo = QComboBox()
        for text, data in choices:
            self.combo.addItem(text, data)
        self.combo.currentIndexChanged.connect(self.changed)
        self._layout.addWidget(self.combo)

    def value(self) -> Any:
        return self.combo.currentData()

    def set_value(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index >= 0:
            self.combo.setCurrentIndex(index)


class _ManyValue(ValueEditor):
    """Several choices: a button whose menu holds a check box per choice."""

    def __init__(self, choices: Sequence[tuple[str, Any]]) -> None:
        super().__init__()
        self.button = QToolButton()
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.button.setMinimumWidth(150)
        self.button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        menu = QMenu(self.button)
        self.actions_by_value: dict[Any, Any] = {}
        for text, data in choices:
            action = menu.addAction(text)
            action.setCheckable(True)
            action.setData(data)
            action.toggled.connect(self._toggled)
            self.actions_by_value[data] = action
        self.button.setMenu(menu)
        self._layout.addWidget(self.button)
        self._update_text()

    def _toggled(self, _checked: bool) -> None:
        self._update_text()
        self.changed.emit()

    def _update_text(self) -> None:
        names = [a.text() for a in self.actions_by_value.values() if a.isChecked()]
        self.button.setText(", ".join(names) if names else "choose…")

    def value(self) -> Any:
        return [data for data, a in self.actions_by_value.items() if a.isChecked()]

    def set_value(self, value: Any) -> None:
        chosen = set(value) if isinstance(value, list) else set()
        for data, action in self.actions_by_value.items():
            action.blockSignals(True)
            action.setChecked(data in chosen)
            action.blockSignals(False)
        self._update_text()


class _MoneyValue(ValueEditor):
    def __init__(self, label: str, currencies: Sequence[str]) -> None:
        super().__init__()
        self._label = label
        self.amount = QLineEdit()
        self.amount.setPlaceholderText("amount, e.g. 1000")
        self.currency = QComboBox()
        self.currency.setEditable(True)
        self.currency.addItem("reporting currency", "")
        for code in currencies:
            self.currency.addItem(code, code)
        # room for "reporting currency" in full (the amount field gives way)
        self.currency.setMinimumContentsLength(len("reporting currency"))
        self.currency.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.amount.textChanged.connect(self.changed)
        self.currency.currentTextChanged.connect(lambda _t: self.changed.emit())
        self.amount.setMinimumWidth(self.amount.fontMetrics().horizontalAdvance("1,000,000") + 12)
        self._layout.addWidget(self.amount, 1)
        self._layout.addWidget(self.currency)

    def value(self) -> Any:
        amount = self.amount.text().strip().replace(",", "")
        if not amount:
            raise ConditionError(f"{self._label} needs an amount, for example 1000.")
        text = self.currency.currentText().strip()
        code = self.currency.currentData() if text == "reporting currency" else text.upper()
        return {"amount": amount, **({"currency": code} if code else {})}

    def set_value(self, value: Any) -> None:
        if isinstance(value, dict):
            self.amount.setText(str(value.get("amount", "")))
            code = value.get("currency") or ""
            index = self.currency.findData(code)
            if index >= 0:
                self.currency.setCurrentIndex(index)
            else:
                self.currency.setEditText(code)
        elif value is not None:
            self.amount.setText(str(value))


class _DaysValue(ValueEditor):
    def __init__(self, suffix: str) -> None:
        super().__init__()
        self.spin = QSpinBox()
        self.spin.setRange(0, 3650)
        self.spin.setValue(30)
        self.spin.setSuffix(suffix)
        self.spin.valueChanged.connect(lambda _v: self.changed.emit())
        self._layout.addWidget(self.spin)

    def value(self) -> Any:
        return self.spin.value()

    def set_value(self, value: Any) -> None:
        if isinstance(value, int):
            self.spin.setValue(value)


class _DateValue(ValueEditor):
    def __init__(self) -> None:
        super().__init__()
        self.edit = QDateEdit()
        self.edit.setCalendarPopup(True)
        self.edit.setDisplayFormat("yyyy-MM-dd")
        self.edit.setDate(QDate.currentDate())
        self.edit.dateChanged.connect(lambda _d: self.changed.emit())
        self._layout.addWidget(self.edit)

    def value(self) -> Any:
        return self.edit.date().toString("yyyy-MM-dd")

    def set_value(self, value: Any) -> None:
        try:
            day = date.fromisoformat(str(value))
        except ValueError:
            return
        self.edit.setDate(QDate(day.year, day.month, day.day))


def value_editor(
    spec: FieldSpec, op: str, connections: Sequence[tuple[int, str]], currencies: Sequence[str]
) -> ValueEditor:
    """The input for ``spec`` with operator ``op``."""
    listed = op in ("in", "not_in")
    if op in ("is_set", "is_not_set"):
        return _NoValue()
    if spec.kind is Kind.CONNECTION:
        return _ManyValue([(name, cid) for cid, name in connections])
    if spec.kind is Kind.CHOICE:
        choices = [(choice_text(c), c) for c in spec.choices]
        return _ManyValue(choices) if listed else _ChoiceValue(choices)
    if spec.kind is Kind.TEXT:
        return _TextValue(spec.label, listed)
    if spec.kind is Kind.NUMBER:
        return _TextValue(spec.label, False, number=True)
    if spec.kind is Kind.MONEY:
        return _MoneyValue(spec.label, currencies)
    if spec.kind is Kind.BOOL:
        return _ChoiceValue([("yes", True), ("no", False)])
    if op in ("before", "after"):
        return _DateValue()
    return _DaysValue(_DAY_SUFFIX.get(op, " days"))


class ConditionRow(QWidget):
    """One field → operator → value row.

    Signals:
        changed(): anything in the row changed.
        remove_requested(ConditionRow): the ✕ button was pressed.
    """

    changed = Signal()
    remove_requested = Signal(object)

    def __init__(
        self,
        fields: Sequence[FieldSpec],
        connections: Sequence[tuple[int, str]],
        currencies: Sequence[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._connections = list(connections)
        self._currencies = list(currencies)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.field = QComboBox()
        self.field.setAccessibleName("Field")
        entity = ""
        for spec in fields:
            if spec.entity != entity:
                if entity:
                    self.field.insertSeparator(self.field.count())
                entity = spec.entity
            self.field.addItem(spec.label, spec.name)
        self.field.setMinimumContentsLength(18)
        self.op = QComboBox()
        self.op.setAccessibleName("Operator")
        self.op.setMinimumContentsLength(12)
        self.value_editor: ValueEditor = _NoValue()
        self._value_key: tuple[object, ...] = ()
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove this condition")
        self.remove.setAutoRaise(True)
        self.remove.clicked.connect(lambda: self.remove_requested.emit(self))
        layout.addWidget(self.field, 3)
        layout.addWidget(self.op, 2)
        layout.addWidget(self.value_editor, 3)
        layout.addWidget(self.remove)
        self.field.currentIndexChanged.connect(self._field_changed)
        self.op.currentIndexChanged.connect(self._op_changed)
        self._field_changed()

    @property
    def spec(self) -> FieldSpec:
        """The chosen field."""
        return FIELDS[str(self.field.currentData())]

    def _field_changed(self, *_args: object) -> None:
        self.op.blockSignals(True)
        self.op.clear()
        for op in self.spec.operators:
            self.op.addItem(_OP_TEXT.get(op, op), op)
        self.op.blockSignals(False)
        self._op_changed()

    def _op_changed(self, *_args: object) -> None:
        previous = self.value_editor
        op = str(self.op.currentData())
        editor = value_editor(self.spec, op, self._connections, self._currencies)
        # the value carries over only to an input of the same kind (a number stays a number)
        key = (self.spec.kind, type(editor), self.spec.choices)
        kept = None
        if key == self._value_key:
            try:
                kept = previous.value()
            except ConditionError:
                kept = None
        self._value_key = key
        layout = self.layout()
        assert isinstance(layout, QHBoxLayout)
        layout.replaceWidget(previous, editor)
        previous.hide()
        previous.deleteLater()
        self.value_editor = editor
        # new inputs join the end of the focus chain: put them back between operator and ✕
        chain_tabs([self.op, *editor.inputs(), self.remove])
        layout.setStretchFactor(editor, 3)
        if kept not in (None, "", []):
            editor.set_value(kept)
        editor.changed.connect(self.changed)
        self.changed.emit()

    def tab_stops(self) -> list[QWidget]:
        """The row's inputs in reading order: field, operator, value input(s), ✕."""
        return [self.field, self.op, *self.value_editor.inputs(), self.remove]

    def leaf_json(self) -> dict[str, Any]:
        """The row as a JSON leaf (raises :class:`ConditionError` on an unreadable value)."""
        leaf: dict[str, Any] = {"field": self.spec.name, "op": str(self.op.currentData())}
        value = self.value_editor.value()
        if value is not None:
            leaf["value"] = value
        return leaf

    def set_leaf(self, leaf: dict[str, Any]) -> None:
        """Shows a stored leaf."""
        index = self.field.findData(leaf.get("field"))
        if index >= 0:
            self.field.setCurrentIndex(index)
        index = self.op.findData(leaf.get("op"))
        if index >= 0:
            self.op.setCurrentIndex(index)
        self.value_editor.set_value(leaf.get("value"))


class ConditionEditor(QWidget):
    """Rows of conditions combined with *all* or *any*.

    A stored condition with nested groups cannot be shown as rows: it is kept as it is
    (and described) until the person starts over.

    Signals:
        changed(): a row, the mode or the set of rows changed.
    """

    changed = Signal()

    def __init__(self, purpose: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fields = fields_for(purpose)
        self._connections: list[tuple[int, str]] = []
        self._currencies: list[str] = []
        self.rows: list[ConditionRow] = []
        self.kept: dict[str, Any] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        top = QHBoxLayout()
        top.addWidget(QLabel("Match"))
        self.mode = QComboBox()
        self.mode.addItem("all of these conditions", "all")
        self.mode.addItem("any of these conditions", "any")
        self.mode.currentIndexChanged.connect(lambda _i: self.changed.emit())
        top.addWidget(self.mode)
        top.addStretch(1)
        layout.addLayout(top)
        self.kept_label = QLabel()
        self.kept_label.setWordWrap(True)
        self.kept_label.hide()
        layout.addWidget(self.kept_label)
        self.rows_layout = QVBoxLayout()
        self.rows_layout.setSpacing(4)
        layout.addLayout(self.rows_layout)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add condition")
        self.add_button.clicked.connect(lambda: self.add_row())
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

    def set_choices(
        self, connections: Sequence[tuple[int, str]], currencies: Sequence[str]
    ) -> None:
        """The connections and currencies the value inputs offer (for new rows)."""
        self._connections = list(connections)
        self._currencies = list(currencies)

    def add_row(self, leaf: dict[str, Any] | None = None) -> ConditionRow:
        """Adds a row (showing ``leaf`` when given)."""
        if self.kept is not None:
            self._drop_kept()
        row = ConditionRow(self.fields, self._connections, self._currencies)
        if leaf is not None:
            row.set_leaf(leaf)
        row.changed.connect(self.changed)
        row.remove_requested.connect(self._remove_row)
        self.rows.append(row)
        self.rows_layout.addWidget(row)
        self._order_tabs()
        self.changed.emit()
        return row

    def _remove_row(self, row: ConditionRow) -> None:
        self.rows.remove(row)
        self.rows_layout.removeWidget(row)
        row.hide()
        row.deleteLater()
        self.changed.emit()

    def _order_tabs(self) -> None:
        """Tab follows reading order: Match, each row left to right, then Add condition.

        A new row joins the end of the window's focus chain (after the owner's buttons);
        this moves the rows back between Match and Add condition.
        """
        chain_tabs([self.mode, *(w for row in self.rows for w in row.tab_stops()), self.add_button])

    def _drop_kept(self) -> None:
        self.kept = None
        self.kept_label.hide()
        self.mode.setEnabled(True)

    def clear(self) -> None:
        """Removes every row."""
        for row in list(self.rows):
            self.rows_layout.removeWidget(row)
            row.hide()
            row.deleteLater()
        self.rows.clear()
        self._drop_kept()

    def set_condition(self, data: dict[str, Any] | None) -> None:
        """Shows a stored condition (``None``: one empty row)."""
        self.blockSignals(True)
        try:
            self._show(data)
        finally:
            self.blockSignals(False)
        self.changed.emit()

    def _show(self, data: dict[str, Any] | None) -> None:
        self.clear()
        if not data:
            self.add_row()
            return
        if "field" in data:
            self.mode.setCurrentIndex(0)
            self.add_row(data)
            return
        mode = "all" if "all" in data else "any"
        items = data.get(mode) or []
        if all(isinstance(item, dict) and "field" in item for item in items):
            self.mode.setCurrentIndex(self.mode.findData(mode))
            for item in items:
                self.add_row(item)
            return
        self.kept = dict(data)
        self.mode.setEnabled(False)
        try:
            summary = describe(parse_condition(data))
        except ConditionError as error:
            summary = str(error)
        self.kept_label.setText(
            f"<i>{summary}</i><br>This condition has nested groups, which the rows "
            "cannot show. It is kept as it is; add a condition to start over."
        )
        self.kept_label.show()

    def condition_json(self) -> dict[str, Any]:
        """The condition's JSON form (raises :class:`ConditionError` when incomplete)."""
        if self.kept is not None:
            return dict(self.kept)
        if not self.rows:
            raise ConditionError("Add at least one condition.")
        leaves = [row.leaf_json() for row in self.rows]
        return {str(self.mode.currentData()): leaves}

    def parsed(self) -> Any:
        """The validated condition (raises :class:`ConditionError` with the reason)."""
        return parse_condition(self.condition_json())
