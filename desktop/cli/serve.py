"""``billbridge serve``: the webhook receiver and the schedules, headless, until stopped."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Any

from desktop.cli.context import CliContext
from desktop.errors import ConfigurationError
from desktop.jobs import CancelToken
from desktop.serve.schedules import default_schedules
from desktop.serve.service import HeadlessService, stop_on_signals
from desktop.storage.database import Database
from desktop.webhooks.auth import token_env_name
from desktop.webhooks.receivers import ReceiverDirectory, list_receivers
from desktop.webhooks.service import DEFAULT_PORT


def register(subparsers: Any) -> None:
    """Adds the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve",
        help="run the webhook receiver and the schedules headless until stopped",
        description=(
            "Runs the Zoho Billing webhook receiver and the schedules (daily billing syncs "
            "at 00:00 UTC, hourly CRM syncs) until SIGTERM or Ctrl-C. Receiver tokens are "
            "read from the system keychain, or from BILLBRIDGE_WEBHOOK_TOKEN_<RECEIVER> on a "
            "server without one."
        ),
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; put a TLS reverse proxy in front to "
        "take events from the internet)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--no-schedules", action="store_true", help="run the receiver only, no scheduled syncs"
    )
    parser.set_defaults(handler=run)


def _configure_logging() -> None:
    root = logging.getLogger()
    if not any(type(h) is logging.StreamHandler for h in root.handlers):  # not a file
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "httpcore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _describe_receivers(database: Database, base: str, directory: ReceiverDirectory) -> list[str]:
    with database.session() as session:
        receivers = list_receivers(session)
    if not receivers:
        return ["  (no receiver yet: create one with 'billbridge webhook create NAME' and restart)"]
    lines = []
    for receiver in receivers:
        signed = ", signature required" if receiver.verify_signature else ""
        from_env = (
            " (token from environment)" if token_env_name(receiver.name) in os.environ else ""
        )
        active = directory.get(receiver.name)
        missing = (
            f" — NO TOKEN: neither the keychain nor {token_env_name(receiver.name)} has it, "
            "so every request is refused"
            if active is None or active.token is None
            else ""
        )
        lines.append(
            f"  {base}{receiver.path} → {receiver.connection_name}{signed}{from_env}{missing}"
        )
    return lines


def run(args: argparse.Namespace, context: CliContext) -> int:
    """Serves until a signal asks to stop."""
    if not 0 <= args.port <= 65535:
        raise ConfigurationError(f"{args.port} is not a port number (0–65535).")
    _configure_logging()
    database = context.database()
    secrets = context.secrets()
    cancel = CancelToken()
    schedules, missing = (
        ([], [])
        if args.no_schedules
        else default_schedules(database, secrets, context.clock, cancel)
    )
    try:
        service = HeadlessService(
            database,
            secrets,
            context.clock,
            host=args.host,
            port=args.port,
            schedules=schedules,
            cancel=cancel,
        )
    except OSError as error:
        raise ConfigurationError(
            f"Billbridge cannot listen on {args.host}:{args.port} ({error.strerror or error})."
        ) from None
    stop = threading.Event()
    stop_on_signals(stop)
    out = context.out
    print(f"Billbridge is serving the workspace {database.display}.", file=out)
    print(f"Webhook receiver on {service.url}:", file=out)
    for line in _describe_receivers(database, service.url, service.receiver.directory):
        print(line, file=out)
    if args.no_schedules:
        print("Schedules: off (--no-schedules).", file=out)
    else:
        names = ", ".join(schedule.name for schedule in schedules) or "none"
        print(f"Schedules: {names}.", file=out)
        for phrase in missing:
            print(f"  not available in this build yet: {phrase}", file=out)
    print("Stop with Ctrl-C or SIGTERM.", file=out, flush=True)
    service.serve_until(stop)
    print("Stopped.", file=out, flush=True)
    return 0
