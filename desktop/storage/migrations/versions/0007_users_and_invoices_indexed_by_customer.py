"""users and invoices indexed by customer for per-page linking

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23

The sync engine now links users and invoices (like subscriptions) to their account in
the transaction that creates the account's source, through an index on
``(connection_id, customer_source_id)``, instead of one update of every unlinked row at
the end of each run. Rows a run killed before this version left unlinked are linked once
here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TABLES = ("users", "subscriptions", "invoices")


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invoices_customer", ["connection_id", "customer_source_id"], unique=False
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            "ix_users_customer", ["connection_id", "customer_source_id"], unique=False
        )
    for table in _TABLES:
        op.execute(
            sa.text(
                f"UPDATE {table} SET account_id = ("
                "SELECT s.account_id FROM account_sources s "
                f"WHERE s.connection_id = {table}.connection_id "
                f"AND s.source_id = {table}.customer_source_id) "
                "WHERE account_id IS NULL AND customer_source_id IS NOT NULL "
                "AND EXISTS (SELECT 1 FROM account_sources s "
                f"WHERE s.connection_id = {table}.connection_id "
                f"AND s.source_id = {table}.customer_source_id)"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_customer")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_customer")
