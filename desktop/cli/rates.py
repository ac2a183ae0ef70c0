"""``billbridge rates``: the reporting currency and the exchange rates health converts with.

The same settings as Settings → Reporting currency and exchange rates in the app. A rate
says how many units of the reporting currency one unit of another currency is worth
(``billbridge rates set EUR 1.08`` with USD reporting: 1 EUR = 1.08 USD). Every change
recomputes health and the month's metrics, as a sync does.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from desktop.cli.context import CliContext
from desktop.errors import ConfigurationError
from desktop.health.after_sync import refresh_health
from desktop.health.settings import (
    CurrencySettings,
    load_currency_settings,
    normalise_currency,
    parse_rate,
    reporting_currency,
    save_currency_settings,
)


def register(subparsers: Any) -> None:
    """Adds the ``rates`` command and its subcommands."""
    parser = subparsers.add_parser(
        "rates",
        help="show or change the reporting currency and exchange rates",
        description=(
            "Shows or changes the currency health reports in and the exchange rates it "
            "converts other currencies with (a rate is how many units of the reporting "
            "currency one unit of the other currency is worth). A change recomputes health."
        ),
    )
    actions = parser.add_subparsers(dest="rates_action", metavar="ACTION")
    actions.add_parser("show", help="print the reporting currency and every rate")
    currency = actions.add_parser("currency", help="set the reporting currency")
    currency.add_argument("code", help="three letters, such as USD")
    set_rate = actions.add_parser("set", help="set the rate of one currency")
    set_rate.add_argument("code", help="the other currency, such as EUR")
    set_rate.add_argument("rate", help="units of the reporting currency one unit is worth")
    remove = actions.add_parser("remove", help="remove the rate of one currency")
    remove.add_argument("code", help="the currency whose rate to remove")
    parser.set_defaults(handler=run, rates_action="show")


def describe(settings: CurrencySettings, reporting: str) -> str:
    """The settings as lines a person reads."""
    chosen = "" if settings.reporting else " (not chosen: the currency most used)"
    lines = [f"Reporting currency: {reporting}{chosen}"]
    if not settings.rates:
        lines.append("No exchange rates are set; other currencies are left out of totals.")
    for code, rate in sorted(settings.rates.items()):
        lines.append(f"1 {code} = {rate} {reporting}")
    return "\n".join(lines)


def run(args: argparse.Namespace, context: CliContext) -> int:
    """Shows or changes the currency settings.

    Raises:
        ConfigurationError: on a code that is not three letters, a rate that is not a
            positive number, or removing a rate that is not set (exit code 2).
    """
    database = context.database()
    with database.transaction() as session:
        settings = load_currency_settings(session)
        reporting = reporting_currency(session, settings)
        action = args.rates_action
        if action == "show":
            print(describe(settings, reporting), file=context.out)
            return 0
        code = normalise_currency(args.code)
        if action == "currency":
            new = replace(settings, reporting=reporting).rebased(code)
            said = f"The reporting currency is now {code}."
        elif action == "set":
            if code == reporting:
                raise ConfigurationError(f"{code} is the reporting currency; its rate is always 1.")
            rate = parse_rate(code, args.rate)
            new = replace(settings, reporting=reporting, rates={**settings.rates, code: rate})
            said = f"1 {code} = {rate} {reporting} is set."
        else:
            if code not in settings.rates:
                raise ConfigurationError(f"No exchange rate for {code} is set.")
            rates = {key: value for key, value in settings.rates.items() if key != code}
            new = replace(settings, rates=rates)
            said = f"The rate for {code} is removed; its amounts are left out of totals."
        save_currency_settings(session, new)
    refresh_health(database, context.clock)
    print(f"{said} Health is recomputed with these rates.", file=context.out)
    return 0
