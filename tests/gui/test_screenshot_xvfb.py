"""The real main window on a real X server (Xvfb): it opens, draws, and has glyphs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

pytestmark = pytest.mark.xvfb

DRIVER = Path(__file__).with_name("screenshot_driver.py")


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="no X display (scripts/test runs Xvfb)")
def test_main_window_on_a_real_display(tmp_path: Path) -> None:
    out = tmp_path / "main-window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    result = subprocess.run(
        [sys.executable, str(DRIVER), f"sqlite:///{tmp_path / 'w.sqlite3'}", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert image.width() >= 1000
    assert image.height() >= 600
    # A readable window has many distinct colours (text antialiasing), not a blank fill.
    colours = {image.pixel(x, y) for x in range(0, image.width(), 3) for y in range(0, 200, 3)}
    assert len(colours) > 20
    keep = os.environ.get("BILLBRIDGE_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / "main-window.png").write_bytes(out.read_bytes())
