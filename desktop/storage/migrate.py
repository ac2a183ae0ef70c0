"""Schema migrations with Alembic, run in code when a workspace opens.

The migration scripts live in ``desktop/storage/migrations``. A workspace stamped with a
revision this copy of Billbridge does not know was written by a newer version: it is
refused with a clear sentence and left untouched.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from desktop.errors import WorkspaceError

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision this version of Billbridge knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision a database is stamped with, or ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_and_upgrade(engine: Engine, shown: str) -> None:
    """Refuses a newer database, then upgrades to head inside one transaction.

    Raises:
        WorkspaceError: when the database was written by a newer Billbridge.
    """
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    current = current_revision(engine)
    if current is not None:
        known = {revision.revision for revision in script.walk_revisions()}
        if current not in known:
            raise WorkspaceError(
                f"The workspace {shown} was created by a newer version of Billbridge "
                f"(schema {current}); update Billbridge to open it. Nothing was changed."
            )
        if current == script.get_current_head():
            return
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
