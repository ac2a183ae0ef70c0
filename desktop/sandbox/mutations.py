"""Changing the world between or during syncs: create, update and delete records.

Every change stamps ``updated_at`` with the sandbox clock and bumps the world version,
so incremental filters see it at once and paginations in flight see rows move. Deleted
rows stay in the tables flagged ``deleted``: Chargebee shows them with
``include_deleted=true``, Recurly shows deleted accounts with ``deleted_at``, and
everything else simply vanishes from lists and lookups.

Fields use the neutral vocabulary: statuses from ``catalog.SUB_STATUSES`` /
``catalog.INV_STATUSES``, money in integer minor units, plans by code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from desktop.errors import BillbridgeError
from desktop.sandbox import catalog as cat
from desktop.sandbox.dataset import Change, World
from desktop.sandbox.ids import KINDS, Kind, format_id
from desktop.sandbox.store import NONE

_TEXT_FIELDS: Final[tuple[str, ...]] = (
    "first_name",
    "last_name",
    "email",
    "company",
    "phone",
    "tenant_id",
)


class MutationError(BillbridgeError):
    """A mutation names something that does not exist or has a bad value."""


class Mutations:
    """The mutation API over one :class:`World`."""

    def __init__(self, world: World) -> None:
        self.world = world

    # ------------------------------------------------------------- helpers

    def _site(self, vendor: str, site: str | None) -> int:
        if vendor not in self.world.vendors and vendor not in cat.VENDOR_CODE:
            raise MutationError(f"The sandbox has no billing vendor called {vendor!r}.")
        sites = cat.sites_of(vendor)
        if site is None:
            return 0
        for candidate in sites:
            if candidate.name == site:
                return candidate.code
        names = ", ".join(s.name for s in sites)
        raise MutationError(f"{vendor} has no site {site!r}; use one of {names}.")

    def _row(self, vendor: str, kind: Kind, record_id: str) -> int:
        row = self.world.row_of(vendor, kind, record_id)
        if row is None:
            raise MutationError(f"There is no {vendor} {kind} with id {record_id!r}.")
        return row

    def _stamp(self, kind: Kind, row: int) -> None:
        self.world.table(kind).set("updated", row, self.world.clock_now())
        self.world.touch()

    # ----------------------------------------------------------- customers

    def create_customer(
        self,
        vendor: str,
        site: str | None = None,
        *,
        currency: str = "USD",
        **text: str | None,
    ) -> str:
        """Creates a customer and returns its vendor id.

        Args:
            vendor: billing vendor name.
            site: site/organization name (default: the vendor's first site).
            currency: ISO code from ``catalog.CURRENCIES``.
            **text: ``first_name``, ``last_name``, ``email``, ``company``, ``phone``,
                ``tenant_id`` (missing ones are empty).
        """
        site_code = self._site(vendor, site)
        self._check_text(text)
        with self.world.lock:
            now = self.world.clock_now()
            table = self.world.customers
            row = table.append(
                {
                    "vendor": cat.VENDOR_CODE[vendor],
                    "site": site_code,
                    "currency": _currency(currency),
                    "country": cat.CURRENCY_COUNTRY[_currency(currency)],
                    "net_terms": 0,
                    "auto_collect": 1,
                    "inactive": 0,
                    "no_email": 0,
                    "created": now,
                    "updated": now,
                    "deleted": 0,
                }
            )
            table.text[row] = {name: text.get(name) for name in _TEXT_FIELDS}
            self.world.touch()
            self.world.emit(Change("customer", row, "created", now))
            return format_id(vendor, "customer", row)

    def update_customer(self, vendor: str, customer_id: str, **text: str | None) -> None:
        """Changes text fields of a customer (``email="new@x.example"``) and stamps it."""
        self._check_text(text)
        with self.world.lock:
            row = self._row(vendor, "customer", customer_id)
            fields = self.world.customers.text.setdefault(row, {})
            fields.update(text)
            self._stamp("customer", row)
            self.world.emit(Change("customer", row, "updated", self.world.clock_now()))

    def _check_text(self, text: Mapping[str, object]) -> None:
        for name in text:
            if name not in _TEXT_FIELDS:
                raise MutationError(
                    f"A customer has no field {name!r}; use {', '.join(_TEXT_FIELDS)}."
                )

    # ------------------------------------------------------- subscriptions

    def create_subscription(
        self,
        vendor: str,
        customer_id: str,
        *,
        plan: str = "team-monthly",
        quantity: int = 1,
        status: str = "active",
    ) -> str:
        """Creates a subscription for a customer, starting now; returns its vendor id."""
        with self.world.lock:
            owner = self._row(vendor, "customer", customer_id)
            found = _plan(plan)
            now = self.world.clock_now()
            customers = self.world.customers
            period = found.months * cat.MONTH_SECONDS
            row = self.world.subscriptions.append(
                {
                    "customer": owner,
                    "vendor": customers.get("vendor", owner),
                    "site": customers.get("site", owner),
                    "currency": customers.get("currency", owner),
                    "plan": found.index,
                    "quantity": quantity,
                    "status": cat.SUB_ACTIVE,
                    "coupon": NONE,
                    "started": now,
                    "term_start": now,
                    "term_end": now + period,
                    "auto_collect": 1,
                    "created": now,
                    "updated": now,
                    "deleted": 0,
                }
            )
            self._set_sub_status(row, status, now)
            self.world.touch()
            self.world.emit(Change("subscription", row, "created", now))
            return format_id(vendor, "subscription", row)

    def update_subscription(
        self,
        vendor: str,
        subscription_id: str,
        *,
        status: str | None = None,
        quantity: int | None = None,
        plan: str | None = None,
    ) -> None:
        """Changes a subscription's status, quantity or plan and stamps it."""
        with self.world.lock:
            row = self._row(vendor, "subscription", subscription_id)
            table = self.world.subscriptions
            previous_status = table.get("status", row)
            previous_amount = self._sub_amount(row)
            if quantity is not None:
                table.set("quantity", row, quantity)
            if plan is not None:
                table.set("plan", row, _plan(plan).index)
            if status is not None:
                self._set_sub_status(row, status, self.world.clock_now())
            self._stamp("subscription", row)
            change = Change(
                "subscription",
                row,
                "updated",
                self.world.clock_now(),
                previous_status=previous_status,
                previous_amount=previous_amount,
            )
            self.world.emit(change)

    def renew_subscription(self, vendor: str, subscription_id: str) -> None:
        """Moves a live subscription into its next term (the old term end becomes the new
        term start) and stamps it, as a vendor does at renewal."""
        with self.world.lock:
            row = self._row(vendor, "subscription", subscription_id)
            table = self.world.subscriptions
            if table.get("status", row) not in (cat.SUB_ACTIVE, cat.SUB_NON_RENEWING):
                raise MutationError("Only an active or non-renewing subscription renews.")
            start = table.get("term_end", row)
            months = cat.PLANS[table.get("plan", row)].months
            table.set("term_start", row, start)
            table.set("term_end", row, start + months * cat.MONTH_SECONDS)
            self._stamp("subscription", row)
            self.world.emit(Change("subscription", row, "renewed", self.world.clock_now()))

    def _sub_amount(self, row: int) -> int:
        table = self.world.subscriptions
        plan = cat.PLANS[table.get("plan", row)]
        return plan.prices[table.get("currency", row)] * table.get("quantity", row)

    def _set_sub_status(self, row: int, status: str, now: int) -> None:
        if status not in cat.SUB_STATUSES:
            raise MutationError(
                f"{status!r} is not a subscription status; use {', '.join(cat.SUB_STATUSES)}."
            )
        code = cat.SUB_STATUSES.index(status)
        table = self.world.subscriptions
        table.set("status", row, code)
        table.set("cancelled_at", row, NONE)
        table.set("paused_at", row, NONE)
        if code == cat.SUB_CANCELLED:
            table.set("cancelled_at", row, now)
        elif code == cat.SUB_NON_RENEWING:
            table.set("cancelled_at", row, table.get("term_end", row))
        elif code == cat.SUB_PAUSED:
            table.set("paused_at", row, now)
        elif code == cat.SUB_TRIAL:
            table.set("trial_start", row, now)
            table.set("trial_end", row, now + 14 * cat.DAY)
            table.set("term_end", row, now + 14 * cat.DAY)
        elif code == cat.SUB_FUTURE:
            table.set("started", row, now + 7 * cat.DAY)
            table.set("term_start", row, now + 7 * cat.DAY)

    # ------------------------------------------------------------ invoices

    def create_invoice(
        self,
        vendor: str,
        customer_id: str,
        total: int,
        *,
        subscription_id: str | None = None,
        status: str = "open",
        amount_paid: int = 0,
        net_days: int = 30,
    ) -> str:
        """Creates an invoice dated now (``total`` in minor units); returns its vendor id."""
        with self.world.lock:
            owner = self._row(vendor, "customer", customer_id)
            sub = NONE
            plan = 0
            if subscription_id is not None:
                sub = self._row(vendor, "subscription", subscription_id)
                plan = self.world.subscriptions.get("plan", sub)
            now = self.world.clock_now()
            customers = self.world.customers
            row = self.world.invoices.append(
                {
                    "customer": owner,
                    "subscription": sub,
                    "vendor": customers.get("vendor", owner),
                    "site": customers.get("site", owner),
                    "currency": customers.get("currency", owner),
                    "plan": plan,
                    "quantity": 1,
                    "date": now,
                    "due": now + net_days * cat.DAY,
                    "subtotal": total,
                    "discount": 0,
                    "tax": 0,
                    "total": total,
                    "paid": 0,
                    "status": cat.INV_OPEN,
                    "created": now,
                    "updated": now,
                    "deleted": 0,
                }
            )
            self._set_invoice_status(row, status, amount_paid, now)
            self.world.touch()
            self.world.emit(Change("invoice", row, "created", now))
            return format_id(vendor, "invoice", row)

    def update_invoice(
        self,
        vendor: str,
        invoice_id: str,
        *,
        status: str | None = None,
        amount_paid: int | None = None,
    ) -> None:
        """Changes an invoice's status (and paid amount) and stamps it."""
        with self.world.lock:
            row = self._row(vendor, "invoice", invoice_id)
            table = self.world.invoices
            code = table.get("status", row)
            before = table.get("paid", row)
            paid = before if amount_paid is None else amount_paid
            self._set_invoice_status(
                row, status or cat.INV_STATUSES[code], paid, self.world.clock_now()
            )
            self._stamp("invoice", row)
            change = Change(
                "invoice",
                row,
                "updated",
                self.world.clock_now(),
                previous_status=code,
                previous_amount=before,
            )
            self.world.emit(change)

    def _set_invoice_status(self, row: int, status: str, amount_paid: int, now: int) -> None:
        if status not in cat.INV_STATUSES:
            raise MutationError(
                f"{status!r} is not an invoice status; use {', '.join(cat.INV_STATUSES)}."
            )
        code = cat.INV_STATUSES.index(status)
        table = self.world.invoices
        total = table.get("total", row)
        paid = {cat.INV_PAID: total, cat.INV_VOID: 0, cat.INV_PARTIAL: amount_paid}.get(code, 0)
        if code == cat.INV_PARTIAL and not 0 < amount_paid < total:
            raise MutationError("A partially paid invoice needs 0 < amount_paid < total.")
        table.set("status", row, code)
        table.set("paid", row, paid)
        table.set("paid_at", row, now if code == cat.INV_PAID else NONE)
        table.set("voided_at", row, now if code == cat.INV_VOID else NONE)

    # -------------------------------------------------------------- generic

    def delete(self, vendor: str, kind: Kind, record_id: str) -> None:
        """Deletes a record: flagged deleted and stamped with the sandbox clock."""
        with self.world.lock:
            row = self._row(vendor, kind, record_id)
            self.world.table(kind).set("deleted", row, 1)
            self._stamp(kind, row)
            self.world.emit(Change(kind, row, "deleted", self.world.clock_now()))

    def touch(self, vendor: str, kind: Kind, record_id: str) -> None:
        """Stamps a record as updated now without changing anything else."""
        with self.world.lock:
            row = self._row(vendor, kind, record_id)
            self._stamp(kind, row)
            self.world.emit(Change(kind, row, "touched", self.world.clock_now()))

    def apply(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """Applies one change described as JSON (the admin endpoint's body).

        The change has ``op`` (``create``/``update``/``delete``/``touch``, and ``renew``
        for a subscription), ``kind``
        (``customer``/``subscription``/``invoice``), ``vendor``, and for create
        ``site``/fields, for the others ``id`` plus fields. Returns
        ``{"id", "kind", "vendor"}``.
        """
        op = change.get("op")
        kind = change.get("kind")
        vendor = change.get("vendor")
        if kind not in KINDS or not isinstance(vendor, str):
            raise MutationError(
                "A change needs a kind (customer, subscription, invoice) and a vendor."
            )
        fields = dict(change.get("fields") or {})
        record_id = change.get("id")
        if op == "create":
            record_id = self._create(vendor, kind, change.get("site"), fields)
        elif not isinstance(record_id, str):
            raise MutationError(f"The {op} change needs the id of the {kind}.")
        elif op == "update":
            self._update(vendor, kind, record_id, fields)
        elif op == "delete":
            self.delete(vendor, kind, record_id)
        elif op == "touch":
            self.touch(vendor, kind, record_id)
        elif op == "renew" and kind == "subscription":
            self.renew_subscription(vendor, record_id)
        else:
            raise MutationError(
                f"{op!r} is not a change; use create, update, delete, touch or renew "
                "(subscriptions)."
            )
        return {"id": record_id, "kind": kind, "vendor": vendor}

    def _create(self, vendor: str, kind: Kind, site: object, fields: dict[str, Any]) -> str:
        if kind == "customer":
            return self.create_customer(vendor, site if isinstance(site, str) else None, **fields)
        if kind == "subscription":
            return self.create_subscription(vendor, fields.pop("customer_id"), **fields)
        return self.create_invoice(vendor, fields.pop("customer_id"), fields.pop("total"), **fields)

    def _update(self, vendor: str, kind: Kind, record_id: str, fields: dict[str, Any]) -> None:
        if kind == "customer":
            self.update_customer(vendor, record_id, **fields)
        elif kind == "subscription":
            self.update_subscription(vendor, record_id, **fields)
        else:
            self.update_invoice(vendor, record_id, **fields)


def _currency(code: str) -> int:
    index = cat.CURRENCY_CODE.get(code.upper())
    if index is None:
        raise MutationError(
            f"The sandbox has no currency {code!r}; use {', '.join(cat.CURRENCIES)}."
        )
    return index


def _plan(code: str) -> cat.Plan:
    plan = cat.plan_named(code)
    if plan is None:
        names = ", ".join(p.code for p in cat.PLANS)
        raise MutationError(f"The sandbox has no plan {code!r}; use one of {names}.")
    return plan
