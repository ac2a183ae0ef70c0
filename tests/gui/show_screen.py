"""Opens one screen of Billbridge and keeps it open, for ``../shared/tools/screenshot``.

The screenshot tool starts a command on a 1280×800 virtual screen, waits and photographs
the whole screen; this opens the screen to photograph, in the light (platform) or dark
palette:

* ``wizard KIND [--many]``: the connection wizard on KIND's credentials page
  (``chargebee``, ``recurly`` — ``--many`` picks several sites — or ``zoho-billing``);
* ``page TITLE``: the main window at 1280×800 on a seeded workspace, on the page with
  that title (``Sync history``, ``Sync errors``) or ``Account`` for an account's
  Account 360° (``--row``, ``--tab``).

Usage::

    ../shared/tools/screenshot OUT.png 6 -- .venv/bin/python tests/gui/show_screen.py \\
        wizard recurly --dark
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop.app import build_services, build_window  # noqa: E402
from desktop.secrets import MemorySecretStore  # noqa: E402
from desktop.storage.database import open_database  # noqa: E402
from desktop.views.accounts import AccountsPage  # noqa: E402
from desktop.views.models.accounts import ACCOUNT_ID_ROLE  # noqa: E402
from desktop.views.style import STYLE_SHEET  # noqa: E402
from desktop.wizards.connection_wizard import ConnectionWizard  # noqa: E402
from tests.gui.screenshot_dark import dark_palette  # noqa: E402
from tests.gui.workspace_seed import seed  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("screen", choices=("wizard", "page"))
    parser.add_argument("name", help="the wizard's system or the page's title")
    parser.add_argument("--dark", action="store_true", help="Fusion with a dark palette")
    parser.add_argument("--many", action="store_true", help="Recurly: several sites")
    parser.add_argument("--row", type=int, default=0, help="Account: which row to open")
    parser.add_argument("--tab", type=int, default=0, help="Account: which tab to show")
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    if args.dark:
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    if args.screen == "wizard":
        wizard = ConnectionWizard(lambda _result: None)
        wizard.setStyleSheet(STYLE_SHEET)  # as opened from the main window
        wizard.move(40, 40)
        wizard.show()
        wizard.system.buttons[args.name].setChecked(True)
        wizard.system.name.setText("Acme")
        wizard.next()
        if args.many:
            wizard.credentials.recurly.many_sites.setChecked(True)
        return app.exec()
    folder = Path(tempfile.mkdtemp(prefix="bb-show-"))
    database = open_database(f"sqlite:///{folder / 'w.sqlite3'}")
    seed(database, 400, connections=(("Acme Chargebee", "chargebee"), ("Acme Recurly", "recurly")))
    settings = QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat)
    services = build_services(database, secrets=MemorySecretStore(), settings=settings)
    window = build_window(services)
    window.move(0, 0)
    window.resize(1280, 800)
    window.show()
    if args.name == "Account":
        window.show_page("Accounts")
        accounts = next(p for p in window.pages if isinstance(p, AccountsPage))

        def open_account() -> None:
            index = accounts.model.index(args.row, 0)
            accounts.open_account(accounts.model.data(index, ACCOUNT_ID_ROLE))
            accounts.detail.tabs.setCurrentIndex(args.tab)

        QTimer.singleShot(2500, open_account)  # once the accounts have loaded
    else:
        window.show_page(args.name)
    code = app.exec()
    services.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
