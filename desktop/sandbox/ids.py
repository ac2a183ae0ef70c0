"""Vendor-shaped record ids, derived from row numbers and reversible.

Each record kind lives in one table row; its id on a vendor is a bijective function of
the row, so ids look opaque (``AzZlGkTuX1ab``, ``q3kd9a1b2c3d``, ``903000000000042``)
but need no lookup table: :func:`parse_id` turns an id back into its row.
"""

from __future__ import annotations

from typing import Final, Literal

Kind = Literal["customer", "subscription", "invoice"]
KINDS: Final[tuple[Kind, ...]] = ("customer", "subscription", "invoice")

_BASE62: Final[str] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE36: Final[str] = "0123456789abcdefghijklmnopqrstuvwxyz"
_HEX: Final[str] = "0123456789abcdef"
_MULTIPLIER: Final[int] = 0x5DEECE66D * 0x9E3779B1 + 1


class _Codec:
    """An affine bijection ``row -> (row * a + b) mod alphabet**length`` written in a base."""

    def __init__(self, alphabet: str, length: int, salt: int) -> None:
        self.alphabet = alphabet
        self.length = length
        self.modulus: int = len(alphabet) ** length
        multiplier = _MULTIPLIER % self.modulus
        while _gcd(multiplier, self.modulus) != 1:
            multiplier += 1
        self.multiplier = multiplier
        self.inverse: int = pow(multiplier, -1, self.modulus)
        self.offset = (salt * 0x2545F4914F6CDD1D) % self.modulus
        self.index = {char: value for value, char in enumerate(alphabet)}

    def encode(self, row: int) -> str:
        value = (row * self.multiplier + self.offset) % self.modulus
        base = len(self.alphabet)
        chars = []
        for _ in range(self.length):
            value, digit = divmod(value, base)
            chars.append(self.alphabet[digit])
        return "".join(reversed(chars))

    def decode(self, text: str) -> int | None:
        if len(text) != self.length:
            return None
        value = 0
        base = len(self.alphabet)
        for char in text:
            digit = self.index.get(char)
            if digit is None:
                return None
            value = value * base + digit
        row: int = ((value - self.offset) * self.inverse) % self.modulus
        return row


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


_CB_CUSTOMER = _Codec(_BASE62, 12, 11)
_CB_SUBSCRIPTION = _Codec(_BASE62, 13, 12)
_RC_ACCOUNT = _Codec(_BASE36, 12, 21)
_RC_SUBSCRIPTION = _Codec(_BASE36, 12, 22)
_RC_INVOICE = _Codec(_BASE36, 12, 23)
_RC_UUID = _Codec(_HEX, 32, 24)
_ZOHO_BASE: Final[dict[str, int]] = {
    "customer": 903000000000000,
    "subscription": 903000100000000,
    "invoice": 903000200000000,
}
#: Zoho contact persons: two possible per customer row.
ZOHO_CONTACT_BASE: Final[int] = 903000300000000


def format_id(vendor: str, kind: Kind, row: int) -> str:
    """Returns the vendor's id of the record in ``row`` of the ``kind`` table."""
    if vendor == "chargebee":
        if kind == "customer":
            return _CB_CUSTOMER.encode(row)
        if kind == "subscription":
            return _CB_SUBSCRIPTION.encode(row)
        return f"INV-{row + 1001}"
    if vendor == "recurly":
        if kind == "customer":
            return _RC_ACCOUNT.encode(row)
        if kind == "subscription":
            return _RC_SUBSCRIPTION.encode(row)
        return _RC_INVOICE.encode(row)
    return str(_ZOHO_BASE[kind] + row)


def parse_id(vendor: str, kind: Kind, text: str) -> int | None:
    """Returns the row behind a vendor id, or ``None`` when it cannot be one of ours."""
    if vendor == "chargebee":
        if kind == "customer":
            return _CB_CUSTOMER.decode(text)
        if kind == "subscription":
            return _CB_SUBSCRIPTION.decode(text)
        return _number(text.removeprefix("INV-"), 1001)
    if vendor == "recurly":
        if kind == "customer":
            return _RC_ACCOUNT.decode(text)
        if kind == "subscription":
            return _RC_SUBSCRIPTION.decode(text)
        return _RC_INVOICE.decode(text)
    return _number(text, _ZOHO_BASE[kind])


def _number(text: str, base: int) -> int | None:
    if not text.isdigit() or len(text) > 18:
        return None
    row = int(text) - base
    return row if row >= 0 else None


def recurly_uuid(row: int) -> str:
    """Returns the 32-hex-digit uuid of the Recurly subscription in ``row``."""
    return _RC_UUID.encode(row)


def parse_recurly_uuid(text: str) -> int | None:
    """Returns the subscription row behind a Recurly uuid."""
    return _RC_UUID.decode(text.lower())


def recurly_account_code(row: int) -> str:
    """Returns the merchant account code of the Recurly account in ``row``."""
    return f"acme-{row + 1:06d}"


def parse_recurly_account_code(text: str) -> int | None:
    """Returns the account row behind a Recurly account code."""
    if not text.startswith("acme-"):
        return None
    return _number(text[5:], 1)


def invoice_number(row: int) -> str:
    """Returns the invoice number shown to people (Recurly ``number``, Zoho ``INV-000042``)."""
    return str(row + 1001)


def parse_invoice_number(text: str) -> int | None:
    """Returns the invoice row behind an invoice number."""
    return _number(text, 1001)


def zoho_invoice_number(row: int) -> str:
    """Returns the Zoho invoice number of the invoice in ``row``."""
    return f"INV-{row + 1:06d}"
