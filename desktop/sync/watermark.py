"""Incremental passes over a list sorted by ``updated_at``: the cursor that never skips.

Shared by the Chargebee and Recurly connectors, whose list APIs can filter on
"updated at or after T", sort ascending by ``updated_at`` and page with an opaque
continuation (Chargebee's ``next_offset``, Recurly's ``next`` path).

The cursor a stream commits after each page is a plain JSON object::

    {"watermark": 1704200000,            # lower bound (inclusive) of the next pass
     "seen": {"id": "fingerprint", ...},  # records already delivered at that second
     "pass": {                            # only while a pass is in progress
         "resume": "<vendor continuation>",
         "full": false,
         "high": 1704200123,              # newest change seen so far in this pass
         "high_seen": {"id": "fingerprint", ...}}}

* A pass reads every record changed at or after ``watermark`` (the boundary second is
  read again, so a record changed later within the same second as the previous pass's
  newest record is not lost).
* Records at the boundary that are byte-for-byte what was delivered before (same
  fingerprint of the whole payload) are dropped, so a run with no changes delivers
  nothing; a record whose content changed is always delivered, even within the same
  second.
* ``watermark`` and ``seen`` only move when a pass reaches its last page; a pass killed
  at any page resumes from ``pass.resume`` with the same lower bound.
* The newest change is taken from ``updated_at``, else ``created_at`` — never later than
  the record's real position in the sorted list, so the next pass cannot start past a
  record it has not seen.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

#: Fingerprints kept for the boundary second; more records at one second are simply
#: delivered again next time (harmless: the engine upserts).
MAX_SEEN: Final[int] = 500


def fingerprint(payload: object) -> str:
    """A short digest of a payload's whole content (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


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
    """

    def __init__(self, cursor: dict[str, Any] | None, *, full: bool = False) -> None:
        state = cursor if isinstance(cursor, dict) else {}
        self.watermark = _int_or_none(state.get("watermark"))
        self.seen = _str_map(state.get("seen"))
        running = state.get("pass")
        resume: str | None = None
        high: int | None = None
        high_seen: dict[str, str] = {}
        pass_full = full
        if isinstance(running, dict) and isinstance(running.get("resume"), str):
            running_full = bool(running.get("full"))
            if running_full or not full:
                resume = running["resume"]
                pass_full = running_full
                high = _int_or_none(running.get("high"))
                high_seen = _str_map(running.get("high_seen"))
        self.full = pass_full or self.watermark is None
        self.resume = resume
        self.high = high
        self.high_seen = high_seen
        self._pending: dict[str, object] = {}

    @property
    def lower(self) -> int | None:
        """The pass's lower bound (inclusive), or ``None`` to read everything."""
        return None if self.full else self.watermark

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
        position = changed if changed is not None else created
        if position is not None:
            if self.high is None or position > self.high:
                self.high = position
                self.high_seen = {}
                self._pending = {}
            if position == self.high and len(self.high_seen) + len(self._pending) < MAX_SEEN:
                self._pending[record_id] = payload  # fingerprinted when the cursor is taken
        if self.full or self.watermark is None:
            return True
        if changed is not None and changed < self.watermark:
            return False  # the source ignored the filter: unchanged since the last pass
        known = self.seen.get(record_id)
        return known is None or known != fingerprint(payload)

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
            return {
                "watermark": self.watermark,
                "seen": dict(self.seen),
                "pass": {
                    "resume": resume,
                    "full": self.full,
                    "high": self.high,
                    "high_seen": dict(self.high_seen),
                },
            }
        watermark, seen = self.watermark, dict(self.seen)
        if self.high is not None:
            if watermark is None or self.high > watermark:
                watermark, seen = self.high, dict(self.high_seen)
            elif self.high == watermark:
                seen.update(self.high_seen)
                seen = dict(list(seen.items())[-MAX_SEEN:])
        return {"watermark": watermark, "seen": seen}
