"""``billbridge crm …``: the Zoho CRM integration headless (setup steps as flags, dry run,
fetch, search, link, pause/resume/disable/reactivate, credentials).

Examples::

    billbridge connection add --kind zoho-crm --name CRM --data-centre eu \\
        --secret-env ZOHO_CRM_SECRET --owner-email pat@acme.example
    billbridge crm views CRM
    billbridge crm setup CRM --module accounts-and-contacts --include-orphans \\
        --extent both --duplicates overwrite --view Accounts="All Accounts" \\
        --view Contacts="All Contacts" --map Contacts:Tenant_ID=identifier \\
        --active Standard/"Closed Won" --non-renewing Standard/Negotiation/Review --dry-run
    billbridge sync CRM
    billbridge crm fetch CRM 5725767000003000000
    billbridge crm search CRM mina@orbit.example
    billbridge crm link CRM 42 5725767000003000000
"""

from __future__ import annotations

import argparse
from typing import Any

from desktop.cli.connections import secret_from_env
from desktop.cli.context import CliContext
from desktop.crm.report import SyncReport
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import (
    CompanyRule,
    DealStage,
    DuplicatePolicy,
    Extent,
    FieldMapping,
    MatchRule,
    NoMatchRule,
    PushRules,
    SyncModule,
)
from desktop.errors import ConfigurationError


def _integration(context: CliContext) -> CrmIntegration:
    return CrmIntegration(context.database(), context.secrets(), context.clock)


def register(subparsers: Any) -> None:
    """Adds the ``crm`` command and its subcommands."""
    parser = subparsers.add_parser(
        "crm",
        help="set up and run the Zoho CRM integration",
        description="Zoho CRM: the setup steps as flags, dry run, fetch, search and link.",
    )
    commands = parser.add_subparsers(dest="crm_command", metavar="ACTION", required=True)

    setup = commands.add_parser("setup", help="the five setup steps (and push rules) as flags")
    setup.add_argument("name")
    setup.add_argument("--module", required=True, choices=[m.value for m in SyncModule])
    setup.add_argument("--include-orphans", action="store_true", help="contacts with no account")
    setup.add_argument("--extent", required=True, choices=[e.value for e in Extent])
    setup.add_argument("--duplicates", required=True, choices=[d.value for d in DuplicatePolicy])
    setup.add_argument(
        "--view",
        action="append",
        required=True,
        metavar="[MODULE=]VIEW",
        help="the CRM view (name or id) per module, e.g. Accounts='All Accounts'",
    )
    setup.add_argument("--contact-id", action="append", default=[], help="hand-picked contact")
    setup.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="[MODULE:]CRM_FIELD=FIELD",
        help="map a CRM field to a Billbridge field (default mapping when none is given)",
    )
    setup.add_argument("--no-match", choices=[r.value for r in NoMatchRule], default="create")
    setup.add_argument("--match", choices=[r.value for r in MatchRule], default="overwrite")
    setup.add_argument("--company", choices=[r.value for r in CompanyRule], default="create")
    setup.add_argument("--active", metavar="[PIPELINE/]STAGE", default="Closed Won")
    setup.add_argument("--non-renewing", metavar="[PIPELINE/]STAGE", default="Negotiation/Review")
    setup.add_argument("--no-deals", action="store_true", help="do not push subscriptions")
    setup.add_argument("--currency", action="append", default=[], metavar="LOCAL=CRM")
    setup.add_argument("--interval", type=int, default=60, help="minutes between automatic syncs")
    setup.add_argument(
        "--dry-run", action="store_true", help="show what a sync would do; save nothing"
    )
    setup.add_argument("--secret-env", metavar="VAR", help="read the secret from VAR (not stored)")
    setup.set_defaults(handler=run_setup)

    preview = commands.add_parser("preview", help="dry run with the saved settings")
    preview.add_argument("name")
    preview.set_defaults(handler=run_preview)

    views = commands.add_parser("views", help="list the CRM views, fields and pipelines")
    views.add_argument("name")
    views.set_defaults(handler=run_views)

    fetch = commands.add_parser("fetch", help="fetch one record from Zoho CRM now")
    fetch.add_argument("name")
    fetch.add_argument("crm_id", nargs="?")
    fetch.add_argument("--account", type=int, help="the account whose linked record to fetch")
    fetch.set_defaults(handler=run_fetch)

    search = commands.add_parser("search", help="search Zoho CRM (word, e-mail or (criteria))")
    search.add_argument("name")
    search.add_argument("query")
    search.add_argument("--module", choices=("Contacts", "Accounts"), default="Contacts")
    search.set_defaults(handler=run_search)

    link = commands.add_parser("link", help="link an account to a CRM record")
    link.add_argument("name")
    link.add_argument("account_id", type=int)
    link.add_argument("crm_id")
    link.add_argument("--module", choices=("Contacts", "Accounts"), default="Contacts")
    link.set_defaults(handler=run_link)

    for action, text in (
        ("pause", "stop automatic syncs"),
        ("resume", "restart automatic syncs"),
        ("disable", "stop every sync (data and settings are kept)"),
        ("reactivate", "enable a disabled integration"),
    ):
        state = commands.add_parser(action, help=text)
        state.add_argument("name")
        state.set_defaults(handler=run_state, action=action)

    credentials = commands.add_parser("credentials", help="replace the OAuth credentials")
    credentials.add_argument("name")
    credentials.add_argument("--secret-env", metavar="VAR", required=True)
    credentials.add_argument("--owner-email")
    credentials.set_defaults(handler=run_credentials)


