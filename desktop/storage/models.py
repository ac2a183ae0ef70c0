"""What Billbridge keeps: the typed ORM model of a workspace.

Vocabulary (used everywhere, UI included): a **Connection** is one configured billing
system or CRM; an **Account** is one customer organisation, possibly known to several
connections (each as an :class:`AccountSource`); a **User** is a person at an account;
**Plan**, **Subscription** and **Invoice** are what the billing systems say they are.

Rules the schema enforces:

* every synced record remembers its connection and its source id, unique together, and
  keeps the raw source payload (``raw``) so fields the schema does not model are not lost;
* money is integer minor units plus an ISO currency code, never a float;
* timestamps are timezone-aware UTC (:class:`~desktop.storage.types.UTCDateTime`);
* an account's ``identifier`` never changes once set (see :mod:`desktop.storage.guards`);
* secrets are never stored here: a connection only holds ``secret_ref``, the name of its
  entry in the system keychain.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from desktop.storage.types import JSONType, UTCDateTime
from desktop.timeutil import utc_now

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming convention for migrations."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


class ConnectionKind(enum.StrEnum):
    """The systems Billbridge can connect to."""

    ZOHO_BILLING = "zoho-billing"
    RECURLY = "recurly"
    CHARGEBEE = "chargebee"
    ZOHO_CRM = "zoho-crm"


class SyncMode(enum.StrEnum):
    """How a billing connection keeps the workspace up to date."""

    DAILY = "daily"  # every day at 00:00 UTC; overwrites manual edits of synced attributes
    IMPORT_ONLY = "import-only"  # once; later runs add new records only, manual edits kept


class ConnectionStatus(enum.StrEnum):
    """Whether a connection's scheduled runs happen."""

    ACTIVE = "active"
    PAUSED = "paused"  # schedule stopped, manual runs allowed
    DISABLED = "disabled"  # no runs at all until reactivated


class RunStatus(enum.StrEnum):
    """The outcome of a sync run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # finished, but some records failed (see its sync errors)
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the process died; found and closed by a later run


def _new_ref() -> str:
    return uuid.uuid4().hex


class Connection(Base):
    """One configured external system. Holds settings, never a secret."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mode: Mapped[str] = mapped_column(String(16), default=SyncMode.DAILY.value)
    status: Mapped[str] = mapped_column(String(16), default=ConnectionStatus.ACTIVE.value)
    secret_ref: Mapped[str] = mapped_column(String(64), unique=True, default=_new_ref)
    secret_hint: Mapped[str | None] = mapped_column(String(8))  # last four characters only
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Account(Base):
    """A customer organisation, merged across connections by its identifier."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    company: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    sources: Mapped[list[AccountSource]] = relationship(
        back_populates="account", cascade="all, delete-orphan"
    )
    edits: Mapped[list[AccountEdit]] = relationship(
        back_populates="account", cascade="all, delete-orphan"
    )


class AccountSource(Base):
    """An account as one connection knows it (a billing customer or CRM record)."""

    __tablename__ = "account_sources"
    __table_args__ = (UniqueConstraint("connection_id", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    identifier: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    company: Mapped[str | None] = mapped_column(String(255))
    source_created_at: Mapped[datetime | None]
    source_updated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    synced_at: Mapped[datetime] = mapped_column(default=utc_now)

    account: Mapped[Account] = relationship(back_populates="sources")


class AccountEdit(Base):
    """A local manual edit of an account attribute, kept apart from synced values."""

    __tablename__ = "account_edits"
    __table_args__ = (UniqueConstraint("account_id", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(Text)
    edited_at: Mapped[datetime] = mapped_column(default=utc_now)

    account: Mapped[Account] = relationship(back_populates="edits")


class _SourceRecord:
    """Columns every synced record has: its connection, source id and raw payload."""

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(255))
    source_created_at: Mapped[datetime | None]
    source_updated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    synced_at: Mapped[datetime] = mapped_column(default=utc_now)


class User(_SourceRecord, Base):
    """A person at an account (a billing contact person or the customer's own contact)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("connection_id", "source_id"),
        Index("ix_users_customer", "connection_id", "customer_source_id"),
    )

    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(64))
    is_primary: Mapped[bool] = mapped_column(default=False)
    # the billing customer it belongs to, so it can be linked once that account is known
    customer_source_id: Mapped[str | None] = mapped_column(String(255))


