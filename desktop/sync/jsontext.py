"""Fast JSON in and out of the sync path, with the standard library's behaviour at the edges.

A sync decodes every page the source sends and encodes every record's raw payload for
the database. :mod:`orjson` does both several times faster than :mod:`json`; where it is
stricter (``NaN``/``Infinity`` in a body, non-string keys) or less exact (it reads an
integer beyond 64 bits as a float), the standard library takes over, so a payload the old
code accepted is still accepted and decodes to the same values.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

#: every digit as ``0``: a run of 20 of them may be a number beyond 64 bits (inside a
#: string it only costs the slower reader); ``translate`` + ``find`` is a fifth of a regex
_DIGITS: Final = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER: Final = b"0" * 20
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"), check_circular=False, ensure_ascii=False)


def loads(data: bytes | str) -> Any:
    """Parses JSON text.

    Raises:
        ValueError: when the text is not JSON (as :func:`json.loads` raises it).
    """
    raw = data.encode() if isinstance(data, str) else data
    if raw.translate(_DIGITS).find(_LONG_NUMBER) < 0:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def dumps(value: Any) -> str:
    """Compact JSON text of ``value`` (no spaces; non-ASCII kept as is).

    Raises:
        TypeError: for a value JSON cannot hold (as :func:`json.dumps` raises it).
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _COMPACT.encode(value)
