"""CRM links and duplicate matching: which workspace record a CRM record stands for.

A :class:`~desktop.storage.models.CrmLink` row ties one CRM record (connection, module,
id) to one workspace record; later runs update through it, never by matching again.
A CRM record with no link yet is matched against the workspace's accounts (step 3 of the
setup) by **identifier**, then **e-mail** (case-insensitive), then **exact name** (the
account's name or company, trimmed) — :class:`AccountIndex`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.storage.models import Account, AccountSource, CrmLink

#: How a CRM record matched a workspace account.
MATCH_KINDS: Final[tuple[str, ...]] = ("identifier", "email", "name")


@dataclass(frozen=True)
class Match:
    """A workspace account a CRM record duplicates, and how it matched."""

    account_id: int
    how: str


@dataclass
class AccountIndex:
    """The workspace's accounts by identifier, e-mail and exact name, for matching."""

    by_identifier: dict[str, int] = field(default_factory=dict)
    by_email: dict[str, int] = field(default_factory=dict)
    by_name: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, exclude: set[int] | None = None) -> AccountIndex:
        """Every account (except the ids in ``exclude``), the oldest winning ties."""
        index = cls()
        rows = session.execute(
            select(
                Account.id, Account.identifier, Account.email, Account.name, Account.company
            ).order_by(Account.id)
        ).all()
        for row in rows:
            if exclude and row.id in exclude:
                continue
            index.add(row.id, row.identifier, row.email, row.name, row.company)
        return index

    @classmethod
    def for_pull(cls, session: Session, connection_id: int) -> AccountIndex:
        """The accounts a CRM record can duplicate: those not pulled from this CRM.

        Accounts made from this CRM's own records (by this or an earlier pull) are not
        duplicates of its other records — two CRM contacts both called "Sam Lee" stay two
        accounts; a record already pulled is updated through its link instead.
        """
        pulled: set[int] = set(
            session.scalars(
                select(CrmLink.local_id).where(
                    CrmLink.connection_id == connection_id,
                    CrmLink.local_type == "account",
                    CrmLink.origin == "pull",
                    CrmLink.local_id.is_not(None),
                )
            ).all()
        ) - {None}  # type: ignore[assignment]
        # also those whose CRM record was deleted there (unlinked, their source kept)
        pulled |= set(
            session.scalars(
                select(AccountSource.account_id).where(AccountSource.connection_id == connection_id)
            )
        )
        merged = (
            set(
                session.scalars(
                    select(AccountSource.account_id).where(
                        AccountSource.connection_id != connection_id,
                        AccountSource.account_id.in_(pulled),
                    )
                )
            )
            if pulled
            else set()
        )
        return cls.load(session, exclude=pulled - merged)

    def add(
        self,
        account_id: int,
        identifier: str | None,
        email: str | None,
        name: str | None,
        company: str | None = None,
    ) -> None:
        """Indexes one account (an existing key keeps its first account)."""
        if identifier:
            self.by_identifier.setdefault(identifier.strip(), account_id)
        if email:
            self.by_email.setdefault(email.strip().lower(), account_id)
        for value in (name, company):
            if value and value.strip():
                self.by_name.setdefault(value.strip(), account_id)

    def match(self, identifier: str | None, email: str | None, name: str | None) -> Match | None:
        """The account a CRM record duplicates (identifier, then e-mail, then name)."""
        if identifier and identifier.strip() in self.by_identifier:
            return Match(self.by_identifier[identifier.strip()], "identifier")
        if email and email.strip().lower() in self.by_email:
            return Match(self.by_email[email.strip().lower()], "email")
        if name and name.strip() in self.by_name:
            return Match(self.by_name[name.strip()], "name")
        return None


def links(session: Session, connection_id: int, module: str, local_type: str) -> dict[str, CrmLink]:
    """A connection's links of one CRM module and local type, by CRM id."""
    rows = session.scalars(
        select(CrmLink).where(
            CrmLink.connection_id == connection_id,
            CrmLink.module == module,
            CrmLink.local_type == local_type,
        )
    ).all()
    return {row.crm_id: row for row in rows}


def links_by_local(
    session: Session, connection_id: int, module: str, local_type: str
) -> dict[int, CrmLink]:
    """A connection's links of one CRM module and local type, by local id (oldest wins)."""
    out: dict[int, CrmLink] = {}
    for row in sorted(
        links(session, connection_id, module, local_type).values(), key=lambda r: r.id
    ):
        if row.local_id is not None:
            out.setdefault(row.local_id, row)
    return out


def save_link(
    session: Session,
    connection_id: int,
    module: str,
    crm_id: str,
    local_type: str,
    *,
    local_id: int | None = None,
    local_key: str | None = None,
    origin: str = "push",
    pushed_hash: str | None = None,
    now: datetime | None = None,
    pulled: bool = False,
) -> CrmLink:
    """Creates or updates one link (the local side and the pushed fingerprint)."""
    row = session.scalars(
        select(CrmLink).where(
            CrmLink.connection_id == connection_id,
            CrmLink.module == module,
            CrmLink.crm_id == crm_id,
            CrmLink.local_type == local_type,
        )
    ).first()
    if row is None:
        row = CrmLink(
            connection_id=connection_id,
            module=module,
            crm_id=crm_id,
            local_type=local_type,
            origin=origin,
        )
        if now is not None:
            row.created_at = now
        session.add(row)
    if local_id is not None:
        row.local_id = local_id
    if local_key is not None:
        row.local_key = local_key[:255]
    if pushed_hash is not None:
        row.pushed_hash = pushed_hash
        row.pushed_at = now
    if pulled:
        row.pulled_at = now
    return row
