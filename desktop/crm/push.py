"""Push: billing customers to CRM Contacts, their companies to Accounts, subscriptions to Deals.

Runs when the extent is *both ways*, for every billing connection's data:

* **who is pushed** — every Account with a live source in a billing connection (merged
  across connections, so a customer known to two billing systems is one Contact);
  subscriptions in state ``active`` or ``non_renewing`` only;
* **Contacts** — the Contacts mapping in reverse (``first_name → First_Name`` …). The
  mandatory ``Last_Name`` falls back to the customer's name, then its company, then the
  e-mail's local part, then the customer id, so a customer with no name never fails;
* **companies → Accounts** — a company is matched to a CRM Account by link, then by
  ``Account_Name`` (case-insensitive); with no match the company rule creates the Account
  or leaves the contact's and deal's ``Account_Name`` empty;
* **Deals** — ``Deal_Name`` = subscription id, ``Amount`` = MRR (major units; with CRM
  multi-currency the ``Currency`` too, through the currency map; without it, amounts in
  another currency than the CRM's are left empty), ``Account_Name``, ``Contact_Name``,
  ``Closing_Date`` = the subscription's start (or creation) date, ``Owner`` = the owning
  CRM user, and the pipeline/stage chosen for Active or for Non-renewing. Deals are kept
  up to date: a changed subscription updates its Deal;
* **sync rules** — a customer with no matching Contact (by link, else e-mail) is created
  or skipped; a matching Contact is overwritten, has only its blank fields filled, or is
  left alone (linked only). Contacts Billbridge created itself are always kept up to
  date;
* **deleted in CRM** (:mod:`desktop.crm.deletions`) — a customer whose linked Contact a
  pull found deleted in CRM has no matching Contact, so the same rule decides: *create*
  makes a new one and the report says it replaces the deleted one, *skip* leaves the
  customer out and says why. A subscription whose Deal was deleted in CRM gets no new
  Deal (skipped, with the deletion as the reason) unless the Deal is restored there;
* **writes** go in calls of at most 100 records: records whose CRM id is known are
  updated by id (``PUT``), others are upserted with ``duplicate_check_fields`` (``Email``,
  ``Account_Name``, ``Deal_Name``). Every record's result is kept: a refusal
  (``DUPLICATE_DATA``, ``MANDATORY_NOT_FOUND``, ``INVALID_DATA`` …) becomes a Sync error
  with CRM's reason and the record sent; the rest of the batch and of the run go on;
* **only changes** — each link keeps a fingerprint of what was last written; a record
  whose fingerprint is unchanged is not sent again.

:meth:`Pusher.plan` reads (never writes) and classifies every record — that is the dry
run; :meth:`Pusher.apply` then writes the plan.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.crm.client import BATCH_SIZE, CrmClient, CrmRequestError, WriteResult
from desktop.crm.deletions import Tombstone, push_reason, unlinked_tombstones
from desktop.crm.links import links
from desktop.crm.pull import mapping_for, record_error
from desktop.crm.remote import CrmReader
from desktop.crm.report import Action, Direction, ReportItem, SyncReport
from desktop.crm.settings import CompanyRule, CrmSettings, MatchRule, NoMatchRule
from desktop.jobs import JobContext
from desktop.money import minor_digits
from desktop.storage.database import Database
from desktop.storage.models import Account, AccountSource, Connection, CrmLink, Subscription, User
from desktop.sync.registry import BILLING_KINDS
from desktop.timeutil import Clock

#: Subscription states pushed as Deals.
PUSHED_STATES: Final[tuple[str, ...]] = ("active", "non_renewing")
#: Local fields a Contact can be given (reverse of the Contacts mapping).
_CONTACT_LOCALS: Final[frozenset[str]] = frozenset(
    {"first_name", "last_name", "email", "phone", "identifier"}
)
_CHECKS: Final[dict[str, str]] = {
    "Accounts": "Account_Name",
    "Contacts": "Email",
    "Deals": "Deal_Name",
}
_LOCAL_TYPE: Final[dict[str, str]] = {
    "Accounts": "company",
    "Contacts": "account",
    "Deals": "subscription",
}


@dataclass(frozen=True)
class Owner:
    """The CRM user who owns what Billbridge creates, and the CRM's currency facts."""

    id: str
    base_currency: str
    multi_currency: bool
    currencies: tuple[str, ...]


