"""Screenshots of every connection-wizard step against the sandbox.

Walks the real wizard like a person, against the sandbox's loopback servers: Chargebee
credentials with a passed *Test connection*, then identifier, sync mode and summary; also
the Recurly (one site and several sites) and Zoho Billing credential forms. Saves one PNG
per step into ``OUT_DIR`` (default ``docs/screenshots``) as ``wizard-<step>.png``. Look
at every PNG it writes.

Usage (on Xvfb, so the platform style is the one people see)::

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python tests/gui/screenshot_wizard.py [OUT_DIR]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import PySide6  # noqa: E402, F401 - imported first so qasync binds to PySide6
import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from desktop.sandbox.credentials import CHARGEBEE_KEYS, RECURLY_KEYS  # noqa: E402
from desktop.sandbox.facade import Sandbox  # noqa: E402
from desktop.wizards.connection_wizard import ConnectionWizard  # noqa: E402


async def settle(seconds: float = 0.4) -> None:
    """Lets the event loop (Qt events and asyncio tasks) run for a moment."""
    await asyncio.sleep(seconds)


async def save(widget: QWidget, path: Path) -> None:
    await settle()
    if not widget.grab().save(str(path)):
        raise SystemExit(f"could not save {path}")
    print(path)


async def wait_for_test(wizard: ConnectionWizard) -> None:
    deadline = time.monotonic() + 20
    while wizard.credentials.task is not None and time.monotonic() < deadline:
        await settle(0.1)


async def shoot(out: Path, sandbox: Sandbox) -> None:
    wizard = ConnectionWizard(lambda _result: None)
    wizard.show()
    wizard.system.buttons["chargebee"].setChecked(True)
    wizard.system.name.setText("Acme Chargebee")
    await save(wizard, out / "wizard-1-system.png")
    wizard.next()
    page = wizard.credentials
    page.chargebee.site.setText("acme")
    page.chargebee.key.setText(CHARGEBEE_KEYS["acme"])
    page.base_url.setText(sandbox.base_url("chargebee", "acme"))
    page.start_test()
    await wait_for_test(wizard)
    await save(wizard, out / "wizard-2-credentials.png")
    wizard.next()
    wizard.identifier.custom.setChecked(wizard.identifier.custom.isEnabled())
    await save(wizard, out / "wizard-3-identifier.png")
    wizard.next()
    await save(wizard, out / "wizard-4-sync-mode.png")
    wizard.next()
    await save(wizard, out / "wizard-5-summary.png")
    wizard.close()

    recurly = ConnectionWizard(lambda _result: None)
    recurly.show()
    recurly.system.buttons["recurly"].setChecked(True)
    recurly.system.name.setText("Acme Recurly")
    recurly.next()
    page = recurly.credentials
    page.recurly.site.setText("acme")
    page.recurly.key.setText(RECURLY_KEYS["acme"])
    await save(recurly, out / "wizard-2-recurly-one-site.png")
    page.recurly.many_sites.setChecked(True)
    page.recurly.site_map.setPlainText('{\n  "acme": "key one",\n  "acme-eu" "key two"\n}')
    await save(recurly, out / "wizard-2-recurly-site-map-error.png")
    recurly.close()

    zoho = ConnectionWizard(lambda _result: None)
    zoho.show()
    zoho.system.buttons["zoho-billing"].setChecked(True)
    zoho.system.name.setText("Acme Zoho Billing")
    zoho.next()
    zoho.credentials.zoho.org_id.setText("10234695")
    await save(zoho, out / "wizard-2-zoho.png")
    zoho.close()


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    sandbox = Sandbox(size=40, seed=5, vendors=("chargebee", "recurly", "zoho-billing"))
    sandbox.start()  # real loopback servers, so the base URL shown is 127.0.0.1
    try:
        with loop:
            loop.run_until_complete(shoot(out, sandbox))
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
