"""The guard against the binding's signal-emit reference leak keeps the process alive."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from PySide6.QtCore import QObject, Signal
from desktop.views.qt_workarounds import guard_signal_emit_refcount

class Sender(QObject):
    changed = Signal(bool)

guard_signal_emit_refcount()
sender = Sender()
count = [0]
def slot(_value):
    count[0] += 1
sender.changed.connect(slot)
for _ in range(20_000):  # far more than True's references in a fresh interpreter
    sender.changed.emit(True)
print(count[0])
"""


def test_a_fresh_process_survives_many_emits() -> None:
    # With PySide6 6.12.0 and no guard this aborts ("bool_dealloc") after ~600 emits.
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == "20000"
