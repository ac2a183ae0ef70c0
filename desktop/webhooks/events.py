"""What a Zoho Billing webhook body must look like, and what it carries.

Zoho Billing's *Default payload* is a JSON object::

    {"event_id": "460000000101001", "event_type": "subscription_renewed",
     "event_time": "2024-03-05T00:01:12+0100",
     "data": {"subscription": {...}, "customer": {...}, "invoice": {...}, "payment": {...}}}

The objects may also come under ``payload`` (an object, or a JSON string as the events
API shows it) or at the top level. Parsing is strict about what Billbridge needs and
lenient about the rest:

* the body must be a UTF-8 JSON object with an ``event_id`` and an ``event_type``;
* an event of a known family must carry its object: ``subscription_*`` (and
  ``trial_expired``, ``billing_date_changed``) a subscription, ``invoice_*`` an invoice,
  ``payment_*`` a payment or an invoice;
* every object present must be a JSON object with its id (``subscription_id``, …);
* an event type Billbridge does not know is accepted when it carries one of those
  objects (Zoho adds events over time) and refused when it carries none;
* reminders that carry no object (``card_expiring``) are accepted and change nothing.

Anything else is an :class:`EventRejected` whose message is the reason sent back with
the 400 answer and kept on the stored event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from desktop.timeutil import parse_timestamp

#: Objects an event can carry, with the id each must have.
ENTITY_IDS: Final[dict[str, str]] = {
    "customer": "customer_id",
    "subscription": "subscription_id",
    "invoice": "invoice_id",
    "payment": "payment_id",
}

#: Event types Zoho Billing documents (immediate and scheduled), by family.
KNOWN_TYPES: Final[dict[str, str]] = {
    **{
        name: "subscription"
        for name in (
            "subscription_created",
            "subscription_activation",
            "subscription_upgraded",
            "subscription_downgraded",
            "subscription_renewed",
            "subscription_cancelled",
            "subscription_reactivated",
            "subscription_expired",
            "subscription_unpaid",
            "subscription_cancellation_scheduled",
            "subscription_scheduled_cancellation_removed",
            "subscription_paused",
            "subscription_resumed",
            "subscription_deleted",
            "billing_date_changed",
            "trial_expired",
        )
    },
    **{
        name: "reminder"
        for name in (
            "subscription_expiring",
            "trial_expiring",
            "subscription_renewal_reminder",
            "card_expiring",
            "card_expired",
            "invoice_due_reminder",
        )
    },
    **{name: "invoice" for name in ("invoice_notification", "invoice_updated", "invoice_voided")},
    **{name: "payment" for name in ("payment_thankyou", "payment_declined", "payment_refunded")},
}

#: The object each family must carry (any one of them).
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "subscription": ("subscription",),
    "invoice": ("invoice",),
    "payment": ("payment", "invoice"),
    "reminder": (),
}


class EventRejected(ValueError):
    """A body that is not a usable event; the message is the reason, as a sentence."""


@dataclass(frozen=True)
class ParsedEvent:
    """A well-formed event.

    Attributes:
        event_id: Zoho's event id (as text).
        event_type: for example ``subscription_renewed``.
        family: ``subscription``, ``invoice``, ``payment``, ``reminder`` or ``other``.
        event_time: when it happened, if the body says.
        entities: the objects it carries, by kind (``customer``, ``subscription``,
            ``invoice``, ``payment``).
    """

    event_id: str
    event_type: str
    family: str
    event_time: datetime | None
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)


def family_of(event_type: str) -> str:
    """The family of an event type; unknown ones by prefix, else ``other``."""
    known = KNOWN_TYPES.get(event_type)
    if known is not None:
        return known
    for prefix in ("subscription", "invoice", "payment"):
        if event_type.startswith(prefix + "_"):
            return prefix
    return "other"


def decode_json(body: bytes) -> Any:
    """The JSON value of a body.

    Raises:
        EventRejected: when the body is empty, not UTF-8 or not JSON.
    """
    if not body.strip():
        raise EventRejected("The request has no body; Billbridge expects a JSON event.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EventRejected(
            "The body is not UTF-8 text; Billbridge expects a JSON event."
        ) from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        detail = getattr(error, "msg", "too deeply nested")
        raise EventRejected(f"The body is not valid JSON ({detail}).") from None


def _identifier(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        text = str(value).strip()
        return text or None
    return None


def _container(document: dict[str, Any]) -> dict[str, Any]:
    """Where the objects are: ``data``, else ``payload``, else the document itself."""
    data = document.get("data")
    if isinstance(data, dict):
        return data
    payload = document.get("payload")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError:
            raise EventRejected("The event's payload text is not valid JSON.") from None
    if isinstance(payload, dict):
        return payload
    return document


def parse_event(body: bytes) -> ParsedEvent:
    """Parses and checks a webhook body.

    Raises:
        EventRejected: with the reason, when the body is not a usable event.
    """
    document = decode_json(body)
    if not isinstance(document, dict):
        raise EventRejected("The body is JSON but not an object; Billbridge expects an event.")
    event_id = _identifier(document.get("event_id"))
    if event_id is None:
        raise EventRejected("The event has no event_id.")
    if len(event_id) > 255:
        raise EventRejected("The event_id is longer than 255 characters.")
    event_type = document.get("event_type")
    if not isinstance(event_type, str) or not event_type.strip():
        raise EventRejected(f"Event {event_id} has no event_type.")
    event_type = event_type.strip().lower()
    if len(event_type) > 64:
        raise EventRejected(f"Event {event_id} has an event_type longer than 64 characters.")
    container = _container(document)
    entities: dict[str, dict[str, Any]] = {}
    for kind, id_key in ENTITY_IDS.items():
        if kind not in container or container[kind] is None:
            continue
        value = container[kind]
        if not isinstance(value, dict):
            raise EventRejected(f"The {kind} in event {event_id} is not a JSON object.")
        if _identifier(value.get(id_key)) is None:
            raise EventRejected(f"The {kind} in event {event_id} has no {id_key}.")
        entities[kind] = value
    family = family_of(event_type)
    if family == "other" and not entities:
        raise EventRejected(
            f"Billbridge does not know the event type {event_type!r} and event {event_id} "
            "carries no subscription, invoice, customer or payment."
        )
    required = REQUIRED.get(family, ())
    if required and not any(kind in entities for kind in required):
        wanted = " or ".join(required)
        raise EventRejected(f"Event {event_id} ({event_type}) carries no {wanted}.")
    return ParsedEvent(
        event_id=event_id,
        event_type=event_type,
        family=family,
        event_time=parse_timestamp(document.get("event_time")),
        entities=entities,
    )


def peek_identity(body: bytes) -> tuple[str | None, str | None]:
    """The event id and type of a body, as far as they can be read (for rejected events)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None, None
    if not isinstance(document, dict):
        return None, None
    event_type = document.get("event_type")
    return (
        _identifier(document.get("event_id")),
        event_type[:64] if isinstance(event_type, str) else None,
    )
