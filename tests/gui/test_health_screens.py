"""Screenshots of the Health page, alerts, rule editor, segment editor and account charts.

Run as a script on an X display to write the PNGs (the docs' screenshots)::

    xvfb-run -a -s "-screen 0 1280x800x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tests/gui/test_health_screens.py WORKSPACE_URL OUT_FOLDER

The test runs it the same way on a small seeded workspace when a display is there
(``scripts/test`` runs Xvfb) and checks that every picture has content.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

DRIVER = Path(__file__)


def _shoot(url: str, folder: Path) -> int:  # pragma: no cover - runs in a subprocess
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from desktop.app import build_services, build_window
    from desktop.health import list_alerts
    from desktop.secrets import MemorySecretStore
    from desktop.storage.database import open_database
    from desktop.views.accounts import AccountsPage
    from desktop.views.health import HealthPage

    app = QApplication(sys.argv[:1])
    database = open_database(url)
    folder.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(folder / "shots.ini"), QSettings.Format.IniFormat)
    services = build_services(database, secrets=MemorySecretStore(), settings=settings)
    window = build_window(services)
    window.resize(1280, 800)
    window.show()
    health = next(p for p in window.pages if isinstance(p, HealthPage))
    accounts = next(p for p in window.pages if isinstance(p, AccountsPage))
    window.show_page("Health")
    saved: list[bool] = []
    alerts = list_alerts(database, limit=50)

    def grab(widget: QWidget, name: str) -> None:
        saved.append(widget.grab().save(str(folder / name)))

    def alerts_tab() -> None:
        health.show_tab("Alerts")
        if health.alerts.model.rowCount():
            health.alerts.table.selectRow(0)

    def rules() -> None:
        health.show_rules()
        assert health.rules_dialog is not None
        health.rules_dialog.resize(1100, 600)

    def segments() -> None:
        health.show_tab("Segments")
        editor = health.segments
        editor.name.setText("At-risk paying customers")
        editor.conditions.set_condition(
            {
                "all": [
                    {"field": "account.health_band", "op": "in", "value": ["amber", "red"]},
                    {"field": "account.mrr", "op": "gt", "value": {"amount": "50"}},
                    {"field": "subscription.status", "op": "in", "value": ["active", "unpaid"]},
                ]
            }
        )

    def account() -> None:
        target = alerts[0].account_id if alerts else 1
        accounts.open_account(target)
        window.show_page("Accounts")
        accounts.detail.tabs.setCurrentWidget(accounts.detail.health_charts)

    steps: list[tuple[int, Callable[[], object]]] = [
        (4000, lambda: grab(window, "health.png")),
        (200, alerts_tab),
        (1500, lambda: grab(window, "health-alerts.png")),
        (100, rules),
        (2000, lambda: grab(health.rules_dialog or window, "health-rule-editor.png")),
        (100, lambda: health.rules_dialog.close() if health.rules_dialog else None),
        (100, segments),
        (1500, health.segments.save),
        (2000, lambda: grab(window, "health-segments.png")),
        (100, account),
        (3000, lambda: grab(window, "health-account.png")),
        (100, window.close),
        (100, app.quit),
    ]
    delay = 0
    for wait, step in steps:
        delay += wait
        QTimer.singleShot(delay, step)
    app.exec()
    services.close()
    return 0 if saved and all(saved) else 1


pytestmark = pytest.mark.xvfb


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="no X display (scripts/test runs Xvfb)")
def test_health_screens_on_a_real_display(tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    from desktop.health import recompute_health
    from desktop.storage.database import open_database
    from tests.gui.workspace_seed import NOW, seed

    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    database = open_database(url)
    seed(database, 60)
    recompute_health(database, clock=lambda: NOW)
    database.close()
    out = tmp_path / "shots"
    result = subprocess.run(
        [sys.executable, str(DRIVER), url, str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "xcb"},
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in ("health.png", "health-alerts.png", "health-rule-editor.png"):
        image = QImage(str(out / name))
        assert image.width() >= 800, name
        colours = {image.pixel(x, y) for x in range(0, image.width(), 5) for y in range(0, 300, 5)}
        assert len(colours) > 20, name


if __name__ == "__main__":
    sys.exit(_shoot(sys.argv[1], Path(sys.argv[2])))
