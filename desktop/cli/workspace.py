"""``billbridge workspace``: where the workspace is and what it holds."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import func, select

from desktop.cli.context import CliContext
from desktop.storage import models
from desktop.storage.migrate import current_revision


def register(subparsers: Any) -> None:
    """Adds the ``workspace`` command."""
    parser = subparsers.add_parser(
        "workspace",
        help="show the workspace database, its schema version and what it holds",
        description="Opens (and migrates) the workspace and prints where it is and what it holds.",
    )
    parser.set_defaults(handler=run)


def run(_args: argparse.Namespace, context: CliContext) -> int:
    """Prints the workspace summary."""
    database = context.database()
    out = context.out
    print(f"Workspace: {database.display}", file=out)
    print(f"Schema:    {current_revision(database.engine)}", file=out)
    with database.session() as session:
        for label, model in (
            ("Connections", models.Connection),
            ("Accounts", models.Account),
            ("Users", models.User),
            ("Plans", models.Plan),
            ("Subscriptions", models.Subscription),
            ("Invoices", models.Invoice),
            ("Sync runs", models.SyncRun),
            ("Sync errors", models.SyncError),
        ):
            count = session.scalar(select(func.count()).select_from(model)) or 0
            print(f"{label + ':':<14} {count:,}", file=out)
    return 0
