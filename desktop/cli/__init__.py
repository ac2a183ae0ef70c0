"""The ``billbridge`` command.

With no subcommand it opens the desktop app. Each subcommand lives in its own module
under ``desktop.cli`` and is listed once in ``COMMAND_MODULES``; a module exposes
``register(subparsers)``, which adds its parser and sets ``handler`` (a function taking
the parsed arguments and a :class:`CliContext`, returning the exit code).

The real process (:func:`entry_point`) logs to the log file, never to the terminal; an
error no command expected (a bug, a database that stops answering mid-run) ends it with
one sentence naming the log file and exit code 2, not a traceback.

Output piped to a reader that stops early (``billbridge export accounts | head``) ends
the command quietly with exit code 141 (128 + SIGPIPE, what a shell shows for ``cat``
in the same place), never with a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from desktop import __version__
from desktop.cli import logs
from desktop.cli.context import CliContext
from desktop.errors import BillbridgeError

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "desktop.cli.workspace",
    "desktop.cli.sandbox",
    "desktop.cli.connections",
    "desktop.cli.sync",
    "desktop.cli.crm",
    "desktop.cli.webhooks",
    "desktop.cli.serve",
    "desktop.cli.metrics",
    "desktop.cli.alerts",
    "desktop.cli.rates",
    # one line per command module
)

log = logging.getLogger(__name__)

#: Exit code when standard output was closed by its reader (128 + SIGPIPE).
BROKEN_PIPE_EXIT = 141


def build_parser() -> argparse.ArgumentParser:
    """Builds the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="billbridge",
        description=(
            "Billbridge brings Zoho Billing, Recurly, Chargebee and Zoho CRM into one local "
            "workspace. With no command it opens the desktop app."
        ),
    )
    parser.add_argument("--version", action="version", version=f"billbridge {__version__}")
    parser.add_argument(
        "--db",
        metavar="URL",
        default=os.environ.get("BILLBRIDGE_DB"),
        help="workspace database as an SQLAlchemy URL (default: SQLite in your data folder; "
        "also read from BILLBRIDGE_DB)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="open the app on a separate demo workspace fed by the built-in sandbox",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    make_context: Callable[..., CliContext] = CliContext,
    log_to_file: bool = False,
) -> int:
    """Runs the command line and returns the process exit code.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        make_context: builds the command's :class:`CliContext` from ``db_url`` and
            ``demo`` (tests pass one with an in-memory secret store and output buffer).
        log_to_file: send log records to the log file (the real process; ``serve``
            and the desktop app set up their own logging).
    """
    try:
        return _run(argv, make_context, log_to_file)
    except BrokenPipeError:
        _discard_stdout()
        return BROKEN_PIPE_EXIT


def _run(
    argv: Sequence[str] | None, make_context: Callable[..., CliContext], log_to_file: bool
) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if log_to_file and handler is not None and args.command != "serve":
        logs.log_to_file()
    context = make_context(db_url=args.db, demo=args.demo)
    try:
        if handler is None:
            from desktop.cli.gui import run_gui

            return run_gui(context)
        code: int = handler(args, context)
        context.out.flush()  # a reader that went away is noticed here, inside the handler
        return code
    except BillbridgeError as error:
        print(f"billbridge: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("billbridge: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # the reader went away: ended quietly by main()
    except Exception as error:
        log.exception("billbridge %s stopped on an unexpected error.", args.command)
        path = logs.log_file()
        where = f"; details are in {path}" if path else ""
        print(
            f"billbridge: the command stopped on an unexpected error "
            f"({type(error).__name__}){where}.",
            file=sys.stderr,
        )
        return 2
    finally:
        context.close()


def _discard_stdout() -> None:
    """Points standard output at /dev/null so the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # not a real file (tests): nothing is flushed at exit
        pass


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main(log_to_file=True))
