"""Segments: live count and MRR while editing, save, open as an accounts list, CSV export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from desktop.health import (
    accounts_select,
    count_and_mrr,
    list_segments,
    recompute_health,
)
from desktop.storage.database import open_database
from desktop.timeutil import Clock
from desktop.views.accounts import AccountsPage
from desktop.views.jobs import JobRunner
from desktop.views.models.loader import QueryLoader
from desktop.views.segments import SegmentsView
from tests.gui.test_alerts_view import name_rows, tab_walk
from tests.gui.test_health_page import NOW, Env, build

PAYING = {"all": [{"field": "account.mrr", "op": "gt", "value": {"amount": "100"}}]}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    database = open_database(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    ids = build(database)
    fixed: Clock = lambda: NOW  # noqa: E731
    recompute_health(database, clock=fixed)
    loader = QueryLoader(database)
    jobs = JobRunner()
    yield Env(database, loader, jobs, fixed, ids)
    jobs.shutdown()
    loader.shutdown()
    database.close()


def _view(qtbot: QtBot, env: Env) -> SegmentsView:
    view = SegmentsView(env.loader, env.jobs, env.database, env.clock)
    qtbot.addWidget(view)
    view.resize(1000, 500)
    view.show()
    view.reload()
    return view


def test_the_count_and_mrr_follow_the_conditions_as_they_change(qtbot: QtBot, env: Env) -> None:
    view = _view(qtbot, env)
    # the starting point: amber or red accounts
    start = count_and_mrr(env.database, view.conditions.condition_json(), env.clock)
    qtbot.waitUntil(lambda: view.last_preview == start, timeout=5000)
    row = view.conditions.rows[0]
    row.field.setCurrentIndex(row.field.findData("account.mrr"))
    row.op.setCurrentIndex(row.op.findData("gt"))
    qtbot.keyClicks(row.value_editor.amount, "100")  # type: ignore[attr-defined,no-untyped-call]
    expected = count_and_mrr(env.database, PAYING, env.clock)
    assert expected.accounts == 2  # Grow (150.00) and Late (200.00)
    qtbot.waitUntil(lambda: view.last_preview == expected, timeout=5000)
    assert view.preview.text() == "2 accounts · MRR 350.00 USD"


def test_an_unfinished_condition_says_what_is_missing(qtbot: QtBot, env: Env) -> None:
    view = _view(qtbot, env)
    row = view.conditions.rows[0]
    row.field.setCurrentIndex(row.field.findData("account.mrr"))
    qtbot.waitUntil(lambda: "needs an amount" in view.banner.text(), timeout=3000)
    assert not view.open_button.isEnabled()
    assert not view.export_button.isEnabled()


def test_save_lists_the_segment_and_the_model_passes_the_tester(
    qtbot: QtBot, env: Env, qtmodeltester: ModelTester
) -> None:
    view = _view(qtbot, env)
    view.name.setText("Paying over 100")
    view.conditions.set_condition(PAYING)
    view.save()
    qtbot.waitUntil(lambda: view.model.rowCount() == 1, timeout=5000)
    qtmodeltester.check(view.model)  # type: ignore[no-untyped-call]
    saved = list_segments(env.database)
    assert [s.name for s in saved] == ["Paying over 100"]
    assert saved[0].condition_json == PAYING
    assert view.model.data(view.model.index(0, 1)) == saved[0].summary


def test_a_segment_opens_as_an_accounts_list(qtbot: QtBot, env: Env) -> None:
    view = _view(qtbot, env)
    view.name.setText("Paying over 100")
    view.conditions.set_condition(PAYING)
    with qtbot.waitSignal(view.open_accounts) as blocker:
        view.open_button.click()
    name, condition = blocker.args
    assert name == "Paying over 100"
    page = AccountsPage(env.loader, env.jobs, env.database)
    qtbot.addWidget(page)
    page.show()
    page.refresh()
    qtbot.waitUntil(lambda: page.model.total == 5, timeout=5000)
    with env.database.session() as session:
        select = accounts_select(session, condition, env.clock)
    page.show_segment(name, select)
    qtbot.waitUntil(lambda: page.model.total == 2, timeout=5000)
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=5000)
    names = {page.model.data(page.model.index(r, 0)) for r in range(2)}
    assert names == {"Grow", "Late"}
    assert "Paying over 100" in page.segment_banner.text()
    page.show_segment("", None)
    qtbot.waitUntil(lambda: page.model.total == 5, timeout=5000)
    assert not page.segment_banner.isVisible()


def test_export_writes_the_segments_accounts_as_csv(qtbot: QtBot, env: Env, tmp_path: Path) -> None:
    view = _view(qtbot, env)
    view.conditions.set_condition(PAYING)
    out = tmp_path / "paying.csv"
    view.export_to(out)
    qtbot.waitUntil(lambda: "Exported" in view.banner.text(), timeout=5000)
    assert view.banner.text() == f"Exported 2 accounts to {out}."
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["name"] for r in rows) == ["Grow", "Late"]
    assert {r["mrr"] for r in rows} == {"150.00", "200.00"}


def test_removing_a_row_recounts_and_the_last_one_says_what_is_missing(
    qtbot: QtBot, env: Env
) -> None:
    view = _view(qtbot, env)
    view.conditions.set_condition(PAYING)
    expected = count_and_mrr(env.database, PAYING, env.clock)
    qtbot.waitUntil(lambda: view.last_preview == expected, timeout=5000)
    view.conditions.add_button.click()
    assert len(view.conditions.rows) == 2
    wider = count_and_mrr(env.database, view.conditions.condition_json(), env.clock)
    assert wider != expected  # the new (default) row changes what is counted
    qtbot.waitUntil(lambda: view.last_preview == wider, timeout=5000)
    view.conditions.rows[1].remove.click()
    qtbot.waitUntil(lambda: view.last_preview == expected, timeout=5000)
    assert view.preview.text() == "2 accounts · MRR 350.00 USD"
    view.conditions.rows[0].remove.click()
    qtbot.waitUntil(lambda: view.banner.text() == "Add at least one condition.", timeout=3000)
    assert view.preview.text() == ""
    assert not view.open_button.isEnabled()


def test_tab_order_of_the_segment_editor_follows_reading_order(qtbot: QtBot, env: Env) -> None:
    view = _view(qtbot, env)
    view.name.textEdited.emit("edited")
    view.conditions.add_button.click()
    qtbot.waitUntil(lambda: all(r.isVisible() for r in view.conditions.rows), timeout=3000)
    others = {
        id(view.name): "name",
        id(view.description): "description",
        id(view.conditions.mode): "match",
        id(view.conditions.add_button): "add",
        id(view.open_button): "open",
        id(view.export_button): "export",
        id(view.save_as_button): "save as",
        id(view.save_button): "save",
        id(view.table): "table",
        id(view.new_button): "new",
        id(view.delete_button): "delete",
    }
    names = name_rows(others, view.conditions.rows)
    assert tab_walk(qtbot, view.name, names, 17) == [
        *("name", "description", "match"),
        *("field1", "op1", "value1", "remove1", "field2", "op2", "value2", "remove2"),
        *("add", "open", "export", "table", "new", "name"),
    ]
    # the first row goes and a new field replaces the (now only) row's value input
    first, second = view.conditions.rows
    first.remove.click()
    second.field.setCurrentIndex(second.field.findData("account.mrr"))
    qtbot.waitUntil(lambda: second.value_editor.isVisible(), timeout=3000)
    names = name_rows(others, view.conditions.rows)
    assert tab_walk(qtbot, view.conditions.mode, names, 8) == [
        *("match", "field1", "op1", "amount1", "currency1", "remove1", "add", "table"),
    ]
