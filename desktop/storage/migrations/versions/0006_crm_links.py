"""crm links

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

Zoho CRM: which workspace record each CRM record stands for (per connection and CRM
module), and a fingerprint of what was last pushed so later runs push only changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import desktop.storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "crm_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("module", sa.String(length=32), nullable=False),
        sa.Column("crm_id", sa.String(length=32), nullable=False),
        sa.Column("local_type", sa.String(length=16), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=True),
        sa.Column("local_key", sa.String(length=255), nullable=True),
        sa.Column("origin", sa.String(length=8), nullable=False),
        sa.Column("pushed_hash", sa.String(length=64), nullable=True),
        sa.Column("pushed_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pulled_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_crm_links_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_links")),
        sa.UniqueConstraint(
            "connection_id",
            "module",
            "crm_id",
            "local_type",
            name=op.f("uq_crm_links_connection_id"),
        ),
    )
    with op.batch_alter_table("crm_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crm_links_local", ["connection_id", "local_type", "local_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("crm_links", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_links_local")

    op.drop_table("crm_links")
