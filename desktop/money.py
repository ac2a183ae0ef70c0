"""Money as integer minor units with an ISO 4217 currency code.

Vendors send money either as minor units (Chargebee) or as decimal major units (Zoho
Billing, Recurly). Everything inside Billbridge is an ``int`` of minor units plus a code;
formatting happens only at the edge (views, exports).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# Currencies whose minor unit is not 1/100 (ISO 4217). Everything else has two digits.
_MINOR_DIGITS: dict[str, int] = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0, "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def minor_digits(currency: str) -> int:
    """Returns how many decimal digits the currency's minor unit has (USD 2, JPY 0)."""
    return _MINOR_DIGITS.get(currency.upper(), 2)


def to_minor(amount: object, currency: str) -> int | None:
    """Converts a major-unit amount (``12.5``, ``"12.50"``) to integer minor units.

    Args:
        amount: a number or numeric string in major units; ``None`` or ``""`` give ``None``.
        currency: ISO 4217 code deciding the number of minor digits.

    Returns:
        The amount in minor units, rounded half-to-even, or ``None`` when absent or not a
        number.
    """
    if amount is None or amount == "" or isinstance(amount, bool):
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    scaled = value.scaleb(minor_digits(currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(scaled)


def format_money(minor: int | None, currency: str | None) -> str:
    """Formats minor units for display, for example ``1234, "USD"`` → ``"1,234.00 USD"``."""
    if minor is None:
        return ""
    code = (currency or "").upper()
    digits = minor_digits(code) if code else 2
    value = Decimal(minor).scaleb(-digits)
    text = f"{value:,.{digits}f}"
    return f"{text} {code}".strip()
