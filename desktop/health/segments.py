"""Segments: saved filters over accounts, with a live count, an account list and CSV.

A segment's condition uses the language of :mod:`desktop.health.conditions`, evaluated
per account (see there). Account totals (MRR, amount due, health band) come from the last
recompute, so a preview is a single indexed query: fast enough to refresh while the
admin edits.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from desktop.errors import ConfigurationError, NotFoundError
from desktop.health.conditions import (
    CompileContext,
    Condition,
    compile_for_accounts,
    condition_to_json,
    describe,
    parse_condition,
)
from desktop.health.settings import load_currency_settings, reporting_currency
from desktop.money import minor_digits
from desktop.storage.database import Database
from desktop.storage.models import Account, AccountHealth, Segment
from desktop.timeutil import Clock, utc_now


@dataclass(frozen=True)
class SegmentView:
    """A saved segment."""

    id: int
    name: str
    description: str | None
    condition: Condition | None
    condition_json: dict[str, Any]
    summary: str
    updated_at: datetime


@dataclass(frozen=True)
class SegmentPreview:
    """How many accounts a segment holds and their MRR (reporting currency)."""

    accounts: int
    mrr_minor: int
    currency: str


def _parse(condition: Condition | Mapping[str, Any]) -> Condition:
    return condition if isinstance(condition, Condition) else parse_condition(condition)


def _context(session: Session, clock: Clock) -> CompileContext:
    settings = load_currency_settings(session)
    return CompileContext(clock(), settings, reporting_currency(session, settings))


def segment_filter(
    session: Session, condition: Condition | Mapping[str, Any], clock: Clock = utc_now
) -> Any:
    """The segment as a SQL filter over ``Account`` outer-joined to ``AccountHealth``."""
    return compile_for_accounts(_parse(condition), _context(session, clock))


def accounts_select(
    session: Session, condition: Condition | Mapping[str, Any], clock: Clock = utc_now
) -> Select[int]:
    """``SELECT accounts.id`` of the segment's accounts, for the accounts page to join."""
    return (
        select(Account.id)
        .select_from(Account)
        .outerjoin(AccountHealth, AccountHealth.account_id == Account.id)
        .where(segment_filter(session, condition, clock))
    )


def account_ids(
    database: Database, condition: Condition | Mapping[str, Any], clock: Clock = utc_now
) -> list[int]:
    """The ids of the segment's accounts, ascending."""
    with database.session() as session:
        query = accounts_select(session, condition, clock).order_by(Account.id)
        return [int(account_id) for account_id in session.scalars(query)]


def count_and_mrr(
    database: Database, condition: Condition | Mapping[str, Any], clock: Clock = utc_now
) -> SegmentPreview:
    """The segment's account count and total MRR, for the live preview."""
    with database.session() as session:
        ctx = _context(session, clock)
        query = (
            select(func.count(Account.id), func.coalesce(func.sum(AccountHealth.mrr_minor), 0))
            .select_from(Account)
            .outerjoin(AccountHealth, AccountHealth.account_id == Account.id)
            .where(compile_for_accounts(_parse(condition), ctx))
        )
        count, mrr = session.execute(query).one()
        return SegmentPreview(int(count), int(mrr), ctx.reporting)


CSV_COLUMNS: tuple[str, ...] = (
    "account_id",
    "identifier",
    "name",
    "company",
    "email",
    "mrr",
    "amount_due",
    "overdue_amount",
    "currency",
    "health_score",
    "health_band",
    "subscription_state",
)


def export_csv(
    database: Database,
    condition: Condition | Mapping[str, Any],
    out: TextIO,
    clock: Clock = utc_now,
) -> int:
    """Writes the segment's accounts to ``out`` as CSV; returns how many rows.

    Money is written in major units with its currency in its own column.
    """
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    rows = 0
    with database.session() as session:
        ids = accounts_select(session, condition, clock).subquery()
        query = (
            select(
                Account.id,
                Account.identifier,
                Account.name,
                Account.company,
                Account.email,
                AccountHealth.mrr_minor,
                AccountHealth.amount_due_minor,
                AccountHealth.overdue_minor,
                AccountHealth.currency,
                AccountHealth.score,
                AccountHealth.band,
                AccountHealth.state,
            )
            .join(ids, ids.c.id == Account.id)
            .outerjoin(AccountHealth, AccountHealth.account_id == Account.id)
            .order_by(Account.id)
        )
        for row in session.execute(query).yield_per(2000):
            currency = row.currency or ""

            def money(value: int | None, code: str = currency) -> str:
                if value is None:
                    return ""
                return str(Decimal(value).scaleb(-minor_digits(code or "USD")))

            writer.writerow(
                (
                    row.id,
                    row.identifier,
                    row.name or "",
                    row.company or "",
                    row.email or "",
                    money(row.mrr_minor),
                    money(row.amount_due_minor),
                    money(row.overdue_minor),
                    currency,
                    "" if row.score is None else row.score,
                    row.band or "",
                    row.state or "",
                )
            )
            rows += 1
    return rows


# -------------------------------------------------------------------------- storage


def _view(segment: Segment) -> SegmentView:
    condition: Condition | None
    try:
        condition = parse_condition(segment.condition)
        summary = describe(condition)
    except ConfigurationError as error:
        condition, summary = None, str(error)
    return SegmentView(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        condition=condition,
        condition_json=dict(segment.condition),
        summary=summary,
        updated_at=segment.updated_at,
    )


def list_segments(database: Database) -> list[SegmentView]:
    """Every saved segment, by name."""
    with database.session() as session:
        return [_view(s) for s in session.scalars(select(Segment).order_by(Segment.name))]


def get_segment(database: Database, segment_id: int) -> SegmentView:
    """One saved segment.

    Raises:
        NotFoundError: when it does not exist.
    """
    with database.session() as session:
        segment = session.get(Segment, segment_id)
        if segment is None:
            raise NotFoundError(f"There is no segment with id {segment_id}.")
        return _view(segment)


def save_segment(
    database: Database,
    *,
    name: str,
    condition: Condition | Mapping[str, Any],
    segment_id: int | None = None,
    description: str | None = None,
) -> SegmentView:
    """Creates (``segment_id`` ``None``) or updates a segment after validating it.

    Raises:
        ConditionError: when the condition is invalid.
        ConfigurationError: on an empty or taken name.
        NotFoundError: when ``segment_id`` does not exist.
    """
    parsed = _parse(condition)
    clean = name.strip()
    if not clean:
        raise ConfigurationError("A segment needs a name.")
    with database.transaction() as session:
        clash = session.scalar(
            select(Segment.id).where(Segment.name == clean, Segment.id != (segment_id or -1))
        )
        if clash is not None:
            raise ConfigurationError(f"A segment called “{clean}” already exists.")
        if segment_id is None:
            segment = Segment(name=clean)
            session.add(segment)
        else:
            found = session.get(Segment, segment_id)
            if found is None:
                raise NotFoundError(f"There is no segment with id {segment_id}.")
            segment = found
            segment.name = clean
        segment.condition = condition_to_json(parsed)
        segment.description = description
        session.flush()
        return _view(segment)


def delete_segment(database: Database, segment_id: int) -> None:
    """Deletes a saved segment."""
    with database.transaction() as session:
        segment = session.get(Segment, segment_id)
        if segment is None:
            raise NotFoundError(f"There is no segment with id {segment_id}.")
        session.delete(segment)
