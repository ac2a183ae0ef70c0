"""account health keeps no paid total

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

The total paid needs every invoice, so it is computed when a condition asks for it
(desktop.health.conditions) rather than on every recompute.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_health", schema=None) as batch_op:
        batch_op.drop_column("amount_paid_minor")


def downgrade() -> None:
    with op.batch_alter_table("account_health", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("amount_paid_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
