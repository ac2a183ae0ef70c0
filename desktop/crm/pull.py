"""Pull: the chosen CRM view's records into the workspace's Accounts and Users.

Per the settings' module (step 1):

* **Accounts** — each CRM Account of the account view becomes (or updates) an Account;
* **Contacts** — each CRM Contact becomes an Account with the contact as its primary
  User (a person's own account, like a billing customer without a company);
* **Accounts and their Contacts** — Accounts as above; each contact of the contact view
  (or each hand-picked contact) whose CRM Account was synced becomes a User of that
  account; contacts with no account become their own Account when
  ``include_orphans`` is set, and are skipped otherwise.

A CRM record linked by an earlier run (:mod:`desktop.crm.links`) is updated through its
link. An unlinked one that matches a workspace account (identifier, e-mail, exact name)
follows the duplicate policy (step 3): **overwrite** merges it into that account (its
mapped values win), **clone** creates a separate account, **skip** leaves it out. An
unmatched one creates an Account whose identifier is the mapped identifier (when free)
or ``zoho-crm:<CRM id>``. The CRM record itself is kept as the account's source for this
connection (``AccountSource``, raw payload included; mapped custom fields under
``billbridge_custom``).

Incremental runs send ``If-Modified-Since`` (the newest ``Modified_Time`` seen by the
last completed pass, stored as the ``crm:<module>`` cursor); a full run reads the whole
view. A dry run reads the same records and reports without writing anything.

Before its passes a pull reads the records deleted in CRM since the last pull
(:mod:`desktop.crm.deletions`): a linked record deleted there is unlinked, its deletion
kept and reported; a record restored from the recycle bin is linked again when the pass
reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.crm.client import CrmRequestError
from desktop.crm.deletions import (
    DELETION_MODULES,
    OVERLAP,
    apply_deleted,
    deleted_stream,
    last_read,
    linked_modules,
    revive,
    save_read,
)
from desktop.crm.fields import DEFAULT_PAIRS, apply_mapping, crm_value
from desktop.crm.links import AccountIndex, Match
from desktop.crm.remote import CrmReader
from desktop.crm.report import Action, Direction, ReportItem, SyncReport
from desktop.crm.settings import CrmSettings, DuplicatePolicy, FieldMapping, SyncModule
from desktop.jobs import JobContext
from desktop.storage.database import Database
from desktop.storage.models import (
    Account,
    AccountSource,
    CrmLink,
    SyncCursor,
    SyncError,
    User,
)
from desktop.sync.base import SourceResponseError
from desktop.timeutil import Clock, parse_timestamp

#: Fields every pull reads besides the mapped ones.
_BASE_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "Accounts": ("Account_Name", "Modified_Time", "Created_Time"),
    "Contacts": (
        "First_Name", "Last_Name", "Email", "Phone", "Account_Name", "Modified_Time",
        "Created_Time",
    ),
}  # fmt: skip
_SYNCED: Final[tuple[str, ...]] = ("name", "email", "company", "phone", "currency")


def cursor_stream(module: str) -> str:
    """The SyncCursor stream of a module's pull."""
    return f"crm:{module}"


def pull_fields(module: str, mappings: tuple[FieldMapping, ...]) -> list[str]:
    """The CRM fields a pull of ``module`` reads."""
    return list(dict.fromkeys([*_BASE_FIELDS[module], *(m.crm_field for m in mappings)]))


def mapping_for(settings: CrmSettings, module: str) -> tuple[FieldMapping, ...]:
    """The module's mapping, or the standard pairs when none was saved."""
    saved = settings.mapping(module)
    if saved:
        return saved
    return tuple(FieldMapping(crm, local) for crm, local in DEFAULT_PAIRS.get(module, ()))


@dataclass
class _Values:
    """What one CRM record gives the workspace."""

    crm_id: str
    module: str
    name: str | None
    identifier: str | None
    email: str | None
    company: str | None
    phone: str | None
    currency: str | None
    first_name: str | None = None
    last_name: str | None = None
    custom: dict[str, str | None] = field(default_factory=dict)
    modified: datetime | None = None
    created: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or self.email or self.crm_id


