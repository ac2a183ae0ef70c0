"""Screenshots of the billing pages and the connection wizard in a dark palette.

Seeds a temporary workspace, switches the app to Fusion with a dark palette, opens the
real main window and saves one PNG per page (and per wizard step) into ``OUT_DIR``
(default ``docs/screenshots``), named ``<page>-dark.png``. Look at every PNG it writes.

Usage::

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/gui/screenshot_dark.py [OUT_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from desktop.app import build_services, build_window  # noqa: E402
from desktop.secrets import MemorySecretStore  # noqa: E402
from desktop.storage.database import open_database  # noqa: E402
from desktop.views.accounts import AccountsPage  # noqa: E402
from desktop.views.models.accounts import ACCOUNT_ID_ROLE  # noqa: E402
from desktop.wizards.connection_wizard import ConnectionWizard  # noqa: E402
from tests.gui.workspace_seed import seed  # noqa: E402


def dark_palette() -> QPalette:
    """A dark palette like the ones desktop themes ship (every role and group set)."""
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: QColor(45, 45, 48),
        QPalette.ColorRole.WindowText: QColor(220, 220, 220),
        QPalette.ColorRole.Base: QColor(30, 30, 32),
        QPalette.ColorRole.AlternateBase: QColor(40, 40, 44),
        QPalette.ColorRole.ToolTipBase: QColor(60, 60, 64),
        QPalette.ColorRole.ToolTipText: QColor(230, 230, 230),
        QPalette.ColorRole.PlaceholderText: QColor(150, 150, 150),
        QPalette.ColorRole.Text: QColor(220, 220, 220),
        QPalette.ColorRole.Button: QColor(55, 55, 60),
        QPalette.ColorRole.ButtonText: QColor(220, 220, 220),
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Light: QColor(75, 75, 80),
        QPalette.ColorRole.Midlight: QColor(62, 62, 66),
        QPalette.ColorRole.Mid: QColor(80, 80, 86),
        QPalette.ColorRole.Dark: QColor(25, 25, 27),
        QPalette.ColorRole.Shadow: QColor(10, 10, 10),
        QPalette.ColorRole.Highlight: QColor(42, 110, 190),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(100, 170, 255),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return palette


def save(widget: QWidget, path: Path) -> None:
    """Lets pending loads land, then grabs the widget."""
    app = QApplication.instance()
    assert app is not None
    for _ in range(30):
        app.processEvents()
        QApplication.sendPostedEvents()
    if not widget.grab().save(str(path)):
        raise SystemExit(f"could not save {path}")
    print(path)


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    folder = Path(tempfile.mkdtemp(prefix="bb-dark-"))
    database = open_database(f"sqlite:///{folder / 'w.sqlite3'}")
    seed(database, 400, connections=(("Acme Chargebee", "chargebee"), ("Acme Recurly", "recurly")))
    settings = QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat)
    services = build_services(database, secrets=MemorySecretStore(), settings=settings)
    window = build_window(services)
    window.resize(1280, 800)  # the size the pages are checked at
    window.show()

    def settle() -> None:
        # the loader answers on its own thread; wait for it like a person would
        for _ in range(20):
            app.processEvents()
            time.sleep(0.05)

    for title, name in (
        ("Accounts", "accounts-dark.png"),
        ("Connections", "connections-dark.png"),
        ("Sync history", "sync-history-dark.png"),
        ("Sync errors", "sync-errors-dark.png"),
    ):
        window.show_page(title)
        settle()
        save(window, out / name)

    window.show_page("Accounts")
    settle()
    accounts = next(p for p in window.pages if isinstance(p, AccountsPage))
    accounts.table.selectRow(0)
    accounts.open_account(accounts.model.data(accounts.model.index(0, 0), ACCOUNT_ID_ROLE))
    settle()
    save(window, out / "account-360-dark.png")

    wizard = ConnectionWizard(lambda _result: None)
    wizard.show()
    wizard.system.buttons["recurly"].setChecked(True)
    wizard.system.name.setText("Acme Recurly EU")
    settle()
    save(wizard, out / "wizard-1-system-dark.png")
    wizard.next()
    settle()
    save(wizard, out / "wizard-2-credentials-dark.png")
    wizard.close()
    window.close()
    services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
