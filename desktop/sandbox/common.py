"""Small helpers shared by the vendor simulators: auth headers, page extraction, formats."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from functools import lru_cache
from typing import Any

import numpy as np

from desktop.sandbox import catalog as cat
from desktop.sandbox.core import SandboxRequest
from desktop.sandbox.ids import Kind, format_ids
from desktop.sandbox.store import NONE, Array, IntArray, Table

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def date_header(now: float) -> tuple[str, str]:
    """The ``Date`` header every real HTTP server sends (RFC 9110's IMF-fixdate).

    Args:
        now: the sandbox clock, epoch seconds (``CallContext.now``), so a sandbox whose
            clock is advanced answers with the advanced date, as the sync's watermarks
            rely on the source's clock.
    """
    return ("Date", formatdate(now, usegmt=True))


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


#: Extra id keys for :func:`page_rows`: ``{key: (vendor, kind, column or "row")}``.
IdSpec = dict[str, tuple[str, Kind, str]]


def page_rows(
    table: Table,
    rows: IntArray,
    names: Sequence[str],
    *,
    ids: IdSpec | None = None,
    iso: Sequence[str] = (),
    days: Sequence[str] = (),
    offset_minutes: int | None = None,
) -> list[dict[str, Any]]:
    """Reads a page of rows at once, one dict per row.

    Args:
        table: the table.
        rows: row numbers of the page.
        names: columns to read as plain ints (plus ``"row"``, always present).
        ids: extra keys holding vendor ids: ``{key: (vendor, kind, column or "row")}``.
        iso: time columns also rendered as ISO text under ``"<name>@iso"`` (``None`` for
            no value): ``...Z`` in UTC, or with ``offset_minutes`` as ``...+0100``.
        days: time columns also rendered as ``YYYY-MM-DD`` under ``"<name>@day"``.
        offset_minutes: the fixed UTC offset for ``iso`` and ``days`` (``None``: UTC, ``Z``).
    """
    keys: list[str] = ["row", *names]
    columns: list[list[Any]] = [rows.tolist()]
    columns.extend(table.col(name)[rows].tolist() for name in names)
    for key, (vendor, kind, source) in (ids or {}).items():
        source_rows = rows if source == "row" else table.col(source)[rows].astype(np.int64)
        keys.append(key)
        columns.append(format_ids(vendor, kind, source_rows))
    for name in iso:
        keys.append(f"{name}@iso")
        columns.append(iso_many(table.col(name)[rows], offset_minutes))
    for name in days:
        keys.append(f"{name}@day")
        columns.append(day_many(table.col(name)[rows], offset_minutes or 0))
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]


def _offset_text(offset_minutes: int) -> str:
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{sign}{hours:02d}{minutes:02d}"


def _texts_with_suffix(texts: Array, suffix: str) -> Array:
    """Appends ``suffix`` to every string of a fixed-width NumPy unicode array."""
    width = texts.dtype.itemsize // 4
    out = np.empty((len(texts), width + len(suffix)), dtype=np.uint32)
    out[:, :width] = texts.view(np.uint32).reshape(len(texts), width)
    out[:, width:] = np.frombuffer(suffix.encode("utf-32-le"), dtype=np.uint32)
    return out.view(f"U{width + len(suffix)}").ravel()


def _with_none(texts: list[Any], values: Array, missing: str | None) -> list[Any]:
    for index in np.flatnonzero(values == NONE).tolist():
        texts[index] = missing
    return texts


def iso_many(values: Array, offset_minutes: int | None = None) -> list[str | None]:
    """Vectorised :func:`iso_z` (``offset_minutes`` None) or :func:`iso_offset`."""
    if not len(values):
        return []
    shift = (offset_minutes or 0) * 60
    stamps = np.where(values == NONE, 0, values + shift).astype("datetime64[s]")
    suffix = "Z" if offset_minutes is None else _offset_text(offset_minutes)
    plain = np.datetime_as_string(stamps, unit="s").astype("U19")  # YYYY-MM-DDTHH:MM:SS
    texts = _texts_with_suffix(plain, suffix).tolist()
    return _with_none(texts, values, None)


def day_many(values: Array, offset_minutes: int = 0) -> list[str]:
    """Vectorised :func:`day` ("" for no value)."""
    if not len(values):
        return []
    stamps = np.where(values == NONE, 0, values + offset_minutes * 60).astype("datetime64[s]")
    texts = np.datetime_as_string(stamps.astype("datetime64[D]"), unit="D").tolist()
    return _with_none(texts, values, "")


_DIVISORS = np.array([10.0**digits for digits in cat.MINOR_DIGITS], dtype=np.float64)


def majors(minor: Array, currencies: Array) -> list[float]:
    """Vectorised :func:`major`: a page of minor-unit amounts in major units.

    Gives the very floats :func:`major` gives (an int below 2**53 converts exactly, and
    one IEEE division rounds the exact quotient, as Python's ``int / int`` does).
    """
    result: list[float] = (minor.astype(np.float64) / _DIVISORS[currencies]).tolist()
    return result


#: Plan prices in minor units, ``PRICES[plan, currency]``.
PRICES = np.array([plan.prices for plan in cat.PLANS], dtype=np.int64)
#: Billing period length in months per plan.
PLAN_MONTHS = np.array([plan.months for plan in cat.PLANS], dtype=np.int64)


def column(table: Table, name: str, rows: IntArray) -> Array:
    """One column of a page of rows (a NumPy array)."""
    return table.col(name)[rows]


def major(minor: int, currency: int) -> float:
    """Minor units to a decimal amount in major units (JPY keeps whole numbers)."""
    # Dividing by 100 already yields the double nearest to the exact cents value.
    return minor / 100 if cat.MINOR_DIGITS[currency] == 2 else float(minor)


@lru_cache(maxsize=4096)
def _date_text(days: int) -> str:
    return (_EPOCH + timedelta(days=days)).strftime("%Y-%m-%d")


def _parts(epoch: int) -> tuple[str, int, int, int]:
    days, rest = divmod(epoch, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    return _date_text(days), hours, minutes, seconds


def iso_z(epoch: int) -> str | None:
    """Epoch seconds as ``2021-02-25T18:04:11Z`` (no fractions), ``None`` for no value."""
    if epoch == NONE:
        return None
    date, hours, minutes, seconds = _parts(epoch)
    return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def iso_offset(epoch: int, offset_minutes: int) -> str:
    """Epoch seconds as ``2024-01-04T10:12:44+0100`` in a fixed UTC offset."""
    date, hours, minutes, seconds = _parts(epoch + offset_minutes * 60)
    sign = "-" if offset_minutes < 0 else "+"
    off_h, off_m = divmod(abs(offset_minutes), 60)
    return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}{sign}{off_h:02d}{off_m:02d}"


def day(epoch: int, offset_minutes: int = 0) -> str:
    """Epoch seconds as a ``YYYY-MM-DD`` date in a fixed UTC offset ("" for no value)."""
    if epoch == NONE:
        return ""
    return _date_text((epoch + offset_minutes * 60) // 86_400)


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