# ------------------------------------------------------------------ connection add


def run_add(args: argparse.Namespace, context: CliContext) -> int:
    """``connection add --kind zoho-crm``: checks owner and currency, then saves."""
    secret = secret_from_env(args.secret_env)
    if not secret:
        raise ConfigurationError(
            "A Zoho CRM connection needs --secret-env naming a variable holding the JSON "
            '{"client_id", "client_secret", "refresh_token" or "grant_code"}.'
        )
    if not args.owner_email:
        raise ConfigurationError(
            "A Zoho CRM connection needs --owner-email, the e-mail of the CRM user who owns "
            "the records Billbridge creates."
        )
    info, check = _integration(context).connect(
        name=args.name,
        secret=secret,
        owner_email=args.owner_email,
        data_centre=args.data_centre,
        base_url=args.base_url,
        auth_url=args.auth_url,
    )
    print(
        f"Added {info.name} (zoho-crm: {check.org_name}, {info.label}; records owned by "
        f"{check.owner_name}; base currency {check.base_currency}"
        f"{', multi-currency' if check.multi_currency else ''}; key {info.secret_hint} stored "
        "in the keychain).",
        file=context.out,
    )
    for warning in check.warnings:
        print(f"Note: {warning}", file=context.out)
    print(
        f"Next: billbridge crm setup {info.name} --module … (see 'billbridge crm setup -h').",
        file=context.out,
    )
    return 0


# ------------------------------------------------------------------ setup


def _stage(text: str) -> DealStage:
    pipeline, sep, stage = text.partition("/")
    if not sep:
        return DealStage(None, text.strip())
    # a stage may itself contain "/" (Negotiation/Review): the pipeline is the first part
    return DealStage(pipeline.strip() or None, stage.strip())


def _stage_for(setup: Any, text: str) -> DealStage:
    """Reads ``[PIPELINE/]STAGE``; a leading part that is no pipeline belongs to the stage."""
    choice = _stage(text)
    names = {p.name for p in setup.pipelines()}
    if choice.pipeline and choice.pipeline not in names:
        return DealStage(None, text.strip())
    return choice


