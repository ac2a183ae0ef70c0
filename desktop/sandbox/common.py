"""Small helpers shared by the vendor simulators: auth headers, page extraction, formats."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from desktop.sandbox import catalog as cat
from desktop.sandbox.core import SandboxRequest
from desktop.sandbox.store import NONE, IntArray, Table


def basic_user(request: SandboxRequest) -> str | None:
    """Returns the user part of an HTTP Basic ``Authorization`` header, or ``None``."""
    header = request.header("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]


def page_rows(table: Table, rows: IntArray, names: Sequence[str]) -> list[dict[str, int]]:
    """Reads ``names`` columns of ``rows`` as plain Python ints, one dict per row."""
    columns = [table.col(name)[rows].tolist() for name in names]
    keys = ("row", *names)
    return [
        dict(zip(keys, values, strict=True)) for values in zip(rows.tolist(), *columns, strict=True)
    ]


def major(minor: int, currency: int) -> float:
    """Minor units to a decimal amount in major units (JPY keeps whole numbers)."""
    digits = cat.MINOR_DIGITS[currency]
    return round(minor / (10**digits), digits) if digits else float(minor)


def iso_z(epoch: int) -> str | None:
    """Epoch seconds as ``2021-02-25T18:04:11Z`` (no fractions), ``None`` for no value."""
    if epoch == NONE:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_offset(epoch: int, offset_minutes: int) -> str:
    """Epoch seconds as ``2024-01-04T10:12:44+0100`` in a fixed UTC offset."""
    zone = timezone(timedelta(minutes=offset_minutes))
    return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%dT%H:%M:%S%z")


def day(epoch: int, offset_minutes: int = 0) -> str:
    """Epoch seconds as a ``YYYY-MM-DD`` date in a fixed UTC offset ("" for no value)."""
    if epoch == NONE:
        return ""
    zone = timezone(timedelta(minutes=offset_minutes))
    return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d")


def parse_int(text: str | None, default: int, low: int, high: int) -> int | None:
    """Parses a bounded integer parameter; ``None`` when present but invalid."""
    if text is None or text == "":
        return default
    if not text.strip().lstrip("-").isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


def compact(record: dict[str, Any]) -> dict[str, Any]:
    """Drops keys whose value is ``None`` (vendors that omit absent fields)."""
    return {k: v for k, v in record.items() if v is not None}


def monthly(amount: int, months: int) -> int:
    """Normalises a per-period amount to a monthly amount (integer division)."""
    return amount // months
