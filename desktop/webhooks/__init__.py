"""Billing events as they happen: the Zoho Billing webhook receiver (Qt-free).

A **receiver** is an address a billing system posts events to, bound to one Zoho
Billing connection: ``POST /webhooks/zoho-billing/<receiver name>``. Each receiver has a
secret token Billbridge generates (kept in the system keychain): Zoho Billing sends it in
a custom ``Authorization: Basic …`` header, and — when the webhook is secured — signs
each request with it (``X-Zoho-Webhook-Signature``).

The path of one event:

1. :mod:`desktop.webhooks.http` answers the request: 404/405/401/413 before anything is
   stored, then parses the body (:mod:`desktop.webhooks.events`).
2. :class:`~desktop.webhooks.store.EventWriter` commits it as a
   :class:`~desktop.storage.models.WebhookEvent` (a malformed one as ``rejected``) —
   only then is 200 (or 400) sent. A repeated ``event_id`` is acknowledged, counted and
   not stored twice.
3. :class:`~desktop.webhooks.applier.EventApplier` applies stored events in batches: one
   transaction per batch, each event claimed and applied in its own savepoint, so two
   processes on one database never apply an event twice and a failing event is rolled
   back alone — nothing is half-applied, its neighbours stay applied, and the failure is
   recorded on the event for replay. Runs of events that only update existing records
   are written with one write per stream (:mod:`desktop.webhooks.grouped`).
"""
