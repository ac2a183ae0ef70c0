"""One sync per connection at a time, across threads, processes and machines.

The lock is a row in ``sync_locks`` (primary key: the connection), so it works the same on
SQLite and on a PostgreSQL database shared by several copies of Billbridge. Taking it is
an INSERT that only one writer can win; the holder refreshes ``heartbeat_at`` from a small
background thread while it runs. A lock is **stale** — and is taken over by the next run —
when its heartbeat is older than ``stale_after``, or when its owner ran on this host and
that process no longer exists (a ``kill -9``). The takeover deletes the stale row only if
it is still the same row (same owner and heartbeat), so two runs cannot both take it over.

On **PostgreSQL** the run also holds a session-level advisory lock
(``pg_try_advisory_lock``) on a connection of its own for as long as it runs. The
database releases it the moment the holder's session ends — a killed process, a crashed
or sleeping laptop whose connection drops — so liveness does not rest on heartbeats and
host names there: a second run is refused while the advisory lock is held, even when the
holder's heartbeat is late, and a row left behind by a holder that is gone is taken over
at once instead of after ``stale_after``.

:meth:`SyncLocks.holder` / :meth:`SyncLocks.holders` answer the UI's "who is running?"
question; :class:`SyncBusy` carries the sentence shown when a run is refused.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection as DbConnection
from sqlalchemy import Table, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from desktop.storage.database import Database
from desktop.storage.models import Connection, SyncLock
from desktop.sync.base import SyncFailure
from desktop.timeutil import Clock, utc_now

log = logging.getLogger(__name__)

LOCKS: Final[Table] = SyncLock.__table__  # type: ignore[assignment]

#: A lock whose heartbeat is older than this is considered abandoned.
DEFAULT_STALE_AFTER = timedelta(minutes=2)
#: How often a held lock's heartbeat is refreshed.
DEFAULT_HEARTBEAT_SECONDS = 10.0
#: First key of the PostgreSQL advisory locks (the second is the connection id).
ADVISORY_NAMESPACE: Final[int] = 0x42427379  # "BBsy"

_TRIGGER_WORDS = {
    "scheduled": "A scheduled sync",
    "manual": "A manual sync",
    "cli": "A command-line sync",
    "fetch": "A fetch",
    "webhook": "A webhook update",
}


def this_host() -> str:
    """This machine's name, as lock owners record it."""
    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` is running on this machine (an exited child its parent has
    not reaped yet counts as dead).

    Args:
        pid: a process id (0 or less is never alive).
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc here (or it just went): os.kill's answer stands
    return stat.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])


def parse_owner(owner: str) -> tuple[str, int | None]:
    """Splits ``host:pid#token`` into host and pid (``None`` if unreadable)."""
    base = owner.split("#", 1)[0]
    host, _, pid_text = base.rpartition(":")
    try:
        return host, int(pid_text)
    except ValueError:
        return base, None


@dataclass(frozen=True)
class LockHolder:
    """Who holds a connection's lock.

    Attributes:
        connection_id: the connection.
        connection_name: its name (for messages).
        owner: ``host:pid#token`` of the holder.
        host: the holder's machine.
        pid: the holder's process id, when readable.
        trigger: ``manual``, ``scheduled``, ``cli``, ``fetch`` …
        run_id: the Sync run it is running, once created.
        acquired_at: when it took the lock.
        heartbeat_at: its last sign of life.
        progress: the last progress it published (``{"done", "total", "message"}``).
    """

    connection_id: int
    connection_name: str
    owner: str
    host: str
    pid: int | None
    trigger: str
    run_id: int | None
    acquired_at: datetime
    heartbeat_at: datetime
    progress: dict[str, Any]

    def sentence(self) -> str:
        """ "A scheduled sync of Acme is running since 00:00 UTC on host X; try again …"."""
        what = _TRIGGER_WORDS.get(self.trigger, "A sync")
        since = self.acquired_at.strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"{what} of {self.connection_name} is running since {since} on host {self.host}; "
            "try again when it finishes."
        )


class SyncBusy(SyncFailure):
    """Another run holds the connection's lock.

    Attributes:
        holder: who holds it.
    """

    def __init__(self, holder: LockHolder) -> None:
        super().__init__(holder.sentence())
        self.holder = holder


class LockLost(SyncFailure):
    """The lock was taken over while this run still thought it held it."""


class SyncLocks:
    """Takes, refreshes, inspects and releases connection locks.

    Args:
        database: the workspace.
        clock: the clock for heartbeats and staleness.
        stale_after: heartbeat age after which a lock is abandoned.
        host: this machine's name (tests pass another to simulate a second machine).
        pid_alive: how to test a pid on this host (tests inject one).
    """

    def __init__(
        self,
        database: Database,
        clock: Clock = utc_now,
        *,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
        host: str | None = None,
        pid_alive: Callable[[int], bool] = process_alive,
    ) -> None:
        self._database = database
        self._clock = clock
        self.stale_after = stale_after
        self.host = host or this_host()
        self._pid_alive = pid_alive

    # ------------------------------------------------------------------ queries

    def holders(self) -> list[LockHolder]:
        """Every held lock (stale ones included), for the UI's running list."""
        with self._database.engine.connect() as conn:
            rows = conn.execute(
                select(LOCKS, Connection.name).join(
                    Connection, Connection.id == SyncLock.connection_id
                )
            ).all()
        return [self._holder(row._mapping) for row in rows]

    def holder(self, connection_id: int) -> LockHolder | None:
        """Who holds ``connection_id``'s lock, or ``None`` (stale locks count as held)."""
        for holder in self.holders():
            if holder.connection_id == connection_id:
                return holder
        return None

    def is_stale(self, holder: LockHolder) -> bool:
        """Whether a lock was abandoned (old heartbeat, or a dead process on this host)."""
        if self._clock() - holder.heartbeat_at > self.stale_after:
            return True
        return (
            holder.host == self.host and holder.pid is not None and not self._pid_alive(holder.pid)
        )

    def _holder(self, row: Any) -> LockHolder:
        host, pid = parse_owner(row["owner"])
        return LockHolder(
            connection_id=row["connection_id"],
            connection_name=row["name"],
            owner=row["owner"],
            host=host,
            pid=pid,
            trigger=row["trigger"],
            run_id=row["run_id"],
            acquired_at=row["acquired_at"],
            heartbeat_at=row["heartbeat_at"],
            progress=dict(row["progress"] or {}),
        )

    # ------------------------------------------------------------------ acquire

    def acquire(
        self,
        connection_id: int,
        trigger: str,
        *,
        heartbeat_seconds: float | None = DEFAULT_HEARTBEAT_SECONDS,
    ) -> HeldLock:
        """Takes the lock or raises :class:`SyncBusy` naming the holder.

        Args:
            connection_id: the connection to lock.
            trigger: why this run happens (shown to whoever is refused).
            heartbeat_seconds: refresh interval of the background heartbeat (``None``:
                no thread; call :meth:`HeldLock.heartbeat` yourself).
        """
        owner = f"{self.host}:{os.getpid()}#{uuid.uuid4().hex[:8]}"
        session = self._advisory(connection_id)
        try:
            self._insert(connection_id, owner, trigger, advisory=session is not None)
        except BaseException:
            if session is not None:
                _unlock(session, connection_id)
            raise
        held = HeldLock(self, connection_id, owner, session)
        if heartbeat_seconds:
            held.start_heartbeat(heartbeat_seconds)
        return held

    def _advisory(self, connection_id: int) -> DbConnection | None:
        """On PostgreSQL: takes the advisory lock on a connection of its own, or raises
        :class:`SyncBusy`; elsewhere ``None``."""
        if self._database.engine.dialect.name != "postgresql":
            return None
        session = self._database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = session.execute(
                text("SELECT pg_try_advisory_lock(:namespace, :key)"),
                {"namespace": ADVISORY_NAMESPACE, "key": connection_id},
            ).scalar()
        except BaseException:
            session.close()
            raise
        if taken:
            return session
        session.close()
        current = self.holder(connection_id)
        if current is not None:
            raise SyncBusy(current)
        raise SyncFailure(
            "Another copy of Billbridge is starting a sync of this connection; try again "
            "in a moment."
        )

    def _insert(self, connection_id: int, owner: str, trigger: str, *, advisory: bool) -> None:
        """Writes the lock row, taking over a stale one (any one, under an advisory lock)."""
        table = LOCKS
        for _attempt in range(3):
            now = self._clock()
            try:
                with self._database.engine.begin() as conn:
                    conn.execute(
                        insert(table).values(
                            connection_id=connection_id,
                            owner=owner,
                            run_id=None,
                            trigger=trigger,
                            acquired_at=now,
                            heartbeat_at=now,
                            progress={},
                        )
                    )
                return
            except IntegrityError:
                pass
            current = self.holder(connection_id)
            if current is None:
                continue  # released meanwhile: try again
            if not advisory and not self.is_stale(current):
                raise SyncBusy(current)
            log.warning(
                "Taking over the abandoned sync lock of %s (owner %s, last heartbeat %s).",
                current.connection_name,
                current.owner,
                current.heartbeat_at.isoformat(),
            )
            with self._database.engine.begin() as conn:
                conn.execute(
                    delete(table).where(
                        table.c.connection_id == connection_id,
                        table.c.owner == current.owner,
                        table.c.heartbeat_at == current.heartbeat_at,
                    )
                )
        current = self.holder(connection_id)
        if current is not None:
            raise SyncBusy(current)
        raise SyncFailure("The sync lock could not be taken; try again.")


def _unlock(session: DbConnection, connection_id: int) -> None:
    """Releases the advisory lock and closes its connection (closing alone would too)."""
    try:
        session.execute(
            text("SELECT pg_advisory_unlock(:namespace, :key)"),
            {"namespace": ADVISORY_NAMESPACE, "key": connection_id},
        )
    except Exception:  # the session is going away anyway; closing it releases the lock
        log.warning("Could not release the advisory sync lock.", exc_info=True)
    finally:
        session.close()


class HeldLock:
    """A lock this process holds; release it (or use it as a context manager)."""

    def __init__(
        self,
        locks: SyncLocks,
        connection_id: int,
        owner: str,
        advisory: DbConnection | None = None,
    ) -> None:
        self._locks = locks
        self._advisory = advisory
        self.connection_id = connection_id
        self.owner = owner
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._progress: dict[str, Any] | None = None
        self._guard = threading.Lock()
        self.lost = False

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()

    def set_run(self, run_id: int) -> None:
        """Records the Sync run this lock protects."""
        self._update(run_id=run_id)

    def publish(self, progress: dict[str, Any]) -> None:
        """Remembers progress; the next heartbeat writes it for other processes to see."""
        with self._guard:
            self._progress = progress

    def heartbeat(self) -> None:
        """Refreshes the heartbeat (and the published progress)."""
        with self._guard:
            progress = self._progress
        values: dict[str, Any] = {"heartbeat_at": self._locks._clock()}
        if progress is not None:
            values["progress"] = progress
        self._update(**values)

    def _update(self, **values: Any) -> None:
        table = LOCKS
        with self._locks._database.engine.begin() as conn:
            result = conn.execute(
                update(table)
                .where(table.c.connection_id == self.connection_id, table.c.owner == self.owner)
                .values(**values)
            )
        if result.rowcount == 0:
            self.lost = True

    def start_heartbeat(self, seconds: float) -> None:
        """Refreshes the heartbeat every ``seconds`` from a daemon thread until release."""

        def beat() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.heartbeat()
                except Exception as error:  # a transient hiccup must not kill the run
                    # one line, no traceback: a busy database is expected during big writes
                    log.warning(
                        "Could not refresh the sync lock heartbeat (%s); retrying.",
                        type(error).__name__,
                    )

        self._thread = threading.Thread(target=beat, name="sync-lock-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stops the heartbeat and deletes the lock row (only if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        table = LOCKS
        try:
            with self._locks._database.engine.begin() as conn:
                conn.execute(
                    delete(table).where(
                        table.c.connection_id == self.connection_id, table.c.owner == self.owner
                    )
                )
        finally:
            if self._advisory is not None:
                _unlock(self._advisory, self.connection_id)
                self._advisory = None
