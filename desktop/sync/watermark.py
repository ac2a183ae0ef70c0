"""Incremental passes over a list sorted by ``updated_at``: the cursor that never skips.

Shared by the Chargebee and Recurly connectors, whose list APIs can filter on
"updated at or after T", sort ascending by ``updated_at`` and page with an opaque
continuation (Chargebee's ``next_offset``, Recurly's ``next`` path).

The cursor a stream commits after each page is a plain JSON object::

    {"watermark": 1704200000,            # lower bound (inclusive) of the next pass
     "seen": {"id": "fingerprint", ...},  # records already delivered at or after it
     "pass": {                            # only while a pass is in progress
         "resume": "<vendor continuation>",
         "full": false,
         "start": 1704200400,             # when the pass began (source's clock)
         "high": 1704200123,              # newest change seen so far in this pass
         "high_seen": {"id": "fingerprint", ...}}}

* A pass reads every record changed at or after ``watermark`` (the boundary is read
  again, so a record changed later within the same second is not lost).
* **The watermark is the pass's start time, minus an overlap.** When a pass reaches its
  last page, every record changed before the pass *started* has been listed: the list is
  sorted by ``updated_at`` and a record changed during the pass moves to the end of the
  order, where the same pass still reads it. So the next lower bound is the pass's start
  (the source's ``Date`` header of the pass's first answer when it sends one, else the
  local clock) minus :data:`OVERLAP` (late commits, clock skew), rounded down to
  :data:`GRAIN`. Records the source sends again inside that window are dropped by
  fingerprint, so a run with no changes delivers nothing and — because the watermark no
  longer depends on the records' own stamps — makes one request per list, however many
  records share one second and whether or not they carry ``updated_at`` at all.
* Records that are byte-for-byte what was delivered before (same fingerprint of the
  whole payload) are dropped; a record whose content changed is always delivered.
* **Records with no ``updated_at``** (or none the source shows): their place in the
  order is taken from ``created_at``, else from the record before them in the sorted list
  (a lower bound), only to decide whether to remember their fingerprint. A source may
  filter them by their hidden update or creation time (they come back once when new, then
  fall behind the watermark) or leave them out of filtered lists altogether (only
  ``--full`` sees them); either way the connector neither loops on them nor loses one the
  source sends.
* ``watermark`` and ``seen`` only move when a pass reaches its last page; a pass killed
  at any page resumes from ``pass.resume`` with the same lower bound and start time.
* A pass cursor written before start times were kept (no ``start``) ends the old way:
  the watermark becomes the newest ``updated_at`` (else ``created_at``) seen.
"""

from __future__ import annotations

import hashlib
import json
from email.utils import parsedate_to_datetime
from typing import Any, Final

from desktop.sync import jsontext
from desktop.sync.base import SourceHttp
from desktop.sync.http import SourceStatusError

#: Fingerprints kept for the overlap window; more records in it are simply delivered
#: again next time (harmless: the engine upserts).
MAX_SEEN: Final[int] = 500
#: How far before a completed pass's start the next pass begins reading (seconds).
OVERLAP: Final[int] = 300
#: The watermark is rounded down to this many seconds, so streams that read the same list
#: (and share its pages) keep equal cursors.
GRAIN: Final[int] = 60


def fingerprint(payload: object) -> str:
    """A short digest of a payload's whole content (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def http_date(value: str | None) -> int | None:
    """An HTTP ``Date`` header as epoch seconds, ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp())


