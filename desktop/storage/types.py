"""Column types shared by the models: aware-UTC timestamps and portable JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from desktop.timeutil import ensure_utc


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always stored and returned as timezone-aware UTC.

    SQLite keeps no zone, so values are normalised to UTC on the way in and marked UTC on
    the way out; PostgreSQL stores ``timestamptz``. A naive value on the way in is refused,
    so a local time can never slip in unnoticed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        converted = ensure_utc(value)
        if dialect.name == "sqlite":
            return converted.replace(tzinfo=None)
        return converted

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return ensure_utc(value)


#: JSON everywhere, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")

JSONDict = dict[str, Any]
