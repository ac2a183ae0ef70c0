"""webhook receivers and events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import desktop.storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_receivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("secret_ref", sa.String(length=64), nullable=False),
        sa.Column("secret_hint", sa.String(length=8), nullable=True),
        sa.Column("verify_signature", sa.Boolean(), nullable=False),
        sa.Column("created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_webhook_receivers_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_receivers")),
        sa.UniqueConstraint("name", name=op.f("uq_webhook_receivers_name")),
        sa.UniqueConstraint("secret_ref", name=op.f("uq_webhook_receivers_secret_ref")),
    )
    with op.batch_alter_table("webhook_receivers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_receivers_connection_id"), ["connection_id"], unique=False
        )

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("receiver_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("event_type", sa.String(length=64), nullable=True),
        sa.Column("event_time", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "meta",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "changes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("received_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_webhook_events_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["receiver_id"],
            ["webhook_receivers.id"],
            name=op.f("fk_webhook_events_receiver_id_webhook_receivers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint(
            "connection_id", "event_id", name=op.f("uq_webhook_events_connection_id")
        ),
    )
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_events_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index("ix_webhook_events_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_events_status")
        batch_op.drop_index(batch_op.f("ix_webhook_events_connection_id"))

    op.drop_table("webhook_events")
    with op.batch_alter_table("webhook_receivers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_receivers_connection_id"))

    op.drop_table("webhook_receivers")
