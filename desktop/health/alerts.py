"""Risk alerts: rules as data, evaluated set-based, raised once, resolved when untrue.

An alert rule is a condition (:mod:`desktop.health.conditions`) plus a name and a
severity. :func:`evaluate_alerts` — run after every sync and every incoming event —
compiles each enabled rule to one ``SELECT … GROUP BY account`` and compares the accounts
it matches with the rule's open alerts:

* an account that matches and has no open alert gets a new one, whose reason names the
  account, the rule and the record that matched, as a sentence;
* an account with an open alert that still matches keeps it (never duplicated — the
  database refuses a second open alert for one rule and account);
* an open alert whose account no longer matches is resolved.

A person can acknowledge an alert (it stays open while true, but is no longer "active")
or snooze it until a time (hidden until then; it comes back if still true). An alert that
resolves and later becomes true again is a new alert.

Default rules are installed once per workspace, enabled; deleting one is respected.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from desktop.errors import ConfigurationError, NotFoundError
from desktop.health.bulk import bind_value, fetch_rows, insert_rows
from desktop.health.conditions import (
    CompileContext,
    Condition,
    ConditionError,
    alert_subject,
    compile_for_subject,
    condition_to_json,
    describe,
    entities,
    parse_condition,
)
from desktop.health.settings import load_currency_settings, reporting_currency
from desktop.health.sql import chunks
from desktop.money import format_money
from desktop.storage.database import Database
from desktop.storage.models import (
    Account,
    AccountHealth,
    Alert,
    AlertRule,
    Invoice,
    Subscription,
    WorkspaceSetting,
)
from desktop.timeutil import Clock, ensure_utc, utc_now

DEFAULTS_KEY = "health.default_rules_installed"

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


class AlertState(enum.StrEnum):
    """Where an alert stands (see :attr:`AlertView.state`)."""

    ACTIVE = "active"  # open, not acknowledged, not snoozed
    SNOOZED = "snoozed"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


#: Shipped rules: (name, severity, condition, description). Installed once, enabled.
DEFAULT_RULES: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    (
        "Invoice overdue more than 15 days",
        "warning",
        {"field": "invoice.days_overdue", "op": "gt", "value": 15},
        "An invoice still has money due more than 15 days after its due date.",
    ),
    (
        "Amount due over 1,000",
        "warning",
        {"field": "account.amount_due", "op": "gt", "value": {"amount": "1000"}},
        "The account owes more than 1,000 in the reporting currency (as of the last recompute).",
    ),
    (
        "Non-renewing, renewal within 30 days",
        "critical",
        {
            "all": [
                {"field": "subscription.status", "op": "is", "value": "non_renewing"},
                {"field": "subscription.renewal_at", "op": "within_next_days", "value": 30},
            ]
        },
        "A subscription set not to renew reaches its term end within 30 days.",
    ),
    (
        "Trial ends within 7 days, no payment method",
        "warning",
        {
            "all": [
                {"field": "subscription.status", "op": "is", "value": "trial"},
                {"field": "subscription.trial_ends_at", "op": "within_next_days", "value": 7},
                {"field": "subscription.has_payment_method", "op": "is", "value": False},
            ]
        },
        "A trial ends within a week and no payment method is on file.",
    ),
)


@dataclass(frozen=True)
class AlertRuleView:
    """An alert rule as editors show it.

    Attributes:
        id, name, description, severity, enabled: the rule.
        condition: the parsed condition, or ``None`` when the stored one is invalid.
        condition_json: the stored JSON.
        subject: ``invoice``, ``subscription`` or ``account`` (what it matches).
        summary: the condition as a phrase.
        last_evaluated_at: when it last ran.
        last_error: why it could not run last time, as a sentence, or ``None``.
    """

    id: int
    name: str
    description: str | None
    severity: str
    enabled: bool
    condition: Condition | None
    condition_json: dict[str, Any]
    subject: str | None
    summary: str
    last_evaluated_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class AlertView:
    """One alert with what a list shows about it.

    Attributes:
        state: active, snoozed, acknowledged or resolved (as of the clock used to list).
    """

    id: int
    rule_id: int
    rule_name: str
    severity: str
    account_id: int
    account_name: str
    subject: str
    subject_id: int | None
    reason: str
    raised_at: datetime
    resolved_at: datetime | None
    acknowledged_at: datetime | None
    snoozed_until: datetime | None
    state: AlertState


def _state(alert: Alert, now: datetime) -> AlertState:
    if alert.resolved_at is not None:
        return AlertState.RESOLVED
    if alert.snoozed_until is not None and ensure_utc(alert.snoozed_until) > now:
        return AlertState.SNOOZED
    if alert.acknowledged_at is not None:
        return AlertState.ACKNOWLEDGED
    return AlertState.ACTIVE


def _account_label(name: str | None, company: str | None, identifier: str) -> str:
    return name or company or identifier


# -------------------------------------------------------------------------- rules


def install_default_rules(session: Session) -> int:
    """Adds the default rules once per workspace; returns how many were added."""
    if session.get(WorkspaceSetting, DEFAULTS_KEY) is not None:
        return 0
    existing = set(session.scalars(select(AlertRule.name)))
    added = 0
    for name, severity, condition, description in DEFAULT_RULES:
        if name in existing:
            continue
        session.add(
            AlertRule(
                name=name,
                severity=severity,
                condition=condition,
                description=description,
                enabled=True,
            )
        )
        added += 1
    session.add(WorkspaceSetting(key=DEFAULTS_KEY, value={"installed": True}))
    session.flush()
    return added


def _rule_view(rule: AlertRule) -> AlertRuleView:
    condition: Condition | None
    subject: str | None
    try:
        condition = parse_condition(rule.condition)
        subject = alert_subject(condition)
        summary = describe(condition)
    except ConditionError as error:
        condition, subject, summary = None, None, str(error)
    return AlertRuleView(
        id=rule.id,
        name=rule.name,
        description=rule.description,
        severity=rule.severity,
        enabled=rule.enabled,
        condition=condition,
        condition_json=dict(rule.condition),
        subject=subject,
        summary=summary,
        last_evaluated_at=rule.last_evaluated_at,
        last_error=rule.last_error,
    )


def list_rules(database: Database) -> list[AlertRuleView]:
    """Every alert rule, by name (installs the default rules the first time)."""
    with database.transaction() as session:
        install_default_rules(session)
        rules = session.scalars(select(AlertRule).order_by(AlertRule.name)).all()
        return [_rule_view(rule) for rule in rules]


def save_rule(
    database: Database,
    *,
    name: str,
    condition: Condition | Mapping[str, Any],
    rule_id: int | None = None,
    description: str | None = None,
    severity: str = "warning",
    enabled: bool = True,
) -> AlertRuleView:
    """Creates (``rule_id`` ``None``) or updates an alert rule after validating it.

    Raises:
        ConditionError: when the condition is invalid or mixes invoices and subscriptions.
        ConfigurationError: on an empty or taken name or an unknown severity.
        NotFoundError: when ``rule_id`` does not exist.
    """
    parsed = condition if isinstance(condition, Condition) else parse_condition(condition)
    alert_subject(parsed)
    clean = name.strip()
    if not clean:
        raise ConfigurationError("An alert rule needs a name.")
    if severity not in SEVERITIES:
        raise ConfigurationError(f"Severity must be one of {', '.join(SEVERITIES)}.")
    with database.transaction() as session:
        install_default_rules(session)
        clash = session.scalar(
            select(AlertRule.id).where(AlertRule.name == clean, AlertRule.id != (rule_id or -1))
        )
        if clash is not None:
            raise ConfigurationError(f"An alert rule called “{clean}” already exists.")
        if rule_id is None:
            rule = AlertRule(name=clean)
            session.add(rule)
        else:
            found = session.get(AlertRule, rule_id)
            if found is None:
                raise NotFoundError(f"There is no alert rule with id {rule_id}.")
            rule = found
            rule.name = clean
        rule.condition = condition_to_json(parsed)
        rule.description = description
        rule.severity = severity
        rule.enabled = enabled
        rule.last_error = None
        session.flush()
        return _rule_view(rule)


def set_rule_enabled(database: Database, rule_id: int, enabled: bool) -> None:
    """Turns a rule on or off (a disabled rule's open alerts resolve at the next run)."""
    with database.transaction() as session:
        rule = session.get(AlertRule, rule_id)
        if rule is None:
            raise NotFoundError(f"There is no alert rule with id {rule_id}.")
        rule.enabled = enabled


def delete_rule(database: Database, rule_id: int) -> None:
    """Deletes a rule and its alerts."""
    with database.transaction() as session:
        rule = session.get(AlertRule, rule_id)
        if rule is None:
            raise NotFoundError(f"There is no alert rule with id {rule_id}.")
        session.delete(rule)


# --------------------------------------------------------------------- evaluation


def _context(session: Session, now: datetime) -> CompileContext:
    settings = load_currency_settings(session)
    return CompileContext(now, settings, reporting_currency(session, settings))


def _matches(session: Session, condition: Condition, ctx: CompileContext) -> dict[int, int | None]:
    """Account id → id of the first matching record (``None`` for account rules)."""
    subject = alert_subject(condition)
    uses_totals = "account" in entities(condition)
    connection = session.connection()
    if subject == "account":
        query = (
            select(Account.id)
            .select_from(Account)
            .outerjoin(AccountHealth, AccountHealth.account_id == Account.id)
            .where(compile_for_subject(condition, ctx, Account.id))
        )
        return {int(row[0]): None for row in fetch_rows(connection, query)}
    model: Any = Invoice if subject == "invoice" else Subscription
    query = select(model.account_id, model.id).select_from(model)
    if uses_totals:
        query = query.outerjoin(AccountHealth, AccountHealth.account_id == model.account_id)
    # no GROUP BY: grouping by account lets SQLite walk the account index over every row
    rows = fetch_rows(
        connection,
        query.where(
            model.deleted_at.is_(None), compile_for_subject(condition, ctx, model.account_id)
        ),
    )
    first: dict[int, int | None] = {}
    for account, record in sorted((r for r in rows if r[0] is not None), reverse=True):
        first[int(account)] = int(record)
    return first


def count_matching_accounts(
    database: Database, condition: Condition | Mapping[str, Any], clock: Clock = utc_now
) -> int:
    """How many accounts a rule would alert on now (for the editor's preview)."""
    parsed = condition if isinstance(condition, Condition) else parse_condition(condition)
    with database.session() as session:
        return len(_matches(session, parsed, _context(session, clock())))


def _day(value: date | datetime | None) -> str:
    if value is None:
        return "?"
    return f"{value:%Y-%m-%d}"


def _evidence(session: Session, subject: str, ids: list[int], today: date) -> dict[int, str]:
    """A short description of each matching record, by id."""
    found: dict[int, str] = {}
    i, s = Invoice, Subscription
    for part in chunks(ids):
        if subject == "invoice":
            query = select(
                i.id, i.number, i.source_id, i.status, i.currency, i.total_minor,
                i.amount_due_minor, i.due_on,
            ).where(i.id.in_(part))  # fmt: skip
            for row_id, number, source_id, status, currency, total, due, due_on in session.execute(
                query
            ):
                bits = [status.replace("_", " ")]
                if due:
                    bits.append(f"{format_money(due, currency)} due")
                else:
                    bits.append(f"total {format_money(total, currency)}")
                if due_on is not None:
                    late = (today - due_on).days
                    overdue = f", {late} days overdue" if late > 0 and due else ""
                    bits.append(f"due {_day(due_on)}{overdue}")
                found[row_id] = f"invoice {number or source_id} ({'; '.join(bits)})"
        elif subject == "subscription":
            sub_query = select(
                s.id, s.number, s.source_id, s.plan_name, s.status, s.trial_ends_at,
                s.current_term_ends_at, s.next_billing_at, s.has_payment_method,
            ).where(s.id.in_(part))  # fmt: skip
            for row in session.execute(sub_query):
                bits = [row.status.replace("_", " ")]
                renewal = row.current_term_ends_at or row.next_billing_at
                if row.status == "trial" and row.trial_ends_at is not None:
                    bits.append(f"trial ends {_day(row.trial_ends_at)}")
                elif renewal is not None:
                    bits.append(f"renewal {_day(renewal)}")
                if not row.has_payment_method:
                    bits.append("no payment method")
                plan = f" on {row.plan_name}" if row.plan_name else ""
                found[row.id] = (
                    f"subscription {row.number or row.source_id}{plan} ({'; '.join(bits)})"
                )
    return found


def _account_summary(health: AccountHealth | None) -> str:
    if health is None:
        return "no totals yet"
    return (
        f"MRR {format_money(health.mrr_minor, health.currency)}, "
        f"{format_money(health.amount_due_minor, health.currency)} due, "
        f"{health.overdue_invoices} overdue invoice{'s' if health.overdue_invoices != 1 else ''}, "
        f"health {health.score} ({health.band})"
    )


def _view(alert: Alert, rule: AlertRule, label: str, now: datetime) -> AlertView:
    return AlertView(
        id=alert.id,
        rule_id=rule.id,
        rule_name=rule.name,
        severity=rule.severity,
        account_id=alert.account_id,
        account_name=label,
        subject=alert.subject,
        subject_id=alert.subject_id,
        reason=alert.reason,
        raised_at=alert.raised_at,
        resolved_at=alert.resolved_at,
        acknowledged_at=alert.acknowledged_at,
        snoozed_until=alert.snoozed_until,
        state=_state(alert, now),
    )


def _evaluate_rule(session: Session, rule: AlertRule, now: datetime) -> list[AlertView]:
    condition = parse_condition(rule.condition)
    subject = alert_subject(condition)
    matched = _matches(session, condition, _context(session, now))
    open_alerts = dict(
        session.execute(
            select(Alert.account_id, Alert.id).where(
                Alert.rule_id == rule.id, Alert.resolved_at.is_(None)
            )
        ).all()
    )
    gone = [alert_id for account, alert_id in open_alerts.items() if account not in matched]
    for part in chunks(gone):
        session.execute(
            update(Alert).where(Alert.id.in_(part)).values(resolved_at=now, open_key=None)
        )
    fresh = sorted(account for account in matched if account not in open_alerts)
    if not fresh:
        return []
    labels: dict[int, str] = {}
    healths: dict[int, AccountHealth] = {}
    for part in chunks(fresh):
        for account_id, name, company, identifier in session.execute(
            select(Account.id, Account.name, Account.company, Account.identifier).where(
                Account.id.in_(part)
            )
        ):
            labels[account_id] = _account_label(name, company, identifier)
        if subject == "account":
            for health in session.scalars(
                select(AccountHealth).where(AccountHealth.account_id.in_(part))
            ):
                healths[health.account_id] = health
    evidence = _evidence(
        session, subject, [i for a in fresh if (i := matched[a]) is not None], now.date()
    )
    summary = describe(condition)
    table = Alert.__table__
    assert isinstance(table, Table)
    connection = session.connection()
    stamp = bind_value(connection, table, "raised_at", now)
    rows: list[tuple[Any, ...]] = []
    for account in fresh:
        record = matched[account]
        what = (
            evidence.get(record, f"{subject} {record}")
            if record is not None
            else _account_summary(healths.get(account))
        )
        reason = (
            f"{labels.get(account, f'Account {account}')}: {what} — matches the rule "
            f"“{rule.name}” ({summary})."
        )
        rows.append((rule.id, account, f"{rule.id}:{account}", subject, record, reason, stamp))
    insert_rows(
        connection,
        table,
        ("rule_id", "account_id", "open_key", "subject", "subject_id", "reason", "raised_at"),
        rows,
    )
    wanted = set(fresh)
    created = session.scalars(
        select(Alert).where(Alert.rule_id == rule.id, Alert.resolved_at.is_(None))
    ).all()
    return [
        _view(alert, rule, labels.get(alert.account_id, ""), now)
        for alert in sorted(created, key=lambda alert: alert.account_id)
        if alert.account_id in wanted
    ]


def evaluate_alerts(database: Database, clock: Clock = utc_now) -> list[AlertView]:
    """Evaluates every enabled rule; returns the alerts raised by this run.

    Each rule runs in its own transaction: a rule that cannot run (an invalid condition,
    a missing exchange rate) records why in ``last_error`` and the others still run.
    Alerts of disabled rules resolve.
    """
    now = clock()
    with database.transaction() as session:
        install_default_rules(session)
        rules = session.execute(select(AlertRule.id, AlertRule.enabled)).all()
    raised: list[AlertView] = []
    for rule_id, enabled in rules:
        for attempt in range(2):
            try:
                with database.transaction() as session:
                    rule = session.get(AlertRule, rule_id)
                    if rule is None:
                        break
                    if not enabled:
                        session.execute(
                            update(Alert)
                            .where(Alert.rule_id == rule_id, Alert.resolved_at.is_(None))
                            .values(resolved_at=now, open_key=None)
                        )
                        break
                    try:
                        raised.extend(_evaluate_rule(session, rule, now))
                        rule.last_error = None
                    except ConfigurationError as error:
                        rule.last_error = str(error)
                    rule.last_evaluated_at = now
                break
            except IntegrityError:
                # another copy of the app raised the same alert meanwhile: look again
                if attempt:
                    raise
    return raised


# -------------------------------------------------------------------- user actions


def list_alerts(
    database: Database,
    *,
    clock: Clock = utc_now,
    states: tuple[AlertState, ...] = (AlertState.ACTIVE,),
    account_id: int | None = None,
    limit: int | None = 1000,
) -> list[AlertView]:
    """Alerts in the given states, newest first (default: the active ones)."""
    now = clock()
    query = (
        select(Alert, AlertRule, Account.name, Account.company, Account.identifier)
        .join(AlertRule, AlertRule.id == Alert.rule_id)
        .join(Account, Account.id == Alert.account_id)
        .order_by(Alert.raised_at.desc(), Alert.id.desc())
    )
    if AlertState.RESOLVED not in states:
        query = query.where(Alert.resolved_at.is_(None))
    if account_id is not None:
        query = query.where(Alert.account_id == account_id)
    result: list[AlertView] = []
    with database.session() as session:
        for alert, rule, name, company, identifier in session.execute(query):
            view = _view(alert, rule, _account_label(name, company, identifier), now)
            if view.state in states:
                result.append(view)
                if limit is not None and len(result) >= limit:
                    break
    return result


def _change(database: Database, alert_id: int, clock: Clock, **values: Any) -> AlertView:
    with database.transaction() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            raise NotFoundError(f"There is no alert with id {alert_id}.")
        for key, value in values.items():
            setattr(alert, key, value)
        session.flush()
        rule = session.get(AlertRule, alert.rule_id)
        account = session.get(Account, alert.account_id)
        assert rule is not None
        assert account is not None
        label = _account_label(account.name, account.company, account.identifier)
        return _view(alert, rule, label, clock())


def acknowledge_alert(database: Database, alert_id: int, clock: Clock = utc_now) -> AlertView:
    """Marks an alert as seen: it stays open while true but is no longer active."""
    return _change(database, alert_id, clock, acknowledged_at=clock())


def snooze_alert(
    database: Database, alert_id: int, until: datetime | None, clock: Clock = utc_now
) -> AlertView:
    """Hides an alert until ``until`` (``None`` wakes it now).

    Raises:
        ConfigurationError: when ``until`` is naive or not in the future.
    """
    if until is not None:
        if until.tzinfo is None:
            raise ConfigurationError("A snooze needs a time with a time zone.")
        if until <= clock():
            raise ConfigurationError("Snooze an alert until a time in the future.")
    return _change(database, alert_id, clock, snoozed_until=until)


@dataclass(frozen=True)
class AlertNews:
    """Active alerts raised after a known one (for desktop notifications).

    Attributes:
        newest_id: the largest alert id there is (0 when there are none); pass it as
            ``after_id`` next time.
        count: active alerts with an id above ``after_id``.
        sample: a few of them, newest first.
    """

    newest_id: int
    count: int
    sample: tuple[AlertView, ...]


def new_alerts_since(
    database: Database, after_id: int | None, *, clock: Clock = utc_now, sample: int = 3
) -> AlertNews:
    """Counts the active alerts with an id above ``after_id`` (``None``: none are new).

    Cheap on a large workspace (the id index), so a window can ask every minute.
    """
    now = clock()
    with database.session() as session:
        newest = int(session.scalar(select(func.max(Alert.id))) or 0)
        if after_id is None or newest <= after_id:
            return AlertNews(newest, 0, ())
        active = (
            Alert.id > after_id,
            Alert.resolved_at.is_(None),
            Alert.acknowledged_at.is_(None),
            or_(Alert.snoozed_until.is_(None), Alert.snoozed_until <= now),
        )
        count = int(session.scalar(select(func.count(Alert.id)).where(*active)) or 0)
        rows = session.execute(
            select(Alert, AlertRule, Account.name, Account.company, Account.identifier)
            .join(AlertRule, AlertRule.id == Alert.rule_id)
            .join(Account, Account.id == Alert.account_id)
            .where(*active)
            .order_by(Alert.id.desc())
            .limit(sample)
        ).all()
        views = tuple(
            _view(alert, rule, _account_label(name, company, identifier), now)
            for alert, rule, name, company, identifier in rows
        )
    return AlertNews(newest, count, views)
