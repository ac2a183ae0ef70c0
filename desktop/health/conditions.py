"""The condition language of alert rules and segments: typed, stored as JSON, run as SQL.

A condition is a leaf or a group::

    {"field": "invoice.days_overdue", "op": "gt", "value": 15}
    {"all": [<condition>, ...]}   # every one holds
    {"any": [<condition>, ...]}   # at least one holds

Fields (:data:`FIELDS`) belong to an entity — ``invoice``, ``subscription`` or
``account`` — and have a kind that decides the operators (:data:`OPERATORS`) and the value:

* ``choice`` / ``text``: ``is``, ``is_not`` (a string), ``in``, ``not_in`` (a list);
  text also ``contains``; text comparisons ignore case.
* ``number``: ``gt``, ``gte``, ``lt``, ``lte``, ``eq``, ``ne`` with a number.
* ``money``: the same with ``{"amount": "1000", "currency": "USD"}`` (major units; no
  currency means the reporting currency) or a bare number. Amounts in another currency
  are converted with the admin's rates; one with no rate never matches.
* ``date`` / ``timestamp``: ``within_next_days``, ``within_last_days``,
  ``more_than_days_ago``, ``more_than_days_ahead`` (a whole number of days, counted from
  today/now), ``before``, ``after`` (an ISO date), ``is_set``, ``is_not_set``.
* ``bool``: ``is`` with true or false (unknown counts as false).
* ``connection``: ``in``, ``not_in`` with a list of connection ids.

**Alert rules** are evaluated per record: a rule with invoice fields matches invoices, one
with subscription fields matches subscriptions (all its conditions on the same record),
one with only account fields matches accounts; an account is alerted when any of its
records matches. A rule cannot mix invoice and subscription fields.

**Segments** are evaluated per account: invoice and subscription conditions mean "has
an invoice / a subscription that …"; conditions on the same entity directly inside one
``all`` group must hold for the same record.

Account money fields (MRR, amount due, overdue) and the health band are as of the last
recompute; ``account.amount_paid`` is summed from invoices when the condition runs.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from desktop.errors import ConfigurationError
from desktop.health.rates import Converter
from desktop.health.settings import ACCOUNT_STATES, CurrencySettings, normalise_currency
from desktop.money import minor_digits
from desktop.storage.models import Account, AccountHealth, AccountSource, Invoice, Subscription
from desktop.sync.records import INVOICE_STATUSES, SUBSCRIPTION_STATUSES

MAX_DEPTH = 6


class ConditionError(ConfigurationError):
    """A condition that cannot be understood or run, with one sentence saying why."""


class Kind(enum.StrEnum):
    """What a field holds, which decides its operators and value."""

    CHOICE = "choice"
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    TIMESTAMP = "timestamp"
    BOOL = "bool"
    CONNECTION = "connection"


_COMPARE = ("gt", "gte", "lt", "lte", "eq", "ne")
_DATES = (
    "within_next_days",
    "within_last_days",
    "more_than_days_ago",
    "more_than_days_ahead",
    "before",
    "after",
    "is_set",
    "is_not_set",
)

#: The operators each kind of field accepts, in the order an editor should offer them.
OPERATORS: dict[Kind, tuple[str, ...]] = {
    Kind.CHOICE: ("is", "is_not", "in", "not_in"),
    Kind.TEXT: ("is", "is_not", "in", "not_in", "contains"),
    Kind.NUMBER: _COMPARE,
    Kind.MONEY: _COMPARE,
    Kind.DATE: _DATES,
    Kind.TIMESTAMP: _DATES,
    Kind.BOOL: ("is",),
    Kind.CONNECTION: ("in", "not_in"),
}

#: How an operator reads in a sentence.
OPERATOR_LABELS: dict[str, str] = {
    "is": "is",
    "is_not": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "eq": "is",
    "ne": "is not",
    "within_next_days": "is within the next",
    "within_last_days": "was within the last",
    "more_than_days_ago": "is more than … days ago",
    "more_than_days_ahead": "is more than … days ahead",
    "before": "is before",
    "after": "is after",
    "is_set": "is set",
    "is_not_set": "is not set",
}


@dataclass(frozen=True)
class FieldSpec:
    """One field a condition can test.

    Attributes:
        name: the stored name, ``entity.field``.
        label: how a person reads it.
        entity: ``invoice``, ``subscription`` or ``account``.
        kind: what it holds.
        choices: the allowed values of a choice field.
        in_alerts: offered in the alert-rule editor.
        in_segments: offered in the segment editor.
        slow: sums every invoice when it runs (a live preview with it takes seconds on a
            large workspace; an editor may refresh it on demand instead of live).
    """

    name: str
    label: str
    entity: str
    kind: Kind
    choices: tuple[str, ...] = ()
    in_alerts: bool = True
    in_segments: bool = True
    slow: bool = False

    @property
    def operators(self) -> tuple[str, ...]:
        """The operators this field accepts."""
        return OPERATORS[self.kind]


_INVOICE_STATUSES = tuple(sorted(INVOICE_STATUSES))
_SUBSCRIPTION_STATUSES = tuple(sorted(SUBSCRIPTION_STATUSES))

#: Every field, by name, in editor order.
FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("invoice.status", "Invoice status", "invoice", Kind.CHOICE, _INVOICE_STATUSES),
        FieldSpec("invoice.total", "Invoice total", "invoice", Kind.MONEY),
        FieldSpec("invoice.amount_due", "Invoice amount due", "invoice", Kind.MONEY),
        FieldSpec("invoice.amount_paid", "Invoice amount paid", "invoice", Kind.MONEY),
        FieldSpec("invoice.issued_on", "Invoice date", "invoice", Kind.DATE),
        FieldSpec("invoice.due_on", "Invoice due date", "invoice", Kind.DATE),
        FieldSpec("invoice.paid_at", "Invoice paid date", "invoice", Kind.TIMESTAMP),
        FieldSpec("invoice.days_overdue", "Invoice days overdue", "invoice", Kind.NUMBER),
        FieldSpec(
            "subscription.status",
            "Subscription status",
            "subscription",
            Kind.CHOICE,
            _SUBSCRIPTION_STATUSES,
        ),
        FieldSpec("subscription.plan_name", "Plan name", "subscription", Kind.TEXT),
        FieldSpec("subscription.plan_code", "Plan code", "subscription", Kind.TEXT),
        FieldSpec("subscription.quantity", "Plan quantity", "subscription", Kind.NUMBER),
        FieldSpec("subscription.amount", "Subscription amount", "subscription", Kind.MONEY),
        FieldSpec("subscription.mrr", "Subscription MRR", "subscription", Kind.MONEY),
        FieldSpec("subscription.started_at", "Started on", "subscription", Kind.TIMESTAMP),
        FieldSpec("subscription.trial_ends_at", "Trial ends on", "subscription", Kind.TIMESTAMP),
        FieldSpec(
            "subscription.next_billing_at", "Next billing on", "subscription", Kind.TIMESTAMP
        ),
        FieldSpec(
            "subscription.term_ends_at", "Current term ends on", "subscription", Kind.TIMESTAMP
        ),
        FieldSpec(
            "subscription.renewal_at",
            "Renewal date (term end, else next billing)",
            "subscription",
            Kind.TIMESTAMP,
        ),
        FieldSpec("subscription.cancelled_at", "Cancelled on", "subscription", Kind.TIMESTAMP),
        FieldSpec(
            "subscription.has_payment_method", "Has a payment method", "subscription", Kind.BOOL
        ),
        FieldSpec("account.mrr", "Account MRR", "account", Kind.MONEY),
        FieldSpec("account.amount_due", "Total amount due", "account", Kind.MONEY),
        FieldSpec("account.overdue_amount", "Overdue amount", "account", Kind.MONEY),
        FieldSpec("account.amount_paid", "Total amount paid", "account", Kind.MONEY, slow=True),
        FieldSpec("account.overdue_invoices", "Overdue invoices", "account", Kind.NUMBER),
        FieldSpec("account.days_overdue", "Days overdue (oldest)", "account", Kind.NUMBER),
        FieldSpec("account.health_score", "Health score", "account", Kind.NUMBER),
        FieldSpec(
            "account.health_band", "Health band", "account", Kind.CHOICE, ("green", "amber", "red")
        ),
        FieldSpec(
            "account.subscription_state",
            "Subscription state",
            "account",
            Kind.CHOICE,
            ACCOUNT_STATES,
        ),
        FieldSpec("account.connection", "Source connection", "account", Kind.CONNECTION),
    )
}


def fields_for(purpose: str) -> list[FieldSpec]:
    """The fields an editor offers: ``"alert"`` or ``"segment"``."""
    if purpose == "alert":
        return [spec for spec in FIELDS.values() if spec.in_alerts]
    return [spec for spec in FIELDS.values() if spec.in_segments]


# ------------------------------------------------------------------- the data model


@dataclass(frozen=True)
class Money:
    """A money threshold in major units; ``currency`` ``None`` means the reporting one."""

    amount: Decimal
    currency: str | None = None

    def minor_in(self, currency: str) -> int:
        """The amount in minor units of ``currency`` (no conversion; same currency)."""
        return int((self.amount.scaleb(minor_digits(currency))).to_integral_value())


@dataclass(frozen=True)
class Leaf:
    """One test of one field."""

    field: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Group:
    """``all`` (every item holds) or ``any`` (at least one holds)."""

    mode: str
    items: tuple[Condition, ...] = field(default_factory=tuple)


Condition = Leaf | Group


def _money(value: object, name: str) -> Money:
    amount: object = value
    currency: str | None = None
    if isinstance(value, Mapping):
        amount = value.get("amount")
        raw_currency = value.get("currency")
        if raw_currency:
            try:
                currency = normalise_currency(raw_currency)
            except ConfigurationError as error:
                raise ConditionError(f"{name}: {error}") from None
    if isinstance(amount, bool) or amount is None:
        raise ConditionError(f"{name} needs an amount, for example 1000.")
    try:
        parsed = Decimal(str(amount).replace(",", ""))
    except InvalidOperation:
        raise ConditionError(f"{name} needs an amount, not {amount!r}.") from None
    if not parsed.is_finite():
        raise ConditionError(f"{name} needs a finite amount.")
    return Money(parsed, currency)


def _check_value(spec: FieldSpec, op: str, value: Any) -> Any:
    label = spec.label
    if op in ("is_set", "is_not_set"):
        return None
    if spec.kind in (Kind.CHOICE, Kind.TEXT) or spec.kind is Kind.CONNECTION:
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise ConditionError(f"{label} {OPERATOR_LABELS[op]} needs a list of values.")
            if spec.kind is Kind.CONNECTION:
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                    raise ConditionError(f"{label} needs connection ids (whole numbers).")
                return tuple(value)
            items = tuple(str(v) for v in value)
        else:
            if not isinstance(value, str) or not value:
                raise ConditionError(f"{label} {OPERATOR_LABELS[op]} needs a value.")
            items = (value,)
        if spec.kind is Kind.CHOICE:
            unknown = [v for v in items if v not in spec.choices]
            if unknown:
                raise ConditionError(
                    f"{label} cannot be {unknown[0]!r}; use one of {', '.join(spec.choices)}."
                )
        return items if op in ("in", "not_in") else items[0]
    if spec.kind is Kind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConditionError(f"{label} needs a number.")
        return value
    if spec.kind is Kind.MONEY:
        return _money(value, label)
    if spec.kind is Kind.BOOL:
        if not isinstance(value, bool):
            raise ConditionError(f"{label} needs true or false.")
        return value
    # dates and timestamps
    if op in ("before", "after"):
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ConditionError(f"{label} needs a date like 2026-03-31.") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConditionError(f"{label} needs a whole number of days (0 or more).")
    return value


def parse_condition(data: object, depth: int = 0) -> Condition:
    """Parses and validates a condition from its JSON form.

    Raises:
        ConditionError: naming the first problem in a sentence.
    """
    if depth > MAX_DEPTH:
        raise ConditionError(f"Conditions can be nested at most {MAX_DEPTH} levels deep.")
    if not isinstance(data, Mapping):
        raise ConditionError("A condition must be an object with a field, or all/any.")
    for mode in ("all", "any"):
        if mode in data:
            items = data[mode]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"“{mode}” needs at least one condition.")
            return Group(mode, tuple(parse_condition(item, depth + 1) for item in items))
    name = data.get("field")
    spec = FIELDS.get(str(name))
    if spec is None:
        raise ConditionError(f"There is no field called {name!r}.")
    op = str(data.get("op"))
    if op not in spec.operators:
        allowed = ", ".join(spec.operators)
        raise ConditionError(f"{spec.label} cannot use the operator {op!r}; use {allowed}.")
    return Leaf(spec.name, op, _check_value(spec, op, data.get("value")))


def condition_to_json(condition: Condition) -> dict[str, Any]:
    """The JSON form of a condition (what is stored)."""
    if isinstance(condition, Group):
        return {condition.mode: [condition_to_json(item) for item in condition.items]}
    value: Any = condition.value
    if isinstance(value, Money):
        value = {
            "amount": str(value.amount),
            **({"currency": value.currency} if value.currency else {}),
        }
    elif isinstance(value, date):
        value = value.isoformat()
    elif isinstance(value, tuple):
        value = list(value)
    result: dict[str, Any] = {"field": condition.field, "op": condition.op}
    if value is not None:
        result["value"] = value
    return result


def leaves(condition: Condition) -> list[Leaf]:
    """Every leaf of a condition, depth first."""
    if isinstance(condition, Leaf):
        return [condition]
    return [leaf for item in condition.items for leaf in leaves(item)]


def entities(condition: Condition) -> set[str]:
    """The entities a condition looks at."""
    return {FIELDS[leaf.field].entity for leaf in leaves(condition)}


def alert_subject(condition: Condition) -> str:
    """What an alert rule matches: ``invoice``, ``subscription`` or ``account``.

    Raises:
        ConditionError: when the rule mixes invoice and subscription fields.
    """
    found = entities(condition)
    if {"invoice", "subscription"} <= found:
        raise ConditionError(
            "A rule can look at invoices or at subscriptions, not both; make two rules."
        )
    for subject in ("invoice", "subscription"):
        if subject in found:
            return subject
    return "account"


def _describe_value(leaf: Leaf) -> str:
    value = leaf.value
    if isinstance(value, Money):
        return f"{value.amount:,} {value.currency or '(reporting currency)'}"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def describe(condition: Condition, nested: bool = False) -> str:
    """The condition as a phrase, for editors and alert reasons."""
    if isinstance(condition, Group):
        joiner = " and " if condition.mode == "all" else " or "
        text = joiner.join(describe(item, True) for item in condition.items)
        return f"({text})" if nested and len(condition.items) > 1 else text
    label = FIELDS[condition.field].label
    op = condition.op
    if op in ("is_set", "is_not_set"):
        return f"{label} {OPERATOR_LABELS[op]}"
    if op in ("more_than_days_ago", "more_than_days_ahead"):
        side = "ago" if op.endswith("ago") else "ahead"
        return f"{label} is more than {condition.value} days {side}"
    if op in ("within_next_days", "within_last_days"):
        return f"{label} {OPERATOR_LABELS[op]} {condition.value} days"
    if condition.field == "invoice.days_overdue":
        return f"invoice {OPERATOR_LABELS[op]} {condition.value} days overdue"
    return f"{label} {OPERATOR_LABELS[op]} {_describe_value(condition)}"


# ---------------------------------------------------------------------- SQL compile


@dataclass(frozen=True)
class CompileContext:
    """What compiling needs: "now" and the currency settings.

    Attributes:
        now: the instant relative dates count from (today is its UTC date).
        currency: the currency settings (rates).
        reporting: the currency account totals are stored in.
    """

    now: datetime
    currency: CurrencySettings
    reporting: str

    @property
    def today(self) -> date:
        """Today (UTC)."""
        return self.now.astimezone(UTC).date()


_UNPAID = ("open", "overdue", "partially_paid")


def _entity_column(name: str) -> Any:
    i, s, h = Invoice, Subscription, AccountHealth
    columns: dict[str, Any] = {
        "invoice.status": i.status,
        "invoice.total": i.total_minor,
        "invoice.amount_due": i.amount_due_minor,
        "invoice.amount_paid": i.amount_paid_minor,
        "invoice.issued_on": i.issued_on,
        "invoice.due_on": i.due_on,
        "invoice.paid_at": i.paid_at,
        "subscription.status": s.status,
        "subscription.plan_name": s.plan_name,
        "subscription.plan_code": s.plan_code,
        "subscription.quantity": s.quantity,
        "subscription.amount": s.amount_minor,
        "subscription.mrr": s.mrr_minor,
        "subscription.started_at": s.started_at,
        "subscription.trial_ends_at": s.trial_ends_at,
        "subscription.next_billing_at": s.next_billing_at,
        "subscription.term_ends_at": s.current_term_ends_at,
        "subscription.renewal_at": func.coalesce(s.current_term_ends_at, s.next_billing_at),
        "subscription.cancelled_at": s.cancelled_at,
        "subscription.has_payment_method": s.has_payment_method,
        "account.mrr": func.coalesce(h.mrr_minor, 0),
        "account.amount_due": func.coalesce(h.amount_due_minor, 0),
        "account.overdue_amount": func.coalesce(h.overdue_minor, 0),
        "account.overdue_invoices": func.coalesce(h.overdue_invoices, 0),
        "account.days_overdue": func.coalesce(h.days_overdue, 0),
        "account.health_score": h.score,
        "account.health_band": h.band,
        "account.subscription_state": h.state,
    }
    return columns[name]


def _compare(expression: Any, op: str, value: Any) -> ColumnElement[bool]:
    result: ColumnElement[bool]
    if op == "gt":
        result = expression > value
    elif op == "gte":
        result = expression >= value
    elif op == "lt":
        result = expression < value
    elif op == "lte":
        result = expression <= value
    elif op == "eq":
        result = expression == value
    else:
        result = expression != value
    return result


def _holds_for_zero(op: str, threshold: float) -> bool:
    return {
        "gt": threshold < 0,
        "gte": threshold <= 0,
        "lt": threshold > 0,
        "lte": threshold >= 0,
        "eq": threshold == 0,
        "ne": threshold != 0,
    }[op]


def _money_leaf(
    leaf: Leaf, ctx: CompileContext, currency_column: Any, account_id: Any
) -> ColumnElement[bool]:
    money: Money = leaf.value
    target = money.currency or ctx.reporting
    if leaf.field.startswith("account.") and leaf.field != "account.amount_paid":
        # stored in the reporting currency: convert the threshold instead
        converter = Converter(ctx.currency, ctx.reporting)
        factor = converter.require(target)
        threshold = money.minor_in(target) * factor
        return _compare(_entity_column(leaf.field), leaf.op, threshold)
    if target != ctx.reporting:
        # a threshold in a currency with no rate could only ever match that currency
        Converter(ctx.currency, ctx.reporting).require(target)
    converter = Converter(ctx.currency, target)
    threshold = money.minor_in(target)
    if leaf.field == "account.amount_paid":
        i = Invoice
        total = func.coalesce(func.sum(converter.sql(i.amount_paid_minor, i.currency)), 0.0)
        paid = (
            select(i.account_id)
            .where(~i.status.in_(("void", "draft")), i.deleted_at.is_(None))
            .group_by(i.account_id)
        )
        if _holds_for_zero(leaf.op, threshold):
            opposite = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt", "eq": "ne", "ne": "eq"}
            return ~account_id.in_(paid.having(_compare(total, opposite[leaf.op], threshold)))  # type: ignore[no-any-return]
        return account_id.in_(paid.having(_compare(total, leaf.op, threshold)))  # type: ignore[no-any-return]
    return _compare(converter.sql(_entity_column(leaf.field), currency_column), leaf.op, threshold)


def _date_leaf(leaf: Leaf, ctx: CompileContext) -> ColumnElement[bool]:
    column = _entity_column(leaf.field)
    kind = FIELDS[leaf.field].kind
    op, value = leaf.op, leaf.value
    if op == "is_set":
        return column.is_not(None)  # type: ignore[no-any-return]
    if op == "is_not_set":
        return column.is_(None)  # type: ignore[no-any-return]
    reference: date | datetime = ctx.today if kind is Kind.DATE else ctx.now
    if op in ("before", "after"):
        day: date = value
        if kind is Kind.DATE:
            return column < day if op == "before" else column > day  # type: ignore[no-any-return]
        start = datetime.combine(day, time(), UTC)
        if op == "before":
            return column < start  # type: ignore[no-any-return]
        return column >= start + timedelta(days=1)  # type: ignore[no-any-return]
    span = timedelta(days=int(value))
    if op == "within_next_days":
        return and_(column >= reference, column <= reference + span)
    if op == "within_last_days":
        return and_(column <= reference, column >= reference - span)
    if op == "more_than_days_ago":
        return column < reference - span  # type: ignore[no-any-return]
    return column > reference + span  # type: ignore[no-any-return]


def _days_overdue_leaf(leaf: Leaf, ctx: CompileContext) -> ColumnElement[bool]:
    i = Invoice
    today = ctx.today
    days = float(leaf.value)
    whole = int(days)
    overdue = and_(
        i.status.in_(_UNPAID), i.amount_due_minor > 0, i.due_on.is_not(None), i.due_on < today
    )
    # days overdue = today − due_on; compare the due date instead (portable, indexable)
    if leaf.op == "gt":
        bound = i.due_on < today - timedelta(days=whole)
    elif leaf.op == "gte":
        bound = i.due_on <= today - timedelta(days=whole if days == whole else whole + 1)
    elif leaf.op == "lt":
        bound = i.due_on > today - timedelta(days=whole if days == whole else whole + 1)
    elif leaf.op == "lte":
        bound = i.due_on >= today - timedelta(days=whole)
    elif leaf.op == "eq":
        bound = i.due_on == today - timedelta(days=whole) if days == whole else false()
    else:
        bound = i.due_on != today - timedelta(days=whole) if days == whole else true()
    return and_(overdue, bound)


def _text_leaf(leaf: Leaf, column: Any, kind: Kind) -> ColumnElement[bool]:
    op, value = leaf.op, leaf.value
    if kind is Kind.TEXT:
        column = func.lower(column)
        value = tuple(v.lower() for v in value) if isinstance(value, tuple) else value.lower()
    if op == "is":
        return column == value  # type: ignore[no-any-return]
    if op == "is_not":
        return or_(column.is_(None), column != value)
    if op == "in":
        return column.in_(value)  # type: ignore[no-any-return]
    if op == "not_in":
        return or_(column.is_(None), column.not_in(value))
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{escaped}%", escape="\\")  # type: ignore[no-any-return]


def compile_leaf(leaf: Leaf, ctx: CompileContext, account_id: Any) -> ColumnElement[bool]:
    """One leaf as SQL over its entity's table (``account_id``: the account id column).

    Account fields read :class:`AccountHealth`, which the caller outer-joins.
    """
    spec = FIELDS[leaf.field]
    if leaf.field == "invoice.days_overdue":
        return _days_overdue_leaf(leaf, ctx)
    if spec.kind is Kind.MONEY:
        currency_column = {
            "invoice": Invoice.currency,
            "subscription": Subscription.currency,
            "account": None,
        }[spec.entity]
        return _money_leaf(leaf, ctx, currency_column, account_id)
    if spec.kind in (Kind.DATE, Kind.TIMESTAMP):
        return _date_leaf(leaf, ctx)
    if spec.kind is Kind.CONNECTION:
        sources = select(AccountSource.account_id).where(
            AccountSource.connection_id.in_(leaf.value), AccountSource.deleted_at.is_(None)
        )
        matched: ColumnElement[bool] = account_id.in_(sources)
        return matched if leaf.op == "in" else not_(matched)
    column = _entity_column(leaf.field)
    if spec.kind is Kind.BOOL:
        if leaf.value:
            known: ColumnElement[bool] = column.is_(True)
            return known
        return or_(column.is_(None), column.is_(False))
    if spec.kind is Kind.NUMBER:
        return _compare(cast(column, Float), leaf.op, literal(float(leaf.value), Float))
    return _text_leaf(leaf, column, spec.kind)


def compile_for_subject(
    condition: Condition, ctx: CompileContext, account_id: Any
) -> ColumnElement[bool]:
    """The whole condition over one subject table (alert rules)."""
    if isinstance(condition, Leaf):
        return compile_leaf(condition, ctx, account_id)
    parts = [compile_for_subject(item, ctx, account_id) for item in condition.items]
    return and_(*parts) if condition.mode == "all" else or_(*parts)


_ENTITY_TABLES: dict[str, Any] = {"invoice": Invoice, "subscription": Subscription}


def _exists_in(entity: str, items: Sequence[Leaf], ctx: CompileContext) -> ColumnElement[bool]:
    model = _ENTITY_TABLES[entity]
    inner = [compile_leaf(leaf, ctx, model.account_id) for leaf in items]
    found = select(model.account_id).where(model.deleted_at.is_(None), *inner)
    return Account.id.in_(found)


def compile_for_accounts(condition: Condition, ctx: CompileContext) -> ColumnElement[bool]:
    """The whole condition as a filter on accounts (segments); see the module docstring.

    The caller selects from :class:`Account` outer-joined to :class:`AccountHealth`.
    """
    if isinstance(condition, Leaf):
        entity = FIELDS[condition.field].entity
        if entity == "account":
            return compile_leaf(condition, ctx, Account.id)
        return _exists_in(entity, [condition], ctx)
    if condition.mode == "any":
        return or_(*(compile_for_accounts(item, ctx) for item in condition.items))
    parts: list[ColumnElement[bool]] = []
    grouped: dict[str, list[Leaf]] = {}
    for item in condition.items:
        if isinstance(item, Leaf) and FIELDS[item.field].entity != "account":
            grouped.setdefault(FIELDS[item.field].entity, []).append(item)
        else:
            parts.append(compile_for_accounts(item, ctx))
    parts.extend(_exists_in(entity, items, ctx) for entity, items in grouped.items())
    return and_(*parts)
