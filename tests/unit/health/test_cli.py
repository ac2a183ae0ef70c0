"""``billbridge metrics`` and ``billbridge alerts`` on a hand-made workspace."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest

from desktop.cli import build_parser
from desktop.cli.context import CliContext
from desktop.errors import ConfigurationError
from desktop.storage.database import open_database
from tests.unit.health.builders import World, at

NOW = at("2026-06-15 12:00")


def run(url: str, *argv: str) -> str:
    out = io.StringIO()
    context = CliContext(url, out=out, clock=lambda: NOW)
    try:
        args = build_parser().parse_args(["--db", url, *argv])
        assert args.handler(args, context) == 0
    finally:
        context.close()
    return out.getvalue()


@pytest.fixture
def workspace(sqlite_url: str) -> str:
    database = open_database(sqlite_url)
    with database.transaction() as session:
        w = World(session)
        a, b = w.account("Alpha"), w.account("Beta")
        w.subscription(a, "active", 10000, "2025-01-01")
        w.subscription(b, "active", 5000, "2026-06-02")
        w.invoice(b, "overdue", 700, NOW.date() - timedelta(days=20))
    database.close()
    return sqlite_url


def test_metrics_json(workspace: str) -> None:
    data = json.loads(run(workspace, "metrics", "--format", "json"))
    assert data["month"] == "2026-06"
    assert data["currency"] == "USD"
    assert (data["mrr_minor"], data["arr_minor"]) == (15000, 180000)
    assert (data["start_mrr_minor"], data["new_minor"], data["churn_minor"]) == (10000, 5000, 0)
    assert data["net_revenue_retention"] == 1.0
    assert data["customer_churn_rate"] == 0.0


def test_metrics_table_for_a_past_month(workspace: str) -> None:
    text = run(workspace, "metrics", "--month", "2026-05")
    assert "Metrics for 2026-05 in USD" in text
    assert "MRR" in text
    assert "100.00 USD" in text
    assert "Net revenue retention" in text


def test_metrics_refuses_a_bad_month(workspace: str) -> None:
    with pytest.raises(ConfigurationError, match="YYYY-MM"):
        run(workspace, "metrics", "--month", "June")


def test_alerts_command_evaluates_and_lists(workspace: str) -> None:
    data = json.loads(run(workspace, "alerts", "--evaluate", "--format", "json"))
    assert data["raised"] == 1
    assert data["alerts"][0]["account"] == "Beta"
    assert "20 days overdue" in data["alerts"][0]["reason"]
    assert "No alerts." not in run(workspace, "alerts")
