"""Bulk reads and writes that skip per-row ORM work (the recompute's hot paths).

Reads return the driver's plain tuples; writes go through the driver's ``executemany``
with values bound once per constant. Both work on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Executable,
    MetaData,
    Table,
    and_,
    delete,
    select,
)


def fetch_rows(connection: Connection, statement: Executable) -> list[tuple[Any, ...]]:
    """Runs ``statement`` and returns the driver's raw rows (no type processing).

    Select only numbers and strings (convert timestamps to numbers in SQL): values come
    back exactly as the driver gives them.
    """
    result = connection.execute(statement)
    try:
        rows: list[tuple[Any, ...]] = list(result.cursor.fetchall()) if result.cursor else []
    finally:
        result.close()
    return rows


def bind_value(connection: Connection, table: Table, column: str, value: Any) -> Any:
    """``value`` as the driver wants it for ``table.column`` (dates, UTC timestamps)."""
    dialect = connection.dialect
    processor = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return processor(value) if processor is not None else value


def insert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Inserts plain Python rows (ints, floats, str, bool, None, pre-bound values)."""
    if not rows:
        return
    preparer = connection.dialect.identifier_preparer
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(preparer.quote(name) for name in columns)
    markers = ", ".join(marker for _ in columns)
    sql = f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES ({markers})"
    connection.exec_driver_sql(sql, [tuple(row) for row in rows])


def write_changes(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    scope: ColumnElement[bool] | None = None,
    constants: dict[str, Any] | None = None,
) -> tuple[set[Any], set[tuple[Any, ...]]]:
    """Makes ``table`` (within ``scope``) hold exactly ``rows``, writing only what changed.

    Rows are compared whole; the first column is the key: every row of a key that
    differs is deleted and the key's new rows inserted. ``constants`` are extra columns
    written with every inserted row and not compared (for example a timestamp).

    Returns:
        The keys that changed, and the rows that were there before.
    """
    key = table.c[columns[0]]
    query = select(*(table.c[name] for name in columns))
    if scope is not None:
        query = query.where(scope)
    before = set(fetch_rows(connection, query))
    after = set(rows)
    changed = {row[0] for row in before ^ after}
    if not changed:
        return changed, before
    extra = constants or {}
    names = [*columns, *extra]
    values = tuple(bind_value(connection, table, name, value) for name, value in extra.items())
    if len(changed) > len(after) // 2:
        connection.execute(delete(table).where(scope) if scope is not None else delete(table))
        fresh = [(*row, *values) for row in rows]
    else:
        ordered = sorted(changed)
        for start in range(0, len(ordered), 500):
            condition: ColumnElement[bool] = key.in_(ordered[start : start + 500])
            if scope is not None:
                condition = and_(scope, condition)
            connection.execute(delete(table).where(condition))
        fresh = [(*row, *values) for row in rows if row[0] in changed]
    insert_rows(connection, table, names, fresh)
    return changed, before


def temp_table(connection: Connection, name: str, columns: Sequence[Column[Any]]) -> Table:
    """A fresh temporary table on this connection (dropped by :func:`drop_temp`).

    Temporary tables belong to the connection and vanish with a rolled-back transaction,
    so a failed recompute leaves nothing behind.
    """
    table = Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])
    # SQLite: keep temporary tables in memory (changing it drops existing ones: only once)
    sqlite = connection.dialect.name == "sqlite"
    if sqlite and connection.exec_driver_sql("PRAGMA temp_store").scalar() != 2:
        connection.exec_driver_sql("PRAGMA temp_store = MEMORY")
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {_quoted(connection, table)}")
    table.create(connection)
    return table


def drop_temp(connection: Connection, table: Table) -> None:
    """Drops a table made by :func:`temp_table`."""
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {_quoted(connection, table)}")


def _quoted(connection: Connection, table: Table) -> str:
    return str(connection.dialect.identifier_preparer.format_table(table))
