"""``billbridge connection add|list|remove``: billing connections and their secret."""

from __future__ import annotations

import argparse
import os
from typing import Any

from desktop.cli.context import CliContext
from desktop.errors import ConfigurationError
from desktop.sync.connections import ConnectionService
from desktop.sync.registry import CRM_KINDS


def secret_from_env(variable: str | None) -> str | None:
    """The secret in environment variable ``variable`` (``None`` when not asked for).

    Raises:
        ConfigurationError: the variable is not set or empty (its value is never shown).
    """
    if not variable:
        return None
    value = os.environ.get(variable)
    if value is None or not value.strip():
        raise ConfigurationError(
            f"The environment variable {variable} named by --secret-env is not set or empty."
        )
    return value


SECRET_HELP = """\
the secret (never an argument: shells keep their history):
  chargebee     the site's API key
  recurly       the site's private API key; for several sites of one region a JSON
                object mapping each subdomain to its key: {"acme": "KEY", "acme-2": "KEY"}
  zoho-billing  a JSON object {"client_id": "…", "client_secret": "…",
                "refresh_token": "…"} of a Zoho self client
With --secret-env VAR it is read from VAR and kept in the system keychain. Without it
nothing is stored: give it to each run with 'billbridge sync NAME --secret-env VAR'
(read at run time, stored nowhere)."""


def register(subparsers: Any) -> None:
    """Adds the ``connection`` command and its subcommands."""
    parser = subparsers.add_parser(
        "connection",
        help="add, list or remove connections",
        description=(
            "Manage connections: Zoho Billing, Recurly and Chargebee (and Zoho CRM, set up "
            "further with 'billbridge crm')."
        ),
    )
    commands = parser.add_subparsers(dest="connection_command", metavar="ACTION", required=True)

    add = commands.add_parser(
        "add",
        help="add a connection",
        description="Adds a connection; nothing is read from the source until 'billbridge sync'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SECRET_HELP,
    )
    add.add_argument(
        "--kind",
        required=True,
        choices=("zoho-billing", "recurly", "chargebee", "zoho-crm"),
        help="the system to connect",
    )
    add.add_argument("--name", required=True, help="a name for the connection")
    add.add_argument("--site", help="Chargebee site name, or Recurly subdomain (one site)")
    add.add_argument("--org-id", help="Zoho Billing organization id")
    add.add_argument("--data-centre", help="Zoho data centre: us, eu, in, au, jp, ca")
    add.add_argument("--region", help="Recurly region: us or eu")
    add.add_argument("--base-url", help="replace the API's base URL (proxy, sandbox)")
    add.add_argument("--auth-url", help="Zoho: replace the accounts (OAuth token) server URL")
    add.add_argument(
        "--mode",
        choices=("daily", "import-only"),
        default="daily",
        help="daily (default): every run updates synced records; import-only: later runs "
        "only add new records and keep manual edits",
    )
    add.add_argument(
        "--id-source",
        choices=("native", "custom-field"),
        default="native",
        help="where an account's identifier comes from: the source's own customer id "
        "(default) or a custom field",
    )
    add.add_argument(
        "--id-object",
        choices=("account", "subscription"),
        help="with --id-source custom-field: the object carrying the field",
    )
    add.add_argument("--id-field", help="the custom field holding the account identifier")
    add.add_argument("--owner-email", help="Zoho CRM: the CRM user who owns created records")
    add.add_argument(
        "--secret-env",
        metavar="VAR",
        help="read the secret from this environment variable and store it in the keychain "
        "(see below)",
    )
    add.set_defaults(handler=run_add)

    credentials = commands.add_parser(
        "credentials",
        help="replace a connection's stored secret (a new or rotated key)",
        description=(
            "Checks the new secret's form, then replaces the one in the keychain; the\n"
            "connection and what it synced stay as they are."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SECRET_HELP,
    )
    credentials.add_argument("name", help="the connection's name")
    credentials.add_argument(
        "--secret-env",
        metavar="VAR",
        required=True,
        help="read the new secret from this environment variable",
    )
    credentials.set_defaults(handler=run_credentials)

    listing = commands.add_parser("list", help="list connections")
    listing.set_defaults(handler=run_list)

    remove = commands.add_parser("remove", help="remove a connection and what it synced")
    remove.add_argument("name", help="the connection's name")
    remove.set_defaults(handler=run_remove)


def run_add(args: argparse.Namespace, context: CliContext) -> int:
    """Adds a connection."""
    if args.kind == "zoho-crm":
        from desktop.cli.crm import run_add as run_add_crm

        return run_add_crm(args, context)
    secret = secret_from_env(args.secret_env)
    settings: dict[str, Any] = {
        "site": args.site,
        "org_id": args.org_id,
        "data_centre": args.data_centre,
        "region": args.region,
        "base_url": args.base_url,
        "auth_url": args.auth_url,
        "id_source": args.id_source,
        "id_object": args.id_object,
        "id_field": args.id_field,
    }
    service = ConnectionService(context.database(), context.secrets(), context.clock)
    info = service.add(
        name=args.name, kind=args.kind, settings=settings, mode=args.mode, secret=secret
    )
    hint = info.secret_hint if info.secret_hint.endswith("keys") else f"key {info.secret_hint}"
    stored = f"{hint} stored in the keychain" if secret else "no key stored"
    print(
        f"Added {info.name} ({info.kind}: {info.label}; {info.mode}; {stored}).", file=context.out
    )
    return 0


def run_credentials(args: argparse.Namespace, context: CliContext) -> int:
    """Replaces a connection's stored secret."""
    secret = secret_from_env(args.secret_env)
    service = ConnectionService(context.database(), context.secrets(), context.clock)
    if service.get(args.name).kind in CRM_KINDS:
        from desktop.cli.crm import run_credentials as run_crm_credentials

        args.owner_email = None
        return run_crm_credentials(args, context)
    info = service.update(args.name, secret=secret)
    hint = info.secret_hint if info.secret_hint.endswith("keys") else f"key {info.secret_hint}"
    print(f"{info.name}: {hint} stored in the keychain.", file=context.out)
    return 0


def run_list(_args: argparse.Namespace, context: CliContext) -> int:
    """Lists connections."""
    service = ConnectionService(context.database(), context.secrets(), context.clock)
    infos = service.list()
    if not infos:
        print("No connections yet; add one with 'billbridge connection add'.", file=context.out)
        return 0
    header = (
        f"{'NAME':<24} {'KIND':<13} {'DETAILS':<28} {'MODE':<11} {'STATUS':<8} {'KEY':<7} LAST RUN"
    )
    print(header, file=context.out)
    for info in infos:
        last = (
            f"{info.last_run_status} {info.last_run_at:%Y-%m-%d %H:%M} UTC"
            if info.last_run_status and info.last_run_at
            else "never"
        )
        print(
            f"{info.name:<24} {info.kind:<13} {info.label:<28} {info.mode:<11} "
            f"{info.status:<8} {info.secret_hint or '-':<7} {last}",
            file=context.out,
        )
    return 0


def run_remove(args: argparse.Namespace, context: CliContext) -> int:
    """Removes a connection."""
    service = ConnectionService(context.database(), context.secrets(), context.clock)
    service.remove(args.name)
    print(f"Removed {args.name} and everything synced from it.", file=context.out)
    return 0
