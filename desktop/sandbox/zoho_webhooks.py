"""Delivering Zoho Billing webhooks from the sandbox to a receiver on 127.0.0.1.

What Zoho Billing sends (``shared/reference/zoho-billing.md`` §8): a ``POST`` (or the
configured ``PUT``/``DELETE``) with ``Content-Type: application/json``, the configured
query parameters and custom headers (e.g. ``Authorization: Basic …``), the *Default
payload* body::

    {"event_id": "...", "event_type": "subscription_renewed", "event_time": "...",
     "data": {"subscription": {...}}}

and, when the webhook is secured with a secret token, ``X-Zoho-Webhook-Signature``: the
hex HMAC-SHA256, keyed with the token, of every query-string key/value pair sorted by key
and written ``keyvalue``, followed by the raw body. Any 2xx answer counts as delivered.

The deliverer is bounded: loopback URLs only, a per-request timeout, at most
:data:`MAX_BATCH` deliveries per :meth:`ZohoWebhookDeliverer.deliver_all` call, one
keep-alive connection, no retries (resend by calling again), and answers read up to
:data:`MAX_ANSWER` bytes. Typical use::

    with sandbox.webhook_deliverer(url, secret=token, headers={"Authorization": auth}) as out:
        sandbox.mutations.renew_subscription("zoho-billing", sub_id)
        results = out.deliver_all(sandbox.zoho_events.since(None))
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import httpx

from desktop.errors import BillbridgeError
from desktop.sandbox.core import encode_json

SIGNATURE_HEADER: Final[str] = "X-Zoho-Webhook-Signature"
#: Hosts a sandbox delivery may go to.
LOOPBACK_HOSTS: Final[frozenset[str]] = frozenset({"127.0.0.1", "localhost", "::1"})
#: Most deliveries one ``deliver_all`` call makes.
MAX_BATCH: Final[int] = 10_000
#: Most bytes of a receiver's answer that are kept.
MAX_ANSWER: Final[int] = 16_384
_SECRET_SHAPE: Final[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9]{12,50}$")
_METHODS: Final[frozenset[str]] = frozenset({"POST", "PUT", "DELETE"})

#: Called after each delivery of an event: ``(event_id, url, delivered)``.
DeliveryListener = Callable[[str, str, bool], None]


class WebhookDeliveryError(BillbridgeError):
    """A sandbox webhook delivery was set up with something the sandbox refuses."""


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery.

    Attributes:
        event_id: the delivered event's id ("" for a raw body).
        status: the receiver's HTTP status (0 when it did not answer).
        delivered: whether the answer was a 2xx.
        answer: the start of the answer body.
        error: why there was no answer (timeout, refused connection), else ``None``.
        seconds: how long the request took.
    """

    event_id: str
    status: int
    delivered: bool
    answer: bytes
    error: str | None
    seconds: float


def default_payload(event: Mapping[str, Any]) -> dict[str, Any]:
    """The *Default payload* body of an event record (``payload`` → ``data``)."""
    payload = event.get("payload")
    data = json.loads(payload) if isinstance(payload, str) else dict(payload or {})
    return {
        "event_id": event["event_id"],
        "event_type": event["event_type"],
        "event_time": event.get("event_time", ""),
        "data": data,
    }


