"""GUI tests: guard against PySide6 6.12's ``emit()`` reference leak before any test runs.

Without the guard, a session that emits more signals than ``True`` has references (a few
thousand) aborts with "Fatal Python error: bool_dealloc" — see
:mod:`desktop.views.qt_workarounds`.
"""

from __future__ import annotations

from desktop.views.qt_workarounds import guard_signal_emit_refcount

guard_signal_emit_refcount()
