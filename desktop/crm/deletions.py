"""Deletions: Zoho CRM records deleted since the last pull, and the links they break.

Every pull first asks ``GET /{module}/deleted?type=all`` for each CRM module this
connection has links in (Accounts, Contacts, Deals), with ``If-Modified-Since`` set to
the time of the last completed read minus :data:`OVERLAP` (a clock a little off, or a
deletion made while the last read ran, is still seen; an entry seen twice changes
nothing), and follows its pages to the end. The read's start time is kept as the
module's ``crm:deleted:<module>`` cursor once every page was applied. The first read
(and a full pull) asks for the whole recycle bin. A refused read keeps the old cursor,
so the next pull asks again, and becomes a Sync error; so does an entry CRM sends
without an id or a deletion time.

For a deleted record that is linked here:

* its links go — the account, user, subscription or company is no longer linked to it;
* the deletion is kept as a :class:`Tombstone` (when, by whom, what it was linked to) in
  the module's cursor row, so the Account 360° can say "deleted in Zoho CRM on …"
  (:func:`account_state`) and the push can apply its rule;
* an Account or User pulled from it is marked deleted at the source (``deleted_at`` is
  CRM's deletion time); the workspace record itself stays.

A record taken back out of the recycle bin counts as changed in CRM, so the next
incremental pull reads it again; the pull then links it again from its tombstone
(:func:`revive`) instead of matching it anew. A push finds a restored Contact by e-mail
and a restored Deal by name, as for any unlinked record.

**The push rule for deleted records** (:mod:`desktop.crm.push`): a customer whose Contact
was deleted in CRM is a customer with no matching Contact, so the *no matching Contact*
rule decides — **create** makes a new Contact (the report says it replaces one deleted
in CRM), **skip** leaves the customer out (the report says why). A subscription whose
Deal was deleted in CRM is not given a new Deal: a CRM user took it out of the pipeline
on purpose, and no rule asks for Deals to be re-created; the report lists it as skipped
until the Deal is restored in CRM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.storage.models import AccountSource, CrmLink, Subscription, SyncCursor, User
from desktop.timeutil import parse_timestamp

#: Modules whose deletions a pull reads (when the connection has links in them).
DELETION_MODULES: Final[tuple[str, ...]] = ("Accounts", "Contacts", "Deals")
#: How far before the last read's start the next read asks from.
OVERLAP: Final[timedelta] = timedelta(minutes=2)
#: Tombstones kept per module (the newest); older deletions are forgotten.
MAX_TOMBSTONES: Final[int] = 5_000


def deleted_stream(module: str) -> str:
    """The SyncCursor stream of a module's deleted-records reads (and tombstones)."""
    return f"crm:deleted:{module}"


@dataclass(frozen=True)
class Tombstone:
    """A CRM record deleted in Zoho CRM while it was linked here.

    Attributes:
        module: the CRM module.
        crm_id: the deleted record.
        local_type: what it stood for (``account``, ``user``, ``subscription``, ``company``).
        local_id: the workspace record it was linked to (``None`` for a company).
        local_key: the link's key (a company's name in lower case).
        origin: how the link was made (``pull``, ``push``, ``match``, ``manual``).
        deleted_at: when it was deleted in CRM (aware UTC).
        deleted_by: the CRM user who deleted it, when CRM says.
        name: the record's name as CRM lists it.
    """

    module: str
    crm_id: str
    local_type: str
    local_id: int | None
    local_key: str | None
    origin: str
    deleted_at: datetime
    deleted_by: str | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        """The record as people recognise it."""
        return self.name or self.crm_id

    def sentence(self) -> str:
        """ "Contact Sam Lee (5725…) was deleted in Zoho CRM on 2025-06-01 12:05 UTC by …"."""
        who = f" by {self.deleted_by}" if self.deleted_by else ""
        name = f"{self.name} ({self.crm_id})" if self.name else self.crm_id
        return (
            f"{self.module[:-1]} {name} was deleted in Zoho CRM on "
            f"{self.deleted_at:%Y-%m-%d %H:%M} UTC{who}."
        )

    def to_json(self) -> dict[str, Any]:
        """The tombstone as stored in the cursor row."""
        data = asdict(self)
        data["deleted_at"] = self.deleted_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tombstone | None:
        """A stored tombstone (``None`` when unreadable)."""
        when = parse_timestamp(data.get("deleted_at"))
        if when is None or not data.get("crm_id") or not data.get("module"):
            return None
        local_id = data.get("local_id")
        return cls(
            module=str(data["module"]),
            crm_id=str(data["crm_id"]),
            local_type=str(data.get("local_type") or "account"),
            local_id=int(local_id) if isinstance(local_id, int) else None,
            local_key=data.get("local_key"),
            origin=str(data.get("origin") or "pull"),
            deleted_at=when,
            deleted_by=data.get("deleted_by"),
            name=data.get("name"),
        )


