"""Deterministic fault injection: latency, 5xx, timeouts, resets, bad JSON, 429s, drift.

A :class:`Fault` says what goes wrong (``kind``), on which simulator (``vendor``, or all)
and when: with a probability, on every Nth request, or on exact request numbers (counted
per simulator from 1). Random draws come from one generator per simulator seeded from the
sandbox seed, so a run with the same requests in the same order fails the same way.

Text syntax (CLI ``--faults`` and the admin endpoint), comma-separated items
``[vendor:]kind=[value@]when``:

* kinds: ``latency`` (value like ``50ms``/``1s``), ``5xx`` (503) or an explicit status
  ``500``/``502``/``503``/``504``, ``timeout`` (value = hold time, default 2s),
  ``reset``, ``malformed``, ``truncated``, ``expired`` (token expired / auth failure),
  ``429`` (a burst of rate-limit answers), ``drift`` (unknown fields added, fields
  missing or null — never ids, ``deleted`` or the cursor timestamps, see
  :func:`desktop.sandbox.core.drift`);
* when: ``0.05`` (probability), ``/10`` (every 10th request), ``#3`` or ``#3+7``
  (exactly those requests), ``always``; a bare latency/timeout value means ``always``.

Examples: ``5xx=0.05,reset=0.01,latency=50ms``; ``chargebee:503=#3``;
``recurly:timeout=1s@#2``; ``zoho-billing:expired=/5``.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Final, Literal

FaultKind = Literal[
    "latency",
    "error",
    "timeout",
    "reset",
    "malformed",
    "truncated",
    "expired_token",
    "rate_limited",
    "drift",
]

#: Longest time a ``timeout`` fault holds a request on the real server.
MAX_HOLD_SECONDS: Final[float] = 30.0
#: Longest injected latency.
MAX_LATENCY_SECONDS: Final[float] = 10.0

_KIND_ALIASES: Final[dict[str, tuple[FaultKind, float]]] = {
    "latency": ("latency", 0.05),
    "5xx": ("error", 503),
    "500": ("error", 500),
    "502": ("error", 502),
    "503": ("error", 503),
    "504": ("error", 504),
    "timeout": ("timeout", 2.0),
    "reset": ("reset", 0),
    "malformed": ("malformed", 0),
    "truncated": ("truncated", 0),
    "expired": ("expired_token", 0),
    "expired_token": ("expired_token", 0),
    "429": ("rate_limited", 0),
    "rate_limited": ("rate_limited", 0),
    "drift": ("drift", 0),
}
#: Order in which response-replacing faults win when several hit one request.
_PRIORITY: Final[tuple[FaultKind, ...]] = (
    "reset",
    "timeout",
    "rate_limited",
    "expired_token",
    "error",
    "malformed",
    "truncated",
    "drift",
)


@dataclass(frozen=True)
class Fault:
    """One fault rule.

    Attributes:
        kind: what goes wrong.
        probability: chance per request (0 disables the random trigger).
        every: hit every Nth request (0 disables).
        at: exact 1-based request numbers that are hit.
        vendor: simulator name it applies to, or ``None`` for all.
        value: latency/hold seconds, or the HTTP status of an ``error``.
    """

    kind: FaultKind
    probability: float = 0.0
    every: int = 0
    at: frozenset[int] = field(default_factory=frozenset)
    vendor: str | None = None
    value: float = 0.0

    @classmethod
    def nth(
        cls, kind: FaultKind, *numbers: int, vendor: str | None = None, value: float = 0.0
    ) -> Fault:
        """A fault on exactly the given request numbers (``Fault.nth("error", 3, value=503)``)."""
        return cls(kind, at=frozenset(numbers), vendor=vendor, value=_default(kind, value))

    @classmethod
    def rate(
        cls, kind: FaultKind, probability: float, vendor: str | None = None, value: float = 0.0
    ) -> Fault:
        """A fault hitting each request with ``probability``."""
        return cls(kind, probability=probability, vendor=vendor, value=_default(kind, value))

    @classmethod
    def every_nth(
        cls, kind: FaultKind, every: int, vendor: str | None = None, value: float = 0.0
    ) -> Fault:
        """A fault hitting every ``every``-th request."""
        return cls(kind, every=every, vendor=vendor, value=_default(kind, value))

    def applies_to(self, vendor: str) -> bool:
        """Whether this rule concerns the simulator called ``vendor``."""
        return self.vendor is None or self.vendor == vendor

    def hits(self, number: int, draw: float) -> bool:
        """Whether request ``number`` (with a uniform ``draw`` in [0, 1)) is hit."""
        if number in self.at:
            return True
        if self.every and number % self.every == 0:
            return True
        return draw < self.probability


def _default(kind: FaultKind, value: float) -> float:
    if value:
        return value
    for alias_kind, default in _KIND_ALIASES.values():
        if alias_kind == kind:
            return default
    return 0.0


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request.

    Attributes:
        latency: seconds to wait before answering.
        kind: the response-replacing fault, if any.
        value: its parameter (status for ``error``, seconds for ``timeout``).
    """

    latency: float = 0.0
    kind: FaultKind | None = None
    value: float = 0.0

    @property
    def label(self) -> str | None:
        """A short name for the request log (``"503"``, ``"reset"``, ``"latency"``)."""
        if self.kind == "error":
            return str(int(self.value))
        if self.kind is not None:
            return self.kind
        return "latency" if self.latency else None


