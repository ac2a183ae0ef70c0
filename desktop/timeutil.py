"""Aware-UTC time helpers. Every timestamp inside Billbridge is a timezone-aware UTC datetime."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

#: A clock is any zero-argument callable returning an aware UTC datetime.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system clock, aware and in UTC."""
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Returns ``value`` as aware UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_timestamp(value: object) -> datetime | None:
    """Parses the timestamp shapes the vendors send into aware UTC.

    Accepts epoch seconds (int/float or digit strings), ISO 8601 with ``Z``, with an
    offset with or without a colon (``+0100``), or a bare date. Returns ``None`` for
    empty or unparseable values instead of raising, so a sync never crashes on them.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isdigit():
        return parse_timestamp(int(text))
    text = text.replace("Z", "+00:00").replace("z", "+00:00")
    text = _OFFSET_NO_COLON.sub(r"\1:\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ensure_utc(parsed)


def parse_date(value: object) -> date | None:
    """Parses a ``YYYY-MM-DD`` date, or the date part of a timestamp; ``None`` if absent."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    stamp = parse_timestamp(value)
    return stamp.date() if stamp else None
