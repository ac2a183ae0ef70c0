"""The request/response model every simulator speaks, and the pipeline around handlers.

A vendor simulator is a :class:`VendorHandler`: it recognises its paths, identifies the
credential and site of a request, answers it, and knows how to phrase the vendor's own
rate-limit, server-error and expired-token answers. A :class:`Mount` groups handlers that
share one origin (one port) and runs every request through the same pipeline: request
numbering, fault injection, rate limiting, the handler, response decoration and the
request log. The same mount is served in-process (:mod:`desktop.sandbox.transport`) and
over a real socket (:mod:`desktop.sandbox.server`).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import parse_qsl, unquote

import orjson

from desktop.sandbox.clock import Clock
from desktop.sandbox.faults import FaultDecision, FaultInjector, FaultKind
from desktop.sandbox.ratelimit import RateDecision, RateLimiter
from desktop.sandbox.requestlog import LoggedRequest, RequestLog

JSON_TYPE = "application/json; charset=utf-8"
#: Query parameters whose values the request log never records.
SECRET_PARAMS = frozenset(
    {"client_secret", "refresh_token", "code", "access_token", "token", "api_key"}
)


@dataclass
class SandboxRequest:
    """An HTTP request as the simulators see it.

    Attributes:
        method: upper-case HTTP method.
        path: the raw (still percent-encoded) path, without the query string.
        query: decoded query parameters in order.
        headers: header values keyed by lower-case name.
        body: the raw body.
        host: the ``Host`` header value ("" when absent).
    """

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def build(
        cls, method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes = b""
    ) -> SandboxRequest:
        """Builds a request from a request target (``/path?query``) and raw headers."""
        path, _, query = target.partition("?")
        return cls(
            method=method.upper(),
            path=path or "/",
            query=parse_qsl(query, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers},
            body=body,
        )

    @property
    def host(self) -> str:
        """The Host header without port."""
        return self.headers.get("host", "").rsplit(":", 1)[0]

    def header(self, name: str) -> str | None:
        """Returns a header value by case-insensitive name."""
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """Returns the first value of a query parameter."""
        for key, value in self.query:
            if key == name:
                return value
        return None

    def segments(self) -> list[str]:
        """The path split on ``/`` with each segment percent-decoded (empty ones dropped)."""
        return [unquote(part) for part in self.path.split("/") if part]

    def form(self) -> dict[str, str]:
        """Query parameters merged with an urlencoded body (body wins)."""
        values = dict(self.query)
        if self.body and "json" not in self.headers.get("content-type", ""):
            values.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return values

    def json(self) -> object:
        """The body parsed as JSON (``None`` when empty)."""
        return json.loads(self.body) if self.body else None


@dataclass
class SandboxResponse:
    """A simulator's answer before it is written to the wire.

    Attributes:
        status: HTTP status.
        payload: a JSON-able object, encoded into ``body`` at the end of the pipeline
            (kept separate so schema drift can alter it).
        body: raw body bytes (used when ``payload`` is ``None``).
        headers: extra headers in order.
        content_type: the Content-Type header.
        action: ``"reset"`` closes the connection without an answer; ``"timeout"`` holds
            the request ``hold`` seconds first (in-process: raises a read timeout).
        hold: seconds to hold for a timeout.
    """

    status: int
    payload: object | None = None
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = JSON_TYPE
    action: Literal["reset", "timeout"] | None = None
    hold: float = 0.0

    def header(self, name: str) -> str | None:
        """Returns the first header called ``name`` (case-insensitive)."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def encode(self) -> bytes:
        """Encodes ``payload`` into ``body`` (idempotent) and returns the body."""
        if self.payload is not None:
            self.body = encode_json(self.payload)
            self.payload = None
        return self.body


