"""Invariants enforced on every flush, whoever writes: identifiers never change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import get_history

from desktop.errors import BillbridgeError
from desktop.storage.models import Account, AccountSource


class IdentifierChangedError(BillbridgeError):
    """Somebody tried to change an account identifier, which is immutable once set."""


def _check_identifiers(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    for obj in session.dirty:
        if not isinstance(obj, Account | AccountSource):
            continue
        history = get_history(obj, "identifier")
        if history.deleted and history.deleted[0] is not None and history.added:
            raise IdentifierChangedError(
                f"The account identifier {history.deleted[0]!r} cannot be changed to "
                f"{history.added[0]!r}: identifiers are immutable once set."
            )


def install(session_class: type[Session]) -> None:
    """Registers the guards on a session class (idempotent)."""
    if not event.contains(session_class, "before_flush", _check_identifiers):
        event.listen(session_class, "before_flush", _check_identifiers)
