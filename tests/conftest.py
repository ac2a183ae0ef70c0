"""Test set-up: offscreen Qt, an in-memory keychain, fresh settings, and leak checks."""

from __future__ import annotations

import os

if not os.environ.get("BILLBRIDGE_ONSCREEN"):
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_API", "pyside6")

import asyncio
import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from desktop.storage.database import Database, open_database


class InMemoryKeyring(KeyringBackend):
    """A keychain that lives in this process only."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[InMemoryKeyring]:
    """Every test gets an empty in-memory keychain; nothing touches the real one."""
    previous = keyring.get_keyring()
    backend = InMemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test has its own data, config and log folders (fresh settings)."""
    home = tmp_path_factory.mktemp("home")
    for variable in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(variable, str(home / variable.lower()))
    monkeypatch.delenv("BILLBRIDGE_DB", raising=False)


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_test_thread() -> Iterator[None]:
    """Collects garbage around every test on the thread that owns the widgets.

    Otherwise a collection triggered on a job-runner worker could delete a parentless
    widget of an earlier test from that worker thread, which crashes Qt.
    """
    gc.collect()
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def _no_dangling_threads() -> Iterator[None]:
    """Fails a test that leaves a thread running after it ends."""
    before = set(threading.enumerate())
    yield
    leftover: list[threading.Thread] = []
    for thread in set(threading.enumerate()) - before:
        thread.join(timeout=5)
        if thread.is_alive() and not thread.daemon:
            leftover.append(thread)
    assert not leftover, f"test left threads running: {[t.name for t in leftover]}"


@pytest.fixture(scope="session")
def _session_qasync_loop(qapp: object) -> asyncio.AbstractEventLoop:
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=True)
    # Running only while a test asks for it (see qasync_loop), so that tests of code
    # calling asyncio.run() (the CLI, the engine) are not told a loop is running.
    asyncio.events._set_running_loop(None)
    return loop


@pytest.fixture
def qasync_loop(
    _session_qasync_loop: asyncio.AbstractEventLoop,
) -> Iterator[asyncio.AbstractEventLoop]:
    """The session's qasync loop, running for this test: asyncio tasks run while qtbot waits."""
    loop = _session_qasync_loop
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    yield loop
    asyncio.events._set_running_loop(None)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite workspace URL in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'workspace.sqlite3'}"


def _postgres_url() -> str | None:
    return os.environ.get("BILLBRIDGE_TEST_PG_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """A fresh empty workspace URL: SQLite, and PostgreSQL when one is configured."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    url = _postgres_url()
    if not url:
        pytest.skip("no PostgreSQL configured (set BILLBRIDGE_TEST_PG_URL; scripts/test does)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bb_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """An open, migrated workspace on each configured backend."""
    db = open_database(database_url)
    yield db
    db.close()
