"""Alembic environment: always runs on the connection handed in by desktop.storage.migrate."""

from __future__ import annotations

from alembic import context

from desktop.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Billbridge migrations run through desktop.storage.migrate only.")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
