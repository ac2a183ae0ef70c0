"""The headless service behind ``billbridge serve``: the webhook receiver and the schedules.

One process a team can leave running next to a shared workspace database:

* the Zoho Billing webhook receiver (:mod:`desktop.webhooks`);
* the schedules (:mod:`desktop.serve.schedules`): daily billing syncs at 00:00 UTC
  through the sync engine's scheduler, and hourly CRM syncs once a CRM scheduler exists.

Qt-free; it stops cleanly on SIGTERM or Ctrl-C.
"""
