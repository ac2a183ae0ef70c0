"""customer health tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import desktop.storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "condition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "last_evaluated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_rules_name")),
    )
    op.create_table(
        "health_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("mrr_minor", sa.BigInteger(), nullable=False),
        sa.Column("green", sa.Integer(), nullable=False),
        sa.Column("amber", sa.Integer(), nullable=False),
        sa.Column("red", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_health_days")),
    )
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "condition",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_table(
        "account_health",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("mrr_minor", sa.BigInteger(), nullable=False),
        sa.Column("mrr_incomplete", sa.Boolean(), nullable=False),
        sa.Column("amount_due_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("overdue_minor", sa.BigInteger(), nullable=False),
        sa.Column("due_incomplete", sa.Boolean(), nullable=False),
        sa.Column("overdue_invoices", sa.Integer(), nullable=False),
        sa.Column("days_overdue", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=8), nullable=False),
        sa.Column("overdue_points", sa.Integer(), nullable=False),
        sa.Column("amount_due_points", sa.Integer(), nullable=False),
        sa.Column("state_points", sa.Integer(), nullable=False),
        sa.Column("trend_points", sa.Integer(), nullable=False),
        sa.Column("computed_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_health_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_health")),
    )
    with op.batch_alter_table("account_health", schema=None) as batch_op:
        batch_op.create_index("ix_account_health_band", ["band"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("open_key", sa.String(length=64), nullable=True),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raised_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "acknowledged_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("snoozed_until", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_alerts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rules.id"],
            name=op.f("fk_alerts_rule_id_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("open_key", name=op.f("uq_alerts_open_key")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_rule_id"), ["rule_id"], unique=False)

    op.create_table(
        "health_scores",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=8), nullable=False),
        sa.Column("overdue_points", sa.Integer(), nullable=False),
        sa.Column("amount_due_points", sa.Integer(), nullable=False),
        sa.Column("state_points", sa.Integer(), nullable=False),
        sa.Column("trend_points", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_health_scores_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_health_scores")),
    )
    with op.batch_alter_table("health_scores", schema=None) as batch_op:
        batch_op.create_index("ix_health_scores_day", ["day"], unique=False)

    op.create_table(
        "mrr_snapshots",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("mrr_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_mrr_snapshots_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "month", "currency", name=op.f("pk_mrr_snapshots")),
    )
    with op.batch_alter_table("mrr_snapshots", schema=None) as batch_op:
        batch_op.create_index("ix_mrr_snapshots_month", ["month"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mrr_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_mrr_snapshots_month")

    op.drop_table("mrr_snapshots")
    with op.batch_alter_table("health_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_health_scores_day")

    op.drop_table("health_scores")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_rule_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_account_id"))

    op.drop_table("alerts")
    with op.batch_alter_table("account_health", schema=None) as batch_op:
        batch_op.drop_index("ix_account_health_band")

    op.drop_table("account_health")
    op.drop_table("segments")
    op.drop_table("health_days")
    op.drop_table("alert_rules")
