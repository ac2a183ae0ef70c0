"""Alerts: the list, acknowledge and snooze, open the account, notifications, rule editor."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from desktop.health import AlertState, evaluate_alerts, list_alerts, list_rules, recompute_health
from desktop.storage.database import open_database
from desktop.timeutil import Clock
from desktop.views.alerts import AlertsView, AlertWatcher, DesktopNotifier, news_text
from desktop.views.alerts_rules import RuleEditor
from desktop.views.health_conditions import ConditionRow, _MoneyValue
from desktop.views.jobs import JobRunner
from desktop.views.models.loader import QueryLoader
from tests.gui.test_health_page import NOW, TODAY, Env, build
from tests.unit.health.builders import World


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    ids = build(database)
    fixed: Clock = lambda: NOW  # noqa: E731
    recompute_health(database, clock=fixed)
    evaluate_alerts(database, fixed)
    loader = QueryLoader(database)
    jobs = JobRunner()
    yield Env(database, loader, jobs, fixed, ids)
    jobs.shutdown()
    loader.shutdown()
    database.close()


def _alerts(qtbot: QtBot, env: Env) -> AlertsView:
    view = AlertsView(env.loader, env.jobs, env.database, env.clock)
    qtbot.addWidget(view)
    view.resize(1100, 500)
    view.show()
    view.reload()
    qtbot.waitUntil(lambda: view.model.rowCount() > 0, timeout=5000)
    return view


def _select(view: AlertsView, rule: str) -> None:
    row = next(i for i, a in enumerate(view.model.rows) if a.rule_name == rule)
    view.table.selectRow(row)


def test_open_alerts_name_the_account_the_rule_and_the_reason(
    qtbot: QtBot, env: Env, qtmodeltester: ModelTester
) -> None:
    view = _alerts(qtbot, env)
    qtmodeltester.check(view.model)  # type: ignore[no-untyped-call]
    rules = {a.rule_name: a for a in view.model.rows}
    overdue = rules["Invoice overdue more than 15 days"]
    assert overdue.account_name == "Late"
    assert "40 days overdue" in overdue.reason
    assert "Non-renewing, renewal within 30 days" in rules
    assert "Trial ends within 7 days, no payment method" in rules
    assert view.count_label.text() == f"{len(rules)} active alerts"
    assert view.model.data(view.model.index(0, 1)) == view.model.rows[0].account_name


def test_acknowledge_moves_an_alert_out_of_the_active_list(qtbot: QtBot, env: Env) -> None:
    view = _alerts(qtbot, env)
    before = view.model.rowCount()
    _select(view, "Invoice overdue more than 15 days")
    assert view.acknowledge_button.isEnabled()
    view.acknowledge_button.click()
    qtbot.waitUntil(lambda: view.model.rowCount() == before - 1, timeout=5000)
    view.state_filter.setCurrentText("Acknowledged")
    qtbot.waitUntil(lambda: view.model.rowCount() == 1, timeout=5000)
    assert view.model.rows[0].state is AlertState.ACKNOWLEDGED
    assert not view.acknowledge_button.isEnabled() or view.selected() is None


def test_snooze_hides_an_alert_until_the_chosen_time(qtbot: QtBot, env: Env) -> None:
    view = _alerts(qtbot, env)
    before = view.model.rowCount()
    _select(view, "Non-renewing, renewal within 30 days")
    until = NOW + timedelta(days=3)
    view.snooze_selected(until)
    qtbot.waitUntil(lambda: view.model.rowCount() == before - 1, timeout=5000)
    view.state_filter.setCurrentText("Snoozed")
    qtbot.waitUntil(lambda: view.model.rowCount() == 1, timeout=5000)
    assert view.model.data(view.model.index(0, 5)) == "Snoozed until 2026-06-18 12:00 UTC"
    # once the time passes it is active again
    later = list_alerts(env.database, clock=lambda: until + timedelta(minutes=1))
    assert any(a.rule_name.startswith("Non-renewing") for a in later)


def test_open_account_asks_for_the_alerts_account(qtbot: QtBot, env: Env) -> None:
    view = _alerts(qtbot, env)
    _select(view, "Invoice overdue more than 15 days")
    with qtbot.waitSignal(view.open_account) as blocker:
        view.open_button.click()
    assert blocker.args == [env.ids["late"]]


def test_the_watcher_reports_only_alerts_raised_after_it_first_looked(
    qtbot: QtBot, env: Env
) -> None:
    watcher = AlertWatcher(env.loader, env.database, env.clock, interval_ms=60_000)
    with qtbot.assertNotEmitted(watcher.new_alerts):
        watcher.check()
        qtbot.waitUntil(lambda: watcher.last_id is not None, timeout=5000)
    with env.database.transaction() as session:
        w = World(session)
        late = w.account("AlsoLate")
        w.invoice(late, "overdue", 9900, TODAY - timedelta(days=20))
    evaluate_alerts(env.database, env.clock)
    with qtbot.waitSignal(watcher.new_alerts, timeout=5000) as blocker:
        watcher.check()
    news = blocker.args[0]
    assert news.count == 1
    title, text = news_text(news)
    assert title == "1 new alert"
    assert text == "AlsoLate: Invoice overdue more than 15 days"
    watcher.stop()


def test_notifications_fall_back_to_the_status_bar_without_a_tray(qtbot: QtBot) -> None:
    shown: list[str] = []
    notifier = DesktopNotifier(shown.append)
    notifier.notify("2 new alerts", "Late: Invoice overdue more than 15 days\nand 1 more")
    assert shown == ["2 new alerts: Late: Invoice overdue more than 15 days"]  # offscreen: no tray


# ------------------------------------------------------------------ rule editor


def _editor(qtbot: QtBot, env: Env) -> RuleEditor:
    editor = RuleEditor(env.loader, env.jobs, env.database, env.clock)
    qtbot.addWidget(editor)
    editor.resize(1000, 520)
    editor.show()
    editor.reload()
    qtbot.waitUntil(lambda: editor.model.rowCount() == 4, timeout=5000)
    return editor


def test_the_rule_list_shows_the_shipped_rules(
    qtbot: QtBot, env: Env, qtmodeltester: ModelTester
) -> None:
    editor = _editor(qtbot, env)
    qtmodeltester.check(editor.model)  # type: ignore[no-untyped-call]
    assert [editor.model.data(editor.model.index(r, 1)) for r in range(4)] == sorted(
        r.name for r in list_rules(env.database)
    )
    assert editor.name.text() == editor.model.rows[0].name  # the first is open for editing


def test_a_new_rule_counts_matches_live_and_saves(qtbot: QtBot, env: Env) -> None:
    editor = _editor(qtbot, env)
    editor.new_rule()
    editor.name.setText("Owes over 1,000 and late")
    editor.name.textEdited.emit(editor.name.text())
    row = editor.conditions.rows[0]
    row.field.setCurrentIndex(row.field.findData("invoice.days_overdue"))
    row.op.setCurrentIndex(row.op.findData("gt"))
    # an empty number is refused with the core's sentence, and nothing is counted
    qtbot.waitUntil(lambda: "needs a number" in editor.banner.text(), timeout=3000)
    assert not editor.save_button.isEnabled()
    qtbot.keyClicks(row.value_editor.edit, "30")  # type: ignore[attr-defined,no-untyped-call]
    qtbot.waitUntil(lambda: editor.preview.text() == "Would alert on 1 account now.", timeout=5000)
    assert not editor.banner.isVisible()
    assert editor.save_button.isEnabled()
    with qtbot.waitSignal(editor.rules_changed, timeout=10000):
        editor.save_button.click()
    qtbot.waitUntil(lambda: editor.model.rowCount() == 5, timeout=5000)
    saved = next(r for r in list_rules(env.database) if r.name == "Owes over 1,000 and late")
    assert saved.condition_json == {
        "all": [{"field": "invoice.days_overdue", "op": "gt", "value": 30}]
    }
    assert any(a.rule_name == saved.name for a in list_alerts(env.database, clock=env.clock))


def test_mixing_invoice_and_subscription_fields_is_refused_with_a_sentence(
    qtbot: QtBot, env: Env
) -> None:
    editor = _editor(qtbot, env)
    editor.new_rule()
    first = editor.conditions.rows[0]
    first.field.setCurrentIndex(first.field.findData("invoice.status"))
    second = editor.conditions.add_row()
    second.field.setCurrentIndex(second.field.findData("subscription.status"))
    editor.conditions.set_condition(editor.conditions.condition_json())
    qtbot.waitUntil(lambda: "not both" in editor.banner.text(), timeout=3000)


def test_disable_and_delete_a_rule(qtbot: QtBot, env: Env) -> None:
    editor = _editor(qtbot, env)
    editor.table.selectRow(1)  # Invoice overdue more than 15 days
    name = editor.name.text()
    assert editor.toggle_button.text() == "Disable"
    with qtbot.waitSignal(editor.rules_changed, timeout=10000):
        editor.toggle_button.click()
    qtbot.waitUntil(lambda: editor.toggle_button.text() == "Enable", timeout=5000)
    assert not next(r for r in list_rules(env.database) if r.name == name).enabled
    assert not [a for a in list_alerts(env.database, clock=env.clock) if a.rule_name == name]
    with qtbot.waitSignal(editor.rules_changed, timeout=10000):
        editor.delete_now()
    qtbot.waitUntil(lambda: editor.model.rowCount() == 3, timeout=5000)
    assert name not in {r.name for r in list_rules(env.database)}


def tab_walk(qtbot: QtBot, start: QWidget, names: dict[int, str], steps: int) -> list[str]:
    """Presses Tab ``steps`` times from ``start``; names each focused widget (``?`` unknown)."""
    start.setFocus()
    seen: list[str] = []
    for _ in range(steps):
        widget = QApplication.focusWidget()
        assert widget is not None
        seen.append(names.get(id(widget), "?"))
        qtbot.keyClick(widget, Qt.Key.Key_Tab)  # type: ignore[no-untyped-call]
    return seen


def test_adding_and_removing_condition_rows_recounts(qtbot: QtBot, env: Env) -> None:
    editor = _editor(qtbot, env)
    editor.new_rule()
    first = editor.conditions.rows[0]
    first.field.setCurrentIndex(first.field.findData("invoice.days_overdue"))
    first.op.setCurrentIndex(first.op.findData("gt"))
    qtbot.keyClicks(first.value_editor.edit, "30")  # type: ignore[attr-defined,no-untyped-call]
    qtbot.waitUntil(lambda: editor.preview.text() == "Would alert on 1 account now.", timeout=5000)
    editor.conditions.add_button.click()
    assert len(editor.conditions.rows) == 2
    second = editor.conditions.rows[1]
    second.field.setCurrentIndex(second.field.findData("invoice.days_overdue"))
    second.op.setCurrentIndex(second.op.findData("gt"))
    qtbot.waitUntil(lambda: "needs a number" in editor.banner.text(), timeout=3000)
    assert editor.preview.text() == ""
    second.remove.click()
    assert editor.conditions.rows == [first]
    qtbot.waitUntil(lambda: editor.preview.text() == "Would alert on 1 account now.", timeout=5000)
    assert not editor.banner.isVisible()
    first.remove.click()
    assert editor.conditions.rows == []
    qtbot.waitUntil(lambda: editor.banner.text() == "Add at least one condition.", timeout=3000)
    assert not editor.save_button.isEnabled()


def name_rows(others: dict[int, str], rows: Sequence[ConditionRow]) -> dict[int, str]:
    """``others`` and each row's inputs: field1, op1, value1 (or amount1 and currency1)."""
    names = dict(others)  # fresh: a deleted input's id may be reused
    for number, row in enumerate(rows, start=1):
        names[id(row.field)] = f"field{number}"
        names[id(row.op)] = f"op{number}"
        names[id(row.remove)] = f"remove{number}"
        value = row.value_editor
        for child in value.findChildren(QWidget):
            names[id(child)] = f"value{number}"
        if isinstance(value, _MoneyValue):
            names[id(value.amount)] = f"amount{number}"
            for widget in (value.currency, *value.currency.findChildren(QWidget)):
                names[id(widget)] = f"currency{number}"
    return names


