"""Reading vendor payloads defensively: helpers every connector's normaliser shares.

A missing, null or oddly typed field gives ``None`` (or ``{}``), never an exception, so
schema drift cannot crash a sync.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from desktop.timeutil import parse_timestamp


def text(payload: dict[str, Any], *keys: str) -> str | None:
    """The first non-empty scalar among ``keys``, as stripped text."""
    for key in keys:
        value = payload.get(key)
        if value is None or isinstance(value, dict | list):
            continue
        if isinstance(value, bool):
            return "true" if value else "false"
        result = str(value).strip()
        if result:
            return result
    return None


def sub_object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object, or ``{}`` when absent or not an object."""
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def stamp(payload: dict[str, Any], *keys: str) -> datetime | None:
    """The first parseable timestamp among ``keys``, as aware UTC."""
    for key in keys:
        value = parse_timestamp(payload.get(key))
        if value is not None:
            return value
    return None
