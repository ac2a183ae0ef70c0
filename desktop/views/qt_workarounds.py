"""Work-arounds for bugs of the Qt binding that the app cannot avoid by writing code differently.

**``SignalInstance.emit`` drops a reference to ``True``** (PySide6 6.12.0 on CPython 3.11):
every ``signal.emit(...)`` from Python returns ``True`` without taking a reference to it,
so each call lowers ``True``'s reference count by one. ``True`` is shared by the whole
interpreter and holds a few thousand references after start-up; once that many signals
have been emitted — ten progress reports a second during a long sync get there within
the hour — CPython aborts the process ("Fatal Python error: bool_dealloc: deallocating
True or False"). The UI bench crashed this way while scrolling the Accounts list during a
100,000-account sync.

:func:`guard_signal_emit_refcount` checks for the bug with one emit and, only if it is
there, gives ``True`` and ``False`` a reference count no app run can use up (what CPython
3.12 does for them anyway: they are never freed). Call it once, before the app emits
signals.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from typing import Final

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)

#: References added to ``True`` and ``False`` when the bug is there (2**40: about a
#: trillion emits).
SPARE_REFERENCES: Final = 1 << 40


class _Probe(QObject):
    ping = Signal()


def emit_drops_a_reference() -> bool:
    """Whether ``SignalInstance.emit`` returns a ``True`` it holds no reference to."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(10):
        probe.ping.emit()
    return sys.getrefcount(True) < before


def guard_signal_emit_refcount() -> bool:
    """Keeps the binding's missing references from ever freeing ``True``; see the module.

    Returns whether the guard was needed (and applied).
    """
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False  # 3.12+ makes True and False immortal: nothing to guard
    if not emit_drops_a_reference():
        return False
    for value in (True, False):
        # ob_refcnt is the first field of every object in a release build of CPython.
        ctypes.c_ssize_t.from_address(id(value)).value += SPARE_REFERENCES
    log.info("guarded True/False against the binding's signal-emit reference leak")
    return True
