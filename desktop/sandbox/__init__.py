"""Loopback simulators of the vendors' APIs (Chargebee, Recurly, Zoho Billing, Zoho CRM).

Qt-free and independent of the app's database. Start with :class:`Sandbox`::

    sandbox = Sandbox(size=500, seed=7, clock=ManualClock(datetime(2025, 6, 1, tzinfo=UTC)))
    client = httpx.Client(transport=sandbox.transport())       # in-process
    with sandbox:                                              # or real sockets
        url = sandbox.base_url("chargebee", "acme")

Changes over time go through ``sandbox.mutations`` (billing) and ``sandbox.crm.mutations``
(Zoho CRM), or ``POST /_sandbox/mutate`` on any origin. Zoho Billing changes become events
in ``sandbox.zoho_events`` (``GET /events``), which ``sandbox.deliver_zoho_events(url)``
posts as Zoho webhooks to a receiver on 127.0.0.1.
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
