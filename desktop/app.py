"""The composition root: builds every collaborator once and hands them to the window.

Nothing else in Billbridge creates a database, a secret store, an HTTP client, a clock or
a job runner; they are passed in. There are no singletons and no module-level state.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from logging.handlers import RotatingFileHandler
from pathlib import Path

import httpx
import platformdirs
import PySide6  # noqa: F401 - imported first so qasync binds to PySide6
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QWidget, QWizard
from sqlalchemy.orm import Session

from desktop.crm.schedule import CrmSchedule
from desktop.crm.service import CrmIntegration
from desktop.errors import BillbridgeError
from desktop.health import AlertNews, accounts_select
from desktop.health.after_sync import after_sync_hook
from desktop.jobs import JobContext
from desktop.secrets import KeyringSecretStore, MemorySecretStore, SecretStore
from desktop.storage.database import APP_NAME, Database, open_database
from desktop.storage.repositories.connection_overview import ConnectionOverview
from desktop.sync.connections import ConnectionService
from desktop.sync.engine import RunSummary, SyncEngine
from desktop.sync.scheduler import SyncScheduler
from desktop.sync.subprocess_runner import SubprocessSyncRunner
from desktop.timeutil import Clock, utc_now
from desktop.views.accounts import AccountsPage
from desktop.views.alerts import DesktopNotifier, news_text
from desktop.views.connections import ConnectionsBackend, ConnectionsPage
from desktop.views.connections_actions import EngineActions
from desktop.views.crm_account import CrmAccountActions
from desktop.views.crm_page import CrmAutoSync, CrmPage
from desktop.views.events import EventsPage, replayer_for
from desktop.views.events_receiver import ReceiverController, ReceiverToggle
from desktop.views.health import HealthPage
from desktop.views.jobs import JobRunner
from desktop.views.main_window import MainWindow
from desktop.views.models.loader import QueryLoader
from desktop.views.page import Page
from desktop.views.qt_workarounds import guard_signal_emit_refcount
from desktop.views.schedule_ticker import ScheduleTicker
from desktop.views.settings_page import SettingsPage
from desktop.views.sync_errors import SyncErrorsPage
from desktop.views.sync_history import SyncHistoryPage
from desktop.wizards.connection_wizard import ConnectionWizard, WizardResult

log = logging.getLogger(__name__)

#: How often the app asks the billing schedule what is due, and its first ask after start.
BILLING_TICK_MS = 60_000
BILLING_FIRST_TICK_MS = 30_000


@dataclass
class Services:
    """Every collaborator of the running app, built once by :func:`build_services`.

    Attributes:
        database: the open workspace.
        secrets: where connection secrets are kept.
        clock: the clock (aware UTC).
        jobs: the background job runner.
        loader: runs the item models' short read queries off the GUI thread.
        settings: per-user window settings (geometry, last page).
        http: the shared async HTTP client for short user-initiated calls; created inside
            the running event loop and closed on quit.
        cleanups: functions called on quit, newest first.
    """

    database: Database
    secrets: SecretStore
    clock: Clock
    jobs: JobRunner
    loader: QueryLoader
    settings: QSettings
    demo: bool = False
    http: httpx.AsyncClient | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Stops jobs, runs the cleanups and closes the database."""
        self.jobs.shutdown()
        self.loader.shutdown()
        while self.cleanups:
            self.cleanups.pop()()
        self.database.close()


def settings_path(demo: bool) -> Path:
    """Where the per-user window settings live."""
    folder = Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))
    return folder / ("billbridge-demo.ini" if demo else "billbridge.ini")


