"""Ground truth: what each vendor holds right now, for tests to compare a synced database to.

Lists are built on demand from the live tables, so they reflect every mutation. Ids are
the vendor's ids; money is integer minor units; statuses come both in the neutral
vocabulary (``status``) and in the vendor's own word (``vendor_status``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.dataset import World
from desktop.sandbox.ids import Kind, format_id
from desktop.sandbox.store import NONE


def _time(value: int) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value != NONE else None


@dataclass(frozen=True)
class TruthCustomer:
    """A billing customer as the vendor holds it."""

    id: str
    vendor: str
    site: str
    tenant_id: str | None
    first_name: str | None
    last_name: str | None
    company: str | None
    email: str | None
    currency: str
    created_at: datetime
    updated_at: datetime | None
    deleted: bool


@dataclass(frozen=True)
class TruthSubscription:
    """A subscription; ``amount_minor`` is one period's price times quantity before discounts."""

    id: str
    vendor: str
    site: str
    customer_id: str
    plan_code: str
    status: str
    vendor_status: str
    currency: str
    quantity: int
    unit_price_minor: int
    amount_minor: int
    coupon: str | None
    created_at: datetime
    updated_at: datetime | None
    deleted: bool


@dataclass(frozen=True)
class TruthInvoice:
    """An invoice; ``due_minor`` is what is still owed (0 when paid or void)."""

    id: str
    vendor: str
    site: str
    customer_id: str
    subscription_id: str | None
    status: str
    vendor_status: str
    currency: str
    total_minor: int
    paid_minor: int
    due_minor: int
    date: datetime
    due_date: datetime
    created_at: datetime
    updated_at: datetime | None
    deleted: bool


@dataclass(frozen=True)
class TruthPlan:
    """A plan of the shared catalogue, with its price per currency in minor units."""

    code: str
    name: str
    interval_months: int
    prices: dict[str, int]


class Truth:
    """Ground-truth views over a :class:`World`."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _rows(self, kind: Kind, vendor: str, site: str | None, include_deleted: bool) -> list[int]:
        table = self.world.table(kind)
        mask = table.col("vendor") == cat.VENDOR_CODE[vendor]
        if site is not None:
            found = cat.site_named(vendor, site)
            if found is None:
                return []
            mask &= table.col("site") == found.code
        if not include_deleted:
            mask &= ~table.col("deleted")
        return [int(r) for r in np.flatnonzero(mask)]

    def customers(
        self, vendor: str, site: str | None = None, include_deleted: bool = False
    ) -> list[TruthCustomer]:
        """The vendor's customers (optionally of one site), in row order."""
        w = self.world
        t = w.customers
        with w.lock:
            return [
                TruthCustomer(
                    id=format_id(vendor, "customer", row),
                    vendor=vendor,
                    site=cat.sites_of(vendor)[t.get("site", row)].name,
                    tenant_id=w.tenant_id(row),
                    first_name=w.first_name(row),
                    last_name=w.last_name(row),
                    company=w.company(row),
                    email=w.email(row),
                    currency=w.currency("customer", row),
                    created_at=datetime.fromtimestamp(t.get("created", row), UTC),
                    updated_at=_time(t.get("updated", row)),
                    deleted=bool(t.get("deleted", row)),
                )
                for row in self._rows("customer", vendor, site, include_deleted)
            ]

    def subscriptions(
        self, vendor: str, site: str | None = None, include_deleted: bool = False
    ) -> list[TruthSubscription]:
        """The vendor's subscriptions (optionally of one site), in row order."""
        w = self.world
        t = w.subscriptions
        with w.lock:
            out = []
            for row in self._rows("subscription", vendor, site, include_deleted):
                plan = cat.PLANS[t.get("plan", row)]
                unit = plan.prices[t.get("currency", row)]
                status = t.get("status", row)
                coupon = t.get("coupon", row)
                out.append(
                    TruthSubscription(
                        id=format_id(vendor, "subscription", row),
                        vendor=vendor,
                        site=cat.sites_of(vendor)[t.get("site", row)].name,
                        customer_id=format_id(vendor, "customer", t.get("customer", row)),
                        plan_code=plan.code,
                        status=cat.SUB_STATUSES[status],
                        vendor_status=cat.SUB_STATUS_BY_VENDOR[vendor][status],
                        currency=w.currency("subscription", row),
                        quantity=t.get("quantity", row),
                        unit_price_minor=unit,
                        amount_minor=unit * t.get("quantity", row),
                        coupon=cat.COUPONS[coupon].code if coupon >= 0 else None,
                        created_at=datetime.fromtimestamp(t.get("created", row), UTC),
                        updated_at=_time(t.get("updated", row)),
                        deleted=bool(t.get("deleted", row)),
                    )
                )
            return out

    def invoices(
        self, vendor: str, site: str | None = None, include_deleted: bool = False
    ) -> list[TruthInvoice]:
        """The vendor's invoices (optionally of one site), in row order (= date order)."""
        w = self.world
        t = w.invoices
        with w.lock:
            out = []
            for row in self._rows("invoice", vendor, site, include_deleted):
                status = t.get("status", row)
                total = t.get("total", row)
                paid = t.get("paid", row)
                sub = t.get("subscription", row)
                out.append(
                    TruthInvoice(
                        id=format_id(vendor, "invoice", row),
                        vendor=vendor,
                        site=cat.sites_of(vendor)[t.get("site", row)].name,
                        customer_id=format_id(vendor, "customer", t.get("customer", row)),
                        subscription_id=format_id(vendor, "subscription", sub)
                        if sub >= 0
                        else None,
                        status=cat.INV_STATUSES[status],
                        vendor_status=cat.INV_STATUS_BY_VENDOR[vendor][status],
                        currency=w.currency("invoice", row),
                        total_minor=total,
                        paid_minor=paid,
                        due_minor=0 if status in (cat.INV_PAID, cat.INV_VOID) else total - paid,
                        date=datetime.fromtimestamp(t.get("date", row), UTC),
                        due_date=datetime.fromtimestamp(t.get("due", row), UTC),
                        created_at=datetime.fromtimestamp(t.get("created", row), UTC),
                        updated_at=_time(t.get("updated", row)),
                        deleted=bool(t.get("deleted", row)),
                    )
                )
            return out

    def plans(self) -> list[TruthPlan]:
        """The shared plan catalogue (every vendor sells the same plans)."""
        return [
            TruthPlan(
                code=plan.code,
                name=plan.name,
                interval_months=plan.months,
                prices=dict(zip(cat.CURRENCIES, plan.prices, strict=True)),
            )
            for plan in cat.PLANS
        ]

    def counts(self, vendor: str, site: str | None = None) -> dict[str, int]:
        """Live (not deleted) record counts: customers, subscriptions, invoices."""
        with self.world.lock:
            return {
                "customers": len(self._rows("customer", vendor, site, False)),
                "subscriptions": len(self._rows("subscription", vendor, site, False)),
                "invoices": len(self._rows("invoice", vendor, site, False)),
            }