@dataclass(frozen=True)
class Problem:
    """A deleted-records entry that could not be applied (becomes a Sync error)."""

    source_id: str | None
    reason: str
    entry: dict[str, Any]


# ---------------------------------------------------------------------- cursor row


def _row(session: Session, connection_id: int, module: str) -> SyncCursor | None:
    return session.scalars(
        select(SyncCursor).where(
            SyncCursor.connection_id == connection_id,
            SyncCursor.stream == deleted_stream(module),
        )
    ).first()


def _store(session: Session, connection_id: int, module: str, **changes: Any) -> None:
    row = _row(session, connection_id, module)
    if row is None:
        row = SyncCursor(connection_id=connection_id, stream=deleted_stream(module), value={})
        session.add(row)
    row.value = {**(row.value or {}), **changes}  # a new dict, so the JSON change is seen


def last_read(session: Session, connection_id: int, module: str) -> datetime | None:
    """When the last completed deleted-records read of a module started."""
    row = _row(session, connection_id, module)
    return parse_timestamp((row.value or {}).get("since")) if row is not None else None


def save_read(session: Session, connection_id: int, module: str, started: datetime) -> None:
    """Keeps the start of a completed deleted-records read as the module's cursor."""
    _store(session, connection_id, module, since=started.isoformat())


def tombstones(session: Session, connection_id: int, module: str) -> list[Tombstone]:
    """A module's kept deletions, oldest first."""
    row = _row(session, connection_id, module)
    stored = (row.value or {}).get("deleted") if row is not None else None
    out = [Tombstone.from_json(d) for d in stored or [] if isinstance(d, dict)]
    return [t for t in out if t is not None]


def _save_tombstones(
    session: Session, connection_id: int, module: str, items: list[Tombstone]
) -> None:
    items = sorted(items, key=lambda t: t.deleted_at)[-MAX_TOMBSTONES:]
    _store(session, connection_id, module, deleted=[t.to_json() for t in items])


def linked_modules(session: Session, connection_id: int) -> list[str]:
    """The CRM modules this connection has links in (the ones whose deletions matter)."""
    found = set(
        session.scalars(
            select(CrmLink.module).where(CrmLink.connection_id == connection_id).distinct()
        )
    )
    return [m for m in DELETION_MODULES if m in found]


# ---------------------------------------------------------------------- applying


def apply_deleted(
    session: Session, connection_id: int, module: str, entries: list[dict[str, Any]]
) -> tuple[list[Tombstone], list[Problem]]:
    """Applies one page of deleted records: unlinks, keeps tombstones, marks sources.

    Returns the tombstones of the linked records it unlinked (entries for records not
    linked here change nothing) and the entries it could not read.
    """
    problems: list[Problem] = []
    when_by_id: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for entry in entries:
        crm_id = str(entry.get("id") or "").strip()
        when = parse_timestamp(entry.get("deleted_time"))
        if not crm_id or when is None:
            problems.append(
                Problem(
                    crm_id or None,
                    f"Zoho CRM listed a deleted {module[:-1]} without "
                    f"{'an id' if not crm_id else 'a deletion time'}; nothing was changed for it.",
                    entry,
                )
            )
            continue
        when_by_id[crm_id] = (when, entry)
    if not when_by_id:
        return [], problems
    ids = list(when_by_id)
    links = session.scalars(
        select(CrmLink)
        .where(
            CrmLink.connection_id == connection_id,
            CrmLink.module == module,
            CrmLink.crm_id.in_(ids),
        )
        .order_by(CrmLink.id)
    ).all()
    made: list[Tombstone] = []
    for link in links:
        when, entry = when_by_id[link.crm_id]
        made.append(
            Tombstone(
                module=module,
                crm_id=link.crm_id,
                local_type=link.local_type,
                local_id=link.local_id,
                local_key=link.local_key,
                origin=link.origin,
                deleted_at=when,
                deleted_by=_user_name(entry.get("deleted_by")),
                name=str(entry.get("display_name") or "") or None,
            )
        )
        session.delete(link)
    for source in session.scalars(
        select(AccountSource).where(
            AccountSource.connection_id == connection_id,
            AccountSource.source_id.in_(ids),
            AccountSource.deleted_at.is_(None),
        )
    ):
        source.deleted_at = when_by_id[source.source_id][0]
    for user in session.scalars(
        select(User).where(
            User.connection_id == connection_id,
            User.source_id.in_(ids),
            User.deleted_at.is_(None),
        )
    ):
        user.deleted_at = when_by_id[user.source_id][0]
    if made:
        kept = tombstones(session, connection_id, module)
        gone = {(t.crm_id, t.local_type) for t in made}
        kept = [t for t in kept if (t.crm_id, t.local_type) not in gone]
        _save_tombstones(session, connection_id, module, kept + made)
    session.flush()
    return made, problems


