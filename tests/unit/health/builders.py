"""Small builders for hand-written health fixtures (money in minor units)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desktop.storage.models import Account, AccountSource, Connection, Invoice, Subscription


def at(text: str) -> datetime:
    """``"2026-05-10"`` or ``"2026-05-10 12:00"`` as aware UTC."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC)


class World:
    """Adds connections, accounts, subscriptions and invoices with terse defaults."""

    def __init__(self, session: Session) -> None:
        self.session = session
        existing = session.scalar(select(Connection).where(Connection.name == "Main Chargebee"))
        self.connection = existing or self.add_connection("Main Chargebee")
        self._n = int(session.scalar(select(func.count()).select_from(Subscription)) or 0) + int(
            session.scalar(select(func.count()).select_from(Invoice)) or 0
        )

    def add_connection(self, name: str) -> Connection:
        connection = Connection(name=name, kind="chargebee", settings={})
        self.session.add(connection)
        self.session.flush()
        return connection

    def _next(self) -> int:
        self._n += 1
        return self._n

    def account(self, name: str, connection: Connection | None = None) -> Account:
        account = Account(identifier=f"id-{name}", name=name)
        self.session.add(account)
        self.session.flush()
        self.session.add(
            AccountSource(
                connection_id=(connection or self.connection).id,
                source_id=f"cus-{name}",
                account_id=account.id,
                identifier=account.identifier,
            )
        )
        return account

    def subscription(
        self,
        account: Account,
        status: str,
        mrr: int,
        started: str | None,
        *,
        currency: str = "USD",
        cancelled: str | None = None,
        unit: str = "month",
        amount: int | None = None,
        **extra: Any,
    ) -> Subscription:
        counted = status in ("active", "non_renewing", "unpaid")
        sub = Subscription(
            connection_id=self.connection.id,
            source_id=f"sub-{self._next()}",
            account_id=account.id,
            status=status,
            currency=currency,
            mrr_minor=mrr if counted else 0,
            amount_minor=amount if amount is not None else mrr,
            interval_unit=unit,
            interval_count=1,
            started_at=at(started) if started else None,
            cancelled_at=at(cancelled) if cancelled else None,
            **extra,
        )
        self.session.add(sub)
        self.session.flush()
        return sub

    def invoice(
        self,
        account: Account,
        status: str,
        due: int,
        due_on: date | None,
        *,
        total: int | None = None,
        currency: str = "USD",
        **extra: Any,
    ) -> Invoice:
        number = self._next()
        invoice = Invoice(
            connection_id=self.connection.id,
            source_id=f"inv-{number}",
            number=f"INV-{number:04d}",
            account_id=account.id,
            status=status,
            currency=currency,
            total_minor=total if total is not None else due,
            amount_due_minor=due,
            amount_paid_minor=(total or due) - due,
            due_on=due_on,
            **extra,
        )
        self.session.add(invoice)
        self.session.flush()
        return invoice