def signed_string(pairs: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """Sorted ``keyvalue`` pairs followed by the raw body (what Zoho Billing signs)."""
    ordered = sorted(pairs, key=lambda pair: pair[0])
    return "".join(f"{key}{value}" for key, value in ordered).encode() + body


def signature(secret: str, pairs: Iterable[tuple[str, str]], body: bytes) -> str:
    """The hex HMAC-SHA256 of :func:`signed_string`, keyed with the secret token."""
    return hmac.new(secret.encode(), signed_string(pairs, body), hashlib.sha256).hexdigest()


def _check_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise WebhookDeliveryError(f"{url!r} is not a URL the sandbox can deliver to.") from None
    if parsed.scheme not in ("http", "https") or parsed.host not in LOOPBACK_HOSTS:
        raise WebhookDeliveryError(
            "The sandbox delivers webhooks only to http://127.0.0.1 (or localhost), "
            f"not to {parsed.host or url!r}."
        )
    return parsed


class ZohoWebhookDeliverer:
    """Posts Zoho Billing webhook deliveries to one loopback URL.

    Args:
        url: the receiver's URL on 127.0.0.1/localhost.
        secret: the webhook's secret token (12–50 letters and digits) to sign with, or
            ``None`` for an unsecured webhook.
        headers: custom headers sent with every delivery.
        query: extra query parameters (part of the signed string).
        method: ``POST`` (default), ``PUT`` or ``DELETE``.
        timeout: seconds to wait for each answer.
        on_delivery: called after each event delivery (the sandbox records it in the
            event's ``webhooks`` list).
        transport: an httpx transport to use instead of a socket (tests).
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        method: str = "POST",
        timeout: float = 5.0,
        on_delivery: DeliveryListener | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = _check_url(url)
        if secret is not None and not _SECRET_SHAPE.match(secret):
            raise WebhookDeliveryError(
                "A webhook secret token is 12 to 50 letters and digits, as Zoho Billing asks."
            )
        if method.upper() not in _METHODS:
            raise WebhookDeliveryError(
                f"Zoho Billing webhooks use POST, PUT or DELETE, not {method}."
            )
        if not 0 < timeout <= 60:
            raise WebhookDeliveryError("The delivery timeout must be between 0 and 60 seconds.")
        self.secret = secret
        self.headers = dict(headers or {})
        self.query = list((query or {}).items())
        self.method = method.upper()
        self.on_delivery = on_delivery
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    # ------------------------------------------------------------- building

    def body(self, event: Mapping[str, Any] | bytes) -> bytes:
        """The raw body for an event record (default payload) or a prepared body."""
        return event if isinstance(event, bytes) else encode_json(default_payload(event))

    def headers_for(self, body: bytes) -> dict[str, str]:
        """The headers of one delivery: JSON type, custom headers, signature if secured."""
        headers = {"Content-Type": "application/json", **self.headers}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = signature(self.secret, self.query, body)
        return headers

    # ----------------------------------------------------------- delivering

    def deliver(self, event: Mapping[str, Any] | bytes) -> Delivery:
        """Sends one event record (or a raw body) and returns what happened."""
        body = self.body(event)
        event_id = "" if isinstance(event, bytes) else str(event.get("event_id", ""))
        started = time.perf_counter()
        status, answer, error = 0, b"", None
        try:
            with self._client.stream(
                self.method,
                self.url,
                params=tuple(self.query),
                content=body,
                headers=self.headers_for(body),
            ) as response:
                status = response.status_code
                for chunk in response.iter_bytes():
                    answer += chunk[: MAX_ANSWER - len(answer)]
                    if len(answer) >= MAX_ANSWER:
                        break
        except httpx.TimeoutException:
            error = "The receiver did not answer in time."
        except httpx.TransportError as failure:
            error = f"The receiver could not be reached ({type(failure).__name__})."
        delivered = 200 <= status < 300
        if self.on_delivery is not None and event_id:
            self.on_delivery(event_id, str(self.url), delivered)
        return Delivery(event_id, status, delivered, answer, error, time.perf_counter() - started)

    def deliver_all(
        self, events: Iterable[Mapping[str, Any] | bytes], *, stop_on_failure: bool = False
    ) -> list[Delivery]:
        """Delivers events in order, one at a time; refuses (before sending any) more than
        :data:`MAX_BATCH`."""
        batch = list(itertools.islice(events, MAX_BATCH + 1))
        if len(batch) > MAX_BATCH:
            raise WebhookDeliveryError(
                f"One call delivers at most {MAX_BATCH} events; split them into several calls."
            )
        results: list[Delivery] = []
        for event in batch:
            results.append(self.deliver(event))
            if stop_on_failure and not results[-1].delivered:
                break
        return results

    def close(self) -> None:
        """Closes the connection."""
        self._client.close()

    def __enter__(self) -> ZohoWebhookDeliverer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
