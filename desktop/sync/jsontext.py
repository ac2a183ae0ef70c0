"""Fast JSON in and out of the sync path, with the standard library's behaviour at the edges.

A sync decodes every page the source sends and encodes every record's raw payload for
the database. :mod:`orjson` does both several times faster than :mod:`json`; where it is
stricter (``NaN``/``Infinity`` in a body, non-string keys) or less exact (it reads an
integer beyond 64 bits as a float), the standard library takes over, so a payload the old
code accepted is still accepted and decodes to the same values.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

#: a number token of 19 or more digits (it may not fit 64 bits); inside a string it only
#: costs the slower reader
_LONG_NUMBER: Final = re.compile(rb"[:,\[]\s*-?\d{19}")
_COMPACT: Final = json.JSONEncoder(separators=(",", ":"), check_circular=False, ensure_ascii=False)


def loads(data: bytes | str) -> Any:
    """Parses JSON text.

    Raises:
        ValueError: when the text is not JSON (as :func:`json.loads` raises it).
    """
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_NUMBER.search(raw) is None:
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
