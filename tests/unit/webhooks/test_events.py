"""Which webhook bodies are events, and why the others are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from desktop.webhooks.events import EventRejected, parse_event, peek_identity


def _body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_default_payload_from_the_reference() -> None:
    event = parse_event(
        _body(
            {
                "event_id": "460000000101001",
                "event_type": "subscription_renewed",
                "event_time": "2024-03-05T00:01:12+0100",
                "data": {
                    "subscription": {
                        "subscription_id": "460000000079200",
                        "status": "live",
                        "customer_id": "460000000054001",
                    }
                },
            }
        )
    )
    assert event.event_id == "460000000101001"
    assert event.family == "subscription"
    assert event.event_time == datetime(2024, 3, 4, 23, 1, 12, tzinfo=UTC)
    assert set(event.entities) == {"subscription"}


def test_payload_as_a_json_string_and_numeric_ids() -> None:
    event = parse_event(
        _body(
            {
                "event_id": 901,
                "event_type": "invoice_updated",
                "payload": json.dumps({"invoice": {"invoice_id": 5, "status": "paid"}}),
            }
        )
    )
    assert event.event_id == "901"
    assert event.entities["invoice"]["invoice_id"] == 5


def test_unknown_type_with_an_object_is_accepted_and_reminders_need_none() -> None:
    brand_new = {
        "event_id": "1",
        "event_type": "brand_new_event",
        "data": {"subscription": {"subscription_id": "9"}},
    }
    assert parse_event(_body(brand_new)).family == "other"
    assert parse_event(_body({"event_id": "2", "event_type": "card_expiring"})).family == "reminder"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "no body"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{nope", "not valid JSON"),
        (b"[1, 2]", "not an object"),
        (_body({"event_type": "invoice_updated"}), "no event_id"),
        (_body({"event_id": "1"}), "no event_type"),
        (
            _body({"event_id": "1", "event_type": "invoice_updated", "data": {}}),
            "carries no invoice",
        ),
        (
            _body({"event_id": "1", "event_type": "subscription_created", "data": {"x": 1}}),
            "carries no subscription",
        ),
        (
            _body(
                {
                    "event_id": "1",
                    "event_type": "invoice_updated",
                    "data": {"invoice": {"status": "paid"}},
                }
            ),
            "no invoice_id",
        ),
        (
            _body({"event_id": "1", "event_type": "invoice_updated", "data": {"invoice": [1]}}),
            "not a JSON object",
        ),
        (_body({"event_id": "1", "event_type": "mystery", "data": {}}), "does not know"),
        (_body({"event_id": "1", "event_type": "x", "payload": "{bad"}), "payload text"),
    ],
)
def test_rejections_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(EventRejected, match=reason):
        parse_event(body)


def test_payment_may_carry_a_payment_or_an_invoice() -> None:
    assert parse_event(
        _body(
            {
                "event_id": "1",
                "event_type": "payment_thankyou",
                "data": {"payment": {"payment_id": "p1"}},
            }
        )
    ).entities["payment"] == {"payment_id": "p1"}
    with pytest.raises(EventRejected, match="carries no payment or invoice"):
        parse_event(_body({"event_id": "1", "event_type": "payment_declined", "data": {}}))


def test_peek_reads_what_it_can() -> None:
    assert peek_identity(_body({"event_id": 7, "event_type": "x"})) == ("7", "x")
    assert peek_identity(b"{nope") == (None, None)