def configure_logging() -> Path:
    """Logs to a rotating file in the user's log folder; HTTP libraries stay quiet.

    httpx logs every request URL at INFO, and some vendors put credentials in query
    strings (Zoho's token refresh): those loggers are kept at WARNING so no secret can
    reach the log.
    """
    folder = Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "billbridge.log"
    handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("httpx", "httpcore", "urllib3", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path


def build_services(
    database: Database,
    *,
    secrets: SecretStore | None = None,
    clock: Clock = utc_now,
    settings: QSettings | None = None,
    demo: bool = False,
) -> Services:
    """Builds the collaborators around an open database."""
    return Services(
        database=database,
        secrets=secrets or (MemorySecretStore() if demo else KeyringSecretStore()),
        clock=clock,
        jobs=JobRunner(),
        loader=QueryLoader(database),
        settings=settings or QSettings(str(settings_path(demo)), QSettings.Format.IniFormat),
        demo=demo,
    )


def connections_backend(
    services: Services,
    actions: EngineActions,
    open_crm: Callable[[], None] | None = None,
) -> ConnectionsBackend:
    """What the Connections page may ask of the core (engine, connection service, locks)."""
    connections = ConnectionService(services.database, services.secrets, services.clock)

    def set_status(connection_id: int, status: str) -> None:
        connections.update(connection_id, status=status)

    def save(result: WizardResult) -> None:
        if result.connection_id is None:
            connections.add(
                name=result.name,
                kind=result.kind,
                settings=result.settings,
                mode=result.mode,
                secret=result.secret,
            )
        else:
            connections.update(result.connection_id, settings=result.settings, secret=result.secret)

    def open_wizard(parent: QWidget, overview: ConnectionOverview | None) -> bool:
        existing = (
            (overview.id, overview.name, overview.kind, overview.settings, overview.mode)
            if overview is not None
            else None
        )
        wizard = ConnectionWizard(save, client=services.http, existing=existing, parent=parent)
        saved = wizard.exec() == QWizard.DialogCode.Accepted
        wizard.deleteLater()
        return saved

    return ConnectionsBackend(
        sync=actions.sync,
        set_status=set_status,
        remove=connections.remove,
        holders=actions.engine.running,
        open_wizard=open_wizard,
        open_crm=open_crm,
    )


def sync_engine(services: Services) -> SyncEngine:
    """The workspace's sync engine; every finished run recomputes health and alerts."""
    return SyncEngine(
        services.database,
        services.secrets,
        services.clock,
        after_run=after_sync_hook(services.database, services.clock),
    )


def start_billing_schedule(services: Services, engine: SyncEngine) -> None:
    """Runs the daily billing syncs (00:00 UTC) while the app is open.

    The scheduler decides what is due; a second copy of the app or ``billbridge serve``
    on the same database is kept from running a connection twice by the sync lock.
    """
    scheduler = SyncScheduler(services.database, services.secrets, services.clock, engine=engine)
    ticker = ScheduleTicker(
        scheduler,
        services.jobs,
        key="billing-schedule",
        title="Scheduled billing syncs",
        tick_ms=BILLING_TICK_MS,
        first_ms=BILLING_FIRST_TICK_MS,
    )
    ticker.start()
    services.cleanups.append(ticker.stop)
    services.cleanups.append(ticker.deleteLater)


def connect_health(services: Services, health: HealthPage, accounts: AccountsPage) -> None:
    """Lets the Health page open an account's 360° or a segment on the Accounts page."""

    def show_accounts() -> None:
        window = accounts.window()
        if isinstance(window, MainWindow):
            window.show_page(accounts.title)

    def open_account(account_id: int) -> None:
        accounts.open_account(account_id)
        show_accounts()

    def open_segment(name: str, condition: object) -> None:
        def query(session: Session) -> object:
            return accounts_select(session, condition, services.clock)  # type: ignore[arg-type]

        def show(select: object) -> None:
            accounts.show_segment(name, select)  # type: ignore[arg-type]
            show_accounts()

        services.loader.submit(
            query, show, lambda message: health.banner.show_message(message, "error")
        )

    health.open_account.connect(open_account)
    health.open_segment.connect(open_segment)


def crm_page(services: Services, accounts: AccountsPage) -> CrmPage:
    """The Zoho CRM page, the automatic CRM sync, and the account view's CRM actions."""
    integration = CrmIntegration(services.database, services.secrets, services.clock)
    schedule = CrmSchedule(integration)
    page = CrmPage(services.loader, integration, schedule, services.jobs)
    auto = CrmAutoSync(schedule, services.jobs, parent=page)
    auto.start()
    services.cleanups.append(auto.stop)
    account_actions = CrmAccountActions(accounts.detail, integration, services.jobs)
    accounts.detail.add_header_action(account_actions)
    page.connections_changed.connect(account_actions.set_connections)
    page.refresh()  # tells the account view which CRM connections exist
    return page


def build_pages(services: Services) -> list[Page]:
    """The pages of the main window, in navigation order."""
    engine = sync_engine(services)
    actions = EngineActions(engine, services.database, services.clock)
    start_billing_schedule(services, engine)
    receiver = ReceiverController(
        services.database, services.secrets, services.clock, services.settings
    )
    services.cleanups.append(receiver.shutdown)
    accounts = AccountsPage(
        services.loader, services.jobs, services.database, actions.fetch_account
    )
    health = HealthPage(services.loader, services.jobs, services.database, services.clock)
    connect_health(services, health, accounts)
    crm = crm_page(services, accounts)

    def open_crm() -> None:
        window = crm.window()
        if isinstance(window, MainWindow):
            window.show_page(crm.title)
        crm.connect_new()

    pages: list[Page] = [
        accounts,
        ConnectionsPage(
            services.loader,
            services.jobs,
            connections_backend(services, actions, open_crm),
            services.clock,
        ),
        crm,
        SyncHistoryPage(services.loader),
        SyncErrorsPage(services.loader, services.jobs, actions.retry_error),
        EventsPage(
            services.loader,
            services.jobs,
            replayer_for(services.database, services.clock),
            receiver,
        ),
        health,
        SettingsPage(
            services.database.display,
            services.secrets.description,
            services.database.dialect,
            database=services.database,
            jobs=services.jobs,
            clock=services.clock,
        ),
    ]
    ReceiverToggle(receiver).attach_to(pages[-1])  # the Settings page
    receiver.restore()
    return pages


def build_window(services: Services) -> MainWindow:
    """The main window wired to the services."""
    window = MainWindow(
        build_pages(services),
        services.jobs,
        services.settings,
        services.database.display,
        title_suffix="demo workspace" if services.demo else "",
    )
    notifier = DesktopNotifier(lambda text: window.statusBar().showMessage(text, 15000), window)
    services.cleanups.append(notifier.hide)

    def tell(news: AlertNews) -> None:
        notifier.notify(*news_text(news))

    for page in window.pages:
        if isinstance(page, HealthPage):
            page.watcher.new_alerts.connect(tell)
    return window


#: Seconds a background thread may hold the GIL while the window's thread waits for it
#: (Python's default is 0.005). Qt calls into Python for every model lookup of a repaint;
#: each call waits for the GIL when the loader or a job thread is running Python code.
WINDOW_SWITCH_INTERVAL = 0.001


def prefer_the_window_thread() -> None:
    """Lets the window's thread get the GIL back sooner from the app's worker threads."""
    sys.setswitchinterval(WINDOW_SWITCH_INTERVAL)


def freeze_start_up_objects() -> None:
    """Takes everything alive after start-up out of the garbage collector's walks.

    The modules, the window, its pages and their Qt wrappers are some 170,000 Python
    objects that live as long as the app. A full (generation 2) collection walks them all
    on whichever thread allocates at that moment — usually the window's — for 50 to 300 ms,
    and the loader's reads while a sync runs trigger one now and then. Frozen, they are
    never walked again; collections only look at objects made later.
    """
    gc.collect()
    gc.freeze()


def start_demo_sandbox(services: Services) -> None:
    """Starts the sandbox for ``--demo`` and stops it when the app quits."""
    from desktop.demo import start_demo

    demo = start_demo(services.database, services.secrets)
    services.cleanups.append(demo.stop)


def first_demo_syncs(services: Services) -> None:
    """Syncs each demo connection that has never synced, so the demo opens with data.

    The syncs run in child processes, as Sync Now does, so the window stays responsive
    (the child also recomputes health and evaluates alerts after each run).
    """
    runner = SubprocessSyncRunner(services.database, services.secrets)
    connections = ConnectionService(services.database, services.secrets, services.clock)

    def first_sync(connection_id: int) -> Callable[[JobContext], RunSummary]:
        return lambda context: runner.run(connection_id, trigger="manual", context=context)

    for info in connections.list():
        if info.last_run_status is None:
            services.jobs.run(
                first_sync(info.id), title=f"First sync of {info.name}", key=f"sync:{info.id}"
            )


def run_app(db_url: str | None, demo: bool = False) -> int:
    """Runs the desktop app until its window closes; returns the exit code."""
    configure_logging()
    guard_signal_emit_refcount()
    prefer_the_window_thread()
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    try:
        database = open_database(db_url, demo=demo)
    except BillbridgeError as error:
        print(f"billbridge: {error}", file=sys.stderr)
        return error.exit_code
    services = build_services(database, demo=demo)
    if demo:
        try:
            start_demo_sandbox(services)
        except (BillbridgeError, OSError) as error:
            print(f"billbridge: the demo sandbox could not start: {error}", file=sys.stderr)
            services.close()
            return 2
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closing = asyncio.Event()
    app.aboutToQuit.connect(closing.set)

    async def main() -> None:
        services.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        window = build_window(services)
        freeze_start_up_objects()
        window.show()
        if demo:
            first_demo_syncs(services)
        await closing.wait()
        await services.http.aclose()

    try:
        with loop:
            loop.run_until_complete(main())
    finally:
        services.close()
    return 0
