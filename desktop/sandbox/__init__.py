"""Loopback simulators of the vendors' APIs (Chargebee, Recurly, Zoho Billing, Zoho CRM).

Qt-free and independent of the app's database. Start with :class:`Sandbox`::

    sandbox = Sandbox(size=500, seed=7, clock=ManualClock(datetime(2025, 6, 1, tzinfo=UTC)))
    client = httpx.Client(transport=sandbox.transport())       # in-process
    with sandbox:                                              # or real sockets
        url = sandbox.base_url("chargebee", "acme")
"""

from desktop.sandbox.clock import ManualClock, SystemClock
from desktop.sandbox.facade import Sandbox
from desktop.sandbox.faults import Fault, parse_faults
from desktop.sandbox.ratelimit import RateLimit, parse_rate_limit

__all__ = [
    "Fault",
    "ManualClock",
    "RateLimit",
    "Sandbox",
    "SystemClock",
    "parse_faults",
    "parse_rate_limit",
]