class Plan(_SourceRecord, Base):
    """A price plan as a billing system defines it."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("connection_id", "source_id"),)

    code: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    interval_unit: Mapped[str | None] = mapped_column(String(16))  # day, week, month, year
    interval_count: Mapped[int | None] = mapped_column(Integer)
    price_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str | None] = mapped_column(String(32))


class Subscription(_SourceRecord, Base):
    """A subscription, with its recurring amount normalised to a month (``mrr_minor``)."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("connection_id", "source_id"),
        Index("ix_subscriptions_status", "status"),
        Index("ix_subscriptions_customer", "connection_id", "customer_source_id"),
    )

    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    customer_source_id: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(255))
    plan_code: Mapped[str | None] = mapped_column(String(255))
    plan_name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)  # per billing period
    mrr_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    interval_unit: Mapped[str | None] = mapped_column(String(16))
    interval_count: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None]
    trial_ends_at: Mapped[datetime | None]
    current_term_ends_at: Mapped[datetime | None]
    next_billing_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    has_payment_method: Mapped[bool | None]
    # the account identifier this subscription carries, when the connection's identifiers
    # come from a subscription custom field (see desktop.sync.identity)
    account_identifier: Mapped[str | None] = mapped_column(String(255))


class Invoice(_SourceRecord, Base):
    """An invoice with what it totals, what was paid and what is still due."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("connection_id", "source_id"),
        Index("ix_invoices_status", "status"),
        Index("ix_invoices_customer", "connection_id", "customer_source_id"),
    )

    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    customer_source_id: Mapped[str | None] = mapped_column(String(255))
    subscription_source_id: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))  # paid, open, overdue, partially_paid, ...
    currency: Mapped[str | None] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_due_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    paid_at: Mapped[datetime | None]


class SyncRun(Base):
    """One run of a connection's sync: the import history."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # incremental, full, fetch
    trigger: Mapped[str] = mapped_column(String(16))  # manual, scheduled, cli, webhook
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING.value)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]
    fetched: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    api_calls: Mapped[int] = mapped_column(default=0)
    owner: Mapped[str | None] = mapped_column(String(255))  # host:pid of the process running it
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class SyncError(Base):
    """One record that failed to sync, with the reason as a sentence."""

    __tablename__ = "sync_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_runs.id", ondelete="SET NULL"), index=True
    )
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    stream: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    resolved_at: Mapped[datetime | None]


class PendingAccount(Base):
    """A billing customer whose account identifier is not known yet (see desktop.sync.identity).

    It becomes an Account as soon as an identifier appears (its custom field is filled in,
    or one of its subscriptions carries the identifier field); ``record`` keeps the
    normalised customer until then.
    """

    __tablename__ = "pending_accounts"
    __table_args__ = (UniqueConstraint("connection_id", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    source_id: Mapped[str] = mapped_column(String(255))
    record: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class SyncCursor(Base):
    """Where a connection's stream got to, committed with each page's rows."""

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(64))
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class SyncLock(Base):
    """Holds a connection's single running sync, across processes and machines.

    A row exists while a run holds the lock; its heartbeat is refreshed while it runs, so
    a lock left behind by a killed process can be recognised as stale and taken over.
    """

    __tablename__ = "sync_locks"

    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(String(255))
    run_id: Mapped[int | None] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(16))
    acquired_at: Mapped[datetime] = mapped_column(default=utc_now)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utc_now)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CrmLink(Base):
    """A workspace record linked to a Zoho CRM record, per CRM connection and CRM module.

    ``local_type`` says what the CRM record stands for here: an ``account`` (a CRM Account
    pulled as an Account, or a CRM Contact a customer was pushed to), a ``user`` (a CRM
    Contact pulled as a person of an account), a ``subscription`` (a Deal) or a
    ``company`` (a CRM Account a customer's company was matched or pushed to; ``local_key``
    holds the company name in lower case). ``pushed_hash`` fingerprints what was last
    written to the CRM, so later runs push only what changed.
    """

    __tablename__ = "crm_links"
    __table_args__ = (
        UniqueConstraint("connection_id", "module", "crm_id", "local_type"),
        Index("ix_crm_links_local", "connection_id", "local_type", "local_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    module: Mapped[str] = mapped_column(String(32))  # Accounts, Contacts, Deals
    crm_id: Mapped[str] = mapped_column(String(32))
    local_type: Mapped[str] = mapped_column(String(16))  # account, user, subscription, company
    local_id: Mapped[int | None] = mapped_column(Integer)
    local_key: Mapped[str | None] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(8), default="push")  # pull, push, manual
    pushed_hash: Mapped[str | None] = mapped_column(String(64))
    pushed_at: Mapped[datetime | None]
    pulled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class WorkspaceSetting(Base):
    """A workspace-wide setting shared by every copy of the app on this database."""

    __tablename__ = "workspace_settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


# --------------------------------------------------------------------- customer health
# Written by desktop.health: what the billing data means. Settings (reporting currency,
# exchange rates, score weights) live in WorkspaceSetting under keys ``health.*``.


class AccountHealth(Base):
    """An account's current money totals and financial health, as of the last recompute.

    Money is in the reporting currency (``currency``) at the rates set when it was
    computed; amounts in a currency without a rate are left out and ``mrr_incomplete`` or
    ``due_incomplete`` says so.
    """

    __tablename__ = "account_health"
    __table_args__ = (Index("ix_account_health_band", "band"),)

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    mrr_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    mrr_incomplete: Mapped[bool] = mapped_column(default=False)
    amount_due_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    overdue_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    due_incomplete: Mapped[bool] = mapped_column(default=False)
    overdue_invoices: Mapped[int] = mapped_column(Integer, default=0)
    days_overdue: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))  # the account's subscription state
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(8))  # green, amber, red
    overdue_points: Mapped[int] = mapped_column(Integer)
    amount_due_points: Mapped[int] = mapped_column(Integer)
    state_points: Mapped[int] = mapped_column(Integer)
    trend_points: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(default=utc_now)