NO_FAULT: Final[FaultDecision] = FaultDecision()


class FaultInjector:
    """Decides, per simulator and request number, which faults fire."""

    def __init__(self, seed: int, faults: tuple[Fault, ...] = ()) -> None:
        self.seed = seed
        self._faults = faults
        self._rngs: dict[str, random.Random] = {}
        self._lock = threading.Lock()

    @property
    def faults(self) -> tuple[Fault, ...]:
        """The active rules."""
        return self._faults

    def configure(self, faults: tuple[Fault, ...]) -> None:
        """Replaces the rules and restarts the random sequences."""
        with self._lock:
            self._faults = faults
            self._rngs.clear()

    def decide(self, vendor: str, number: int) -> FaultDecision:
        """Returns the faults for request ``number`` on simulator ``vendor``."""
        rules = [f for f in self._faults if f.applies_to(vendor)]
        if not rules:
            return NO_FAULT
        with self._lock:
            rng = self._rngs.get(vendor)
            if rng is None:
                digest = hashlib.sha256(f"{self.seed}:{vendor}".encode()).digest()
                rng = self._rngs[vendor] = random.Random(int.from_bytes(digest[:8], "big"))
            draws = [rng.random() for _ in rules]
        latency = 0.0
        chosen: Fault | None = None
        for rule, draw in zip(rules, draws, strict=True):
            if not rule.hits(number, draw):
                continue
            if rule.kind == "latency":
                latency = max(latency, min(rule.value, MAX_LATENCY_SECONDS))
            elif chosen is None or _PRIORITY.index(rule.kind) < _PRIORITY.index(chosen.kind):
                chosen = rule
        if chosen is None:
            return FaultDecision(latency=latency) if latency else NO_FAULT
        value = min(chosen.value, MAX_HOLD_SECONDS) if chosen.kind == "timeout" else chosen.value
        return FaultDecision(latency=latency, kind=chosen.kind, value=value)

    def rng_for_drift(self, vendor: str, number: int) -> random.Random:
        """A generator for choosing which fields drift, fixed by vendor and request number."""
        digest = hashlib.sha256(f"{self.seed}:{vendor}:drift:{number}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")


def _duration(text: str, item: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"The fault {item!r} has a duration {text!r}; write it like 50ms or 2s.")
    number = float(match.group(1))
    return number / 1000 if match.group(2) == "ms" else number


def _when(text: str, item: str) -> dict[str, Any]:
    if text == "always":
        return {"every": 1}
    if text.startswith("/") and text[1:].isdigit() and int(text[1:]) > 0:
        return {"every": int(text[1:])}
    if text.startswith("#"):
        numbers = text[1:].split("+")
        if all(n.isdigit() and int(n) > 0 for n in numbers):
            return {"at": frozenset(int(n) for n in numbers)}
    try:
        probability = float(text)
    except ValueError:
        probability = -1.0
    if 0.0 <= probability <= 1.0:
        return {"probability": probability}
    raise ValueError(
        f"The fault {item!r} has no valid trigger; use a probability like 0.05, "
        "/10 for every 10th request, #3 for the 3rd request, or always."
    )


def parse_faults(text: str, vendors: tuple[str, ...] | None = None) -> tuple[Fault, ...]:
    """Parses the ``--faults`` syntax described in this module's docstring.

    Args:
        text: comma-separated fault items; empty means no faults.
        vendors: simulator names allowed as a ``vendor:`` prefix (``None`` skips the check).

    Raises:
        ValueError: with a one-sentence explanation of the first bad item.
    """
    faults: list[Fault] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        vendor: str | None = None
        body = item
        name, sep, spec = body.partition("=")
        if ":" in name:
            vendor, _, name = name.partition(":")
            if vendors is not None and vendor not in vendors:
                raise ValueError(
                    f"The fault {item!r} names an unknown simulator {vendor!r}; "
                    f"use one of {', '.join(vendors)}."
                )
        if not sep or not spec:
            raise ValueError(
                f"The fault {item!r} needs the form kind=trigger, for example 5xx=0.05."
            )
        alias = _KIND_ALIASES.get(name.strip().lower())
        if alias is None:
            raise ValueError(
                f"The fault {item!r} has an unknown kind {name!r}; use one of "
                f"{', '.join(sorted(_KIND_ALIASES))}."
            )
        kind, value = alias
        spec = spec.strip()
        if kind in ("latency", "timeout"):
            amount, at_sign, trigger = spec.partition("@")
            value = _duration(amount, item)
            when = _when(trigger, item) if at_sign else {"every": 1}
        else:
            when = _when(spec, item)
        faults.append(Fault(kind=kind, vendor=vendor, value=value, **when))
    return tuple(faults)
