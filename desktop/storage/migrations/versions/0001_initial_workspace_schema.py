"""initial workspace schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import desktop.storage.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("company", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("identifier", name=op.f("uq_accounts_identifier")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_accounts_name"), ["name"], unique=False)

    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "settings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("secret_ref", sa.String(length=64), nullable=False),
        sa.Column("secret_hint", sa.String(length=8), nullable=True),
        sa.Column("created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("name", name=op.f("uq_connections_name")),
        sa.UniqueConstraint("secret_ref", name=op.f("uq_connections_secret_ref")),
    )
    op.create_table(
        "workspace_settings",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_workspace_settings")),
    )
    op.create_table(
        "account_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("edited_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_edits_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_edits")),
        sa.UniqueConstraint("account_id", "field", name=op.f("uq_account_edits_account_id")),
    )
    op.create_table(
        "account_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("company", sa.String(length=255), nullable=True),
        sa.Column(
            "source_created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "source_updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("deleted_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synced_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_sources_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_account_sources_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_sources")),
        sa.UniqueConstraint(
            "connection_id", "source_id", name=op.f("uq_account_sources_connection_id")
        ),
    )
    with op.batch_alter_table("account_sources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_account_sources_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "invoices",
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("customer_source_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_source_id", sa.String(length=255), nullable=True),
        sa.Column("number", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_due_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid_minor", sa.BigInteger(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("paid_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column(
            "source_created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "source_updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("deleted_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synced_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_invoices_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_invoices_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("connection_id", "source_id", name=op.f("uq_invoices_connection_id")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_invoices_status", ["status"], unique=False)

    op.create_table(
        "plans",
        sa.Column("code", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("interval_unit", sa.String(length=16), nullable=True),
        sa.Column("interval_count", sa.Integer(), nullable=True),
        sa.Column("price_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column(
            "source_created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "source_updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("deleted_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synced_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_plans_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("connection_id", "source_id", name=op.f("uq_plans_connection_id")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("customer_source_id", sa.String(length=255), nullable=True),
        sa.Column("number", sa.String(length=255), nullable=True),
        sa.Column("plan_code", sa.String(length=255), nullable=True),
        sa.Column("plan_name", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("mrr_minor", sa.BigInteger(), nullable=False),
        sa.Column("interval_unit", sa.String(length=16), nullable=True),
        sa.Column("interval_count", sa.Integer(), nullable=True),
        sa.Column("started_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trial_ends_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "current_term_ends_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "next_billing_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("cancelled_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("has_payment_method", sa.Boolean(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column(
            "source_created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "source_updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("deleted_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synced_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_subscriptions_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_subscriptions_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "connection_id", "source_id", name=op.f("uq_subscriptions_connection_id")
        ),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subscriptions_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index("ix_subscriptions_status", ["status"], unique=False)

    op.create_table(
        "sync_cursors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sync_cursors_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_cursors")),
        sa.UniqueConstraint("connection_id", "stream", name=op.f("uq_sync_cursors_connection_id")),
    )
    op.create_table(
        "sync_locks",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("acquired_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "progress",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sync_locks_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", name=op.f("pk_sync_locks")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("api_calls", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sync_runs_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_runs_connection_id"), ["connection_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column(
            "source_created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "source_updated_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("deleted_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synced_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_users_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_users_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("connection_id", "source_id", name=op.f("uq_users_connection_id")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_users_email"), ["email"], unique=False)

    op.create_table(
        "sync_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", desktop.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sync_errors_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sync_runs.id"],
            name=op.f("fk_sync_errors_run_id_sync_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_errors")),
    )
    with op.batch_alter_table("sync_errors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_errors_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sync_errors_run_id"), ["run_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sync_errors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_errors_run_id"))
        batch_op.drop_index(batch_op.f("ix_sync_errors_connection_id"))

    op.drop_table("sync_errors")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_email"))
        batch_op.drop_index(batch_op.f("ix_users_account_id"))

    op.drop_table("users")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_runs_connection_id"))

    op.drop_table("sync_runs")
    op.drop_table("sync_locks")
    op.drop_table("sync_cursors")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_status")
        batch_op.drop_index(batch_op.f("ix_subscriptions_account_id"))

    op.drop_table("subscriptions")
    op.drop_table("plans")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index("ix_invoices_status")
        batch_op.drop_index(batch_op.f("ix_invoices_account_id"))

    op.drop_table("invoices")
    with op.batch_alter_table("account_sources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_sources_account_id"))

    op.drop_table("account_sources")
    op.drop_table("account_edits")
    op.drop_table("workspace_settings")
    op.drop_table("connections")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_name"))
        batch_op.drop_index(batch_op.f("ix_accounts_email"))

    op.drop_table("accounts")
