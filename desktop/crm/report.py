"""What a CRM sync did — or, in a dry run, would do — per direction and CRM module.

The same :class:`SyncReport` is filled by a real run (stored in its Sync run's
``details``) and by a dry run (returned to the UI or printed by ``--dry-run``), so the
preview and the result read alike: per module, how many records are created, updated,
skipped, failed or left unchanged — and, on the pull, how many linked records were found
deleted in CRM — with a sample of items and their reasons.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final

#: Items kept per report (the counts are always complete).
MAX_ITEMS: Final[int] = 500


class Direction(enum.StrEnum):
    """Which way records go."""

    PULL = "pull"  # Zoho CRM → Billbridge
    PUSH = "push"  # Billbridge → Zoho CRM


class Action(enum.StrEnum):
    """What happens to one record."""

    CREATE = "create"
    UPDATE = "update"
    SKIP = "skip"
    FAIL = "fail"
    UNCHANGED = "unchanged"
    DELETE = "delete"  # a linked CRM record deleted in CRM (pull): unlinked here


@dataclass(frozen=True)
class ReportItem:
    """One record in a report.

    Attributes:
        direction: pull or push.
        module: the CRM module (``Accounts``, ``Contacts``, ``Deals``).
        action: what happens to it.
        label: a name people recognise (the contact's name, the subscription id).
        crm_id: the CRM record, when known.
        local_id: the workspace record (account, user or subscription id), when known.
        reason: why (for skips and failures), as a sentence.
    """

    direction: Direction
    module: str
    action: Action
    label: str
    crm_id: str | None = None
    local_id: int | None = None
    reason: str = ""


@dataclass
class ModuleCounts:
    """Counts of one direction and module."""

    direction: Direction
    module: str
    create: int = 0
    update: int = 0
    skip: int = 0
    fail: int = 0
    unchanged: int = 0
    delete: int = 0

    @property
    def total(self) -> int:
        """Every record looked at."""
        return self.create + self.update + self.skip + self.fail + self.unchanged + self.delete


@dataclass
class SyncReport:
    """Counts per direction and module, plus a sample of items (see the module docstring).

    Attributes:
        dry_run: whether nothing was written.
        counts: ``(direction, module)`` → counts, in the order first seen.
        items: up to :data:`MAX_ITEMS` items (failures first kept).
        write_calls: CRM write calls per module (a real run; 0 in a dry run).
        write_seconds: seconds spent writing each module (calls and their bookkeeping).
        notes: sentences about the run as a whole (a currency warning …).
    """

    dry_run: bool = False
    counts: dict[tuple[str, str], ModuleCounts] = field(default_factory=dict)
    items: list[ReportItem] = field(default_factory=list)
    write_calls: dict[str, int] = field(default_factory=dict)
    write_seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def module(self, direction: Direction, module: str) -> ModuleCounts:
        """The counts of one direction and module (created empty if new)."""
        key = (direction.value, module)
        found = self.counts.get(key)
        if found is None:
            found = self.counts[key] = ModuleCounts(direction, module)
        return found

    def add(self, item: ReportItem, keep: bool = True) -> None:
        """Counts one item (and keeps it, within the limit)."""
        counts = self.module(item.direction, item.module)
        setattr(counts, item.action.value, getattr(counts, item.action.value) + 1)
        if keep and (len(self.items) < MAX_ITEMS or item.action is Action.FAIL):
            self.items.append(item)

    def amend(self, item: ReportItem, new: Action, reason: str = "") -> ReportItem:
        """Moves an already counted item to another action (a write CRM refused)."""
        counts = self.module(item.direction, item.module)
        setattr(counts, item.action.value, getattr(counts, item.action.value) - 1)
        setattr(counts, new.value, getattr(counts, new.value) + 1)
        changed = ReportItem(
            item.direction, item.module, new, item.label, item.crm_id, item.local_id, reason
        )
        self.items = [changed if i is item else i for i in self.items]
        if changed not in self.items:
            self.items.append(changed)
        return changed

    def total(self, action: Action) -> int:
        """One action's count over every module."""
        return sum(getattr(c, action.value) for c in self.counts.values())

    def table(self) -> str:
        """A plain-text table of the counts (the CLI prints it)."""
        head = (
            f"{'DIRECTION':<10} {'MODULE':<9} {'CREATE':>7} {'UPDATE':>7} {'SKIP':>7} "
            f"{'FAIL':>7} {'SAME':>7} {'DELETED':>8}"
        )
        lines = [head]
        for counts in self.counts.values():
            arrow = "CRM → BB" if counts.direction is Direction.PULL else "BB → CRM"
            lines.append(
                f"{arrow:<10} {counts.module:<9} {counts.create:>7,} {counts.update:>7,} "
                f"{counts.skip:>7,} {counts.fail:>7,} {counts.unchanged:>7,} "
                f"{counts.delete:>8,}"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Counts and write calls as JSON (stored in the Sync run's details)."""
        return {
            "dry_run": self.dry_run,
            "modules": [
                {
                    "direction": c.direction.value,
                    "module": c.module,
                    "create": c.create,
                    "update": c.update,
                    "skip": c.skip,
                    "fail": c.fail,
                    "unchanged": c.unchanged,
                    "delete": c.delete,
                }
                for c in self.counts.values()
            ],
            "write_calls": dict(self.write_calls),
            "write_seconds": {k: round(v, 3) for k, v in self.write_seconds.items()},
            "notes": list(self.notes),
        }
