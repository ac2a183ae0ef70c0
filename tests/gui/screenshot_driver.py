"""Opens the real main window on the current display, saves a screenshot, and exits.

Run by tests/gui/test_screenshot_xvfb.py in a subprocess on an X display (Xvfb).
Usage: python tests/gui/screenshot_driver.py WORKSPACE_URL OUT.png
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from desktop.app import build_services, build_window
from desktop.secrets import MemorySecretStore
from desktop.storage.database import open_database


def main() -> int:
    url, out = sys.argv[1], sys.argv[2]
    app = QApplication(sys.argv[:1])
    database = open_database(url)
    settings = QSettings(out + ".ini", QSettings.Format.IniFormat)
    services = build_services(database, secrets=MemorySecretStore(), settings=settings)
    window = build_window(services)
    window.resize(1180, 740)
    window.show()
    ok: list[bool] = []

    def shoot() -> None:
        ok.append(window.grab().save(out))
        window.close()
        app.quit()

    QTimer.singleShot(1500, shoot)
    app.exec()
    services.close()
    return 0 if ok and ok[0] else 1


if __name__ == "__main__":
    sys.exit(main())
