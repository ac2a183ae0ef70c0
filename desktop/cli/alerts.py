"""``billbridge alerts``: list risk alerts, optionally evaluating the rules first."""

from __future__ import annotations

import argparse
import json
from typing import Any

from desktop.cli.context import CliContext
from desktop.health.alerts import AlertState, AlertView, evaluate_alerts, list_alerts


def register(subparsers: Any) -> None:
    """Adds the ``alerts`` command."""
    parser = subparsers.add_parser(
        "alerts",
        help="list risk alerts (active ones unless told otherwise)",
        description="Lists risk alerts, newest first. --evaluate runs every enabled rule first.",
    )
    parser.add_argument(
        "--evaluate", action="store_true", help="evaluate the alert rules before listing"
    )
    parser.add_argument(
        "--all", action="store_true", help="include snoozed, acknowledged and resolved alerts"
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run)


def _json(alert: AlertView) -> dict[str, Any]:
    return {
        "id": alert.id,
        "state": alert.state.value,
        "severity": alert.severity,
        "rule": alert.rule_name,
        "account_id": alert.account_id,
        "account": alert.account_name,
        "reason": alert.reason,
        "raised_at": alert.raised_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "snoozed_until": alert.snoozed_until.isoformat() if alert.snoozed_until else None,
    }


def run(args: argparse.Namespace, context: CliContext) -> int:
    """Prints the alerts."""
    database = context.database()
    raised = evaluate_alerts(database, context.clock) if args.evaluate else []
    states = tuple(AlertState) if args.all else (AlertState.ACTIVE,)
    alerts = list_alerts(database, clock=context.clock, states=states, limit=None)
    if args.format == "json":
        payload = {"raised": len(raised), "alerts": [_json(a) for a in alerts]}
        print(json.dumps(payload, indent=2, ensure_ascii=False), file=context.out)
        return 0
    if args.evaluate:
        print(f"{len(raised):,} new alert{'s' if len(raised) != 1 else ''}.", file=context.out)
    if not alerts:
        print("No alerts.", file=context.out)
    for alert in alerts:
        print(
            f"[{alert.severity}] {alert.raised_at:%Y-%m-%d %H:%M} #{alert.id} "
            f"({alert.state.value}) {alert.reason}",
            file=context.out,
        )
    return 0