def _values(module: str, record: dict[str, Any], mappings: tuple[FieldMapping, ...]) -> _Values:
    mapped = apply_mapping(mappings, record)
    custom = {k.removeprefix("custom:"): v for k, v in mapped.items() if k.startswith("custom:")}
    first = mapped.get("first_name")
    last = mapped.get("last_name")
    name = mapped.get("name")
    if module == "Contacts" and not name:
        name = " ".join(p for p in (first, last) if p) or None
    company = mapped.get("company")
    if module == "Accounts" and not company:
        company = name
    return _Values(
        crm_id=str(record.get("id")),
        module=module,
        name=name,
        identifier=mapped.get("identifier"),
        email=mapped.get("email"),
        company=company,
        phone=mapped.get("phone"),
        currency=(mapped.get("currency") or "").upper()[:3] or None,
        first_name=first,
        last_name=last,
        custom=custom,
        modified=parse_timestamp(record.get("Modified_Time")),
        created=parse_timestamp(record.get("Created_Time")),
        raw={k: v for k, v in record.items() if v is not None},
    )


class Puller:
    """Runs one pull (or its dry run) for a CRM connection.

    Args:
        database: the workspace.
        connection_id: the CRM connection.
        settings: its integration settings.
        reader: reads the CRM.
        report: where counts and items go.
        clock: the clock (``synced_at``).
        run_id: the Sync run errors belong to (``None`` in a dry run).
        context: progress and cancel.
        full: read whole views instead of changes since the last pull.
    """

    def __init__(
        self,
        database: Database,
        connection_id: int,
        settings: CrmSettings,
        reader: CrmReader,
        report: SyncReport,
        clock: Clock,
        *,
        run_id: int | None,
        context: JobContext,
        full: bool = False,
    ) -> None:
        self.database = database
        self.connection_id = connection_id
        self.settings = settings
        self.reader = reader
        self.report = report
        self.clock = clock
        self.run_id = run_id
        self.context = context
        self.full = full
        self.dry_run = report.dry_run
        self.fetched = 0
        self._index = AccountIndex()
        self._dry_session: Session | None = None
        self._page = _Page()

    async def run(self) -> int:
        """Pulls every module of the settings; returns the number of records read.

        A dry run works in one session that is rolled back at the end, so later pages
        (contacts of accounts it would create) see what earlier ones would write.
        """
        if not self.dry_run:
            return await self._run()
        self._dry_session = self.database.session()
        try:
            return await self._run()
        finally:
            self._dry_session.rollback()
            self._dry_session.close()
            self._dry_session = None

    def fetch_one(self, module: str, record: dict[str, Any]) -> None:
        """Applies one CRM record fetched on demand (*Fetch this contact*)."""
        with self.database.session() as session:
            self._index = AccountIndex.for_pull(session, self.connection_id)
        as_user = module == "Contacts" and self.settings.module is SyncModule.ACCOUNTS_AND_CONTACTS
        self._apply_page(module, [record], self._as_contact if as_user else self._as_account)

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        """A session for reads: the dry run's own one, so its pending writes are seen."""
        if self._dry_session is not None:
            yield self._dry_session
            return
        with self.database.session() as session:
            yield session

    async def _run(self) -> int:
        started = self.clock()
        await self._deletions()
        with self._reading() as session:
            self._index = AccountIndex.for_pull(session, self.connection_id)
        module = self.settings.module
        if module is SyncModule.ACCOUNTS:
            await self._pass("Accounts", self._as_account)
        elif module is SyncModule.CONTACTS:
            await self._pass("Contacts", self._as_account)
        else:
            await self._pass("Accounts", self._as_account)
            if self.settings.contact_ids:
                fields = pull_fields("Contacts", mapping_for(self.settings, "Contacts"))
                records = await self.reader.by_ids("Contacts", self.settings.contact_ids, fields)
                self._apply_page("Contacts", records, self._as_contact)
            else:
                await self._pass("Contacts", self._as_contact)
        if not self.dry_run:
            # records linked from now on can only be deleted after this run started
            with self.database.transaction() as session:
                for name in DELETION_MODULES:
                    if last_read(session, self.connection_id, name) is None:
                        save_read(session, self.connection_id, name, started)
        return self.fetched

    # ------------------------------------------------------------------ deletions

    async def _deletions(self) -> None:
        """Reads each linked module's deleted records since the last read, to the end."""
        with self._reading() as session:
            modules = linked_modules(session, self.connection_id)
        for module in modules:
            await self._deleted(module)

    async def _deleted(self, module: str) -> None:
        started = self.clock()
        with self._reading() as session:
            last = None if self.full else last_read(session, self.connection_id, module)
        read = 0
        try:
            async for page in self.reader.deleted(module, last - OVERLAP if last else None):
                read += len(page)
                self._in_session(lambda s, p=page: self._apply_deleted(s, module, p))
                self.context.progress(
                    self.fetched, None, f"Zoho CRM: deleted {module} — {read:,} read"
                )
                self.context.cancel.raise_if_cancelled()
        except SourceResponseError as error:  # a refusal, or an unreadable answer
            reason = (
                f"The {module} deleted in Zoho CRM could not be read, so links to them stay "
                f"until the next sync: {error}"
            )
            self.report.add(
                ReportItem(
                    Direction.PULL, module, Action.FAIL, f"deleted {module}", None, None, reason
                )
            )
            payload = (
                {"code": error.code, "details": error.details}
                if isinstance(error, CrmRequestError)
                else None
            )
            self._in_session(
                lambda s: record_error(
                    s,
                    self.connection_id,
                    self.run_id,
                    deleted_stream(module),
                    None,
                    reason,
                    payload,
                    self.clock(),
                )
            )
            return
        if not self.dry_run:
            with self.database.transaction() as session:
                save_read(session, self.connection_id, module, started)

    def _apply_deleted(self, session: Session, module: str, entries: list[dict[str, Any]]) -> None:
        made, problems = apply_deleted(session, self.connection_id, module, entries)
        for tomb in made:
            what = {"user": "user", "subscription": "subscription", "company": "company"}.get(
                tomb.local_type, "account"
            )
            target = f" {tomb.local_id}" if tomb.local_id is not None else ""
            self.report.add(
                ReportItem(
                    Direction.PULL,
                    module,
                    Action.DELETE,
                    tomb.label,
                    tomb.crm_id,
                    tomb.local_id,
                    f"{tomb.sentence()} Unlinked from {what}{target}.",
                )
            )
        for problem in problems:
            self.report.add(
                ReportItem(
                    Direction.PULL,
                    module,
                    Action.FAIL,
                    problem.source_id or "deleted record",
                    problem.source_id,
                    None,
                    problem.reason,
                )
            )
            record_error(
                session, self.connection_id, self.run_id, deleted_stream(module),
                problem.source_id, problem.reason, {"entry": problem.entry}, self.clock(),
            )  # fmt: skip

    def _in_session(self, work: Any) -> None:
        """Runs ``work(session)`` in the dry run's session, or in its own transaction."""
        if self._dry_session is not None:
            work(self._dry_session)
            return
        with self.database.transaction() as session:
            work(session)

    # ------------------------------------------------------------------ passes

    async def _pass(self, module: str, handler: Any) -> None:
        mappings = mapping_for(self.settings, module)
        since = None if self.full else self._since(module)
        newest = since
        async for page in self.reader.pages(
            module,
            pull_fields(module, mappings),
            cvid=self.settings.views.get(module),
            since=since,
        ):
            self._apply_page(module, page, handler)
            for record in page:
                stamp = parse_timestamp(record.get("Modified_Time"))
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
            self.context.progress(self.fetched, None, f"Zoho CRM: {module} — {self.fetched:,} read")
            self.context.cancel.raise_if_cancelled()
        if not self.dry_run and newest is not None:
            with self.database.transaction() as session:
                _save_cursor(session, self.connection_id, cursor_stream(module), newest)

    def _since(self, module: str) -> datetime | None:
        with self._reading() as session:
            row = session.scalars(
                select(SyncCursor).where(
                    SyncCursor.connection_id == self.connection_id,
                    SyncCursor.stream == cursor_stream(module),
                )
            ).first()
            return parse_timestamp((row.value or {}).get("since")) if row else None

    def _apply_page(self, module: str, records: list[dict[str, Any]], handler: Any) -> None:
        self.fetched += len(records)
        if self._dry_session is not None:
            self._apply(self._dry_session, module, records, handler)
            return
        with self.database.transaction() as session:
            self._apply(session, module, records, handler)

    def _apply(
        self, session: Session, module: str, records: list[dict[str, Any]], handler: Any
    ) -> None:
        mappings = mapping_for(self.settings, module)
        rows = [r for r in records if r.get("id")]
        values = [_values(module, r, mappings) for r in rows]
        revive(session, self.connection_id, module, [v.crm_id for v in values], self.clock())
        self._page = _Page.load(session, self.connection_id, module, rows, values)
        for record, value in zip(rows, values, strict=True):
            handler(session, value, record)
        if self._page.new_accounts:
            session.flush()  # one batch of INSERTs gives every new account its id
            for value, account in self._page.new_accounts:
                self._write(session, value, account, overwrite=False, new=True)
            self._page.new_accounts.clear()
        self._page.finish(session, self.connection_id, self.clock())

    # ------------------------------------------------------------------ records

    def _item(
        self, values: _Values, action: Action, local_id: int | None = None, reason: str = ""
    ) -> None:
        self.report.add(
            ReportItem(
                Direction.PULL, values.module, action, values.label, values.crm_id, local_id, reason
            ),
            keep=action is not Action.UNCHANGED,
        )

    def _as_account(self, session: Session, values: _Values, record: dict[str, Any]) -> None:
        """A CRM record that is (or becomes) a workspace Account."""
        link = self._page.links.get((values.module, values.crm_id, "account"))
        if link is not None and link.local_id is not None:
            account = session.get(Account, link.local_id)
            if account is not None:
                self._write(session, values, account, overwrite=True, new=False)
                self._item(values, Action.UPDATE, account.id)
                return
        match = self._index.match(values.identifier, values.email, values.name)
        policy = self.settings.duplicates
        if match is not None and policy is DuplicatePolicy.SKIP:
            self._item(values, Action.SKIP, match.account_id, _duplicate_reason(match, "skipped"))
            return
        if match is not None and policy is DuplicatePolicy.OVERWRITE:
            account = session.get(Account, match.account_id)
            if account is not None:
                self._write(session, values, account, overwrite=True, new=False)
                self._item(
                    values, Action.UPDATE, account.id, _duplicate_reason(match, "merged into it")
                )
                return
        identifier = values.identifier
        if not identifier or identifier in self._page.taken:
            identifier = f"zoho-crm:{values.crm_id}"
        self._page.taken.add(identifier)
        account = Account(
            identifier=identifier,
            name=values.name,
            email=values.email,
            company=values.company,
            phone=values.phone,
            currency=values.currency,
            created_at=self.clock(),
            updated_at=self.clock(),
        )
        session.add(account)
        self._page.new_accounts.append((values, account))  # written once it has an id
        reason = _duplicate_reason(match, "kept beside it") if match is not None else ""
        self._item(values, Action.CREATE, account.id, reason)

    def _as_contact(
        self,
        session: Session,
        values: _Values,
        record: dict[str, Any],
    ) -> None:
        """A CRM Contact under 'Accounts and their Contacts': a User of its account."""
        lookup = record.get("Account_Name")
        account_crm_id = (
            str(lookup.get("id")) if isinstance(lookup, dict) and lookup.get("id") else None
        )
        if account_crm_id is None:
            if self.settings.include_orphans:
                self._as_account(session, values, record)
            else:
                self._item(
                    values,
                    Action.SKIP,
                    reason="The contact belongs to no CRM Account, and contacts without an "
                    "account are not included.",
                )
            return
        link = self._page.links.get(("Accounts", account_crm_id, "account"))
        if link is None or link.local_id is None:
            self._item(
                values,
                Action.SKIP,
                reason=f"The contact's CRM Account {crm_value(lookup) or account_crm_id} is not "
                "synced (outside the account view, or skipped as a duplicate).",
            )
            return
        existing = self._page.links.get(("Contacts", values.crm_id, "user"))
        self._write_user(session, values, link.local_id)
        self._item(values, Action.UPDATE if existing else Action.CREATE, link.local_id)

    # ------------------------------------------------------------------ writes

    def _write(
        self, session: Session, values: _Values, account: Account, *, overwrite: bool, new: bool
    ) -> None:
        now = self.clock()
        if overwrite:
            for name in _SYNCED:
                value = getattr(values, name)
                if value is not None:
                    setattr(account, name, value)
            account.updated_at = now
        raw = dict(values.raw)
        if values.custom:
            raw["billbridge_custom"] = values.custom
        source = self._page.sources.get(values.crm_id)
        if source is None:
            source = AccountSource(
                connection_id=self.connection_id, source_id=values.crm_id, account_id=account.id
            )
            session.add(source)
            self._page.sources[values.crm_id] = source
        source.account_id = account.id
        source.identifier = account.identifier
        source.name = values.name
        source.email = values.email
        source.company = values.company
        source.source_created_at = values.created
        source.source_updated_at = values.modified
        source.deleted_at = None
        source.raw = raw
        source.synced_at = now
        self._page.link(
            session, self.connection_id, values.module, values.crm_id, "account", account.id, now
        )
        if values.module == "Contacts":
            self._write_user(session, values, account.id, link=False)

    def _write_user(
        self, session: Session, values: _Values, account_id: int, *, link: bool = True
    ) -> None:
        now = self.clock()
        user = self._page.users.get(values.crm_id)
        if user is None:
            user = User(connection_id=self.connection_id, source_id=values.crm_id)
            session.add(user)
            self._page.users[values.crm_id] = user
        user.account_id = account_id
        user.first_name = values.first_name
        user.last_name = values.last_name
        user.email = values.email
        user.phone = values.phone
        user.is_primary = not link
        user.source_created_at = values.created
        user.source_updated_at = values.modified
        user.deleted_at = None
        user.raw = dict(values.raw)
        user.synced_at = now
        if link:
            self._page.user_links.append((values.crm_id, user))


