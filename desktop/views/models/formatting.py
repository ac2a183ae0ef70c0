"""How values look on screen: money, dates, durations and statuses (the edge of the app)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

from PySide6.QtGui import QColor

from desktop.money import format_money
from desktop.timeutil import ensure_utc

#: A red that reads on both light and dark backgrounds, for money owed and failures.
ALERT_COLOUR = QColor(214, 69, 65)
#: A green that reads on both light and dark backgrounds, for success.
OK_COLOUR = QColor(46, 160, 67)
#: An amber that reads on both light and dark backgrounds, for partial results.
WARN_COLOUR = QColor(212, 140, 20)
#: The least contrast of text with its background (WCAG 2, level AA, normal text).
TEXT_CONTRAST = 4.5


def contrast(first: QColor, second: QColor) -> float:
    """The WCAG 2 contrast ratio of two colours (1 to 21)."""
    light, dark = sorted((_luminance(first.rgb()), _luminance(second.rgb())), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable(colour: QColor, *backgrounds: QColor) -> QColor:
    """``colour`` as text on ``backgrounds``: kept if it reads on all of them, else darkened
    (on light backgrounds) or lightened (on dark ones) just enough to reach
    :data:`TEXT_CONTRAST`, keeping its hue, so a status colour reads in both palettes."""
    return QColor.fromRgb(_readable(colour.rgb(), tuple(b.rgb() for b in backgrounds)))


@lru_cache(maxsize=256)
def _readable(rgb: int, backgrounds: tuple[int, ...]) -> int:
    colour = QColor.fromRgb(rgb)
    grounds = [QColor.fromRgb(value) for value in backgrounds]
    if not grounds:
        return rgb
    dark_ground = sum(_luminance(value) for value in backgrounds) / len(grounds) < 0.18
    target = QColor(255, 255, 255) if dark_ground else QColor(0, 0, 0)
    for step in range(21):
        share = step / 20
        mixed = QColor.fromRgbF(
            colour.redF() + (target.redF() - colour.redF()) * share,
            colour.greenF() + (target.greenF() - colour.greenF()) * share,
            colour.blueF() + (target.blueF() - colour.blueF()) * share,
        )
        if min(contrast(mixed, ground) for ground in grounds) >= TEXT_CONTRAST:
            return mixed.rgb()
    return target.rgb()


@lru_cache(maxsize=256)
def _luminance(rgb: int) -> float:
    colour = QColor.fromRgb(rgb)

    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.redF())
        + 0.7152 * channel(colour.greenF())
        + 0.0722 * channel(colour.blueF())
    )


_STATUS_WORDS = {
    "non_renewing": "Non-renewing",
    "partially_paid": "Partially paid",
    "unpaid": "Unpaid (past due)",
    "import-only": "Import only",
    "zoho-billing": "Zoho Billing",
    "chargebee": "Chargebee",
    "recurly": "Recurly",
    "zoho-crm": "Zoho CRM",
}


def status_text(value: str | None) -> str:
    """A status or kind as a word for people: ``non_renewing`` → ``Non-renewing``."""
    if not value:
        return ""
    return _STATUS_WORDS.get(value, value.replace("_", " ").replace("-", " ").capitalize())


def money_text(minor: int | None, currency: str | None, *, mixed: bool = False) -> str:
    """Money for a cell; several currencies summed together are not shown as one number."""
    if mixed:
        return "several currencies"
    return format_money(minor, currency)


def date_text(value: date | datetime | None) -> str:
    """A date (or a timestamp's UTC date) as ``YYYY-MM-DD``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return ensure_utc(value).date().isoformat()
    return value.isoformat()


def time_text(value: datetime | None) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM UTC``."""
    if value is None:
        return ""
    return ensure_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def duration_text(seconds: float | None) -> str:
    """A duration as ``4 s``, ``2 min 05 s`` or ``1 h 03 min``."""
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{max(whole, 0)} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {(whole % 3600) // 60:02d} min"


def span_seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds between two timestamps, or ``None`` if either is missing."""
    if start is None or end is None:
        return None
    delta: timedelta = ensure_utc(end) - ensure_utc(start)
    return delta.total_seconds()


def count_text(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def key_text(hint: str | None) -> str:
    """What a list says of a stored key, from its hint (see ``connection_secret_hint``).

    ``…7f3a`` → ``Key ending …7f3a``; a Recurly site map's ``2 keys`` → ``2 keys, one per
    site``; nothing → ``No key stored``.
    """
    if not hint:
        return "No key stored"
    if hint.startswith("…"):
        return f"Key ending {hint}"
    return f"{hint}, one per site"