def _views(values: list[str], module: SyncModule) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        left, sep, right = value.partition("=")
        if sep and left.strip() in ("Accounts", "Contacts"):
            out[left.strip()] = right.strip()
        elif len(module.crm_modules) == 1:
            out[module.crm_modules[0]] = value.strip()
        else:
            raise ConfigurationError(
                "With Accounts and their Contacts give --view Accounts=VIEW and "
                "--view Contacts=VIEW."
            )
    return out


def _mappings(values: list[str], module: SyncModule) -> dict[str, list[FieldMapping]]:
    out: dict[str, list[FieldMapping]] = {}
    for value in values:
        target, sep, rest = value.partition(":")
        if sep and target in ("Accounts", "Contacts"):
            crm_module, text = target, rest
        elif len(module.crm_modules) == 1:
            crm_module, text = module.crm_modules[0], value
        else:
            raise ConfigurationError(
                f"Say which module {value!r} maps: --map Accounts:{value} or "
                f"--map Contacts:{value}."
            )
        out.setdefault(crm_module, []).append(FieldMapping.parse(text))
    return out


def run_setup(args: argparse.Namespace, context: CliContext) -> int:
    """Runs the setup steps from flags; saves once (or, with --dry-run, previews)."""
    crm = _integration(context)
    secret = secret_from_env(args.secret_env)
    setup = crm.setup(args.name, secret_override=secret)
    module = SyncModule(args.module)
    setup.choose_module(module, include_orphans=args.include_orphans)
    setup.choose_extent(args.extent)
    setup.choose_duplicates(args.duplicates)
    setup.choose_views(_views(args.view, module), args.contact_id)
    mapped = _mappings(args.map, module)
    for crm_module in module.crm_modules:
        if crm_module in mapped:
            required = {m.local_field for m in mapped[crm_module]}
            defaults = [
                m for m in setup.default_mappings(crm_module) if m.local_field not in required
            ]
            # given pairs replace the defaults of the same Billbridge field
            setup.set_mapping(crm_module, (*defaults, *mapped[crm_module]))
    if args.currency:
        pairs: dict[str, str] = {}
        for text in args.currency:
            local, sep, target = text.partition("=")
            if not sep:
                raise ConfigurationError(f"--currency {text!r} is not of the form LOCAL=CRM.")
            pairs[local] = target
        setup.set_currency_map(pairs)
    setup.set_rules(
        PushRules(
            no_match=NoMatchRule(args.no_match),
            match=MatchRule(args.match),
            company=CompanyRule(args.company),
            push_deals=not args.no_deals,
            active=_stage_for(setup, args.active),
            non_renewing=_stage_for(setup, args.non_renewing),
        )
    )
    setup.set_interval(args.interval)
    for label, value in setup.summary():
        print(f"{label + ':':<30} {value}", file=context.out)
    count = setup.count_duplicates()
    print(f"{'Duplicates found:':<30} {count.sentence()}", file=context.out)
    if args.dry_run:
        preview_settings = setup.settings.with_changes(configured=True)
        setup.settings = preview_settings
        setup.validate()
        report = crm.preview(args.name, settings=preview_settings, secret_override=secret)
        _print_report(report, context)
        print("Dry run: nothing was saved or written.", file=context.out)
        return 0
    setup.save()
    print(f"Saved. Run it with 'billbridge sync {args.name}'.", file=context.out)
    return 0


def _print_report(report: SyncReport, context: CliContext) -> None:
    print("", file=context.out)
    print(report.table(), file=context.out)
    failures = [i for i in report.items if i.action.value == "fail"]
    for item in failures[:20]:
        print(f"  would fail: {item.module} {item.label}: {item.reason}", file=context.out)


def run_preview(args: argparse.Namespace, context: CliContext) -> int:
    """Dry run with the saved settings."""
    _print_report(_integration(context).preview(args.name), context)
    print("Dry run: nothing was written.", file=context.out)
    return 0