@dataclass
class _Page:
    """What one page's writes need, read in a few queries instead of one per record."""

    links: dict[tuple[str, str, str], CrmLink] = field(default_factory=dict)
    sources: dict[str, AccountSource] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)
    user_links: list[tuple[str, User]] = field(default_factory=list)
    new_accounts: list[tuple[_Values, Account]] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        session: Session,
        connection_id: int,
        module: str,
        records: list[dict[str, Any]],
        values: list[_Values],
    ) -> _Page:
        page = cls()
        ids = [str(r["id"]) for r in records]
        accounts = [
            str(r["Account_Name"]["id"])
            for r in records
            if isinstance(r.get("Account_Name"), dict) and r["Account_Name"].get("id")
        ]
        wanted = (
            [(module, ids), ("Accounts", accounts)] if module == "Contacts" else [(module, ids)]
        )
        for link_module, link_ids in wanted:
            if not link_ids:
                continue
            for row in session.scalars(
                select(CrmLink).where(
                    CrmLink.connection_id == connection_id,
                    CrmLink.module == link_module,
                    CrmLink.crm_id.in_(link_ids),
                )
            ):
                page.links[(row.module, row.crm_id, row.local_type)] = row
        local = [
            r.local_id for r in page.links.values() if r.local_id and r.local_type == "account"
        ]
        if local:
            list(session.scalars(select(Account).where(Account.id.in_(local))))  # identity map
        if ids:
            page.sources = {
                s.source_id: s
                for s in session.scalars(
                    select(AccountSource).where(
                        AccountSource.connection_id == connection_id,
                        AccountSource.source_id.in_(ids),
                    )
                )
            }
            page.users = {
                u.source_id: u
                for u in session.scalars(
                    select(User).where(User.connection_id == connection_id, User.source_id.in_(ids))
                )
            }
        candidates = [v.identifier for v in values if v.identifier]
        if candidates:
            page.taken = set(
                session.scalars(
                    select(Account.identifier).where(Account.identifier.in_(candidates))
                )
            )
        return page

    def link(
        self,
        session: Session,
        connection_id: int,
        module: str,
        crm_id: str,
        local_type: str,
        local_id: int,
        now: datetime,
    ) -> None:
        key = (module, crm_id, local_type)
        row = self.links.get(key)
        if row is None:
            row = CrmLink(
                connection_id=connection_id,
                module=module,
                crm_id=crm_id,
                local_type=local_type,
                origin="pull",
                created_at=now,
            )
            session.add(row)
            self.links[key] = row
        row.local_id = local_id
        row.pulled_at = now

    def finish(self, session: Session, connection_id: int, now: datetime) -> None:
        """Links the page's new users (their ids exist once flushed)."""
        if not self.user_links:
            return
        session.flush()
        for crm_id, user in self.user_links:
            self.link(session, connection_id, "Contacts", crm_id, "user", user.id, now)
        self.user_links.clear()


def _duplicate_reason(match: Match, outcome: str) -> str:
    how = {"identifier": "identifier", "email": "e-mail", "name": "exact name"}[match.how]
    return f"It matches account {match.account_id} by {how}; {outcome}."


def _save_cursor(session: Session, connection_id: int, stream: str, since: datetime) -> None:
    row = session.scalars(
        select(SyncCursor).where(
            SyncCursor.connection_id == connection_id, SyncCursor.stream == stream
        )
    ).first()
    value = {"since": since.isoformat()}
    if row is None:
        session.add(SyncCursor(connection_id=connection_id, stream=stream, value=value))
    else:
        row.value = value


def record_error(
    session: Session,
    connection_id: int,
    run_id: int | None,
    stream: str,
    source_id: str | None,
    reason: str,
    payload: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Stores one Sync error (a record the CRM refused, or that could not be pulled)."""
    session.add(
        SyncError(
            run_id=run_id,
            connection_id=connection_id,
            stream=stream,
            source_id=source_id,
            reason=reason,
            payload=payload,
            created_at=now,
        )
    )
