"""Seeding helpers: a Zoho Billing connection with its synced records, and event bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from desktop.storage.database import Database
from desktop.storage.models import (
    Account,
    AccountSource,
    Connection,
    Invoice,
    Subscription,
    User,
)
from desktop.webhooks.auth import authorization_header

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)

CUSTOMER_ID = "460000000054001"
SUBSCRIPTION_ID = "460000000079200"
INVOICE_ID = "460000000090011"

SUBSCRIPTION_RAW: dict[str, Any] = {
    "subscription_id": SUBSCRIPTION_ID,
    "subscription_number": "SUB-00042",
    "name": "Analytics-Team",
    "status": "live",
    "amount": 90.0,
    "currency_code": "EUR",
    "interval": 1,
    "interval_unit": "months",
    "customer_id": CUSTOMER_ID,
    "plan": {"plan_code": "team-monthly", "name": "Team", "quantity": 3, "price": 30.0},
    "activated_at": "2024-01-05",
    "current_term_ends_at": "2024-03-04",
    "next_billing_at": "2024-03-05",
    "created_time": "2024-01-05T09:00:00+0100",
    "updated_time": "2024-02-05T00:01:10+0100",
}

INVOICE_RAW: dict[str, Any] = {
    "invoice_id": INVOICE_ID,
    "invoice_number": "INV-000211",
    "status": "sent",
    "customer_id": CUSTOMER_ID,
    "invoice_date": "2024-03-05",
    "due_date": "2024-03-20",
    "currency_code": "EUR",
    "total": 90.0,
    "balance": 90.0,
    "subscriptions": [{"subscription_id": SUBSCRIPTION_ID}],
    "created_time": "2024-03-05T00:01:09+0100",
    "updated_time": "2024-03-05T00:01:09+0100",
}


def clock() -> datetime:
    """The tests' fixed clock."""
    return NOW


@dataclass
class Seeded:
    """What the seeded workspace holds.

    Attributes:
        database: the workspace.
        connection_id: the Zoho Billing connection.
        account_id: the account of customer ``CUSTOMER_ID``.
        receiver: the receiver's name.
        token: its token.
    """

    database: Database
    connection_id: int
    account_id: int
    receiver: str
    token: str

    @property
    def authorization(self) -> str:
        """The receiver's Authorization header value."""
        return authorization_header(self.receiver, self.token)


def seed_connection(database: Database, name: str = "Acme Zoho") -> tuple[int, int]:
    """A Zoho Billing connection with one account, user, subscription and invoice."""
    with database.transaction() as session:
        connection = Connection(name=name, kind="zoho-billing", settings={"org_id": "1"})
        session.add(connection)
        session.flush()
        account = Account(identifier=CUSTOMER_ID, name="Harbor Analytics", currency="EUR")
        session.add(account)
        session.flush()
        session.add(
            AccountSource(
                connection_id=connection.id,
                source_id=CUSTOMER_ID,
                account_id=account.id,
                identifier=CUSTOMER_ID,
                name="Harbor Analytics",
                email="lena@harbor.example",
                raw={
                    "customer_id": CUSTOMER_ID,
                    "display_name": "Harbor Analytics",
                    "first_name": "Lena",
                    "last_name": "Vos",
                    "email": "lena@harbor.example",
                    "currency_code": "EUR",
                    "updated_time": "2024-02-01T08:00:02+0100",
                },
                source_updated_at=datetime(2024, 2, 1, 7, 0, 2, tzinfo=UTC),
            )
        )
        session.add(
            User(
                connection_id=connection.id,
                source_id=f"{CUSTOMER_ID}:primary",
                account_id=account.id,
                first_name="Lena",
                last_name="Vos",
                email="lena@harbor.example",
                is_primary=True,
            )
        )
        session.add(
            Subscription(
                connection_id=connection.id,
                source_id=SUBSCRIPTION_ID,
                account_id=account.id,
                customer_source_id=CUSTOMER_ID,
                number="SUB-00042",
                plan_code="team-monthly",
                plan_name="Team",
                status="active",
                quantity=3,
                currency="EUR",
                amount_minor=9000,
                mrr_minor=9000,
                interval_unit="month",
                interval_count=1,
                raw=SUBSCRIPTION_RAW,
                source_updated_at=datetime(2024, 2, 4, 23, 1, 10, tzinfo=UTC),
            )
        )
        session.add(
            Invoice(
                connection_id=connection.id,
                source_id=INVOICE_ID,
                account_id=account.id,
                customer_source_id=CUSTOMER_ID,
                subscription_source_id=SUBSCRIPTION_ID,
                number="INV-000211",
                status="open",
                currency="EUR",
                total_minor=9000,
                amount_due_minor=9000,
                amount_paid_minor=0,
                issued_on=date(2024, 3, 5),
                due_on=date(2024, 3, 20),
                raw=INVOICE_RAW,
                source_updated_at=datetime(2024, 3, 4, 23, 1, 9, tzinfo=UTC),
            )
        )
        return connection.id, account.id


def event_body(
    event_id: str, event_type: str, data: dict[str, Any], event_time: str | None = None
) -> bytes:
    """A Default-payload webhook body."""
    document: dict[str, Any] = {"event_id": event_id, "event_type": event_type, "data": data}
    if event_time is not None:
        document["event_time"] = event_time
    return json.dumps(document).encode()
