"""The Zoho CRM integration's operations: connect, run, dry run, fetch, search, link, state.

:class:`CrmIntegration` is what the integration page, the wizard and ``billbridge crm``
call (from a worker thread — every method blocks while it talks to the CRM). Usage::

    crm = CrmIntegration(database, secrets)
    crm.connect(name="CRM", secret=json_text, owner_email="pat@acme.example")
    setup = crm.setup("CRM")           # the five steps (desktop.crm.setup.CrmSetup)
    ...; setup.save()
    preview = crm.preview("CRM")       # SyncReport: create/update/skip/fail per module
    summary = crm.run("CRM")           # RunSummary (a Sync run row of the CRM connection)
    crm.fetch("CRM", account_id=42)    # Fetch this contact from Zoho CRM
    crm.search("CRM", "orbit")         # Search in Zoho CRM → candidates; crm.link(...)

A run takes the connection's sync lock (:mod:`desktop.sync.locks`), so a manual run is
refused with the reason while the automatic one runs; it is recorded as a Sync run of
the CRM connection (the CRM's own sync history), with per-module counts and write calls
in its ``details`` and every refused record as a Sync error.

Connection states: *paused* stops automatic runs (manual ones still work), *disabled*
stops every run and keeps all data, links and settings; *reactivate* undoes either.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, select, update

from desktop.crm.client import CrmClient
from desktop.crm.connect import (
    KIND,
    ClientFactory,
    CrmCheck,
    CrmEndpoint,
    CrmSecret,
    auth_server,
    check_crm,
    client_factory,
    endpoint_settings,
    resolve_credentials,
)
from desktop.crm.deletions import AccountCrmState, account_state
from desktop.crm.links import save_link
from desktop.crm.pull import Puller, mapping_for, pull_fields
from desktop.crm.push import Owner, Pusher
from desktop.crm.remote import CrmReader, escape_criteria
from desktop.crm.report import Action, SyncReport
from desktop.crm.settings import CrmSettings, Extent
from desktop.errors import BillbridgeError, ConfigurationError, NotFoundError
from desktop.health.settings import reporting_currency
from desktop.jobs import Cancelled, CancelToken, JobContext
from desktop.secrets import SecretStore
from desktop.storage.database import Database
from desktop.storage.models import Connection, ConnectionStatus, CrmLink, RunStatus, SyncRun
from desktop.sync.base import SyncFailure
from desktop.sync.connections import ConnectionInfo, ConnectionService
from desktop.sync.engine import RunSummary, summary_of
from desktop.sync.locks import SyncLocks, this_host
from desktop.sync.zoho_oauth import ZohoCredentials, parse_zoho_secret
from desktop.timeutil import Clock, utc_now

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class CrmCandidate:
    """A CRM record found by *Search in Zoho CRM*.

    Attributes:
        module: ``Contacts`` or ``Accounts``.
        crm_id: its CRM id.
        name: its name.
        email: its e-mail (Contacts).
        company: its account's name (Contacts) or its own (Accounts).
        linked_account_id: the workspace account already linked to it, if any.
    """

    module: str
    crm_id: str
    name: str
    email: str | None
    company: str | None
    linked_account_id: int | None = None


class CrmIntegration:
    """Operations on Zoho CRM connections (see the module docstring).

    Args:
        database: the workspace.
        secrets: the keychain seam.
        clock: the clock (token expiry, run times).
        client_factory: builds CRM clients (tests: the sandbox's transport).
        locks: the sync locks (default: on ``database``).
        heartbeat_seconds: lock heartbeat period (``None``: no heartbeat thread).
    """

    def __init__(
        self,
        database: Database,
        secrets: SecretStore,
        clock: Clock = utc_now,
        *,
        client_factory: ClientFactory | None = None,
        locks: SyncLocks | None = None,
        heartbeat_seconds: float | None = 10.0,
    ) -> None:
        self.database = database
        self.secrets = secrets
        self.clock = clock
        self.client_factory = client_factory or _default_factory(clock)
        self.locks = locks or SyncLocks(database, clock)
        self._heartbeat = heartbeat_seconds
        self.connections = ConnectionService(database, secrets, clock)

    # ================================================================ connect

    def connect(
        self,
        *,
        name: str,
        secret: str,
        owner_email: str,
        data_centre: str | None = None,
        base_url: str | None = None,
        auth_url: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> tuple[ConnectionInfo, CrmCheck]:
        """Checks the credentials, the owner and the currency, then saves the connection.

        ``secret`` is the Zoho JSON with a ``refresh_token`` or a one-time ``grant_code``
        (traded for a refresh token here). Nothing is saved when a check fails.

        Raises:
            ConfigurationError: a bad secret, unknown owner, or a currency mismatch with
                CRM multi-currency on (:class:`~desktop.crm.connect.CurrencyMismatch`).
            AuthorisationError: Zoho refused the credentials.
        """
        parsed = CrmSecret.parse(secret)
        endpoint_values = endpoint_settings(data_centre, base_url, auth_url)
        endpoint = CrmEndpoint(
            name.strip() or "Zoho CRM", **endpoint_values, settings=dict(settings or {})
        )
        workspace = self.workspace_currency()
        placeholder = ZohoCredentials(
            parsed.client_id, parsed.client_secret, parsed.refresh_token or "-"
        )

        async def main(client: CrmClient) -> tuple[ZohoCredentials, CrmCheck]:
            credentials = await resolve_credentials(
                client, parsed, auth_server(endpoint_values), endpoint.name
            )
            checked = await self._with_client(
                endpoint, credentials, lambda c: check_crm(CrmReader(c), owner_email, workspace)
            )
            return credentials, checked

        credentials, checked = self._run_async(endpoint, placeholder, main)
        values = {
            **(settings or {}),
            **endpoint_values,
            **checked.settings(),
            "crm": CrmSettings().to_json(),
        }
        info = self.connections.add(
            name=name, kind=KIND, settings=values, secret=credentials.to_secret()
        )
        return info, checked

    def update_credentials(
        self, name: str, secret: str, owner_email: str | None = None
    ) -> CrmCheck:
        """Replaces a connection's OAuth secret (and optionally the owner) after checking them.

        Raises:
            ConfigurationError / AuthorisationError: as for :meth:`connect`; nothing changes.
        """
        row = self._row(name)
        endpoint = CrmEndpoint.of(row)
        parsed = CrmSecret.parse(secret)
        placeholder = ZohoCredentials(
            parsed.client_id, parsed.client_secret, parsed.refresh_token or "-"
        )
        owner = owner_email or str(row.settings.get("owner_email") or "")
        workspace = self.workspace_currency()

        async def main(client: CrmClient) -> tuple[ZohoCredentials, CrmCheck]:
            credentials = await resolve_credentials(
                client, parsed, auth_server(endpoint.settings), endpoint.name
            )
            checked = await self._with_client(
                endpoint, credentials, lambda c: check_crm(CrmReader(c), owner, workspace)
            )
            return credentials, checked

        credentials, checked = self._run_async(endpoint, placeholder, main)
        self.connections.update(row.id, settings=checked.settings(), secret=credentials.to_secret())
        return checked

    def workspace_currency(self) -> str:
        """The workspace's reporting currency (compared with the CRM's base currency)."""
        with self.database.session() as session:
            return reporting_currency(session)

    # ================================================================ settings

    def settings(self, name: str) -> CrmSettings:
        """A connection's integration settings (defaults until the setup is saved)."""
        return CrmSettings.from_json(self._row(name).settings.get("crm"))

    def save_settings(self, name: str, settings: CrmSettings) -> None:
        """Writes the integration settings (one transaction; used by ``CrmSetup.save``)."""
        row = self._row(name)
        with self.database.transaction() as session:
            stored = session.get(Connection, row.id)
            assert stored is not None
            stored.settings = {**dict(stored.settings or {}), "crm": settings.to_json()}
            stored.updated_at = self.clock()

    def setup(self, name: str, *, secret_override: str | None = None) -> Any:
        """The five steps' model for this connection, with the CRM's metadata loaded.

        Returns:
            A :class:`desktop.crm.setup.CrmSetup`.
        """
        from desktop.crm.setup import CrmSetup

        return CrmSetup.load(self, name, secret_override=secret_override)

    # ================================================================ state

    def pause(self, name: str) -> None:
        """Stops automatic syncs (manual ones still run)."""
        self.connections.update(self._row(name).id, status=ConnectionStatus.PAUSED.value)

    def resume(self, name: str) -> None:
        """Restarts automatic syncs."""
        self.connections.update(self._row(name).id, status=ConnectionStatus.ACTIVE.value)

    def disable(self, name: str) -> None:
        """Stops every sync; data, links and settings are kept."""
        self.connections.update(self._row(name).id, status=ConnectionStatus.DISABLED.value)

    def reactivate(self, name: str) -> None:
        """Enables a disabled (or paused) integration again."""
        self.resume(name)

    def history(self, name: str, limit: int = 50) -> list[RunSummary]:
        """The CRM connection's own sync history, newest first."""
        row = self._row(name)
        with self.database.session() as session:
            ids = list(
                session.scalars(
                    select(SyncRun.id)
                    .where(SyncRun.connection_id == row.id)
                    .order_by(SyncRun.id.desc())
                    .limit(limit)
                )
            )
        return [summary_of(self.database, run_id) for run_id in ids]

    # ================================================================ runs

    def preview(
        self,
        name: str,
        *,
        settings: CrmSettings | None = None,
        context: JobContext | None = None,
        secret_override: str | None = None,
    ) -> SyncReport:
        """The dry run: what a sync would create, update, skip and fail, per module.

        Reads the CRM (views, indexes) but writes nothing, anywhere. ``settings`` previews
        unsaved settings (the wizard's summary page, ``crm setup --dry-run``).
        """
        row = self._row(name)
        self._check_runnable(row, "manual")
        settings = settings or self._configured(row)
        report = SyncReport(dry_run=True)
        context = context or JobContext()

        async def main(client: CrmClient) -> None:
            await self._sync(row, settings, client, report, context, run_id=None, full=False)

        self._run_async(
            CrmEndpoint.of(row), self._credentials(row, secret_override), main, context.cancel
        )
        return report

    def run(
        self,
        name: str,
        *,
        full: bool = False,
        trigger: str = "manual",
        context: JobContext | None = None,
        secret_override: str | None = None,
    ) -> RunSummary:
        """Syncs now: pulls the chosen views, then (both ways) pushes billing data.

        Raises:
            SyncBusy: another run of this connection is in progress (the sentence names it).
            SyncFailure: the integration is disabled, or paused for a scheduled run, or a
                connection-level failure (the run is recorded as failed).
            ConfigurationError: the setup was never completed.
            Cancelled: cancel was asked for (recorded as cancelled).
        """
        row = self._row(name)
        self._check_runnable(row, trigger)
        settings = self._configured(row)
        credentials = self._credentials(row, secret_override)
        context = context or JobContext()
        report = SyncReport()
        lock = self.locks.acquire(row.id, trigger, heartbeat_seconds=self._heartbeat)
        try:
            run_id = self._open_run(row, "full" if full else "incremental", trigger)
            lock.set_run(run_id)
            calls: dict[str, int] = {}

            async def main(client: CrmClient) -> None:
                try:
                    await self._sync(
                        row, settings, client, report, context, run_id=run_id, full=full
                    )
                finally:
                    calls["api"] = client.api_calls

            try:
                self._run_async(CrmEndpoint.of(row), credentials, main, context.cancel)
            except Cancelled:
                self._close_run(
                    run_id,
                    RunStatus.CANCELLED,
                    report,
                    calls,
                    "Cancelled; what was written is kept.",
                )
                raise
            except BillbridgeError as error:
                self._close_run(run_id, RunStatus.FAILED, report, calls, str(error))
                raise
            except Exception as error:
                log.exception("The CRM sync of %s failed unexpectedly.", row.name)
                message = (
                    f"The sync of {row.name} stopped on an unexpected error "
                    f"({type(error).__name__}); what was written is kept. See the log."
                )
                self._close_run(run_id, RunStatus.FAILED, report, calls, message)
                raise SyncFailure(message) from None
            failed = report.total(Action.FAIL)
            status = RunStatus.PARTIAL if failed else RunStatus.SUCCEEDED
            message = (
                f"{failed:,} records failed; see 'billbridge errors {row.name}'."
                if failed
                else "Finished."
            )
            self._close_run(run_id, status, report, calls, message)
            return summary_of(self.database, run_id)
        finally:
            lock.release()

    async def _sync(
        self,
        row: Connection,
        settings: CrmSettings,
        client: CrmClient,
        report: SyncReport,
        context: JobContext,
        *,
        run_id: int | None,
        full: bool,
    ) -> None:
        reader = CrmReader(client)
        puller = Puller(
            self.database, row.id, settings, reader, report, self.clock,
            run_id=run_id, context=context, full=full,
        )  # fmt: skip
        await puller.run()
        report.notes.append(f"{puller.fetched:,} CRM records read.")
        if settings.extent is not Extent.BOTH:
            return
        pusher = Pusher(
            self.database, row.id, settings, _owner(row), client, report, self.clock, context
        )
        await pusher.plan()
        if not report.dry_run:
            await pusher.apply(run_id)

    # ================================================================ one record

    def fetch(
        self,
        name: str,
        crm_id: str | None = None,
        *,
        account_id: int | None = None,
        secret_override: str | None = None,
    ) -> RunSummary:
        """*Fetch this contact from Zoho CRM*: pulls one record now.

        Give the CRM id, or the workspace account whose linked CRM record to fetch.

        Raises:
            NotFoundError: no such CRM record, or the account has no CRM link.
        """
        row = self._row(name)
        self._check_runnable(row, "fetch")
        settings = self._configured(row)
        module, crm_id = self._fetch_target(row, settings, crm_id, account_id)
        report = SyncReport()
        lock = self.locks.acquire(row.id, "fetch", heartbeat_seconds=None)
        try:
            run_id = self._open_run(row, "fetch", "fetch")
            calls: dict[str, int] = {}

            async def main(client: CrmClient) -> None:
                reader = CrmReader(client)
                modules = [module] if module else list(settings.module.crm_modules)
                record = None
                for candidate in modules:
                    record = await reader.record(
                        candidate, crm_id, pull_fields(candidate, mapping_for(settings, candidate))
                    )
                    if record is not None:
                        found = candidate
                        break
                calls["api"] = client.api_calls
                if record is None:
                    raise NotFoundError(f"Zoho CRM has no record {crm_id} in {', '.join(modules)}.")
                puller = Puller(
                    self.database, row.id, settings, reader, report, self.clock,
                    run_id=run_id, context=JobContext(),
                )  # fmt: skip
                puller.fetch_one(found, record)

            try:
                self._run_async(CrmEndpoint.of(row), self._credentials(row, None), main)
            except BillbridgeError as error:
                self._close_run(run_id, RunStatus.FAILED, report, calls, str(error))
                raise
            self._close_run(run_id, RunStatus.SUCCEEDED, report, calls, f"Fetched {crm_id}.")
            return summary_of(self.database, run_id)
        finally:
            lock.release()

    def _fetch_target(
        self, row: Connection, settings: CrmSettings, crm_id: str | None, account_id: int | None
    ) -> tuple[str | None, str]:
        if crm_id:
            return None, crm_id.strip()
        if account_id is None:
            raise ConfigurationError("Give the CRM id of the record, or the account to fetch.")
        with self.database.session() as session:
            link = session.scalars(
                select(CrmLink)
                .where(
                    CrmLink.connection_id == row.id,
                    CrmLink.local_type == "account",
                    CrmLink.local_id == account_id,
                    CrmLink.module.in_(settings.module.crm_modules),
                )
                .order_by(CrmLink.id)
            ).first()
        if link is None:
            deleted = self.account_state(row.id, account_id).deleted
            gone = next((t for t in deleted if t.local_type == "account"), None)
            if gone is not None:
                raise NotFoundError(
                    f"{gone.sentence()} Account {account_id} is no longer linked to it; "
                    "restore it in Zoho CRM, or search for another record and link it."
                )
            raise NotFoundError(
                f"Account {account_id} is not linked to a Zoho CRM record of {row.name}; "
                "search for it in Zoho CRM and link it first."
            )
        return link.module, link.crm_id

    def account_state(self, name: str | int, account_id: int) -> AccountCrmState:
        """An account's links to this CRM, and its linked records deleted in CRM since."""
        row = self._row(name)
        with self.database.session() as session:
            return account_state(session, row.id, row.name, account_id)

    def search(
        self, name: str, query: str, *, module: str = "Contacts", limit: int = 20
    ) -> list[CrmCandidate]:
        """*Search in Zoho CRM*: an e-mail, a word (≥2 characters) or a ``(criteria)``.

        Returns candidates (none when nothing matches — CRM answers 204 — or when a record
        was created moments ago and is not indexed yet).
        """
        if module not in ("Contacts", "Accounts"):
            raise ConfigurationError("Search Contacts or Accounts.")
        row = self._row(name)
        text = query.strip()
        fields = (
            ["First_Name", "Last_Name", "Email", "Account_Name"]
            if module == "Contacts"
            else ["Account_Name", "Phone", "Website"]
        )
        kwargs: dict[str, Any] = {}
        if text.startswith("(") and text.endswith(")"):
            kwargs["criteria"] = text
        elif "@" in text:
            kwargs["email"] = text
        elif module == "Accounts" and len(text) >= 2 and " " in text:
            kwargs["criteria"] = f"(Account_Name:starts_with:{escape_criteria(text)})"
        else:
            kwargs["word"] = text

        async def main(client: CrmClient) -> list[dict[str, Any]]:
            return await CrmReader(client).search(module, fields, limit=limit, **kwargs)

        records = self._run_async(CrmEndpoint.of(row), self._credentials(row, None), main)
        with self.database.session() as session:
            linked = {
                link.crm_id: link.local_id
                for link in session.scalars(
                    select(CrmLink).where(
                        CrmLink.connection_id == row.id,
                        CrmLink.module == module,
                        CrmLink.local_type == "account",
                        CrmLink.crm_id.in_([str(r.get("id")) for r in records]),
                    )
                )
            }
        out = []
        for record in records:
            crm_id = str(record.get("id"))
            account = record.get("Account_Name")
            if module == "Contacts":
                label = " ".join(
                    p for p in (record.get("First_Name"), record.get("Last_Name")) if p
                )
                company = account.get("name") if isinstance(account, dict) else None
            else:
                label = str(account or "")
                company = label
            out.append(
                CrmCandidate(
                    module,
                    crm_id,
                    label or crm_id,
                    record.get("Email"),
                    company,
                    linked.get(crm_id),
                )
            )
        return out

    def link(self, name: str, account_id: int, crm_id: str, *, module: str = "Contacts") -> None:
        """Links a workspace account to a chosen CRM record (replacing its old link).

        Raises:
            NotFoundError: the account or the CRM record does not exist.
        """
        if module not in ("Contacts", "Accounts"):
            raise ConfigurationError("Link an account to a CRM Contact or a CRM Account.")
        row = self._row(name)
        from desktop.storage.models import Account

        with self.database.session() as session:
            if session.get(Account, account_id) is None:
                raise NotFoundError(f"There is no account {account_id}.")

        async def main(client: CrmClient) -> dict[str, Any] | None:
            return await CrmReader(client).record(module, crm_id)

        if self._run_async(CrmEndpoint.of(row), self._credentials(row, None), main) is None:
            raise NotFoundError(f"Zoho CRM has no {module[:-1]} {crm_id}.")
        with self.database.transaction() as session:
            session.execute(
                delete(CrmLink).where(
                    CrmLink.connection_id == row.id,
                    CrmLink.module == module,
                    CrmLink.local_type == "account",
                    CrmLink.local_id == account_id,
                )
            )
            save_link(
                session, row.id, module, crm_id, "account",
                local_id=account_id, origin="manual", now=self.clock(),
            )  # fmt: skip

    # ================================================================ plumbing

    def _row(self, name: str | int) -> Connection:
        with self.database.session() as session:
            found: Connection | None = None
            if isinstance(name, int) or str(name).isdigit():
                found = session.get(Connection, int(name))
            if found is None:
                found = session.scalars(
                    select(Connection).where(Connection.name == str(name))
                ).first()
            if found is None:
                raise NotFoundError(f"There is no connection called {name!r}.")
            if found.kind != KIND:
                raise ConfigurationError(f"{found.name} is not a Zoho CRM connection.")
            session.expunge(found)
            return found

    def _credentials(self, row: Connection, secret_override: str | None) -> ZohoCredentials:
        secret = (
            secret_override if secret_override is not None else self.secrets.read(row.secret_ref)
        )
        if not secret:
            raise SyncFailure(
                f"No credentials are stored for {row.name}; update them with "
                "'billbridge crm credentials' or pass --secret-env."
            )
        return parse_zoho_secret(secret)

    @staticmethod
    def _configured(row: Connection) -> CrmSettings:
        settings = CrmSettings.from_json((row.settings or {}).get("crm"))
        if not settings.configured:
            raise ConfigurationError(
                f"The Zoho CRM integration {row.name} is not set up yet; finish the setup "
                f"(billbridge crm setup {row.name} …) first."
            )
        return settings

    @staticmethod
    def _check_runnable(row: Connection, trigger: str) -> None:
        if row.status == ConnectionStatus.DISABLED.value:
            raise SyncFailure(
                f"The Zoho CRM integration {row.name} is disabled; reactivate it to sync."
            )
        if row.status == ConnectionStatus.PAUSED.value and trigger == "scheduled":
            raise SyncFailure(f"The Zoho CRM integration {row.name} is paused.")

    def _run_async(
        self,
        endpoint: CrmEndpoint,
        credentials: ZohoCredentials,
        body: Callable[[CrmClient], Awaitable[T]],
        cancel: CancelToken | None = None,
    ) -> T:
        async def main() -> T:
            return await self._with_client(endpoint, credentials, body, cancel)

        return asyncio.run(main())

    async def _with_client(
        self,
        endpoint: CrmEndpoint,
        credentials: ZohoCredentials,
        body: Callable[[CrmClient], Awaitable[T]],
        cancel: CancelToken | None = None,
    ) -> T:
        client = self.client_factory(endpoint, credentials, cancel or CancelToken())
        try:
            return await body(client)
        finally:
            await client.aclose()

    def _open_run(self, row: Connection, kind: str, trigger: str) -> int:
        now = self.clock()
        with self.database.transaction() as session:
            session.execute(
                update(SyncRun)
                .where(SyncRun.connection_id == row.id, SyncRun.status == RunStatus.RUNNING.value)
                .values(
                    status=RunStatus.INTERRUPTED.value,
                    finished_at=now,
                    message="The process running this sync stopped (killed or crashed).",
                )
            )
            run = SyncRun(
                connection_id=row.id,
                kind=kind,
                trigger=trigger,
                status=RunStatus.RUNNING.value,
                started_at=now,
                owner=f"{this_host()}:{os.getpid()}",
                details={},
            )
            session.add(run)
            session.flush()
            return run.id

    def _close_run(
        self,
        run_id: int,
        status: RunStatus,
        report: SyncReport,
        calls: dict[str, int],
        message: str,
    ) -> None:
        with self.database.transaction() as session:
            run = session.get(SyncRun, run_id)
            assert run is not None
            pulled = sum(c.total - c.delete for (d, _), c in report.counts.items() if d == "pull")
            run.status = status.value
            run.finished_at = self.clock()
            run.fetched = pulled
            run.created = report.total(Action.CREATE)
            run.updated = report.total(Action.UPDATE)
            run.deleted = report.total(Action.DELETE)
            run.errors = report.total(Action.FAIL)
            run.api_calls = calls.get("api", 0)
            run.message = message
            run.details = report.to_json()


def _owner(row: Connection) -> Owner:
    settings = dict(row.settings or {})
    base = str(settings.get("crm_base_currency") or "").upper()
    return Owner(
        id=str(settings.get("owner_id") or ""),
        base_currency=base,
        multi_currency=bool(settings.get("crm_multi_currency")),
        currencies=tuple(str(c).upper() for c in settings.get("crm_currencies") or (base,)),
    )


def _default_factory(clock: Clock) -> ClientFactory:
    return client_factory(clock)
