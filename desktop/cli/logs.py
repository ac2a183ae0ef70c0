"""Where a command's log records go: the log file, never the terminal.

The core logs what went wrong in detail (``log.exception`` with the traceback, asyncio's
"Task exception was never retrieved"). Without a handler Python prints those records on
standard error, tracebacks and SQL included, around the one sentence the command prints.
:func:`log_to_file` sends them to the same rotating ``billbridge.log`` as the desktop app
(so "see the log" means one file), and the terminal shows only the sentence.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

import platformdirs

from desktop.storage.database import APP_NAME

_handler: RotatingFileHandler | None = None


def log_to_file() -> Path | None:
    """Sends log records (INFO and above) to ``billbridge.log``; returns its path.

    When the log folder cannot be created the records are dropped (``None``): a command
    never fails for want of a log.
    """
    global _handler
    if _handler is not None:
        return Path(_handler.baseFilename)
    root = logging.getLogger()
    try:
        folder = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
        folder.mkdir(parents=True, exist_ok=True)
        _handler = RotatingFileHandler(
            folder / "billbridge.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        root.addHandler(logging.NullHandler())
        return None
    _handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(_handler)
    root.setLevel(logging.INFO)
    # httpx logs request URLs at INFO, and a URL may carry a credential (Zoho's token refresh)
    for noisy in ("httpx", "httpcore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return Path(_handler.baseFilename)


def log_file() -> Path | None:
    """The log file :func:`log_to_file` opened, if any."""
    return Path(_handler.baseFilename) if _handler is not None else None
