"""Opening a workspace: engine, sessions, and migrations on start.

A workspace is one database. The default is SQLite in the user's data folder (WAL mode,
foreign keys on); any SQLAlchemy URL works, so a team can point every copy of the app at
one PostgreSQL database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from desktop.errors import WorkspaceError
from desktop.storage import guards
from desktop.storage.migrate import check_and_upgrade

APP_NAME = "Billbridge"


def default_data_dir() -> Path:
    """The user's data folder for Billbridge (created on first use)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_url(*, demo: bool = False) -> str:
    """SQLite URL of the default (or demo) workspace in the user's data folder."""
    name = "demo-workspace.sqlite3" if demo else "workspace.sqlite3"
    return f"sqlite:///{default_data_dir() / name}"


def display_url(url: str | URL) -> str:
    """The URL as it may be shown to a person: never with a password."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "(invalid database URL)"
    if parsed.drivername.startswith("sqlite"):
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """An open workspace database.

    Attributes:
        engine: the SQLAlchemy engine.
        url: the URL it was opened with (may hold a password: show :attr:`display` instead).
        display: the URL as it may be shown on screen or in a log.
    """

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self.display = display_url(url)
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        guards.install(Session)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def session(self) -> Session:
        """A new session; the caller owns it (one session per job and thread)."""
        return self._sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def close(self) -> None:
        """Releases every pooled connection."""
        self.engine.dispose()


def _friendly(error: BaseException, shown: str) -> WorkspaceError:
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return WorkspaceError(f"Billbridge cannot open the workspace database {shown}: {detail}.")


def open_database(url: str | None = None, *, demo: bool = False, migrate: bool = True) -> Database:
    """Opens (and by default migrates) a workspace database.

    Args:
        url: any SQLAlchemy URL; ``None`` means the default SQLite workspace.
        demo: with no URL, use the separate demo workspace instead of the default one.
        migrate: bring the schema up to date (refusing a database newer than this app).

    Raises:
        WorkspaceError: with one sentence saying what is wrong; nothing has been written.
    """
    if url is None:
        default_data_dir().mkdir(parents=True, exist_ok=True)
        url = default_url(demo=demo)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise WorkspaceError(
            f"{url!r} is not a database URL; use for example sqlite:///path/to/workspace.sqlite3 "
            "or postgresql+psycopg://user@host/dbname."
        ) from None
    shown = display_url(parsed)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().parent
        if not folder.is_dir():
            raise WorkspaceError(
                f"Billbridge cannot open the workspace database {shown}: "
                f"the folder {folder} does not exist."
            )
    try:
        engine = create_engine(parsed, pool_pre_ping=not parsed.drivername.startswith("sqlite"))
    except NoSuchModuleError:
        raise WorkspaceError(
            f"Billbridge does not know the database kind {parsed.drivername!r}; "
            "use sqlite:///… or postgresql+psycopg://…."
        ) from None
    except (ArgumentError, ImportError) as error:
        raise _friendly(error, shown) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite" and parsed.database not in (None, "", ":memory:"):
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            connection.execute(text("SELECT 1"))
            inspect(connection).get_table_names()
        if migrate:
            check_and_upgrade(engine, shown)
    except WorkspaceError:
        engine.dispose()
        raise
    except (SQLAlchemyError, DBAPIError, sqlite3.Error, OSError) as error:
        engine.dispose()
        raise _friendly(error, shown) from None
    return Database(engine, parsed)