def revive(
    session: Session, connection_id: int, module: str, crm_ids: list[str], now: datetime
) -> list[Tombstone]:
    """Links records CRM has again (restored from the recycle bin) as they were linked.

    A tombstone whose workspace side is linked to another record by now is dropped
    without relinking. Returns the tombstones revived.
    """
    kept = tombstones(session, connection_id, module)
    wanted = set(crm_ids)
    back = [t for t in kept if t.crm_id in wanted]
    if not back:
        return []
    revived: list[Tombstone] = []
    for tomb in back:
        taken = (
            tomb.local_id is not None
            and session.scalars(
                select(CrmLink.id).where(
                    CrmLink.connection_id == connection_id,
                    CrmLink.module == module,
                    CrmLink.local_type == tomb.local_type,
                    CrmLink.local_id == tomb.local_id,
                )
            ).first()
        )
        if taken:
            continue
        session.add(
            CrmLink(
                connection_id=connection_id,
                module=module,
                crm_id=tomb.crm_id,
                local_type=tomb.local_type,
                local_id=tomb.local_id,
                local_key=tomb.local_key,
                origin=tomb.origin,
                created_at=now,
            )
        )
        revived.append(tomb)
    _save_tombstones(session, connection_id, module, [t for t in kept if t not in back])
    session.flush()
    return revived


def unlinked_tombstones(
    session: Session, connection_id: int, module: str, local_type: str
) -> dict[int, Tombstone]:
    """The newest deletion per workspace record that is not linked again since."""
    linked = set(
        session.scalars(
            select(CrmLink.local_id).where(
                CrmLink.connection_id == connection_id,
                CrmLink.module == module,
                CrmLink.local_type == local_type,
            )
        )
    )
    out: dict[int, Tombstone] = {}
    for tomb in tombstones(session, connection_id, module):
        if (
            tomb.local_type == local_type
            and tomb.local_id is not None
            and tomb.local_id not in linked
        ):
            out[tomb.local_id] = tomb  # oldest first: the newest wins
    return out


def push_reason(gone: Tombstone | None, outcome: str) -> str:
    """The push report's reason for a record with no link (``gone``: its deletion in CRM).

    ``outcome``: ``create`` (a new Contact), ``skip`` (no Contact, by the rule) or
    ``deal`` (a deleted Deal, never created again).
    """
    if gone is None:
        return (
            "No CRM Contact matches this customer and the rule says not to create one."
            if outcome == "skip"
            else ""
        )
    return (
        f"Its {gone.sentence()} "
        + {
            "create": "The rule creates a Contact when none matches, so a new one replaces it.",
            "skip": "The rule says not to create a Contact when none matches, so it is not "
            "created again.",
            "deal": "A Deal deleted in CRM is not created again; restore it in Zoho CRM to link "
            "it again.",
        }[outcome]
    )


# ---------------------------------------------------------------------- account state


@dataclass(frozen=True)
class AccountCrmState:
    """An account's links to one CRM connection, and its records deleted there.

    Attributes:
        connection: the CRM connection's name.
        linked: ``(module, CRM id)`` of the records the account is linked to.
        deleted: deletions of records the account (its users, its subscriptions' Deals)
            was linked to, not linked again since; newest first.
    """

    connection: str
    linked: list[tuple[str, str]]
    deleted: list[Tombstone]

    def sentences(self) -> list[str]:
        """What the Account 360° shows, one line per link or deletion."""
        lines = [
            f"Linked to Zoho CRM {m[:-1]} {crm_id} ({self.connection})."
            for m, crm_id in self.linked
        ]
        for tomb in self.deleted:
            what = {
                "user": "a user of this account",
                "subscription": f"subscription {tomb.local_id}",
            }.get(tomb.local_type, "this account")
            lines.append(f"{tomb.sentence()} It was linked to {what}; the link is gone.")
        return lines


def account_state(
    session: Session, connection_id: int, connection: str, account_id: int
) -> AccountCrmState:
    """An account's CRM links and deletions for one CRM connection."""
    linked = [
        (link.module, link.crm_id)
        for link in session.scalars(
            select(CrmLink)
            .where(
                CrmLink.connection_id == connection_id,
                CrmLink.local_type == "account",
                CrmLink.local_id == account_id,
            )
            .order_by(CrmLink.id)
        )
    ]
    users = set(session.scalars(select(User.id).where(User.account_id == account_id)))
    subscriptions = set(
        session.scalars(select(Subscription.id).where(Subscription.account_id == account_id))
    )
    wanted = {"account": {account_id}, "user": users, "subscription": subscriptions}
    deleted: list[Tombstone] = []
    for module in DELETION_MODULES:
        for local_type, ids in wanted.items():
            found = unlinked_tombstones(session, connection_id, module, local_type)
            deleted.extend(t for local_id, t in found.items() if local_id in ids)
    deleted.sort(key=lambda t: t.deleted_at, reverse=True)
    return AccountCrmState(connection, linked, deleted)


def _user_name(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("name") or value.get("id") or "") or None
    return None
