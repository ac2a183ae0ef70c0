"""Screenshots of the Zoho CRM connect dialog, every wizard step and the integration page.

Run directly on an X display (Xvfb) to refresh ``docs/screenshots/crm-*.png``::

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1280x800x24" \\
        .venv/bin/python tests/gui/test_crm_screenshots.py docs/screenshots

The test below runs the same script in a subprocess (only where a display exists) and
checks that every picture was drawn with readable text.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMES = (
    "crm-connect.png",
    "crm-connect-owner-refused.png",
    "crm-wizard-1-module.png",
    "crm-wizard-2-extent.png",
    "crm-wizard-3-duplicates.png",
    "crm-wizard-4-view.png",
    "crm-wizard-5-mapping.png",
    "crm-wizard-5-mapping-type-error.png",
    "crm-wizard-6-rules.png",
    "crm-wizard-7-summary-dry-run.png",
    "crm-integration-page.png",
    "crm-search.png",
)


@pytest.mark.xvfb
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="no X display (scripts/test runs Xvfb)")
def test_crm_screens_on_a_real_display(tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, __file__, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in NAMES:
        image = QImage(str(tmp_path / name))
        assert image.width() > 300, name
        colours = {
            image.pixel(x, y)
            for x in range(0, image.width(), 4)
            for y in range(0, min(image.height(), 300), 4)
        }
        assert len(colours) > 20, name


def _main(out: Path) -> int:
    import json
    from datetime import UTC, datetime
    from tempfile import TemporaryDirectory

    import keyring
    from keyring.backend import KeyringBackend
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QWidget

    class _Memory(KeyringBackend):
        priority = 1

        def __init__(self) -> None:
            super().__init__()  # type: ignore[no-untyped-call]
            self.values: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.values.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.values[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.values.pop((service, username), None)

    keyring.set_keyring(_Memory())
    sys.path.insert(0, str(ROOT))
    from desktop.crm.schedule import CrmSchedule
    from desktop.crm.settings import DuplicatePolicy, Extent, SyncModule
    from desktop.sandbox import ManualClock, Sandbox
    from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user
    from desktop.storage.database import open_database
    from desktop.views.crm_account import CrmSearchDialog
    from desktop.views.crm_page import CrmPage
    from desktop.views.jobs import JobRunner
    from desktop.views.models.loader import QueryLoader
    from desktop.views.style import STYLE_SHEET
    from desktop.wizards.crm_connect import CrmConnectDialog
    from desktop.wizards.crm_wizard import CrmWizard
    from tests.unit.crm.support import CRM_NAME, OWNER_EMAIL, integration_for, seed_billing

    app = QApplication(sys.argv[:1])
    app.setStyleSheet(STYLE_SHEET)
    out.mkdir(parents=True, exist_ok=True)

    def wait(condition: Callable[[], bool], seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the screen did not get ready in time")
            app.processEvents()
            time.sleep(0.01)

    def shoot(widget: QWidget, name: str) -> None:
        for _ in range(20):
            app.processEvents()
            time.sleep(0.01)
        if not widget.grab().save(str(out / name)):
            raise OSError(f"could not save {name}")

    with TemporaryDirectory() as folder:
        database = open_database(f"sqlite:///{Path(folder) / 'w.sqlite3'}")
        clock = ManualClock(datetime(2025, 6, 1, 12, 0, tzinfo=UTC))
        sandbox = Sandbox(size=120, seed=11, clock=clock)
        crm = integration_for(database, sandbox, clock)
        accounts = [a for a in sandbox_accounts(sandbox)][:2]
        seed_billing(
            database,
            [
                {"id": "acme-1", "name": accounts[0], "email": "ops@acme.example"},
                {"id": "cust_9", "company": "Brand New Ltd", "email": "pat@new.example",
                 "first": "Pat", "last": "Lee", "subs": [("sub_9", "active", 9900, "USD")]},
                {"id": "cust_10", "email": "kim@orbit.example",
                 "subs": [("sub_10", "non_renewing", 4900, "USD")]},
            ],
        )  # fmt: skip
        jobs = JobRunner()
        loader = QueryLoader(database)

        def dialog(owner: str) -> CrmConnectDialog:
            d = CrmConnectDialog(crm, jobs)
            d.name.setText(CRM_NAME)
            d.client_id.setText(ZOHO_CLIENT_ID)
            d.client_secret.setText(ZOHO_CLIENT_SECRET)
            d.refresh.setChecked(True)
            d.token.setText(zoho_user("com").refresh_token)
            d.owner.setText(owner)
            d.base_url.setText(sandbox.base_url("zoho-api", "com"))
            d.auth_url.setText(sandbox.base_url("zoho-accounts", "com"))
            d.show()
            d.connect_button.click()
            wait(lambda: not d.strip.busy and bool(d.outcome.text()))
            return d

        refused = dialog("nobody@acme.example")
        shoot(refused, "crm-connect-owner-refused.png")
        refused.reject()
        connected = dialog(OWNER_EMAIL)
        shoot(connected, "crm-connect.png")
        connected.accept()

        wizard = CrmWizard(crm, jobs, CRM_NAME)
        wizard.resize(900, 680)
        wizard.show()
        wait(lambda: wizard.setup is not None)
        wizard.module.buttons[SyncModule.ACCOUNTS_AND_CONTACTS].setChecked(True)
        shoot(wizard, "crm-wizard-1-module.png")
        wizard.next()
        wizard.extent.buttons[Extent.BOTH].setChecked(True)
        shoot(wizard, "crm-wizard-2-extent.png")
        wizard.next()
        wizard.duplicates.buttons[DuplicatePolicy.OVERWRITE].setChecked(True)
        wait(lambda: wizard.duplicates.count is not None and not wizard.duplicates.strip.busy)
        shoot(wizard, "crm-wizard-3-duplicates.png")
        wizard.next()
        combo = wizard.views.combos["Accounts"]
        combo.setCurrentIndex(
            max(combo.findText("Billing Accounts", Qt.MatchFlag.MatchContains), 0)
        )
        shoot(wizard, "crm-wizard-4-view.png")
        wizard.next()
        wait(wizard.mapping.isComplete)
        shoot(wizard, "crm-wizard-5-mapping.png")
        table = wizard.mapping.modules["Accounts"]
        table.set_target("Annual_Revenue", "email")
        table.table.scrollToBottom()
        shoot(wizard, "crm-wizard-5-mapping-type-error.png")
        table.set_target("Annual_Revenue", None)
        wizard.next()
        active = wizard.rules.active
        assert active is not None
        active.pipeline.setCurrentIndex(active.pipeline.findData("Standard"))
        active.stage.setCurrentText("Closed Won")
        shoot(wizard, "crm-wizard-6-rules.png")
        wizard.next()
        wizard.summary.dry_run_button.click()
        wait(lambda: wizard.summary.report.report is not None and not wizard.summary.strip.busy)
        shoot(wizard, "crm-wizard-7-summary-dry-run.png")
        wizard.accept()
        wait(lambda: wizard.saved is not None)

        page = CrmPage(loader, crm, CrmSchedule(crm), jobs)
        page.resize(1180, 760)
        page.show()
        page.refresh()
        wait(lambda: page.state.name == CRM_NAME)
        page.sync_button.click()
        wait(lambda: page.history.rowCount() == 1 and not page.strip.busy)
        wait(lambda: "view" not in page.settings_text.text().split("Accounts view")[-1][:30])
        shoot(page, "crm-integration-page.png")

        search = CrmSearchDialog(
            crm, jobs, CRM_NAME, account_id=1, account_label=accounts[0], query=accounts[0]
        )
        search.module.setCurrentIndex(search.module.findData("Accounts"))
        search.show()
        search.search()
        wait(lambda: search.model.rowCount() > 0 and not search.strip.busy)
        shoot(search, "crm-search.png")
        search.reject()
        jobs.shutdown()
        loader.shutdown()
        database.close()
    print(json.dumps(sorted(p.name for p in out.glob("crm-*.png"))))
    return 0


def sandbox_accounts(sandbox: object) -> list[str]:
    """The CRM simulator's Account names (seeded locally as duplicates for step 3)."""
    from desktop.sandbox.zoho_crm import crm_of

    sim = crm_of(sandbox.mounts["zoho"].handlers)  # type: ignore[attr-defined]
    return [str(a["Account_Name"]) for a in sim.truth("Accounts")]


if __name__ == "__main__":
    sys.exit(_main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"))