def run_views(args: argparse.Namespace, context: CliContext) -> int:
    """Lists views, fields and pipelines (what the setup flags accept)."""
    setup = _integration(context).setup(args.name)
    out = context.out
    for module in ("Accounts", "Contacts"):
        print(f"{module} views:", file=out)
        for view in setup.custom_views(module):
            kind = "Zoho" if view.system_defined else "user"
            print(
                f"  {view.id}  {view.name} ({kind}{', default' if view.default else ''})", file=out
            )
        print(f"{module} fields:", file=out)
        for item in setup.fields(module):
            flags = ", ".join(
                f for f, on in (("custom", item.custom), ("mandatory", item.mandatory)) if on
            )
            print(f"  {item.api_name:<24} {item.data_type:<12} {flags}", file=out)
    print("Deal pipelines:", file=out)
    for pipeline in setup.pipelines():
        print(f"  {pipeline.name}: {', '.join(pipeline.stages)}", file=out)
    return 0


# ------------------------------------------------------------------ records


def run_fetch(args: argparse.Namespace, context: CliContext) -> int:
    """Fetch this contact from Zoho CRM."""
    summary = _integration(context).fetch(args.name, args.crm_id, account_id=args.account)
    print(summary.line(), file=context.out)
    return summary.exit_code


def run_search(args: argparse.Namespace, context: CliContext) -> int:
    """Search in Zoho CRM."""
    found = _integration(context).search(args.name, args.query, module=args.module)
    if not found:
        print("Nothing in Zoho CRM matches (a record created moments ago may not be "
              "searchable yet).", file=context.out)  # fmt: skip
        return 0
    print(f"{'CRM ID':<22} {'NAME':<30} {'E-MAIL':<32} {'COMPANY':<28} LINKED", file=context.out)
    for item in found:
        print(
            f"{item.crm_id:<22} {item.name[:30]:<30} {(item.email or '-')[:32]:<32} "
            f"{(item.company or '-')[:28]:<28} {item.linked_account_id or '-'}",
            file=context.out,
        )
    return 0


def run_link(args: argparse.Namespace, context: CliContext) -> int:
    """Links an account to a CRM record."""
    _integration(context).link(args.name, args.account_id, args.crm_id, module=args.module)
    print(f"Linked account {args.account_id} to Zoho CRM {args.module[:-1]} {args.crm_id}.",
          file=context.out)  # fmt: skip
    return 0


def run_state(args: argparse.Namespace, context: CliContext) -> int:
    """Pause, resume, disable or reactivate."""
    crm = _integration(context)
    getattr(crm, args.action)(args.name)
    words = {
        "pause": "paused (manual syncs still run)",
        "resume": "resumed",
        "disable": "disabled (data, links and settings are kept)",
        "reactivate": "reactivated",
    }
    print(f"{args.name}: {words[args.action]}.", file=context.out)
    return 0


def run_credentials(args: argparse.Namespace, context: CliContext) -> int:
    """Replaces the OAuth credentials after checking them."""
    secret = secret_from_env(args.secret_env) or ""
    check = _integration(context).update_credentials(args.name, secret, args.owner_email)
    print(f"{args.name}: credentials updated (records owned by {check.owner_name}).",
          file=context.out)  # fmt: skip
    return 0


# ------------------------------------------------------------------ sync


def run_sync(name: str, *, full: bool, secret: str | None, context: CliContext) -> int:
    """``billbridge sync NAME`` for a CRM connection (called by ``desktop.cli.sync``)."""
    from desktop.cli.sync import run_guarded

    integration = _integration(context)
    code, summary = run_guarded(
        name,
        context,
        lambda job: integration.run(
            name, full=full, trigger="cli", context=job, secret_override=secret
        ),
    )
    if summary is None:
        return code
    calls = summary.details.get("write_calls") or {}
    if calls:
        text = ", ".join(f"{module} {count}" for module, count in calls.items())
        print(f"Zoho CRM write calls: {text}.", file=context.out)
    return summary.exit_code