class HealthScore(Base):
    """An account's financial health score on a day (written when it changes)."""

    __tablename__ = "health_scores"
    __table_args__ = (Index("ix_health_scores_day", "day"),)

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(8))
    overdue_points: Mapped[int] = mapped_column(Integer)
    amount_due_points: Mapped[int] = mapped_column(Integer)
    state_points: Mapped[int] = mapped_column(Integer)
    trend_points: Mapped[int] = mapped_column(Integer)


class HealthDay(Base):
    """Workspace-wide health on a day: accounts per band and MRR (for the trend charts)."""

    __tablename__ = "health_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    mrr_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    green: Mapped[int] = mapped_column(Integer, default=0)
    amber: Mapped[int] = mapped_column(Integer, default=0)
    red: Mapped[int] = mapped_column(Integer, default=0)


class MrrSnapshot(Base):
    """An account's MRR in one currency as recorded during a month (the last write wins).

    Written by every recompute for the current month, so movements for months recorded
    this way are exact rather than derived from subscription dates.
    """

    __tablename__ = "mrr_snapshots"
    __table_args__ = (Index("ix_mrr_snapshots_month", "month"),)

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # first day of the month
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    mrr_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class AlertRule(Base):
    """A risk alert rule: a condition (JSON, see desktop.health.conditions) and its state."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    enabled: Mapped[bool] = mapped_column(default=True)
    last_evaluated_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class Alert(Base):
    """One account matching one alert rule, from when it became true until it is not.

    ``open_key`` is ``"<rule>:<account>"`` while the alert is open and ``NULL`` once
    resolved, so the database itself refuses a second open alert for the same pair.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(16))  # invoice, subscription, account
    subject_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(default=utc_now)
    resolved_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]


class Segment(Base):
    """A saved filter over accounts (a condition, see desktop.health.conditions)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


# ------------------------------------------------------------------------------ webhooks
# Written by desktop.webhooks: billing events pushed by the billing system as they happen.


class WebhookReceiver(Base):
    """An address a billing system posts events to, bound to one connection.

    Its secret token (for the ``Authorization: Basic …`` header and the optional HMAC
    signature) lives in the system keychain under ``secret_ref``, never here.
    """

    __tablename__ = "webhook_receivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)  # the last part of its URL path
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    secret_ref: Mapped[str] = mapped_column(String(64), unique=True, default=_new_ref)
    secret_hint: Mapped[str | None] = mapped_column(String(8))
    verify_signature: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)


class WebhookEvent(Base):
    """One event a receiver accepted (or rejected as malformed), kept as it arrived.

    ``status`` is ``received`` (stored, not applied yet), ``applied``, ``ignored``
    (nothing to change), ``failed`` (``reason`` says why; replayable) or ``rejected``
    (answered 400; ``reason`` says why). ``event_id`` is unique per connection, so a
    repeated delivery is acknowledged without a second row.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "event_id"),
        Index("ix_webhook_events_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    receiver_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_receivers.id", ondelete="SET NULL")
    )
    event_id: Mapped[str | None] = mapped_column(String(255))
    event_type: Mapped[str | None] = mapped_column(String(64))
    event_time: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utc_now)
    applied_at: Mapped[datetime | None]