def encode_json(value: object) -> bytes:
    """Compact UTF-8 JSON of ``value`` (orjson; the standard library for what it refuses,
    such as integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    status: int, payload: object, headers: Sequence[tuple[str, str]] = ()
) -> SandboxResponse:
    """A JSON response."""
    return SandboxResponse(status=status, payload=payload, headers=list(headers))


@dataclass(frozen=True)
class Identity:
    """Who is calling: a credential label, the site addressed and a rate-limit bucket.

    Attributes:
        credential: label of the published credential, ``"none"`` or ``"unknown"``.
        site: site/organization name, if known.
        bucket: rate-limit bucket, or ``None`` when the request is not counted.
    """

    credential: str = "none"
    site: str | None = None
    bucket: str | None = None


@dataclass
class CallContext:
    """Per-request facts handed to a handler.

    Attributes:
        number: 1-based request number on this simulator.
        seq: sandbox-wide sequence number.
        identity: the caller.
        rate: the rate-limit decision (``None`` when not counted).
        now: the sandbox clock, epoch seconds.
        request_id: a unique id for ``X-Request-Id``-style headers.
    """

    number: int
    seq: int
    identity: Identity
    rate: RateDecision | None
    now: float
    request_id: str


class VendorHandler(Protocol):
    """A vendor simulator (or one part of it, such as an OAuth server)."""

    #: Simulator name used in logs, fault rules and rate limits.
    name: str

    def matches(self, request: SandboxRequest) -> bool:
        """Whether this handler serves the request's path on its mount."""
        ...

    def identify(self, request: SandboxRequest) -> Identity:
        """Works out the caller's credential, site and rate-limit bucket (no side effects)."""
        ...

    def handle(self, request: SandboxRequest, ctx: CallContext) -> SandboxResponse:
        """Answers a request that passed fault injection and rate limiting."""
        ...

    def fault_response(
        self, kind: FaultKind, status: int, request: SandboxRequest, ctx: CallContext
    ) -> SandboxResponse:
        """The vendor's own answer for ``rate_limited``, ``error`` or ``expired_token``."""
        ...

    def decorate(
        self, response: SandboxResponse, request: SandboxRequest, ctx: CallContext
    ) -> None:
        """Adds headers the vendor sends on every response (even faults)."""
        ...


#: Handles ``/_sandbox/...`` admin requests on any mount; returns ``None`` when unknown.
AdminHandler = Callable[[SandboxRequest, str], SandboxResponse]