async def get_json_dated(
    http: SourceHttp,
    url: str,
    *,
    params: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[dict[str, Any], int | None]:
    """GETs a JSON object and the source's clock when it answered (its ``Date`` header).

    For the first page of a pass. An unreadable body is fetched again through
    ``get_json`` (which retries it); the time is then unknown (``None``).

    Raises:
        SourceStatusError: for a 4xx answer other than 401/403/429 (``.status``).
    """
    response = await http.get(url, params=params, headers=headers)
    if response.status_code >= 400:
        raise SourceStatusError(
            f"The source answered {response.status_code} for {response.request.url.path}.",
            response.status_code,
        )
    try:
        data = jsontext.loads(response.content)
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data, http_date(response.headers.get("date"))
    return await http.get_json(url, params=params, headers=headers), None


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


class PassTracker:
    """Follows one pass over one stream (of one site) and produces its cursors.

    Args:
        cursor: the cursor committed after the previous page (``None``: never synced).
        full: read everything (reconciliation) instead of changes since the watermark. A
            pass in progress is resumed when it is a full pass, or when an incremental
            pass is asked for (a full pass in progress covers it).

    Attributes:
        watermark: the committed lower bound (epoch seconds), ``None`` before the first
            completed pass.
        full: whether this pass reads everything.
        resume: the vendor continuation to resume from, ``None`` to start the pass.
        start: when the pass began, by the source's clock (``None`` until :meth:`begin`).
    """

    def __init__(self, cursor: dict[str, Any] | None, *, full: bool = False) -> None:
        state = cursor if isinstance(cursor, dict) else {}
        self.watermark = _int_or_none(state.get("watermark"))
        self.seen = _str_map(state.get("seen"))
        running = state.get("pass")
        resume: str | None = None
        high: int | None = None
        high_seen: dict[str, str] = {}
        start: int | None = None
        legacy = False
        pass_full = full
        if isinstance(running, dict) and isinstance(running.get("resume"), str):
            running_full = bool(running.get("full"))
            if running_full or not full:
                resume = running["resume"]
                pass_full = running_full
                high = _int_or_none(running.get("high"))
                high_seen = _str_map(running.get("high_seen"))
                start = _int_or_none(running.get("start"))
                legacy = start is None
        self.full = pass_full or self.watermark is None
        self.resume = resume
        self.start = start
        self.high = high
        self.high_seen = high_seen
        self._legacy = legacy
        self._last: int | None = high
        self._pending: dict[str, object] = {}

    @property
    def lower(self) -> int | None:
        """The pass's lower bound (inclusive), or ``None`` to read everything."""
        return None if self.full else self.watermark

    @property
    def started(self) -> bool:
        """Whether the pass's start time is known (or it is a pass from an old cursor)."""
        return self.start is not None or self._legacy

    def begin(self, now: int) -> None:
        """Records when the pass began (the source's clock of its first answer).

        Only the first call of a pass counts; a resumed pass keeps its start.
        """
        if self.start is None and not self._legacy:
            self.start = now

    def _horizon(self) -> int | None:
        """The next pass's lower bound, from this pass's start (``None``: unknown)."""
        if self.start is None:
            return None
        horizon = (self.start - OVERLAP) // GRAIN * GRAIN
        if self.watermark is not None:
            horizon = max(horizon, self.watermark)
        return horizon

    def accept(
        self,
        record_id: str,
        payload: object,
        changed: int | None,
        created: int | None = None,
    ) -> bool:
        """Notes a record the source sent and says whether to deliver it.

        Args:
            record_id: the record's id (unique within the stream and site).
            payload: the record's whole payload (fingerprinted).
            changed: its ``updated_at`` in epoch seconds, if it has one.
            created: its ``created_at``, used for ordering when ``changed`` is missing.
        """
        stamped = changed if changed is not None else created
        if stamped is not None and (self._last is None or stamped > self._last):
            self._last = stamped
        position = stamped if stamped is not None else self._last
        if position is None:
            position = self.lower
        self._remember(record_id, payload, position)
        if self.full or self.watermark is None:
            return True
        if changed is not None and changed < self.watermark:
            return False  # the source ignored the filter: unchanged since the last pass
        known = self.seen.get(record_id)
        return known is None or known != fingerprint(payload)

    def _remember(self, record_id: str, payload: object, position: int | None) -> None:
        """Keeps the fingerprint of a record the next pass may send again."""
        horizon = self._horizon()
        if horizon is not None:
            if self.high is None or (position is not None and position > self.high):
                self.high = position
            wanted = position is not None and position >= horizon
        else:  # an old pass without a start time: the newest second seen
            if position is None:
                return
            if self.high is None or position > self.high:
                self.high = position
                self.high_seen = {}
                self._pending = {}
            wanted = position == self.high
        if wanted and len(self.high_seen) + len(self._pending) < MAX_SEEN:
            self._pending[record_id] = payload  # fingerprinted when the cursor is taken

    def cursor(self, resume: str | None) -> dict[str, Any]:
        """The cursor to commit after the current page.

        Args:
            resume: the vendor's continuation for the next page, ``None`` when this page
                was the pass's last.
        """
        for record_id, payload in self._pending.items():
            self.high_seen[record_id] = fingerprint(payload)
        self._pending = {}
        if resume is not None:
            running: dict[str, Any] = {
                "resume": resume,
                "full": self.full,
                "high": self.high,
                "high_seen": dict(self.high_seen),
            }
            if self.start is not None:
                running["start"] = self.start
            return {"watermark": self.watermark, "seen": dict(self.seen), "pass": running}
        watermark, seen = self.watermark, dict(self.seen)
        horizon = self._horizon()
        if horizon is not None:
            if watermark is None or horizon > watermark:
                watermark, seen = horizon, dict(self.high_seen)
            else:
                seen.update(self.high_seen)
                seen = dict(list(seen.items())[-MAX_SEEN:])
        elif self.high is not None:
            if watermark is None or self.high > watermark:
                watermark, seen = self.high, dict(self.high_seen)
            elif self.high == watermark:
                seen.update(self.high_seen)
                seen = dict(list(seen.items())[-MAX_SEEN:])
        return {"watermark": watermark, "seen": seen}
