"""Applying each event family to a workspace that has the Zoho connection and its records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from desktop.storage.models import (
    Account,
    AccountSource,
    Connection,
    Invoice,
    Subscription,
    SyncMode,
    User,
    WebhookEvent,
)
from desktop.webhooks.applier import EventApplier, Outcome
from desktop.webhooks.events import parse_event
from desktop.webhooks.store import Incoming, write_events
from tests.unit.webhooks.webhook_seed import (
    CUSTOMER_ID,
    INVOICE_ID,
    SUBSCRIPTION_ID,
    Seeded,
    clock,
    event_body,
)

LATER = "2024-03-09T10:00:00+0000"


def deliver(seeded: Seeded, event_id: str, event_type: str, data: dict[str, Any]) -> Outcome:
    """Stores one event as the receiver would, then applies what is waiting."""
    body = event_body(event_id, event_type, data, LATER)
    parsed = parse_event(body)
    write_events(
        seeded.database,
        [
            Incoming(
                seeded.connection_id,
                None,
                body.decode(),
                event_id=parsed.event_id,
                event_type=parsed.event_type,
                event_time=parsed.event_time,
            )
        ],
        clock,
    )
    outcomes = EventApplier(seeded.database, clock).apply_pending()
    assert len(outcomes) == 1
    return outcomes[0]


def subscription(seeded: Seeded) -> Subscription:
    with seeded.database.session() as session:
        return session.scalars(
            select(Subscription).where(Subscription.source_id == SUBSCRIPTION_ID)
        ).one()


def invoice(seeded: Seeded, source_id: str = INVOICE_ID) -> Invoice:
    with seeded.database.session() as session:
        return session.scalars(select(Invoice).where(Invoice.source_id == source_id)).one()


@pytest.mark.parametrize(
    ("event_type", "zoho_status", "status", "mrr"),
    [
        ("subscription_activation", "live", "active", 9000),
        ("subscription_renewed", "live", "active", 9000),
        ("subscription_cancelled", "cancelled", "cancelled", 0),
        ("subscription_unpaid", "unpaid", "unpaid", 9000),
        ("subscription_expired", "expired", "expired", 0),
        ("subscription_cancellation_scheduled", "non_renewing", "non_renewing", 9000),
    ],
)
def test_subscription_status_events(
    seeded: Seeded, event_type: str, zoho_status: str, status: str, mrr: int
) -> None:
    outcome = deliver(
        seeded,
        f"{event_type}-1",
        event_type,
        {"subscription": {"subscription_id": SUBSCRIPTION_ID, "status": zoho_status}},
    )
    assert outcome.status == "applied"
    row = subscription(seeded)
    assert (row.status, row.mrr_minor) == (status, mrr)
    # a partial body keeps what it does not mention
    assert (row.plan_code, row.plan_name, row.number) == ("team-monthly", "Team", "SUB-00042")
    assert row.account_id == seeded.account_id


def test_subscription_upgraded_changes_plan_and_amount(seeded: Seeded) -> None:
    deliver(
        seeded,
        "up-1",
        "subscription_upgraded",
        {
            "subscription": {
                "subscription_id": SUBSCRIPTION_ID,
                "status": "live",
                "amount": 300.0,
                "plan": {"plan_code": "business-monthly", "name": "Business", "price": 100.0},
                "next_billing_at": "2024-04-09",
            }
        },
    )
    row = subscription(seeded)
    assert (row.plan_code, row.plan_name) == ("business-monthly", "Business")
    assert (row.amount_minor, row.mrr_minor) == (30000, 30000)
    assert row.quantity == 3  # kept from the stored plan object
    assert row.next_billing_at == datetime(2024, 4, 9, tzinfo=UTC)


def test_subscription_created_for_a_new_customer_creates_both(seeded: Seeded) -> None:
    outcome = deliver(
        seeded,
        "new-1",
        "subscription_created",
        {
            "customer": {
                "customer_id": "C-NEW",
                "display_name": "Nordlicht GmbH",
                "email": "ops@nordlicht.example",
                "first_name": "Ida",
                "currency_code": "EUR",
            },
            "subscription": {
                "subscription_id": "S-NEW",
                "subscription_number": "SUB-00100",
                "status": "trial",
                "amount": 50,
                "currency_code": "EUR",
                "interval": 1,
                "interval_unit": "months",
                "plan": {"plan_code": "starter", "name": "Starter"},
            },
        },
    )
    assert outcome.status == "applied"
    with seeded.database.session() as session:
        source = session.scalars(
            select(AccountSource).where(AccountSource.source_id == "C-NEW")
        ).one()
        account = session.get(Account, source.account_id)
        sub = session.scalars(select(Subscription).where(Subscription.source_id == "S-NEW")).one()
        user = session.scalars(select(User).where(User.customer_source_id == "C-NEW")).one()
    assert account is not None
    assert account.name == "Nordlicht GmbH"
    assert (sub.account_id, sub.status, sub.number, sub.plan_code) == (
        account.id,
        "trial",
        "SUB-00100",
        "starter",
    )
    assert (user.account_id, user.email, user.is_primary) == (
        account.id,
        "ops@nordlicht.example",
        True,
    )


def test_customer_update_changes_account_and_primary_user(seeded: Seeded) -> None:
    deliver(
        seeded,
        "cust-1",
        "subscription_renewed",
        {
            "customer": {"customer_id": CUSTOMER_ID, "email": "finance@harbor.example"},
            "subscription": {"subscription_id": SUBSCRIPTION_ID, "status": "live"},
        },
    )
    with seeded.database.session() as session:
        account = session.get(Account, seeded.account_id)
        user = session.scalars(select(User).where(User.source_id == f"{CUSTOMER_ID}:primary")).one()
    assert account is not None
    assert account.email == "finance@harbor.example"
    assert account.name == "Harbor Analytics"
    assert (user.email, user.first_name) == ("finance@harbor.example", "Lena")


@pytest.mark.parametrize(
    ("event_type", "changes", "expected"),
    [
        ("invoice_notification", {}, ("open", 9000, 9000, 0)),
        (
            "invoice_updated",
            {"status": "partially_paid", "balance": 40},
            ("partially_paid", 9000, 4000, 5000),
        ),
        (
            "invoice_updated",
            {"status": "paid", "balance": 0, "last_payment_date": "2024-03-08"},
            ("paid", 9000, 0, 9000),
        ),
        ("invoice_voided", {"status": "void", "balance": 0}, ("void", 9000, 0, 0)),
    ],
)
def test_invoice_events(
    seeded: Seeded,
    event_type: str,
    changes: dict[str, Any],
    expected: tuple[str, int, int, int],
) -> None:
    outcome = deliver(
        seeded, f"{event_type}-x", event_type, {"invoice": {"invoice_id": INVOICE_ID, **changes}}
    )
    assert outcome.status == "applied"
    row = invoice(seeded)
    assert (row.status, row.total_minor, row.amount_due_minor, row.amount_paid_minor) == expected
    assert (row.number, row.due_on) == ("INV-000211", date(2024, 3, 20))
    if expected[0] == "paid":
        assert row.paid_at == datetime(2024, 3, 8, tzinfo=UTC)


def test_new_invoice_with_number_total_due_date(seeded: Seeded) -> None:
    deliver(
        seeded,
        "inv-new",
        "invoice_notification",
        {
            "invoice": {
                "invoice_id": "I-NEW",
                "invoice_number": "INV-000300",
                "status": "sent",
                "customer_id": CUSTOMER_ID,
                "invoice_date": "2024-03-09",
                "due_date": "2024-03-01",
                "currency_code": "EUR",
                "total": 120.5,
                "balance": 120.5,
            }
        },
    )
    row = invoice(seeded, "I-NEW")
    assert (row.number, row.total_minor, row.amount_due_minor) == ("INV-000300", 12050, 12050)
    assert row.status == "overdue"  # sent and past due on the clock's day
    assert row.account_id == seeded.account_id


def test_payment_thankyou_pays_the_invoice(seeded: Seeded) -> None:
    outcome = deliver(
        seeded,
        "pay-1",
        "payment_thankyou",
        {
            "payment": {
                "payment_id": "P1",
                "amount": 90.0,
                "date": "2024-03-09",
                "invoices": [{"invoice_id": INVOICE_ID, "amount_applied": 90.0}],
            }
        },
    )
    assert outcome.status == "applied"
    row = invoice(seeded)
    assert (row.status, row.amount_due_minor, row.amount_paid_minor) == ("paid", 0, 9000)
    assert row.paid_at == datetime(2024, 3, 9, tzinfo=UTC)


def test_partial_payment_then_refund(seeded: Seeded) -> None:
    deliver(
        seeded,
        "pay-2",
        "payment_thankyou",
        {
            "payment": {
                "payment_id": "P2",
                "invoices": [{"invoice_id": INVOICE_ID, "balance_amount": 30.0}],
            }
        },
    )
    assert invoice(seeded).status == "partially_paid"
    assert invoice(seeded).amount_due_minor == 3000
    deliver(
        seeded,
        "ref-2",
        "payment_refunded",
        {
            "payment": {
                "payment_id": "P2",
                "invoices": [{"invoice_id": INVOICE_ID, "amount_applied": 60.0}],
            }
        },
    )
    row = invoice(seeded)
    assert (row.status, row.amount_due_minor, row.amount_paid_minor) == ("open", 9000, 0)


def test_payment_declined_moves_no_money(seeded: Seeded) -> None:
    outcome = deliver(
        seeded,
        "dec-1",
        "payment_declined",
        {
            "payment": {
                "payment_id": "P3",
                "invoices": [{"invoice_id": INVOICE_ID, "amount_applied": 90.0}],
            }
        },
    )
    assert outcome.status == "ignored"
    assert outcome.reason is not None
    assert "declined" in outcome.reason
    assert invoice(seeded).amount_due_minor == 9000


def test_payment_with_its_invoice_applies_the_invoice(seeded: Seeded) -> None:
    deliver(
        seeded,
        "pay-inv",
        "payment_thankyou",
        {
            "payment": {"payment_id": "P4"},
            "invoice": {"invoice_id": INVOICE_ID, "status": "paid", "balance": 0},
        },
    )
    assert invoice(seeded).status == "paid"


def test_reminder_without_objects_is_ignored(seeded: Seeded) -> None:
    outcome = deliver(seeded, "rem-1", "card_expiring", {})
    assert outcome.status == "ignored"


def test_an_older_event_does_not_overwrite_newer_data(seeded: Seeded) -> None:
    outcome = deliver(
        seeded,
        "old-1",
        "subscription_cancelled",
        {
            "subscription": {
                "subscription_id": SUBSCRIPTION_ID,
                "status": "cancelled",
                "updated_time": "2024-01-01T00:00:00+0000",
            }
        },
    )
    assert outcome.status == "ignored"
    assert outcome.reason is not None
    assert "newer in the workspace" in outcome.reason
    assert subscription(seeded).status == "active"


def test_import_only_connection_keeps_existing_records(seeded: Seeded) -> None:
    with seeded.database.transaction() as session:
        connection = session.get(Connection, seeded.connection_id)
        assert connection is not None
        connection.mode = SyncMode.IMPORT_ONLY.value
    outcome = deliver(
        seeded,
        "io-1",
        "subscription_cancelled",
        {"subscription": {"subscription_id": SUBSCRIPTION_ID, "status": "cancelled"}},
    )
    assert outcome.status == "ignored"
    assert subscription(seeded).status == "active"


def test_unknown_status_fails_and_changes_nothing(seeded: Seeded) -> None:
    outcome = deliver(
        seeded,
        "bad-1",
        "subscription_renewed",
        {
            "customer": {"customer_id": CUSTOMER_ID, "email": "changed@harbor.example"},
            "subscription": {"subscription_id": SUBSCRIPTION_ID, "status": "zombie"},
        },
    )
    assert outcome.status == "failed"
    assert outcome.reason is not None
    assert "unknown status (zombie)" in outcome.reason
    with seeded.database.session() as session:
        source = session.scalars(
            select(AccountSource).where(AccountSource.source_id == CUSTOMER_ID)
        ).one()
        event = session.scalars(select(WebhookEvent)).one()
    # the customer part was written before the failure, and rolled back with it
    assert source.email == "lena@harbor.example"
    assert (event.status, event.reason) == ("failed", outcome.reason)
