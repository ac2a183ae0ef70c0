"""Zoho Billing events: what ``GET /events`` lists and what webhooks deliver.

Two sources, newest first in ``GET /events``:

* **history** — one ``subscription_created`` per subscription the dataset was generated
  with (ids ``9030004…`` + row, as before; the payload shows the subscription now);
* **changes** — every change the mutation API makes to a Zoho Billing record becomes the
  matching event at once, its payload rendered at that moment (ids ``9030005…``):

=====================  ===================================================================
change                 event
=====================  ===================================================================
subscription created   ``subscription_created``
trial/future → live    ``subscription_activation``
→ cancelled            ``subscription_cancelled``
→ non-renewing         ``subscription_cancellation_scheduled``
→ paused / paused →    ``subscription_paused`` / ``subscription_resumed``
  live
cancelled or non-      ``subscription_reactivated``
renewing → live
plan or quantity       ``subscription_upgraded`` / ``subscription_downgraded`` (by amount)
renewed                ``subscription_renewed``
deleted                ``subscription_deleted``
invoice created        ``invoice_notification`` (plus ``payment_thankyou`` if born paid)
invoice → void         ``invoice_voided``
invoice paid more      ``payment_thankyou`` (carries ``payment`` and ``invoice``)
other invoice change   ``invoice_updated``
=====================  ===================================================================

Customers and touches make no event (the reference lists none for them). The event
record is the reference's ``{"event_id", "event_type", "event_time", "payload": "<JSON
string>", "webhooks": [...]}``; :meth:`ZohoEvents.record_delivery` adds to ``webhooks``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox import zoho_billing_render as render
from desktop.sandbox.common import iso_offset, major
from desktop.sandbox.dataset import Change, Query, World
from desktop.sandbox.ids import format_id, zoho_invoice_number

VENDOR: Final[str] = "zoho-billing"
#: Event ids: history events are ``HISTORY_BASE + subscription row``.
HISTORY_BASE: Final[int] = 903000400000000
#: Event ids of changes are ``CHANGE_BASE + n`` (n from 1).
CHANGE_BASE: Final[int] = 903000500000000
_PAYMENT_BASE: Final[int] = 903000600000000
_WEBHOOK_ID: Final[str] = "903000700000001"


@dataclass
class StoredEvent:
    """An event made by a change, with its organization and delivery history."""

    record: dict[str, Any]
    site: int
    at: int
    deliveries: list[dict[str, str]] = field(default_factory=list)


def _org(site: int) -> render.Org:
    for org in render.ORGS:
        if org.site.code == site:
            return org
    return render.ORGS[0]


def _one(rows: int) -> Any:
    return np.array([rows], dtype=np.int64)


class ZohoEvents:
    """The event log of every Zoho Billing organization of a :class:`World`.

    Listens to the world's changes from the moment it is made (the facade makes it with
    the sandbox), so ``GET /events`` and :meth:`since` see mutations at once.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.generated = world.subscriptions.size
        self._events: list[StoredEvent] = []
        self._payments = 0
        self._lock = threading.Lock()
        world.listeners.append(self._on_change)

    # ------------------------------------------------------------ recording

    def _on_change(self, change: Change) -> None:
        table = self.world.table(change.kind)
        if table.get("vendor", change.row) != cat.VENDOR_CODE[VENDOR]:
            return
        site = table.get("site", change.row)
        if change.kind == "subscription":
            names = self._subscription_events(change)
            payload: dict[str, Any] = {"subscription": self._subscription(change.row, site)}
            for name in names:
                self._add(name, payload, site, change.at)
        elif change.kind == "invoice":
            for name in self._invoice_events(change):
                payload = {"invoice": self._invoice(change.row, site)}
                if name == "payment_thankyou":
                    payload["payment"] = self._payment(change, site)
                self._add(name, payload, site, change.at)

    def _subscription_events(self, change: Change) -> list[str]:
        if change.action == "created":
            return ["subscription_created"]
        if change.action == "renewed":
            return ["subscription_renewed"]
        if change.action == "deleted":
            return ["subscription_deleted"]
        if change.action != "updated":
            return []
        status = self.world.subscriptions.get("status", change.row)
        before = change.previous_status
        if status != before:
            name = _status_event(before, status)
            return [name] if name else []
        plan = cat.PLANS[self.world.subscriptions.get("plan", change.row)]
        amount = plan.prices[self.world.subscriptions.get("currency", change.row)]
        amount *= self.world.subscriptions.get("quantity", change.row)
        if change.previous_amount is None or amount == change.previous_amount:
            return []
        if amount > change.previous_amount:
            return ["subscription_upgraded"]
        return ["subscription_downgraded"]

    def _invoice_events(self, change: Change) -> list[str]:
        table = self.world.invoices
        status = table.get("status", change.row)
        paid = table.get("paid", change.row)
        if change.action == "created":
            return ["invoice_notification"] + (["payment_thankyou"] if paid > 0 else [])
        if change.action != "updated":
            return []
        if status == cat.INV_VOID and change.previous_status != cat.INV_VOID:
            return ["invoice_voided"]
        if paid > (change.previous_amount or 0):
            return ["payment_thankyou"]
        return ["invoice_updated"]

    def _add(self, event_type: str, payload: dict[str, Any], site: int, at: int) -> None:
        with self._lock:
            number = CHANGE_BASE + len(self._events) + 1
            record = {
                "event_id": str(number),
                "event_type": event_type,
                "event_time": iso_offset(at, _org(site).offset_minutes),
                "event_source": "web",
                "payload": json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
                "webhooks": [],
            }
            self._events.append(StoredEvent(record, site, at))

    def _subscription(self, row: int, site: int) -> dict[str, Any]:
        return render.subscriptions(self.world, _one(row), _org(site))[0]

    def _invoice(self, row: int, site: int) -> dict[str, Any]:
        return render.invoices(self.world, _one(row), _org(site))[0]

    def _payment(self, change: Change, site: int) -> dict[str, Any]:
        table = self.world.invoices
        row = change.row
        currency = table.get("currency", row)
        amount = table.get("paid", row) - (change.previous_amount or 0)
        org = _org(site)
        self._payments += 1
        invoice_id = format_id(VENDOR, "invoice", row)
        return {
            "payment_id": str(_PAYMENT_BASE + self._payments),
            "payment_mode": "creditcard",
            "amount": major(amount, currency),
            "date": iso_offset(change.at, org.offset_minutes)[:10],
            "status": "success",
            "customer_id": format_id(VENDOR, "customer", table.get("customer", row)),
            "currency_code": cat.CURRENCIES[currency],
            "invoices": [
                {
                    "invoice_id": invoice_id,
                    "invoice_number": zoho_invoice_number(row),
                    "amount_applied": major(amount, currency),
                }
            ],
            "created_time": iso_offset(change.at, org.offset_minutes),
        }

    # -------------------------------------------------------------- reading

    def changes(self, site: int | None = None) -> list[dict[str, Any]]:
        """Event records made by changes, oldest first (optionally of one organization)."""
        with self._lock:
            return [e.record for e in self._events if site is None or e.site == site]

    def since(self, event_id: str | None, site: int | None = None) -> list[dict[str, Any]]:
        """Change events after ``event_id`` (all of them for ``None``), oldest first."""
        after = int(event_id) if event_id and event_id.isdigit() else 0
        return [e for e in self.changes(site) if int(e["event_id"]) > after]

    def history(self, rows: Any, site: int) -> list[dict[str, Any]]:
        """The ``subscription_created`` events of generated subscription rows."""
        world = self.world
        org = _org(site)
        subscriptions = render.subscriptions(world, rows, org)
        created = world.subscriptions.col("created")[rows].tolist()
        return [
            {
                "event_id": str(HISTORY_BASE + row),
                "event_type": "subscription_created",
                "event_time": iso_offset(at, org.offset_minutes),
                "event_source": "web",
                "payload": json.dumps(
                    {"subscription": subscription}, separators=(",", ":"), ensure_ascii=False
                ),
                "webhooks": [],
            }
            for row, at, subscription in zip(rows.tolist(), created, subscriptions, strict=True)
        ]

    def page(self, site: int, start: int, size: int) -> tuple[list[dict[str, Any]], int]:
        """One page of ``GET /events`` (newest first) and the number of events in all."""
        changes = self.changes(site)[::-1]
        query = Query("subscription", VENDOR, site, True, "created", True)
        with self.world.lock:
            rows = self.world.select(query).rows
            rows = rows[rows < self.generated]
            events = changes[start : start + size]
            first = max(0, start - len(changes))
            wanted = rows[first : first + size - len(events)]
            if len(wanted):
                events.extend(self.history(wanted, site))
        return events, len(changes) + len(rows)

    def find(self, event_id: str, site: int) -> dict[str, Any] | None:
        """One event of an organization by id (history or change), or ``None``."""
        if not event_id.isdigit():
            return None
        number = int(event_id)
        if number > CHANGE_BASE:
            with self._lock:
                index = number - CHANGE_BASE - 1
                if index < len(self._events) and self._events[index].site == site:
                    return self._events[index].record
            return None
        row = number - HISTORY_BASE
        with self.world.lock:
            found = self.world.check_row(VENDOR, "subscription", row, site)
            if found is None or found >= self.generated:
                return None
            return self.history(_one(found), site)[0]

    def record_delivery(self, event_id: str, url: str, ok: bool, at: int) -> None:
        """Adds a delivery attempt to a change event's ``webhooks`` list."""
        with self._lock:
            index = int(event_id) - CHANGE_BASE - 1 if event_id.isdigit() else -1
            if not 0 <= index < len(self._events):
                return
            stored = self._events[index]
            stored.record["webhooks"] = [
                *stored.record["webhooks"],
                {
                    "webhook_id": _WEBHOOK_ID,
                    "url": url,
                    "status": "success" if ok else "failure",
                    "last_updated_time": iso_offset(at, _org(stored.site).offset_minutes),
                },
            ]


def _status_event(before: int | None, status: int) -> str | None:
    if status == cat.SUB_CANCELLED:
        return "subscription_cancelled"
    if status == cat.SUB_NON_RENEWING:
        return "subscription_cancellation_scheduled"
    if status == cat.SUB_PAUSED:
        return "subscription_paused"
    if status == cat.SUB_ACTIVE and before == cat.SUB_PAUSED:
        return "subscription_resumed"
    if status == cat.SUB_ACTIVE and before in (cat.SUB_CANCELLED, cat.SUB_NON_RENEWING):
        return "subscription_reactivated"
    if status == cat.SUB_ACTIVE:
        return "subscription_activation"
    return None  # back to trial or future: Zoho has no event for that
