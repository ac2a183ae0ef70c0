"""Compact columnar tables for the sandbox world.

A :class:`Table` keeps each numeric field in one NumPy array (so 500,000 invoices cost a
few tens of megabytes and build in milliseconds) and the rare free-text values set through
the mutation API in a small per-row override map. Rows never move: a row number is a
record's identity, from which vendor ids are derived.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

#: Marker stored in integer time columns for "no value" (e.g. a record without updated_at).
NONE: int = -1

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Array = npt.NDArray[Any]


class Table:
    """A growable set of rows with one NumPy array per column.

    Attributes:
        name: the record kind (``customer``, ``subscription``, ``invoice``).
        size: how many rows are in use.
        text: per-row overrides of text fields, ``{row: {field: value}}``.
    """

    def __init__(self, name: str, columns: Mapping[str, Array]) -> None:
        self.name = name
        self._columns: dict[str, Array] = dict(columns)
        lengths = {len(column) for column in self._columns.values()}
        if len(lengths) != 1:
            raise ValueError(f"Columns of table {name} have different lengths.")
        self.size = lengths.pop()
        self.text: dict[int, dict[str, str | None]] = {}

    def __len__(self) -> int:
        return self.size

    @property
    def column_names(self) -> tuple[str, ...]:
        """The table's column names."""
        return tuple(self._columns)

    def col(self, name: str) -> Array:
        """Returns the live view of one column (only the rows in use)."""
        return self._columns[name][: self.size]

    def get(self, name: str, row: int) -> int:
        """Returns one cell as a Python int (booleans as 0/1)."""
        return int(self._columns[name][row])

    def set(self, name: str, row: int, value: int) -> None:
        """Overwrites one cell."""
        self._columns[name][row] = value

    def append(self, values: Mapping[str, int]) -> int:
        """Adds one row and returns its row number (missing columns: :data:`NONE`, or false)."""
        row = self.size
        first = next(iter(self._columns.values()))
        if row >= len(first):
            capacity = max(16, len(first) * 2)
            for key, column in self._columns.items():
                grown = np.full(capacity, NONE, dtype=column.dtype)
                grown[: len(column)] = column
                self._columns[key] = grown
        for key, column in self._columns.items():
            default = 0 if column.dtype == np.bool_ else NONE
            column[row] = values.get(key, default)
        self.size = row + 1
        return row

    def text_of(self, row: int, field: str) -> str | bool | None:
        """Returns an overridden text value, or ``False`` when the field is not overridden."""
        fields = self.text.get(row)
        if fields is None or field not in fields:
            return False
        return fields[field]

    def nbytes(self) -> int:
        """Approximate memory held by the columns, in bytes."""
        return sum(column.nbytes for column in self._columns.values())
