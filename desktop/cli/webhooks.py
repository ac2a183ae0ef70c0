"""``billbridge webhook``: receivers for Zoho Billing webhooks, and the events they received."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from desktop.cli.context import CliContext
from desktop.errors import ConfigurationError
from desktop.webhooks.applier import EventApplier, alert_hook
from desktop.webhooks.auth import authorization_header, token_env_name
from desktop.webhooks.receivers import (
    ReceiverInfo,
    create_receiver,
    delete_receiver,
    list_receivers,
    rotate_token,
    set_verify_signature,
)
from desktop.webhooks.service import DEFAULT_PORT
from desktop.webhooks.store import ALL_STATUSES, count_by_status, list_events


def register(subparsers: Any) -> None:
    """Adds the ``webhook`` command and its subcommands."""
    parser = subparsers.add_parser(
        "webhook",
        help="create Zoho Billing webhook receivers and inspect or replay their events",
        description=(
            "A receiver is the address Zoho Billing posts a connection's events to, with a "
            "secret token for its Authorization header (and optionally its signature)."
        ),
    )
    commands = parser.add_subparsers(dest="webhook_command", metavar="ACTION", required=True)

    create = commands.add_parser(
        "create", help="create a receiver and print, once, what to paste into Zoho Billing"
    )
    create.add_argument("name", help="receiver name: lower-case letters, digits and dashes")
    create.add_argument(
        "--connection",
        metavar="NAME",
        help="the Zoho Billing connection (may be left out when there is only one)",
    )
    create.add_argument(
        "--sign", action="store_true", help="also require Zoho's X-Zoho-Webhook-Signature"
    )
    rotate = commands.add_parser("rotate", help="give a receiver a new token (printed once)")
    for command in (create, rotate):
        command.add_argument(
            "--public-url",
            metavar="URL",
            help="the address Zoho Billing reaches 'billbridge serve' at "
            "(e.g. https://hooks.example)",
        )
        command.add_argument(
            "--no-keychain",
            action="store_true",
            help="keep the token nowhere: for a server without a keychain, which reads it "
            "from BILLBRIDGE_WEBHOOK_TOKEN_<NAME>",
        )
    create.set_defaults(handler=run_create)
    rotate.add_argument("name")
    rotate.set_defaults(handler=run_rotate)

    sign = commands.add_parser("sign", help="require (or stop requiring) the HMAC signature")
    sign.add_argument("name")
    sign.add_argument("state", choices=("on", "off"))
    sign.set_defaults(handler=run_sign)

    remove = commands.add_parser("remove", help="remove a receiver (its events are kept)")
    remove.add_argument("name")
    remove.set_defaults(handler=run_remove)

    listing = commands.add_parser("list", help="list receivers")
    listing.set_defaults(handler=run_list)

    events = commands.add_parser("events", help="list received events, newest first")
    events.add_argument("--status", choices=ALL_STATUSES)
    events.add_argument("--limit", type=int, default=50)
    events.set_defaults(handler=run_events)

    replay = commands.add_parser("replay", help="apply a stored event again (by its number)")
    replay.add_argument("event", type=int, help="the event's number (first column of 'events')")
    replay.set_defaults(handler=run_replay)


def _base(public_url: str | None) -> str:
    if public_url:
        if not public_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{public_url!r} is not an http:// or https:// address.")
        return public_url.rstrip("/")
    return f"http://<this server>:{DEFAULT_PORT}"


def _instructions(
    out: TextIO, info: ReceiverInfo, token: str, base: str, *, kept: bool = True
) -> None:
    header = authorization_header(info.name, token)
    print(f"Receiver {info.name!r} for the connection {info.connection_name!r}.", file=out)
    print("", file=out)
    print(
        "In Zoho Billing: Settings → Automation → Workflow Actions → Webhooks → + New Webhook",
        file=out,
    )
    print(f"  URL:            {base}{info.path}", file=out)
    print("  Method / body:  POST, Default payload (JSON)", file=out)
    print("  Events:         the subscription, invoice and payment events to follow", file=out)
    print("  Custom header:  Authorization", file=out)
    print(f"  Header value:   {header}", file=out)
    if info.verify_signature:
        print(
            "  Secure this webhook: tick 'I want to secure this webhook' and enter the",
            file=out,
        )
        print(f"  secret token:   {token}", file=out)
    print("", file=out)
    where = (
        "The token is kept in the system keychain; on a server without one, give it"
        if kept
        else "The token is kept nowhere: give it"
    )
    print(
        f"This is shown once. {where} to 'billbridge serve' as the environment variable "
        f"{token_env_name(info.name)}.",
        file=out,
    )


def run_create(args: argparse.Namespace, context: CliContext) -> int:
    """Creates a receiver and prints its setup once."""
    base = _base(args.public_url)
    info, token = create_receiver(
        context.database(),
        context.secrets(),
        name=args.name,
        connection_name=args.connection,
        verify_signature=args.sign,
        keep_token=not args.no_keychain,
    )
    _instructions(context.out, info, token, base, kept=not args.no_keychain)
    return 0


def run_rotate(args: argparse.Namespace, context: CliContext) -> int:
    """Gives a receiver a new token and prints the new header once."""
    base = _base(args.public_url)
    info, token = rotate_token(
        context.database(), context.secrets(), args.name, keep_token=not args.no_keychain
    )
    print("The old token no longer works. Update the webhook in Zoho Billing:", file=context.out)
    _instructions(context.out, info, token, base, kept=not args.no_keychain)
    return 0


def run_sign(args: argparse.Namespace, context: CliContext) -> int:
    """Turns the signature check on or off."""
    info = set_verify_signature(context.database(), args.name, args.state == "on")
    state = "now required" if info.verify_signature else "no longer required"
    print(f"The X-Zoho-Webhook-Signature of {info.name!r} is {state}.", file=context.out)
    return 0


def run_remove(args: argparse.Namespace, context: CliContext) -> int:
    """Removes a receiver and forgets its token."""
    delete_receiver(context.database(), context.secrets(), args.name)
    print(f"Removed the receiver {args.name!r}; its events are kept.", file=context.out)
    return 0


def run_list(_args: argparse.Namespace, context: CliContext) -> int:
    """Lists receivers."""
    with context.database().session() as session:
        receivers = list_receivers(session)
        counts = count_by_status(session)
    out = context.out
    if not receivers:
        print("No webhook receivers. Create one with 'billbridge webhook create NAME'.", file=out)
        return 0
    print(f"{'Receiver':<24} {'Connection':<24} {'Signature':<10} {'Token':<8} Path", file=out)
    for info in receivers:
        signature = "required" if info.verify_signature else "-"
        print(
            f"{info.name:<24} {info.connection_name:<24} {signature:<10} "
            f"{info.secret_hint or '':<8} {info.path}",
            file=out,
        )
    summary = ", ".join(f"{counts[s]} {s}" for s in ALL_STATUSES if counts.get(s))
    print(f"Events: {summary or 'none yet'}.", file=out)
    return 0


def run_events(args: argparse.Namespace, context: CliContext) -> int:
    """Lists stored events, newest first."""
    with context.database().session() as session:
        rows = list_events(session, status=args.status, limit=max(1, args.limit))
    out = context.out
    if not rows:
        print("No events.", file=out)
        return 0
    print(f"{'#':>6}  {'Received (UTC)':<19}  {'Type':<30} {'Outcome':<9} Reason", file=out)
    for row in rows:
        received = row.received_at.strftime("%Y-%m-%d %H:%M:%S")
        repeats = f" ×{row.deliveries}" if row.deliveries > 1 else ""
        print(
            f"{row.id:>6}  {received:<19}  {(row.event_type or '?')[:30]:<30} "
            f"{row.status:<9} {(row.reason or '')}{repeats}",
            file=out,
        )
    return 0


def run_replay(args: argparse.Namespace, context: CliContext) -> int:
    """Applies a stored event again and prints the outcome."""
    database = context.database()
    applier = EventApplier(database, context.clock, after_apply=alert_hook(database, context.clock))
    outcome = applier.replay(args.event)
    reason = f": {outcome.reason}" if outcome.reason else "."
    print(f"Event {outcome.id} {outcome.status}{reason}", file=context.out)
    return 0 if outcome.status in ("applied", "ignored") else 1
