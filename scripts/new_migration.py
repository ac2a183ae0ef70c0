"""Writes a new Alembic revision by comparing the models with a database at head.

Usage: .venv/bin/python scripts/new_migration.py "what changed" NNNN
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from desktop.storage.migrate import alembic_config, check_and_upgrade


def main() -> None:
    message, rev_id = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'gen.sqlite3'}")
        check_and_upgrade(engine, "migration scratch database")
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
        engine.dispose()


if __name__ == "__main__":
    main()
