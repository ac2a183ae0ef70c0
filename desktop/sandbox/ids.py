"""Vendor-shaped record ids, derived from row numbers and reversible.

Each record kind lives in one table row; its id on a vendor is a bijective function of
the row, so ids look opaque (``AzZlGkTuX1ab``, ``q3kd9a1b2c3d``, ``903000000000042``)
but need no lookup table: :func:`parse_id` turns an id back into its row.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["customer", "subscription", "invoice"]
KINDS: Final[tuple[Kind, ...]] = ("customer", "subscription", "invoice")

_BASE62: Final[str] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE36: Final[str] = "0123456789abcdefghijklmnopqrstuvwxyz"
_HEX: Final[str] = "0123456789abcdef"
_MASK: Final[int] = (1 << 64) - 1


class _Codec:
    """An odd-multiplier bijection of 64-bit values, written in a base.

    ``row -> (row * a + b) mod 2**64`` is invertible because ``a`` is odd; NumPy's
    wrapping ``uint64`` arithmetic computes it for a whole page of rows at once.
    """

    def __init__(self, alphabet: str, length: int, salt: int) -> None:
        if len(alphabet) ** length < 1 << 64:
            raise ValueError("An id codec needs room for every 64-bit value.")
        self.alphabet = alphabet
        self.length = length
        self.base = len(alphabet)
        self.multiplier = ((0x9E3779B97F4A7C15 ^ (salt * 0x5DEECE66D)) | 1) & _MASK
        self.inverse: int = pow(self.multiplier, -1, 1 << 64)
        self.offset = (salt * 0xD1B54A32D192ED03 + 0x632BE59BD9B4E019) & _MASK
        self.index = {char: value for value, char in enumerate(alphabet)}
        self.table = np.frombuffer(alphabet.encode("utf-32-le"), dtype=np.uint32)

    def encode(self, row: int) -> str:
        value = (row * self.multiplier + self.offset) & _MASK
        chars = []
        for _ in range(self.length):
            value, digit = divmod(value, self.base)
            chars.append(self.alphabet[digit])
        return "".join(reversed(chars))

    def encode_many(self, rows: npt.NDArray[np.int64]) -> list[str]:
        values = rows.astype(np.uint64) * np.uint64(self.multiplier) + np.uint64(self.offset)
        digits = np.empty((len(rows), self.length), dtype=np.uint32)
        base = np.uint64(self.base)
        for position in range(self.length - 1, -1, -1):
            digits[:, position] = self.table[values % base]
            values //= base
        texts: list[str] = digits.view(f"U{self.length}").ravel().tolist()
        return texts

    def decode(self, text: str) -> int | None:
        if len(text) != self.length:
            return None
        value = 0
        for char in text:
            digit = self.index.get(char)
            if digit is None:
                return None
            value = value * self.base + digit
        if value > _MASK:
            return None
        row: int = ((value - self.offset) * self.inverse) & _MASK
        return row


_CB_CUSTOMER = _Codec(_BASE62, 11, 11)
_CB_SUBSCRIPTION = _Codec(_BASE62, 11, 12)
_RC_ACCOUNT = _Codec(_BASE36, 13, 21)
_RC_SUBSCRIPTION = _Codec(_BASE36, 13, 22)
_RC_INVOICE = _Codec(_BASE36, 13, 23)
_RC_UUID = _Codec(_HEX, 16, 24)
_RC_UUID_TAIL = _Codec(_HEX, 16, 25)
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


def format_ids(vendor: str, kind: Kind, rows: npt.NDArray[np.int64]) -> list[str | None]:
    """Vendor ids of many rows at once; a negative row (no record) gives ``None``."""
    safe = np.where(rows >= 0, rows, 0).astype(np.int64)
    ids: list[str]
    if vendor == "chargebee" and kind != "invoice":
        ids = (_CB_CUSTOMER if kind == "customer" else _CB_SUBSCRIPTION).encode_many(safe)
    elif vendor == "recurly":
        codec = {"customer": _RC_ACCOUNT, "subscription": _RC_SUBSCRIPTION}.get(kind, _RC_INVOICE)
        ids = codec.encode_many(safe)
    elif vendor == "chargebee":
        ids = [f"INV-{row + 1001}" for row in safe.tolist()]
    else:
        ids = (safe + _ZOHO_BASE[kind]).astype(str).tolist()
    result: list[str | None] = list(ids)
    for index in np.flatnonzero(rows < 0).tolist():
        result[index] = None
    return result


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
    return _RC_UUID.encode(row) + _RC_UUID_TAIL.encode(row)


def recurly_uuids(rows: npt.NDArray[np.int64]) -> list[str]:
    """Vectorised :func:`recurly_uuid`."""
    heads = _RC_UUID.encode_many(rows)
    tails = _RC_UUID_TAIL.encode_many(rows)
    return [head + tail for head, tail in zip(heads, tails, strict=True)]


def parse_recurly_uuid(text: str) -> int | None:
    """Returns the subscription row behind a Recurly uuid."""
    if len(text) != 32:
        return None
    row = _RC_UUID.decode(text[:16].lower())
    return row if row is not None and recurly_uuid(row) == text.lower() else None


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