def test_tab_order_of_the_rule_editor_follows_reading_order(qtbot: QtBot, env: Env) -> None:
    editor = _editor(qtbot, env)
    editor.table.selectRow(1)  # Invoice overdue more than 15 days: one row
    editor.name.textEdited.emit("edited")  # so Undo and Save are enabled
    editor.conditions.add_button.click()
    qtbot.waitUntil(lambda: all(r.isVisible() for r in editor.conditions.rows), timeout=3000)
    others = {
        id(editor.name): "name",
        id(editor.severity): "severity",
        id(editor.description): "description",
        id(editor.conditions.mode): "match",
        id(editor.conditions.add_button): "add",
        id(editor.revert_button): "undo",
        id(editor.save_button): "save",
        id(editor.table): "table",
        id(editor.new_button): "new",
        id(editor.toggle_button): "toggle",
        id(editor.delete_button): "delete",
    }
    names = name_rows(others, editor.conditions.rows)
    assert tab_walk(qtbot, editor.name, names, 19) == [
        *("name", "severity", "description", "match"),
        *("field1", "op1", "value1", "remove1", "field2", "op2", "value2", "remove2"),
        *("add", "undo", "save", "table", "new", "toggle", "delete"),
    ]
    # the second row goes, a third comes, then a new field replaces the first row's value
    # input (by two: amount and currency): the order still reads left to right, top to bottom
    first, second = editor.conditions.rows
    second.remove.setFocus()
    qtbot.keyClick(second.remove, Qt.Key.Key_Space)  # type: ignore[no-untyped-call]
    assert editor.conditions.rows == [first]
    assert QApplication.focusWidget() is editor.conditions.add_button  # the next input
    editor.conditions.add_button.click()
    first.field.setCurrentIndex(first.field.findData("invoice.total"))
    rows = editor.conditions.rows
    qtbot.waitUntil(lambda: all(r.value_editor.isVisible() for r in rows), timeout=3000)
    names = name_rows(others, rows)
    assert tab_walk(qtbot, editor.description, names, 12) == [
        *("description", "match", "field1", "op1", "amount1", "currency1", "remove1"),
        *("field2", "op2", "value2", "remove2", "add"),
    ]


def test_a_money_condition_shows_its_currency_in_full(qtbot: QtBot, env: Env) -> None:
    editor = _editor(qtbot, env)
    editor.resize(1100, 600)  # as the Health page opens it
    row = next(r for r in editor.conditions.rows if isinstance(r.value_editor, _MoneyValue))
    money = row.value_editor
    assert isinstance(money, _MoneyValue)
    qtbot.waitUntil(lambda: money.isVisible() and money.width() > 100, timeout=2000)
    line = money.currency.lineEdit()
    assert line is not None
    assert money.currency.currentText() == "reporting currency"
    # the editable combo scrolled its text ("porting currency") when it was too narrow
    needed = line.fontMetrics().horizontalAdvance(line.text())
    assert needed < line.width()
    assert money.amount.width() >= money.amount.fontMetrics().horizontalAdvance("1,000,000")
