"""``billbridge metrics``: MRR, ARR, the month's movements, churn and retention."""

from __future__ import annotations

import argparse
import json
from typing import Any

from desktop.cli.context import CliContext
from desktop.health.mrr import MonthMetrics, month_metrics
from desktop.health.settings import normalise_currency
from desktop.health.sql import parse_month
from desktop.money import format_money


def register(subparsers: Any) -> None:
    """Adds the ``metrics`` command."""
    parser = subparsers.add_parser(
        "metrics",
        help="print MRR, ARR, the month's MRR movements, churn and net revenue retention",
        description=(
            "Prints MRR, ARR, new, expansion, contraction, churned and reactivated MRR, "
            "customer and MRR churn and net revenue retention for one month, converted to "
            "one currency with the exchange rates set in the workspace."
        ),
    )
    parser.add_argument("--month", metavar="YYYY-MM", help="the month (default: this month)")
    parser.add_argument(
        "--currency", metavar="CUR", help="report in this currency (default: the reporting one)"
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def as_json(metrics: MonthMetrics) -> dict[str, Any]:
    """The metrics as JSON-ready data (money in minor units, rates as fractions)."""
    moves = metrics.movements
    return {
        "month": f"{metrics.month:%Y-%m}",
        "as_of": metrics.as_of.isoformat(),
        "currency": metrics.currency,
        "mrr_minor": metrics.mrr_minor,
        "arr_minor": metrics.arr_minor,
        "start_mrr_minor": moves.start_mrr_minor,
        "new_minor": moves.new_minor,
        "expansion_minor": moves.expansion_minor,
        "contraction_minor": moves.contraction_minor,
        "churn_minor": moves.churn_minor,
        "reactivation_minor": moves.reactivation_minor,
        "net_new_minor": moves.net_new_minor,
        "accounts_start": moves.accounts_start,
        "accounts_end": moves.accounts_end,
        "new_accounts": moves.new_accounts,
        "churned_accounts": moves.churned_accounts,
        "reactivated_accounts": moves.reactivated_accounts,
        "customer_churn_rate": metrics.customer_churn_rate,
        "gross_mrr_churn_rate": metrics.gross_mrr_churn_rate,
        "net_mrr_churn_rate": metrics.net_mrr_churn_rate,
        "net_revenue_retention": metrics.net_revenue_retention,
        "net_revenue_retention_12m": metrics.net_revenue_retention_12m,
        "excluded": [
            {"currency": e.currency, "amount_minor": e.amount_minor, "records": e.records}
            for e in metrics.excluded
        ],
        "notes": list(metrics.notes),
    }


def as_table(metrics: MonthMetrics) -> str:
    """The metrics as aligned lines for a terminal."""
    moves = metrics.movements
    cur = metrics.currency

    def money(value: int, sign: str = "") -> str:
        return f"{sign}{format_money(value, cur)}"

    rows = [
        ("MRR", money(metrics.mrr_minor)),
        ("ARR", money(metrics.arr_minor)),
        ("MRR at start of month", money(moves.start_mrr_minor)),
        ("New", money(moves.new_minor, "+")),
        ("Expansion", money(moves.expansion_minor, "+")),
        ("Reactivation", money(moves.reactivation_minor, "+")),
        ("Contraction", money(moves.contraction_minor, "−")),
        ("Churn", money(moves.churn_minor, "−")),
        ("Net new MRR", money(moves.net_new_minor)),
        ("Paying accounts", f"{moves.accounts_start:,} → {moves.accounts_end:,}"),
        (
            "New / reactivated / churned",
            f"{moves.new_accounts:,} / {moves.reactivated_accounts:,} / {moves.churned_accounts:,}",
        ),
        ("Customer churn rate", _percent(metrics.customer_churn_rate)),
        ("Gross MRR churn rate", _percent(metrics.gross_mrr_churn_rate)),
        ("Net MRR churn rate", _percent(metrics.net_mrr_churn_rate)),
        ("Net revenue retention", _percent(metrics.net_revenue_retention)),
        ("Net revenue retention (12 months)", _percent(metrics.net_revenue_retention_12m)),
    ]
    width = max(len(label) for label, _ in rows)
    values = max(len(value) for _, value in rows)
    lines = [
        f"Metrics for {metrics.month:%Y-%m} in {cur}, as of {metrics.as_of:%Y-%m-%d %H:%M} UTC"
    ]
    lines += [f"  {label:<{width}}  {value:>{values}}" for label, value in rows]
    lines += [f"Note: {note}" for note in metrics.notes]
    return "\n".join(lines)


def run(args: argparse.Namespace, context: CliContext) -> int:
    """Prints the metrics for the month asked for."""
    month = parse_month(args.month) if args.month else None
    currency = normalise_currency(args.currency) if args.currency else None
    metrics = month_metrics(context.database(), month, currency=currency, clock=context.clock)
    if args.format == "json":
        print(json.dumps(as_json(metrics), indent=2, ensure_ascii=False), file=context.out)
    else:
        print(as_table(metrics), file=context.out)
    return 0