class Mount:
    """Handlers sharing one origin, plus the pipeline every request goes through.

    Args:
        name: the mount's name (``chargebee``, ``recurly-us``, ``zoho`` ...).
        handlers: tried in order; the first whose ``matches`` is true answers.
        log: the sandbox request log.
        faults: the sandbox fault injector.
        limiters: rate limiters keyed by handler name (missing = never limited).
        clock: the sandbox clock.
        admin: handler for ``/_sandbox/...`` paths.
    """

    def __init__(
        self,
        name: str,
        handlers: Sequence[VendorHandler],
        log: RequestLog,
        faults: FaultInjector,
        limiters: dict[str, RateLimiter],
        clock: Clock,
        admin: AdminHandler | None = None,
    ) -> None:
        self.name = name
        self.handlers: list[VendorHandler] = list(handlers)
        self.log = log
        self.faults = faults
        self.limiters = limiters
        self.clock = clock
        self.admin = admin
        self._numbers: dict[str, int] = {}
        self._lock = threading.Lock()

    def add_handler(self, handler: VendorHandler, first: bool = False) -> None:
        """Registers one more handler on this origin."""
        if first:
            self.handlers.insert(0, handler)
        else:
            self.handlers.append(handler)

    def _number(self, name: str) -> int:
        with self._lock:
            value = self._numbers.get(name, 0) + 1
            self._numbers[name] = value
            return value

    def dispatch(self, request: SandboxRequest) -> SandboxResponse:
        """Runs one request through the pipeline and returns the final response."""
        seq = self.log.next_seq()
        now = self.clock.now().timestamp()
        if request.path.startswith("/_sandbox/") and self.admin is not None:
            response = self.admin(request, self.name)
            response.encode()
            self._record(seq, 0, "sandbox-admin", request, Identity(), response, None, now)
            return response
        handler = next((h for h in self.handlers if h.matches(request)), None)
        if handler is None:
            response = json_response(
                404, {"message": f"No sandbox simulator serves {request.path}."}
            )
            response.encode()
            self._record(seq, 0, "unrouted", request, Identity(), response, None, now)
            return response
        number = self._number(handler.name)
        identity = handler.identify(request)
        decision = self.faults.decide(handler.name, number)
        if decision.latency:
            time.sleep(decision.latency)
        rate = None
        limiter = self.limiters.get(handler.name)
        if limiter is not None and identity.bucket is not None:
            rate = limiter.check(identity.bucket)
        ctx = CallContext(
            number=number,
            seq=seq,
            identity=identity,
            rate=rate,
            now=now,
            request_id=f"sbx-{seq:08d}-{number:06d}",
        )
        response = self._answer(handler, request, ctx, decision)
        handler.decorate(response, request, ctx)
        self._finish_body(response, handler, number, decision)
        self._record(seq, number, handler.name, request, identity, response, decision.label, now)
        return response

    def _answer(
        self,
        handler: VendorHandler,
        request: SandboxRequest,
        ctx: CallContext,
        decision: FaultDecision,
    ) -> SandboxResponse:
        kind = decision.kind
        if kind == "reset":
            return SandboxResponse(status=0, action="reset")
        if ctx.rate is not None and not ctx.rate.allowed:
            return handler.fault_response("rate_limited", 429, request, ctx)
        if kind in ("rate_limited", "expired_token", "error"):
            status = {"rate_limited": 429, "expired_token": 401}.get(kind, int(decision.value))
            return handler.fault_response(kind, status, request, ctx)
        response = handler.handle(request, ctx)
        if kind == "timeout":
            response.action = "timeout"
            response.hold = decision.value
        return response

    def _finish_body(
        self,
        response: SandboxResponse,
        handler: VendorHandler,
        number: int,
        decision: FaultDecision,
    ) -> None:
        if decision.kind == "drift" and response.payload is not None and response.status < 300:
            drift(response.payload, self.faults.rng_for_drift(handler.name, number))
        body = response.encode()
        if decision.kind == "malformed" and body:
            response.body = body.replace(b'"', b"'", 6)
        elif decision.kind == "truncated" and body:
            response.body = body[: max(1, len(body) // 2)]

    def _record(
        self,
        seq: int,
        number: int,
        vendor: str,
        request: SandboxRequest,
        identity: Identity,
        response: SandboxResponse,
        fault: str | None,
        now: float,
    ) -> None:
        self.log.add(
            LoggedRequest(
                seq=seq,
                number=number,
                vendor=vendor,
                method=request.method,
                path=request.path,
                query=tuple((k, "***" if k in SECRET_PARAMS else v) for k, v in request.query),
                credential=identity.credential,
                site=identity.site,
                status=0 if response.action == "reset" else response.status,
                fault=fault,
                at=now,
            )
        )


_PROTECTED_SUFFIXES = ("id", "_ids", "object", "code")
#: Fields drift never touches besides ids, ``object`` and codes: whether a record is
#: deleted and the timestamps incremental cursors order and filter by. A vendor's schema
#: drifts around them; were they dropped or nulled, the simulator would stop being the
#: ground truth a sync is checked against (a deleted record would read as live).
_PROTECTED_KEYS = frozenset(
    {
        "deleted",
        "deleted_at",
        "updated_at",
        "updated_time",
        "last_modified_time",
        "resource_version",
    }
)


_ENVELOPE_KEYS = frozenset({"list", "data", "code", "page_context", "info"})
_SKIPPED_KEYS = frozenset({"page_context", "info"})


def drift(payload: object, rng: random.Random) -> None:
    """Alters records in a JSON payload in place, like a vendor changing its schema.

    Every record (a dict with at least five keys below the envelope) gets an unknown
    field, loses one field and has another set to null. Ids, ``object``, codes, the
    ``deleted`` flag (and ``deleted_at``) and the cursor timestamps (``updated_at``,
    ``updated_time``, ``last_modified_time``, ``resource_version``) are never touched.
    """
    for record in _records(payload, 0):
        candidates = sorted(k for k in record if _driftable(k))
        record["x_sandbox_new_field"] = {"added": True, "note": "schema drift"}
        if len(candidates) >= 2:
            dropped, nulled = rng.sample(candidates, 2)
            del record[dropped]
            record[nulled] = None


def _driftable(key: str) -> bool:
    return key not in _PROTECTED_KEYS and not key.endswith(_PROTECTED_SUFFIXES)


def _records(value: object, depth: int) -> list[dict[str, object]]:
    if depth > 4:
        return []
    found: list[dict[str, object]] = []
    if isinstance(value, dict):
        is_envelope = depth == 0 and (len(value) < 8 or not _ENVELOPE_KEYS.isdisjoint(value))
        if not is_envelope and len(value) >= 5:
            found.append(value)
            return found
        for key, child in value.items():
            if key not in _SKIPPED_KEYS:
                found.extend(_records(child, depth + 1))
    elif isinstance(value, list):
        for child in value:
            found.extend(_records(child, depth + 1))
    return found