@dataclass
class Customer:
    """A billing customer (an Account with a billing source) as pushed to a Contact."""

    account_id: int
    identifier: str
    source_id: str
    name: str | None
    email: str | None
    company: str | None
    phone: str | None
    first_name: str | None = None
    last_name: str | None = None


@dataclass
class Planned:
    """One record of the plan.

    Attributes:
        module: the CRM module written.
        key: the local key (account id, subscription id, company name in lower case).
        source_id: the billing id shown in Sync errors.
        payload: the CRM record to send (lookups still symbolic: see ``refs``).
        fingerprint: what the link keeps, to push only changes.
        op: ``update`` (by ``crm_id``), ``upsert``, or ``None`` (nothing to send).
        crm_id: the CRM record updated, when known.
        origin: the link's origin once written (``push``: Billbridge created it).
        refs: lookup fields still to resolve (``{"Account_Name": "company:acme"}``).
        item: the report item counted for it.
    """

    module: str
    key: str
    source_id: str
    payload: dict[str, Any]
    fingerprint: str
    op: str | None
    crm_id: str | None
    origin: str
    refs: dict[str, str] = field(default_factory=dict)
    item: ReportItem | None = None
    local_id: int | None = None


def fingerprint(payload: dict[str, Any], refs: dict[str, str]) -> str:
    """A stable hash of what would be written (symbolic lookups, so it is known early)."""
    text = json.dumps({"p": payload, "r": refs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def last_name_for(customer: Customer) -> str:
    """Contact ``Last_Name``: name → company → e-mail local part → customer id."""
    for candidate in (
        customer.last_name,
        customer.name,
        customer.company,
        (customer.email or "").split("@", 1)[0],
        customer.source_id,
        customer.identifier,
    ):
        if candidate and candidate.strip():
            return candidate.strip()[:80]
    return "Unknown"


def _company_key(company: str | None) -> str | None:
    text = (company or "").strip()
    return text.casefold()[:255] if text else None


class Pusher:
    """Plans and applies one push for a CRM connection.

    Args:
        database: the workspace.
        connection_id: the CRM connection.
        settings: its integration settings.
        owner: the owning CRM user and currency facts.
        client: the CRM client (writes) and ``reader`` over it (reads).
        report: where counts and items go.
        clock: the clock.
        context: progress and cancel.
    """

    def __init__(
        self,
        database: Database,
        connection_id: int,
        settings: CrmSettings,
        owner: Owner,
        client: CrmClient,
        report: SyncReport,
        clock: Clock,
        context: JobContext,
    ) -> None:
        self.database = database
        self.connection_id = connection_id
        self.settings = settings
        self.owner = owner
        self.client = client
        self.reader = CrmReader(client)
        self.report = report
        self.clock = clock
        self.context = context
        self.plans: dict[str, list[Planned]] = {"Accounts": [], "Contacts": [], "Deals": []}
        self._company_ids: dict[str, str | None] = {}
        self._contact_ids: dict[int, str] = {}
        self._contact_fields = self._contact_pairs()
        self._gone_contacts: dict[int, Tombstone] = {}
        self._gone_deals: dict[int, Tombstone] = {}

    # ================================================================== plan

    async def plan(self) -> None:
        """Reads the workspace and (where needed) the CRM, and classifies every record."""
        customers, subscriptions = self._load_local()
        with self.database.session() as session:
            company_links = links(session, self.connection_id, "Accounts", "company")
            contact_links = {
                link.local_id: link
                for link in sorted(
                    links(session, self.connection_id, "Contacts", "account").values(),
                    key=lambda row: row.id,
                )
                if link.local_id is not None
            }
            deal_links = {
                link.local_id: link
                for link in links(session, self.connection_id, "Deals", "subscription").values()
                if link.local_id is not None
            }
            self._gone_contacts = unlinked_tombstones(
                session, self.connection_id, "Contacts", "account"
            )
            self._gone_deals = unlinked_tombstones(
                session, self.connection_id, "Deals", "subscription"
            )
        await self._plan_companies(customers, company_links)
        await self._plan_contacts(customers, contact_links)
        if self.settings.rules.push_deals:
            await self._plan_deals(subscriptions, customers, deal_links)

    def _load_local(self) -> tuple[dict[int, Customer], list[Subscription]]:
        with self.database.session() as session:
            billing = list(
                session.scalars(select(Connection.id).where(Connection.kind.in_(BILLING_KINDS)))
            )
            if not billing:
                return {}, []
            rows = session.execute(
                select(Account, AccountSource.source_id)
                .join(AccountSource, AccountSource.account_id == Account.id)
                .where(
                    AccountSource.connection_id.in_(billing),
                    AccountSource.deleted_at.is_(None),
                )
                .order_by(Account.id, AccountSource.id)
            ).all()
            customers: dict[int, Customer] = {}
            for account, source_id in rows:
                if account.id not in customers:
                    customers[account.id] = Customer(
                        account_id=account.id,
                        identifier=account.identifier,
                        source_id=source_id,
                        name=account.name,
                        email=account.email,
                        company=account.company,
                        phone=account.phone,
                    )
            people = session.execute(
                select(User.account_id, User.first_name, User.last_name)
                .where(
                    User.connection_id.in_(billing),
                    User.deleted_at.is_(None),
                    User.account_id.is_not(None),
                    User.last_name.is_not(None),
                )
                .order_by(User.is_primary.desc(), User.id)
            ).all()
            seen: set[int] = set()
            for account_id, first, last in people:
                customer = customers.get(account_id or -1)
                if customer is None or customer.account_id in seen or not (last or "").strip():
                    continue
                seen.add(customer.account_id)
                customer.first_name, customer.last_name = first, last
            for customer in customers.values():
                if (
                    customer.last_name is None
                    and customer.name
                    and customer.name != customer.company
                ):
                    first, _, last = customer.name.strip().rpartition(" ")
                    customer.first_name, customer.last_name = (first or None), (last or None)
            subscriptions = list(
                session.scalars(
                    select(Subscription)
                    .where(
                        Subscription.connection_id.in_(billing),
                        Subscription.status.in_(PUSHED_STATES),
                        Subscription.deleted_at.is_(None),
                        Subscription.account_id.is_not(None),
                    )
                    .order_by(Subscription.id)
                )
            )
            for subscription in subscriptions:
                session.expunge(subscription)
            return customers, subscriptions

    def _item(
        self, planned: Planned, action: Action, label: str, crm_id: str | None, reason: str = ""
    ) -> None:
        item = ReportItem(
            Direction.PUSH, planned.module, action, label, crm_id, planned.local_id, reason
        )
        planned.item = item
        self.report.add(item, keep=action is not Action.UNCHANGED)

    # ------------------------------------------------------------- companies

    async def _plan_companies(
        self, customers: dict[int, Customer], company_links: dict[str, CrmLink]
    ) -> None:
        by_key = {link.local_key: link.crm_id for link in company_links.values() if link.local_key}
        names: dict[str, str] = {}
        for customer in customers.values():
            key = _company_key(customer.company)
            if key and key not in names:
                names[key] = (customer.company or "").strip()
        unknown = [key for key in names if key not in by_key]
        crm_index: dict[str, list[str]] = {}
        if unknown:
            async for page in self.reader.pages("Accounts", ["Account_Name"]):
                for record in page:
                    name = _company_key(str(record.get("Account_Name") or ""))
                    if name:
                        crm_index.setdefault(name, []).append(str(record["id"]))
        for key, name in names.items():
            if key in by_key:
                self._company_ids[key] = by_key[key]
                continue
            planned = Planned("Accounts", key, name, {}, "", None, None, "match")
            found = crm_index.get(key)
            if found:
                self._company_ids[key] = found[0]
                planned.crm_id = found[0]
                self.plans["Accounts"].append(planned)  # linked without a write
                self._item(planned, Action.UNCHANGED, name, found[0])
            elif self.settings.rules.company is CompanyRule.CREATE:
                planned.payload = {"Account_Name": name[:200], "Owner": {"id": self.owner.id}}
                planned.op, planned.origin = "upsert", "push"
                self._company_ids[key] = None
                self.plans["Accounts"].append(planned)
                self._item(planned, Action.CREATE, name, None)
            else:
                self._company_ids[key] = None
                self._item(
                    planned,
                    Action.SKIP,
                    name,
                    None,
                    "No CRM Account has this name and the rule leaves the account field empty.",
                )

    # --------------------------------------------------------------- contacts

    def _contact_pairs(self) -> list[tuple[str, str]]:
        pairs = [
            (m.crm_field, m.local_field)
            for m in mapping_for(self.settings, "Contacts")
            if m.local_field in _CONTACT_LOCALS and m.crm_field not in ("Account_Name", "Full_Name")
        ]
        if not any(local == "last_name" for _, local in pairs):
            pairs.append(("Last_Name", "last_name"))
        return pairs

    def _contact_payload(self, customer: Customer) -> tuple[dict[str, Any], dict[str, str]]:
        values = {
            "first_name": customer.first_name,
            "last_name": last_name_for(customer),
            "email": customer.email,
            "phone": customer.phone,
            "identifier": customer.identifier,
        }
        payload = {crm: values[local] for crm, local in self._contact_fields}
        refs: dict[str, str] = {}
        key = _company_key(customer.company)
        if key is not None:
            refs["Account_Name"] = f"company:{key}"
        return payload, refs

    async def _contact_index(self) -> dict[str, list[dict[str, Any]]]:
        fields = list(dict.fromkeys(["Email", *(crm for crm, _ in self._contact_fields)]))
        index: dict[str, list[dict[str, Any]]] = defaultdict(list)
        by_id: dict[str, dict[str, Any]] = {}
        async for page in self.reader.pages("Contacts", fields):
            for record in page:
                by_id[str(record["id"])] = record
                email = str(record.get("Email") or "").strip().lower()
                if email:
                    index[email].append(record)
        index["\x00ids"] = list(by_id.values())
        return index

    async def _plan_contacts(
        self, customers: dict[int, Customer], contact_links: dict[int, CrmLink]
    ) -> None:
        rules = self.settings.rules
        pending: list[tuple[Customer, Planned, CrmLink | None]] = []
        for customer in customers.values():
            payload, refs = self._contact_payload(customer)
            planned = Planned(
                "Contacts",
                str(customer.account_id),
                customer.source_id,
                payload,
                # the match rule is part of it: changing the rule re-applies it once
                fingerprint(payload, {**refs, "~rule": rules.match.value}),
                None,
                None,
                "push",
                refs,
                local_id=customer.account_id,
            )
            link = contact_links.get(customer.account_id)
            if link is not None:
                self._contact_ids[customer.account_id] = link.crm_id
                planned.crm_id, planned.origin = link.crm_id, link.origin
                if link.pushed_hash == planned.fingerprint:
                    self._item(planned, Action.UNCHANGED, self._label(customer), link.crm_id)
                    continue
            pending.append((customer, planned, link))
        if not pending:
            return
        needs_index = any(
            link is None or (link.origin != "push" and rules.match is MatchRule.BLANK_ONLY)
            for _, _, link in pending
        )
        index = await self._contact_index() if needs_index else {}
        by_id = {str(r["id"]): r for r in index.get("\x00ids", [])}
        for customer, planned, link in pending:
            label = self._label(customer)
            if link is not None:
                current = by_id.get(link.crm_id)
                self._plan_match(
                    planned, label, link.crm_id, current, created=link.origin == "push"
                )
                continue
            email = (customer.email or "").strip().lower()
            matches = index.get(email, []) if email else []
            if len(matches) > 1:
                if rules.match is MatchRule.SKIP:
                    self._item(planned, Action.SKIP, label, None, _ambiguous(len(matches)))
                else:
                    planned.op = "upsert"
                    self.plans["Contacts"].append(planned)
                    self._item(planned, Action.FAIL, label, None, _ambiguous(len(matches)))
            elif matches:
                crm_id = str(matches[0]["id"])
                planned.origin = "match"
                self._contact_ids[customer.account_id] = crm_id
                self._plan_match(planned, label, crm_id, matches[0], created=False)
            elif rules.no_match is NoMatchRule.CREATE:
                planned.op = "upsert"
                planned.payload = {**planned.payload, "Owner": {"id": self.owner.id}}
                self.plans["Contacts"].append(planned)
                gone = self._gone_contacts.get(customer.account_id)
                self._item(planned, Action.CREATE, label, None, push_reason(gone, "create"))
            else:
                gone = self._gone_contacts.get(customer.account_id)
                self._item(planned, Action.SKIP, label, None, push_reason(gone, "skip"))

    def _plan_match(
        self,
        planned: Planned,
        label: str,
        crm_id: str,
        current: dict[str, Any] | None,
        *,
        created: bool,
    ) -> None:
        """A customer with a matching (or linked) Contact, under the match rule."""
        planned.crm_id = crm_id
        rule = MatchRule.OVERWRITE if created else self.settings.rules.match
        if rule is MatchRule.SKIP:
            planned.op = None
            self.plans["Contacts"].append(planned)  # linked, never written
            self._item(
                planned,
                Action.SKIP,
                label,
                crm_id,
                "A CRM Contact matches; the rule says to leave it.",
            )
            return
        if rule is MatchRule.BLANK_ONLY and current is not None:
            blank = {
                k: v
                for k, v in planned.payload.items()
                if current.get(k) in (None, "") and v not in (None, "")
            }
            if current.get("Account_Name"):
                planned.refs = {}  # the contact already has an account: not blank
            planned.payload = blank
            if not blank and not planned.refs:
                planned.op = None
                self.plans["Contacts"].append(planned)
                self._item(planned, Action.UNCHANGED, label, crm_id)
                return
        planned.op = "update"
        self.plans["Contacts"].append(planned)
        self._item(planned, Action.UPDATE, label, crm_id)

    @staticmethod
    def _label(customer: Customer) -> str:
        return customer.name or customer.email or customer.company or customer.source_id

    # ------------------------------------------------------------------ deals

    def _deal_payload(self, sub: Subscription) -> tuple[dict[str, Any], dict[str, str], str]:
        rules = self.settings.rules
        stage = rules.active if sub.status == "active" else rules.non_renewing
        payload: dict[str, Any] = {"Deal_Name": sub.source_id[:120], "Stage": stage.stage}
        if stage.pipeline:
            payload["Pipeline"] = stage.pipeline
        problem = ""
        currency = (sub.currency or "").upper()
        if currency:
            digits = minor_digits(currency)
            amount = float(Decimal(sub.mrr_minor or 0) / (Decimal(10) ** digits))
            if self.owner.multi_currency:
                target = self.settings.currency_map.get(currency, currency)
                if target in self.owner.currencies:
                    payload["Amount"] = amount
                    payload["Currency"] = target
                else:
                    problem = (
                        f"Zoho CRM has no currency {target} enabled; enable it in CRM or map "
                        f"{currency} to an enabled currency in the field mapping."
                    )
            elif currency == self.owner.base_currency:
                payload["Amount"] = amount
        started = sub.started_at or sub.source_created_at
        if started is not None:
            payload["Closing_Date"] = started.date().isoformat()
        refs: dict[str, str] = {}
        account_id = sub.account_id
        if account_id is not None:
            refs["Contact_Name"] = f"account:{account_id}"
        return payload, refs, problem

    async def _plan_deals(
        self,
        subscriptions: list[Subscription],
        customers: dict[int, Customer],
        deal_links: dict[int, CrmLink],
    ) -> None:
        pending: list[tuple[Subscription, Planned]] = []
        for sub in subscriptions:
            payload, refs, problem = self._deal_payload(sub)
            customer = customers.get(sub.account_id or -1)
            key = _company_key(customer.company) if customer else None
            if key is not None:
                refs["Account_Name"] = f"company:{key}"
            planned = Planned(
                "Deals",
                str(sub.id),
                sub.source_id,
                payload,
                fingerprint(payload, refs),
                None,
                None,
                "push",
                refs,
                local_id=sub.id,
            )
            if problem:
                self._item(planned, Action.FAIL, sub.source_id, None, problem)
                planned.op = None
                self.plans["Deals"].append(planned)
                continue
            link = deal_links.get(sub.id)
            if link is not None:
                planned.crm_id = link.crm_id
                planned.origin = link.origin
                if link.pushed_hash == planned.fingerprint:
                    self._item(planned, Action.UNCHANGED, sub.source_id, link.crm_id)
                    continue
                planned.op = "update"
                self.plans["Deals"].append(planned)
                self._item(planned, Action.UPDATE, sub.source_id, link.crm_id)
                continue
            pending.append((sub, planned))
        if not pending:
            return
        index: dict[str, list[str]] = defaultdict(list)
        async for page in self.reader.pages("Deals", ["Deal_Name"]):
            for record in page:
                index[str(record.get("Deal_Name") or "")].append(str(record["id"]))
        for sub, planned in pending:
            found = index.get(sub.source_id[:120], [])
            if len(found) == 1:
                planned.op, planned.crm_id, planned.origin = "update", found[0], "match"
                self.plans["Deals"].append(planned)
                self._item(planned, Action.UPDATE, sub.source_id, found[0])
                continue
            gone = self._gone_deals.get(sub.id)
            if gone is not None and not found:
                self._item(planned, Action.SKIP, sub.source_id, None, push_reason(gone, "deal"))
                continue
            planned.op = "upsert"
            planned.payload = {**planned.payload, "Owner": {"id": self.owner.id}}
            self.plans["Deals"].append(planned)
            if found:
                self._item(
                    planned, Action.FAIL, sub.source_id, None, _ambiguous(len(found), "Deals")
                )
            else:
                self._item(planned, Action.CREATE, sub.source_id, None)

    # ================================================================== apply

    async def apply(self, run_id: int | None) -> None:
        """Writes the plan, module by module, in calls of at most 100 records."""
        total = sum(1 for plans in self.plans.values() for p in plans if p.op)
        done = 0
        for module in ("Accounts", "Contacts", "Deals"):
            plans = self.plans[module]
            for keep_hash in (True, False):
                silent: list[tuple[Planned, str, str | None]] = [
                    (p, p.crm_id, None)
                    for p in plans
                    if p.op is None
                    and p.crm_id is not None
                    and (p.item is not None and p.item.action is Action.UNCHANGED) == keep_hash
                ]
                if silent:
                    self._store(module, silent, keep_hash=keep_hash)
            for op in ("update", "upsert"):
                batch_source = [p for p in plans if p.op == op]
                for start in range(0, len(batch_source), BATCH_SIZE):
                    self.context.cancel.raise_if_cancelled()
                    batch = batch_source[start : start + BATCH_SIZE]
                    await self._send(module, op, batch, run_id)
                    done += len(batch)
                    self.context.progress(
                        done, total, f"Zoho CRM: writing {module} — {done:,}/{total:,}"
                    )
        unsent = [
            p
            for plans in self.plans.values()
            for p in plans
            if p.op is None and p.item is not None and p.item.action is Action.FAIL
        ]
        if unsent:
            now = self.clock()
            with self.database.transaction() as session:
                for planned in unsent:
                    assert planned.item is not None
                    record_error(
                        session,
                        self.connection_id,
                        run_id,
                        f"crm:{planned.module}",
                        planned.source_id,
                        planned.item.reason,
                        {"record": planned.payload},
                        now,
                    )

    def _resolved(self, planned: Planned) -> dict[str, Any]:
        record = dict(planned.payload)
        for name, ref in planned.refs.items():
            kind, _, value = ref.partition(":")
            target = (
                self._company_ids.get(value)
                if kind == "company"
                else self._contact_ids.get(int(value))
            )
            if target:
                record[name] = {"id": target}
        if planned.op == "update" and planned.crm_id:
            record["id"] = planned.crm_id
        return record

    async def _send(self, module: str, op: str, batch: list[Planned], run_id: int | None) -> None:
        started = time.perf_counter()
        try:
            await self._send_batch(module, op, batch, run_id)
        finally:
            spent = time.perf_counter() - started
            self.report.write_seconds[module] = self.report.write_seconds.get(module, 0.0) + spent

    async def _send_batch(
        self, module: str, op: str, batch: list[Planned], run_id: int | None
    ) -> None:
        records = [self._resolved(p) for p in batch]
        method, path = ("PUT", f"/{module}") if op == "update" else ("POST", f"/{module}/upsert")
        checks = [_CHECKS[module]] if op == "upsert" else None
        self.report.write_calls[module] = self.report.write_calls.get(module, 0) + 1
        try:
            results = await self.client.write(method, path, records, duplicate_check_fields=checks)
        except CrmRequestError as error:
            results = [
                WriteResult(False, error.code or "REFUSED", str(error), error.details)
            ] * len(batch)
        written: list[tuple[Planned, str, str | None]] = []
        now = self.clock()
        with self.database.transaction() as session:
            for planned, record, result in zip(batch, records, results, strict=True):
                item = planned.item
                if result.ok:
                    crm_id = result.record_id or planned.crm_id
                    if crm_id is None:
                        continue
                    if result.action == "insert":
                        planned.origin = "push"
                    written.append((planned, crm_id, result.action))
                    if item is not None and item.action is Action.FAIL:
                        self.report.amend(
                            item, Action.CREATE if result.action == "insert" else Action.UPDATE
                        )
                    continue
                reason = result.reason()
                record_error(
                    session,
                    self.connection_id,
                    run_id,
                    f"crm:{module}",
                    planned.source_id,
                    reason,
                    {"record": record, "code": result.code, "details": result.details},
                    now,
                )
                if item is not None:
                    self.report.amend(item, Action.FAIL, reason)
            self._store_links(session, module, written, now)

    def _store(
        self, module: str, entries: list[tuple[Planned, str, str | None]], *, keep_hash: bool
    ) -> None:
        with self.database.transaction() as session:
            self._store_links(session, module, entries, self.clock(), keep_hash=keep_hash)

    def _store_links(
        self,
        session: Session,
        module: str,
        entries: Iterable[tuple[Planned, str, str | None]],
        now: datetime,
        *,
        keep_hash: bool = True,
    ) -> None:
        entries = list(entries)
        if not entries:
            return
        local_type = _LOCAL_TYPE[module]
        ids = [crm_id for _, crm_id, _ in entries]
        existing = {
            row.crm_id: row
            for row in session.scalars(
                select(CrmLink).where(
                    CrmLink.connection_id == self.connection_id,
                    CrmLink.module == module,
                    CrmLink.local_type == local_type,
                    CrmLink.crm_id.in_(ids),
                )
            )
        }
        for planned, crm_id, _action in entries:
            row = existing.get(crm_id)
            if row is None:
                row = CrmLink(
                    connection_id=self.connection_id,
                    module=module,
                    crm_id=crm_id,
                    local_type=local_type,
                    origin=planned.origin,
                    created_at=now,
                )
                session.add(row)
                existing[crm_id] = row
            if module == "Accounts":
                row.local_key = planned.key
                self._company_ids[planned.key] = crm_id
            else:
                row.local_id = planned.local_id
                if module == "Contacts" and planned.local_id is not None:
                    self._contact_ids[planned.local_id] = crm_id
            if keep_hash:
                row.pushed_hash = planned.fingerprint
                row.pushed_at = now


def _ambiguous(count: int, module: str = "Contacts") -> str:
    what = "this e-mail" if module == "Contacts" else "this deal name"
    return (
        f"{count} CRM {module} have {what}, so Billbridge cannot tell which one to update; "
        f"merge the duplicates in Zoho CRM."
    )
