"""Zoho CRM filters: search ``criteria`` strings and custom-view criteria objects.

Search criteria look like ``((Email:equals:a@b.example) and (Last_Name:starts_with:Ok))``:
conditions ``(field:operator:value)`` joined by ``and``/``or`` (``and`` binds tighter),
grouped with parentheses; ``(``, ``)``, ``,`` and ``\\`` inside a value are escaped with
a backslash. Custom views use the object shape ``{"comparator", "field", "value"}`` /
``{"group_operator", "group"}``. Both compile to a predicate over a record's canonical
values (:class:`Getter`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from desktop.sandbox.zoho_crm_schema import CrmField, field_named, parse_datetime

#: ``(api_name) -> canonical value``; lookups also answer ``Api_Name.id`` and by name.
Getter = Callable[[str], Any]
Predicate = Callable[[Getter], bool]

OPERATORS: Final[frozenset[str]] = frozenset(
    {
        "equals",
        "not_equal",
        "starts_with",
        "in",
        "greater_than",
        "greater_equal",
        "less_than",
        "less_equal",
        "between",
    }
)
MAX_CONDITIONS: Final[int] = 10
MAX_IN_VALUES: Final[int] = 100
EMPTY: Final[str] = "${EMPTY}"
_TEXT_TYPES: Final[frozenset[str]] = frozenset({"text", "textarea"})
_NUMERIC_TYPES: Final[frozenset[str]] = frozenset(
    {"integer", "bigint", "double", "currency", "percent"}
)
_ORDERED_OPS: Final[frozenset[str]] = frozenset(
    {"greater_than", "greater_equal", "less_than", "less_equal", "between"}
)


class CriteriaError(Exception):
    """The criteria cannot be used; ``details`` go into the 400 answer."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Condition:
    """One parsed condition: field, operator and raw values (several for in/between)."""

    field: CrmField
    sub: str | None
    operator: str
    values: tuple[str, ...]


# ------------------------------------------------------------------ parsing


def _split_unescaped(text: str, separator: str, limit: int = -1) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator and limit != 0:
            parts.append("".join(current))
            current = []
            limit -= 1
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _raw_split(text: str, separator: str, limit: int) -> list[str]:
    """Splits on unescaped separators but keeps escapes for a later split."""
    parts: list[str] = []
    start = 0
    index = 0
    while index < len(text) and limit != 0:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == separator:
            parts.append(text[start:index])
            start = index + 1
            limit -= 1
        index += 1
    parts.append(text[start:])
    return parts


class _Parser:
    def __init__(self, module: str, text: str) -> None:
        self.module = module
        self.text = text
        self.pos = 0
        self.count = 0

    def parse(self) -> Predicate:
        self._skip()
        if not self.text.strip():
            raise CriteriaError("invalid query formed", param_name="criteria")
        if not self.text.lstrip().startswith("("):
            self.text = f"({self.text.strip()})"
            self.pos = 0
        predicate = self._expression()
        self._skip()
        if self.pos != len(self.text):
            raise CriteriaError("invalid query formed", param_name="criteria")
        return predicate

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def _expression(self) -> Predicate:
        groups: list[list[Predicate]] = [[self._term()]]
        while True:
            self._skip()
            rest = self.text[self.pos :].lower()
            if rest.startswith("and"):
                self.pos += 3
                groups[-1].append(self._term())
            elif rest.startswith("or"):
                self.pos += 2
                groups.append([self._term()])
            else:
                break
        return _any([_all(group) for group in groups])

    def _term(self) -> Predicate:
        self._skip()
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise CriteriaError("invalid query formed", param_name="criteria")
        look = self.pos + 1
        while look < len(self.text) and self.text[look] == " ":
            look += 1
        if look < len(self.text) and self.text[look] == "(":
            self.pos = look
            inner = self._expression()
            self._skip()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                raise CriteriaError("invalid query formed", param_name="criteria")
            self.pos += 1
            return inner
        end = self._closing(self.pos + 1)
        body = self.text[self.pos + 1 : end]
        self.pos = end + 1
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise CriteriaError("number of conditions exceeds the limit", limit=MAX_CONDITIONS)
        return self._condition(body)

    def _closing(self, start: int) -> int:
        index = start
        while index < len(self.text):
            char = self.text[index]
            if char == "\\":
                index += 2
                continue
            if char == ")":
                return index
            if char == "(":
                break
            index += 1
        raise CriteriaError("invalid query formed", param_name="criteria")

    def _condition(self, body: str) -> Predicate:
        parts = _raw_split(body, ":", 2)
        if len(parts) != 3:
            raise CriteriaError("invalid query formed", param_name="criteria")
        name, operator, raw = parts[0].strip(), parts[1].strip(), parts[2]
        if operator not in OPERATORS:
            raise CriteriaError(
                "invalid operator found", operator=operator, api_name=name.split(".")[0]
            )
        base, _, sub = name.partition(".")
        spec = field_named(self.module, base) if base != "id" else _ID_FIELD
        if spec is None:
            raise CriteriaError("invalid field found", api_name=name)
        if operator in ("in", "between"):
            values = tuple(v.strip() for v in _split_unescaped(raw, ","))
        else:
            values = ("".join(_split_unescaped(raw, "\x00")),)
        if operator == "between" and len(values) != 2:
            raise CriteriaError("between needs two values", api_name=base)
        if operator == "in" and len(values) > MAX_IN_VALUES:
            raise CriteriaError("too many values for in", api_name=base, limit=MAX_IN_VALUES)
        if operator in _ORDERED_OPS and spec.data_type not in (
            *_NUMERIC_TYPES,
            "date",
            "datetime",
            "bigint",
        ):
            raise CriteriaError("invalid operator found", operator=operator, api_name=base)
        return compile_condition(Condition(spec, sub or None, operator, values))


