"""Opening the desktop app from the command line, with clear words when it cannot."""

from __future__ import annotations

import os
import sys

from desktop.cli.context import CliContext
from desktop.errors import BillbridgeError


class NoDisplayError(BillbridgeError):
    """There is no screen to open a window on."""


def check_display() -> None:
    """Raises :class:`NoDisplayError` when Qt would find no screen to draw on."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform or sys.platform in ("darwin", "win32"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    raise NoDisplayError(
        "Billbridge needs a graphical display and found none (DISPLAY is not set); run it in "
        "a desktop session, or use a command such as 'billbridge sync' for headless work."
    )


def run_gui(context: CliContext) -> int:
    """Starts the desktop app and returns its exit code."""
    check_display()
    from desktop.app import run_app

    return run_app(db_url=context.db_url, demo=context.demo)
