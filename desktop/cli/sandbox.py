"""``billbridge sandbox``: serve the vendor simulators on 127.0.0.1 until interrupted.

Examples::

    billbridge sandbox --size 5000 --seed 7
    billbridge sandbox --rate-limit chargebee=100/60 --rate-limit recurly=400/300
    billbridge sandbox --faults "5xx=0.05,reset=0.01,latency=50ms,chargebee:503=#3"
    billbridge sandbox --port-base 18080      # chargebee 18080, recurly-us 18081, ...
    billbridge sandbox --crm base_currency=EUR --crm contact_email_unique=true
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from types import FrameType
from typing import Any, TextIO

from desktop.cli.context import CliContext
from desktop.errors import BillbridgeError
from desktop.sandbox import catalog
from desktop.sandbox.credentials import (
    CHARGEBEE_KEYS,
    RECURLY_KEYS,
    ZOHO_CLIENT_ID,
    ZOHO_CLIENT_SECRET,
    ZOHO_USERS,
    zoho_user,
)
from desktop.sandbox.crm_data import CRM_ORG_ID
from desktop.sandbox.facade import MOUNTS, SIMULATORS, Sandbox
from desktop.sandbox.faults import parse_faults
from desktop.sandbox.ratelimit import RateLimit, parse_rate_limit
from desktop.sandbox.zoho_oauth import DEFAULT_SCOPES


class SandboxOptionError(BillbridgeError):
    """A ``billbridge sandbox`` option has a value the sandbox cannot use."""


def register(subparsers: Any) -> None:
    """Adds the ``sandbox`` command."""
    parser = subparsers.add_parser(
        "sandbox",
        help="run the vendor simulators (Chargebee, Recurly, Zoho Billing, Zoho CRM) on 127.0.0.1",
        description=(
            "Serves loopback simulators of Chargebee, Recurly, Zoho Billing and Zoho CRM "
            "(with Zoho OAuth) over one generated dataset until Ctrl-C, and prints their base "
            "URLs and demo credentials."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "rate limits: SIMULATOR=REQUESTS/SECONDS, comma-separated or repeated; simulators: "
            f"{', '.join(SIMULATORS)} or all.\n"
            "faults: [SIMULATOR:]KIND=[VALUE@]WHEN, comma-separated; kinds: latency, 5xx, "
            "500, 502, 503, 504, timeout, reset, malformed, truncated, expired, 429, drift; "
            "WHEN: a probability (0.05), /N (every Nth request), #N[+M] (exactly those "
            "requests) or always. Example: 5xx=0.05,reset=0.01,latency=50ms,chargebee:503=#3"
        ),
    )
    parser.add_argument("--size", default="1000", help="number of billing customers (default 1000)")
    parser.add_argument("--seed", default="7", help="random seed of the dataset (default 7)")
    parser.add_argument(
        "--vendors",
        default=",".join(catalog.VENDORS),
        help="comma-separated billing vendors that get customers (default: all three)",
    )
    parser.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="SIM=N/S",
        help="request budget per simulator and site, e.g. chargebee=100/60",
    )
    parser.add_argument("--faults", default="", metavar="SPEC", help="faults to inject")
    parser.add_argument(
        "--port-base",
        default=None,
        metavar="P",
        help="first port; mounts use P, P+1, P+2, P+3 (default: free ports)",
    )
    parser.add_argument(
        "--token-lifetime",
        default="3600",
        metavar="SECONDS",
        help="Zoho access-token lifetime (default 3600)",
    )
    parser.add_argument(
        "--crm",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help=(
            "a Zoho CRM setting, e.g. base_currency=EUR, multi_currency=false, "
            "contact_email_unique=true, search_index_delay=5 (repeatable)"
        ),
    )
    parser.set_defaults(handler=run)


def _int(value: str, name: str, low: int, high: int) -> int:
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise SandboxOptionError(
            f"{name} must be a whole number from {low} to {high}, not {value!r}."
        )
    return int(value)


def parse_rate_limits(items: list[str]) -> dict[str, RateLimit]:
    """Parses ``--rate-limit`` values (``chargebee=100/60,recurly=400/300``)."""
    budgets: dict[str, RateLimit] = {}
    for item in (part.strip() for value in items for part in value.split(",")):
        if not item:
            continue
        name, sep, spec = item.partition("=")
        if not sep or (name not in SIMULATORS and name != "all"):
            raise SandboxOptionError(
                f"The rate limit {item!r} must look like SIMULATOR=REQUESTS/SECONDS with a "
                f"simulator from {', '.join(SIMULATORS)} or all."
            )
        try:
            budgets[name] = parse_rate_limit(spec)
        except ValueError as error:
            raise SandboxOptionError(str(error)) from None
    return budgets


def parse_crm_settings(items: list[str]) -> dict[str, Any]:
    """Parses ``--crm`` values: ``name=value`` with JSON values (``true``, ``5``,
    ``["USD","EUR"]``) or plain text (``EUR``)."""
    settings: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise SandboxOptionError(f"The CRM setting {item!r} must look like SETTING=VALUE.")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        settings[name.strip()] = value
    return settings


def build_sandbox(args: argparse.Namespace) -> tuple[Sandbox, int | None]:
    """Validates the options and builds the (not yet started) sandbox."""
    size = _int(args.size, "--size", 0, 5_000_000)
    seed = _int(args.seed, "--seed", 0, 2**32 - 1)
    lifetime = _int(args.token_lifetime, "--token-lifetime", 1, 86_400)
    port_base = None
    if args.port_base is not None:
        port_base = _int(args.port_base, "--port-base", 1024, 65_535 - len(MOUNTS))
    vendors = tuple(v.strip() for v in args.vendors.split(",") if v.strip())
    unknown = [v for v in vendors if v not in catalog.VENDORS]
    if unknown or not vendors:
        raise SandboxOptionError(
            f"--vendors takes billing vendors from {', '.join(catalog.VENDORS)}, "
            f"not {args.vendors!r}."
        )
    budgets = parse_rate_limits(args.rate_limit)
    try:
        faults = parse_faults(args.faults, SIMULATORS)
    except ValueError as error:
        raise SandboxOptionError(str(error)) from None
    crm_settings = parse_crm_settings(getattr(args, "crm", []))
    sandbox = Sandbox(size=size, seed=seed, vendors=vendors, faults=faults, token_lifetime=lifetime)
    try:
        sandbox.configure_crm(crm_settings)
    except (ValueError, TypeError) as error:
        raise SandboxOptionError(str(error)) from None
    for name, budget in budgets.items():
        sandbox.set_rate_limit(name, budget)
    return sandbox, port_base


def describe(sandbox: Sandbox, out: TextIO) -> None:
    """Prints base URLs and demo credentials."""
    print("Billbridge sandbox — loopback vendor simulators (demo credentials only).", file=out)
    print("\nChargebee (HTTP Basic: user = API key, empty password)", file=out)
    for site, key in CHARGEBEE_KEYS.items():
        print(f"  {site:<10} {sandbox.base_url('chargebee', site)}  key {key}", file=out)
    print("\nRecurly v2021-02-25 (HTTP Basic: user = API key, empty password)", file=out)
    for site, key in RECURLY_KEYS.items():
        print(f"  {site:<10} {sandbox.base_url('recurly', site)}  key {key}", file=out)
    print("\nZoho (OAuth client for every data centre)", file=out)
    print(f"  client_id      {ZOHO_CLIENT_ID}", file=out)
    print(f"  client_secret  {ZOHO_CLIENT_SECRET}", file=out)
    for user in ZOHO_USERS:
        print(f"  data centre {user.dc}: organizations {', '.join(user.organizations)}", file=out)
        print(
            f"    token URL      {sandbox.base_url('zoho-accounts', user.dc)}/oauth/v2/token",
            file=out,
        )
        print(f"    API domain     {sandbox.base_url('zoho-api', user.dc)}", file=out)
        print(f"    Billing        {sandbox.base_url('zoho-api', user.dc)}/billing/v1", file=out)
        print(f"    refresh token  {user.refresh_token}", file=out)
        print(f"    grant code     {user.grant_code}", file=out)
    describe_crm(sandbox, out)
    print(
        f"\nAdmin API: POST {sandbox.origin('chargebee')}/_sandbox/mutate (on every origin)",
        file=out,
    )
    print("Press Ctrl-C to stop.", file=out, flush=True)


def describe_crm(sandbox: Sandbox, out: TextIO) -> None:
    """Prints the Zoho CRM base URL, how to get a token for it, and its settings."""
    config = sandbox.crm.config
    user = zoho_user(config.dc)
    scopes = " ".join(s for s in DEFAULT_SCOPES if s.startswith("ZohoCRM."))
    token_url = f"{sandbox.base_url('zoho-accounts', config.dc)}/oauth/v2/token"
    print(f"\nZoho CRM (org {CRM_ORG_ID}, data centre {config.dc})", file=out)
    print(f"  base URL       {sandbox.base_url('zoho-crm')}  (/crm/v2 ... /crm/v8)", file=out)
    print(f"  Zoho login     {user.email} (demo user of data centre {config.dc})", file=out)
    print(f"  token          POST {token_url}", file=out)
    print(
        "                 grant_type=refresh_token, the client id and secret above, "
        f"refresh_token={user.refresh_token}",
        file=out,
    )
    print(f"  scopes         {scopes}", file=out)
    print(
        f"  settings       base currency {config.base_currency}, multi-currency "
        f"{'on' if config.multi_currency else 'off'}, unique contact e-mail "
        f"{'on' if config.contact_email_unique else 'off'} (change with --crm NAME=VALUE)",
        file=out,
    )


def run(args: argparse.Namespace, context: CliContext) -> int:
    """Serves the simulators until Ctrl-C or SIGTERM."""
    sandbox, port_base = build_sandbox(args)
    try:
        sandbox.start(port_base=port_base)
    except OSError as error:
        raise SandboxOptionError(
            f"The sandbox could not listen on 127.0.0.1 ({error.strerror})."
        ) from None
    stop = threading.Event()

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        describe(sandbox, context.out)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sandbox.stop()
    print("Sandbox stopped.", file=context.out)
    return 0