_ID_FIELD: Final[CrmField] = CrmField("id", "Record Id", "bigint")


def parse_criteria(module: str, text: str) -> Predicate:
    """Parses a search ``criteria`` string into a predicate.

    Raises:
        CriteriaError: for a malformed string, unknown fields or operators, or more
            than 10 conditions.
    """
    return _Parser(module, text).parse()


def _all(parts: list[Predicate]) -> Predicate:
    return parts[0] if len(parts) == 1 else (lambda get: all(p(get) for p in parts))


def _any(parts: list[Predicate]) -> Predicate:
    return parts[0] if len(parts) == 1 else (lambda get: any(p(get) for p in parts))


# ------------------------------------------------------------- evaluation


def _key(spec: CrmField, raw: str) -> Any:
    """Converts a criteria value to something comparable with the canonical value."""
    if spec.data_type == "bigint":
        if not raw.strip().isdigit():
            raise CriteriaError("invalid data", api_name=spec.api_name)
        return int(raw)
    if spec.data_type in _NUMERIC_TYPES:
        try:
            return float(raw)
        except ValueError:
            raise CriteriaError("invalid data", api_name=spec.api_name) from None
    if spec.data_type == "datetime":
        parsed = parse_datetime(raw)
        if parsed is None:
            raise CriteriaError("invalid data", api_name=spec.api_name)
        return parsed
    if spec.data_type == "boolean":
        return raw.lower() == "true"
    return raw.lower()


def _actual(spec: CrmField, sub: str | None, get: Getter) -> Any:
    name = spec.api_name if sub is None else f"{spec.api_name}.{sub}"
    value = get(name)
    if value is None:
        return None
    if spec.data_type == "bigint":
        return int(value)
    if spec.data_type in _NUMERIC_TYPES:
        return float(value)
    if spec.data_type in ("datetime", "boolean"):
        return value
    return str(value).lower()


def compile_condition(condition: Condition) -> Predicate:
    """Compiles one condition (values already split) into a predicate."""
    spec, sub, operator = condition.field, condition.sub, condition.operator
    empty = condition.values == (EMPTY,)
    wanted = [] if empty else [_key(spec, v) for v in condition.values]
    contains = spec.data_type in _TEXT_TYPES and sub is None

    def test(get: Getter) -> bool:
        actual = _actual(spec, sub, get)
        if operator in ("equals", "not_equal"):
            if empty:
                hit = actual in (None, "")
            elif actual is None:
                hit = False
            elif contains:
                hit = any(isinstance(w, str) and w in actual for w in wanted)
            else:
                hit = actual in wanted
            return hit if operator == "equals" else not hit
        if actual is None:
            return False
        if operator == "in":
            return actual in wanted
        if operator == "starts_with":
            return isinstance(actual, str) and actual.startswith(str(wanted[0]))
        try:
            if operator == "greater_than":
                return bool(actual > wanted[0])
            if operator == "greater_equal":
                return bool(actual >= wanted[0])
            if operator == "less_than":
                return bool(actual < wanted[0])
            if operator == "less_equal":
                return bool(actual <= wanted[0])
            return bool(wanted[0] <= actual <= wanted[1])
        except TypeError:
            return False

    return test


_VIEW_OPERATORS: Final[dict[str, str]] = {
    "equal": "equals",
    "equals": "equals",
    "not_equal": "not_equal",
    "starts_with": "starts_with",
    "contains": "equals",
    "in": "in",
    "greater_than": "greater_than",
    "greater_equal": "greater_equal",
    "less_than": "less_than",
    "less_equal": "less_equal",
    "between": "between",
}


def view_predicate(module: str, criteria: dict[str, Any] | None) -> Predicate | None:
    """Compiles a custom view's criteria object (``None``: every record)."""
    if not criteria:
        return None
    if "group" in criteria:
        parts = [view_predicate(module, child) for child in criteria["group"]]
        compiled = [p for p in parts if p is not None]
        if not compiled:
            return None
        if str(criteria.get("group_operator", "AND")).upper() == "OR":
            return _any(compiled)
        return _all(compiled)
    name = str(criteria["field"]["api_name"])
    base, _, sub = name.partition(".")
    spec = field_named(module, base)
    if spec is None:
        return None
    raw = criteria.get("value")
    values = tuple(str(v) for v in raw) if isinstance(raw, list) else (str(raw),)
    operator = _VIEW_OPERATORS.get(str(criteria.get("comparator")), "equals")
    negate = operator == "not_equal" and len(values) > 1
    if len(values) > 1 and operator in ("equals", "not_equal"):
        operator = "in"
    predicate = compile_condition(Condition(spec, sub or None, operator, values))
    if negate:
        return lambda get: not predicate(get)
    return predicate
