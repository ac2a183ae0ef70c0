"""Bulk upserts for the sync writer: cached statements, driver-ready rows on SQLite.

A sync writes hundreds of thousands of rows through a handful of statement shapes
(``INSERT … ON CONFLICT (connection_id, source_id) DO UPDATE``, ``… DO NOTHING``).
Building a fresh ``on_conflict_do_update`` statement per page and letting SQLAlchemy run
a bind processor per value of every row cost more than the database itself, so:

* statements are built and compiled once per shape (:class:`BulkStatements`, one per
  writer) instead of once per page;
* on SQLite, rows are converted to what the ``sqlite3`` driver stores — the exact text
  SQLAlchemy's own ``DATETIME``/``DATE`` types write (``YYYY-MM-DD HH:MM:SS.ffffff`` in
  UTC, ``YYYY-MM-DD``), JSON text, plain numbers — in one pass, and executed with
  ``exec_driver_sql``; reading them back through the ORM gives the same values as rows
  written the usual way (a test holds them to it);
* on PostgreSQL the cached statement runs through SQLAlchemy as usual (psycopg's own
  type adaptation is already cheap there), and a table the run keeps growing is
  analysed as it grows (:data:`ANALYSE_AFTER` rows, then at each doubling): a lookup
  prepared while the table was nearly empty otherwise keeps a sequential-scan plan —
  an initial sync's per-page owner lookups took 8 ms each at 40,000 invoices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any, Final

from sqlalchemy import JSON, Date, Table
from sqlalchemy import Connection as DbConnection
from sqlalchemy.dialects import postgresql, sqlite

from desktop.storage.types import UTCDateTime
from desktop.sync import jsontext

Converter = Callable[[Any], Any]
#: PostgreSQL: rows a run adds to a table before it is analysed (again at each doubling)
ANALYSE_AFTER: Final[int] = 2_000
#: Conflict targets: source records are unique per connection and source id.
SOURCE_KEY: Final[tuple[str, ...]] = ("connection_id", "source_id")


def sqlite_datetime(value: datetime | None) -> str | None:
    """An aware timestamp as SQLAlchemy's SQLite ``DATETIME`` stores it, in UTC.

    Raises:
        ValueError: for a naive timestamp (like :class:`~desktop.storage.types.UTCDateTime`).
    """
    if value is None:
        return None
    if value.tzinfo is not UTC:
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("timestamps must be timezone-aware")
        if offset:
            value = value - offset
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - the fastest spelling
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


def sqlite_date(value: date | None) -> str | None:
    """A date as SQLAlchemy's SQLite ``DATE`` stores it."""
    if value is None:
        return None
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat()


def json_text(value: Any) -> str | None:
    """A JSON column's value as compact text (``None`` stays SQL NULL)."""
    if value is None:
        return None
    return jsontext.dumps(value)


def _converter(table: Table, name: str) -> Converter | None:
    kind = table.c[name].type
    if isinstance(kind, UTCDateTime):
        return sqlite_datetime
    if isinstance(kind, Date):
        return sqlite_date
    if isinstance(kind, JSON):
        return json_text
    return None


class _Compiled:
    """One statement compiled for the SQLite driver: SQL text and parameter order."""

    def __init__(self, sql: str, order: Sequence[str], table: Table) -> None:
        self.sql = sql
        self.order = tuple(order)
        self._pick = itemgetter(*self.order) if len(self.order) > 1 else None
        self._conversions = tuple(
            (index, conv, conv is not json_text)
            for index, name in enumerate(self.order)
            if (conv := _converter(table, name)) is not None
        )

    def rows(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """The rows as driver parameter lists, in the statement's order."""
        pick = self._pick
        conversions = self._conversions
        out: list[tuple[Any, ...]] = []
        # times and dates repeat within a batch (synced_at …): convert each once per column
        seen: list[dict[Any, Any]] = [{} for _ in conversions]
        for row in rows:
            values = list(pick(row)) if pick is not None else [row[self.order[0]]]
            for slot, (index, conv, repeats) in enumerate(conversions):
                value = values[index]
                if value is None:
                    continue
                if repeats:
                    memo = seen[slot]
                    text = memo.get(value)
                    if text is None:
                        text = memo[value] = conv(value)
                    values[index] = text
                else:
                    values[index] = conv(value)
            out.append(tuple(values))
        return out


class BulkStatements:
    """Cached insert/upsert statements of one writer (use from one thread)."""

    def __init__(self) -> None:
        self._statements: dict[tuple[Any, ...], Any] = {}
        self._compiled: dict[tuple[Any, ...], _Compiled] = {}
        self._written: dict[str, int] = {}
        self._next_analyse: dict[str, int] = {}
        #: tables analysed so far, in order (PostgreSQL only)
        self.analysed: list[str] = []

    def _statement(
        self,
        dialect: str,
        table: Table,
        names: tuple[str, ...],
        key: tuple[str, ...],
        update: bool | tuple[str, ...],
    ) -> Any:
        cache_key = (dialect, table.name, names, key, update)
        found = self._statements.get(cache_key)
        if found is not None:
            return found
        statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        if update is False:
            statement = statement.on_conflict_do_nothing(index_elements=list(key))
        else:
            changed = update if isinstance(update, tuple) else names
            statement = statement.on_conflict_do_update(
                index_elements=list(key),
                set_={name: statement.excluded[name] for name in changed if name not in key},
            )
        self._statements[cache_key] = statement
        return statement

    def insert(
        self,
        conn: DbConnection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        *,
        key: tuple[str, ...] = SOURCE_KEY,
        update: bool | tuple[str, ...] = True,
    ) -> None:
        """Inserts ``rows`` (all with the same keys); on a ``key`` conflict updates or skips.

        Args:
            conn: a connection inside the caller's transaction.
            table: the table.
            rows: column name → value, the same names in every row.
            key: the unique columns of the conflict target.
            update: ``True`` overwrites every other given column on conflict, a tuple
                only those columns, ``False`` leaves the existing row alone.
        """
        if not rows:
            return
        names = tuple(rows[0])
        dialect = conn.dialect.name
        statement = self._statement(dialect, table, names, key, update)
        if dialect != "sqlite":
            conn.execute(statement, list(rows))
            self._keep_statistics(conn, table, len(rows))
            return
        cache_key = (table.name, names, key, update)
        compiled = self._compiled.get(cache_key)
        if compiled is None:
            done = statement.compile(dialect=conn.dialect, column_keys=list(names))
            order = done.positiontup
            if order is None:  # pragma: no cover - the sqlite dialect is positional
                raise RuntimeError("expected a positional SQLite statement")
            compiled = self._compiled[cache_key] = _Compiled(str(done), order, table)
        conn.exec_driver_sql(compiled.sql, compiled.rows(rows))

    def _keep_statistics(self, conn: DbConnection, table: Table, count: int) -> None:
        """Analyses ``table`` once this writer has grown it enough since the last time."""
        written = self._written.get(table.name, 0) + count
        self._written[table.name] = written
        if written >= self._next_analyse.get(table.name, ANALYSE_AFTER):
            conn.exec_driver_sql(f'ANALYZE "{table.name}"')
            self._next_analyse[table.name] = written * 2
            self.analysed.append(table.name)
