"""Loopback simulators of the vendors' APIs (Chargebee, Recurly, Zoho Billing, Zoho CRM).

Qt-free and independent of the app's database. The entry point is
:class:`desktop.sandbox.facade.Sandbox` (re-exported here once the facade exists).
"""
