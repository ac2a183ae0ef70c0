"""The :class:`Sandbox` facade: one object that builds the world and every simulator.

Mounts (one origin each):

========== ================================================================
chargebee  ``{origin}/chargebee/{site}/api/v2`` (sites ``acme``, ``acme-test``)
recurly-us ``{origin}/`` — Recurly US region (site ``acme``)
recurly-eu ``{origin}/`` — Recurly EU region (site ``acme-eu``)
zoho       ``{origin}/zoho/{dc}/accounts`` (OAuth) and ``{origin}/zoho/{dc}/api``
           (``/billing/v1`` and Zoho CRM's ``/crm/v2`` … ``/crm/v8``)
========== ================================================================

In-process (before :meth:`Sandbox.start`) the origins are ``http://<mount>.sandbox.invalid``
and :meth:`Sandbox.transport` answers them; after ``start()`` they are
``http://127.0.0.1:<port>`` and both real sockets and the transport work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from types import TracebackType
from typing import Any, Final

import httpx

from desktop.sandbox import catalog as cat
from desktop.sandbox.admin import make_admin
from desktop.sandbox.chargebee import ChargebeeHandler
from desktop.sandbox.clock import Clock, SystemClock, advance, epoch
from desktop.sandbox.core import Mount, VendorHandler
from desktop.sandbox.dataset import World
from desktop.sandbox.faults import Fault, FaultInjector, parse_faults
from desktop.sandbox.mutations import Mutations
from desktop.sandbox.ratelimit import RateLimit, RateLimiter, parse_rate_limit
from desktop.sandbox.recurly import RecurlyHandler
from desktop.sandbox.requestlog import RequestLog
from desktop.sandbox.server import MountServer
from desktop.sandbox.transport import mock_transport
from desktop.sandbox.truth import Truth
from desktop.sandbox.zoho_billing import ZohoBillingHandler
from desktop.sandbox.zoho_crm import ZohoCrmHandler
from desktop.sandbox.zoho_crm_store import CrmConfig
from desktop.sandbox.zoho_events import ZohoEvents
from desktop.sandbox.zoho_oauth import TokenStore, ZohoAccountsHandler
from desktop.sandbox.zoho_webhooks import Delivery, ZohoWebhookDeliverer

#: Mount names in the order ports are assigned from ``port_base``.
MOUNTS: Final[tuple[str, ...]] = ("chargebee", "recurly-us", "recurly-eu", "zoho")
#: Simulator names that take rate limits and fault rules (the CRM adds ``zoho-crm``).
SIMULATORS: Final[tuple[str, ...]] = (
    "chargebee",
    "recurly",
    "zoho-billing",
    "zoho-accounts",
    "zoho-crm",
)


class Sandbox:
    """All vendor simulators over one deterministic dataset.

    Args:
        size: number of billing customers.
        seed: random seed of the dataset and of fault injection.
        vendors: billing vendors that receive customers.
        clock: the sandbox clock (default: real UTC time).
        rate_limits: budgets per simulator name (``RateLimit`` or ``"100/60"``).
        faults: fault rules, or their text form (see :mod:`desktop.sandbox.faults`).
        token_lifetime: Zoho access-token lifetime in seconds.
        crm_settings: Zoho CRM settings forwarded to ``crm.configure`` (the fields of
            :class:`~desktop.sandbox.zoho_crm_store.CrmConfig`, e.g.
            ``{"base_currency": "EUR", "contact_email_unique": True}``).

    Attributes:
        world: the dataset; ``truth``: ground truth; ``mutations``: the change API;
        ``log``: the request log; ``tokens``: the Zoho OAuth token store;
        ``injector``: fault injection; ``limiters``: rate limiters per simulator;
        ``mounts``: the mounts by name; ``crm``: the Zoho CRM simulator (its records,
        ``truth(module)``, ``mutations`` and ``configure(...)``); ``zoho_events``: the
        Zoho Billing event log (what ``GET /events`` lists and webhooks deliver).
    """

    def __init__(
        self,
        size: int = 1_000,
        seed: int = 7,
        vendors: Sequence[str] = cat.VENDORS,
        clock: Clock | None = None,
        rate_limits: Mapping[str, RateLimit | str | None] | None = None,
        faults: Sequence[Fault] | str = (),
        token_lifetime: int = 3600,
        crm_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.world = World(seed=seed, size=size, vendors=vendors, clock=self.clock)
        self.truth = Truth(self.world)
        self.mutations = Mutations(self.world)
        self.log = RequestLog()
        self.injector = FaultInjector(seed)
        self.set_faults(faults)
        self.limiters: dict[str, RateLimiter] = {
            name: RateLimiter(self.clock) for name in SIMULATORS
        }
        for name, budget in (rate_limits or {}).items():
            self.set_rate_limit(name, budget)
        self.tokens = TokenStore(self.clock, seed, token_lifetime)
        self._servers: dict[str, MountServer] = {}
        admin = make_admin(self)
        self.mounts: dict[str, Mount] = {
            name: Mount(name, [], self.log, self.injector, self.limiters, self.clock, admin)
            for name in MOUNTS
        }
        self.register(ChargebeeHandler(self.world), "chargebee")
        self.register(RecurlyHandler(self.world, "us"), "recurly-us")
        self.register(RecurlyHandler(self.world, "eu"), "recurly-eu")
        self.register(ZohoAccountsHandler(self.tokens, lambda: self.origin("zoho")), "zoho")
        self.zoho_events = ZohoEvents(self.world)
        self.register(ZohoBillingHandler(self.world, self.tokens, self.zoho_events), "zoho")
        self._crm = ZohoCrmHandler(self.world, self.tokens)
        self.register(self._crm, "zoho")
        if crm_settings:
            self.configure_crm(crm_settings)

    # ------------------------------------------------------------ wiring

    def register(self, handler: VendorHandler, mount: str) -> None:
        """Adds a simulator (``handler.name`` names it in logs, faults and rate limits)."""
        self.mounts[mount].add_handler(handler)
        self.limiters.setdefault(handler.name, RateLimiter(self.clock))

    def set_faults(self, faults: Sequence[Fault] | str) -> None:
        """Replaces the fault rules (text like ``"5xx=0.05,chargebee:reset=#3"`` or rules)."""
        rules = parse_faults(faults, SIMULATORS) if isinstance(faults, str) else tuple(faults)
        self.injector.configure(rules)

    def set_rate_limit(self, simulator: str, budget: RateLimit | str | None) -> None:
        """Sets (or with ``None`` removes) a simulator's budget; ``"all"`` sets every one."""
        parsed = parse_rate_limit(budget) if isinstance(budget, str) else budget
        names = SIMULATORS if simulator == "all" else (simulator,)
        for name in names:
            if name not in self.limiters:
                raise ValueError(
                    f"There is no simulator called {name!r}; use one of {', '.join(SIMULATORS)}."
                )
            self.limiters[name].set_budget(parsed)

    @property
    def crm(self) -> ZohoCrmHandler:
        """The Zoho CRM simulator (records, ``truth``, ``mutations``, ``configure``)."""
        return self._crm

    def configure_crm(self, settings: Mapping[str, Any]) -> CrmConfig:
        """Changes Zoho CRM settings (names of :class:`CrmConfig` fields); returns them all."""
        known = {f.name for f in fields(CrmConfig)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(
                f"The sandbox CRM has no setting {unknown[0]!r}; use {', '.join(sorted(known))}."
            )
        changes = dict(settings)
        for name in ("currencies",):
            if isinstance(changes.get(name), list):
                changes[name] = tuple(changes[name])
        if isinstance(changes.get("unique_fields"), Mapping):
            changes["unique_fields"] = {
                module: tuple(names) for module, names in changes["unique_fields"].items()
            }
        return self._crm.configure(**changes)

    def webhook_deliverer(self, url: str, **options: Any) -> ZohoWebhookDeliverer:
        """A Zoho Billing webhook deliverer to a loopback ``url`` that records each delivery
        in the event's ``webhooks`` list (options: ``secret``, ``headers``, ``query``,
        ``method``, ``timeout``, ``transport``; see :class:`ZohoWebhookDeliverer`)."""

        def record(event_id: str, target: str, delivered: bool) -> None:
            self.zoho_events.record_delivery(event_id, target, delivered, epoch(self.clock))

        return ZohoWebhookDeliverer(url, on_delivery=record, **options)

    def deliver_zoho_events(
        self, url: str, since: str | None = None, site: str | None = None, **options: Any
    ) -> list[Delivery]:
        """Delivers the Zoho Billing change events after event id ``since`` (all with
        ``None``; of organization ``site`` only if given) to ``url``, oldest first."""
        org = cat.site_named("zoho-billing", site) if site else None
        if site and org is None:
            raise ValueError(f"Zoho Billing has no organization {site!r} in the sandbox.")
        events = self.zoho_events.since(since, org.code if org else None)
        with self.webhook_deliverer(url, **options) as deliverer:
            return deliverer.deliver_all(events)

    def advance_clock(self, seconds: float) -> None:
        """Moves the sandbox clock forward (a :class:`ManualClock` or the default clock)."""
        advance(self.clock, seconds)

    # ------------------------------------------------------------ serving

    def origin(self, mount: str) -> str:
        """``http://127.0.0.1:<port>`` when serving, else ``http://<mount>.sandbox.invalid``."""
        server = self._servers.get(mount)
        return server.origin if server is not None else f"http://{mount}.sandbox.invalid"

    def base_url(self, vendor: str, site: str | None = None) -> str:
        """The base URL a client of ``vendor`` is configured with.

        ``chargebee`` → ``{origin}/chargebee/{site}/api/v2`` (default site ``acme``);
        ``recurly`` → the region origin of ``site`` (default ``acme``, US);
        ``zoho-billing`` → ``{origin}/zoho/{dc}/api/billing/v1`` (``site`` = organization id);
        ``zoho-accounts`` → ``{origin}/zoho/{dc}/accounts`` (``site`` = data centre);
        ``zoho-api`` → ``{origin}/zoho/{dc}/api`` (the token's ``api_domain``);
        ``zoho-crm`` → ``{origin}/zoho/{dc}/api/crm/v8`` (the CRM org's data centre).
        """
        if vendor == "chargebee":
            return f"{self.origin('chargebee')}/chargebee/{site or 'acme'}/api/v2"
        if vendor == "recurly":
            found = cat.site_named("recurly", site or "acme")
            region = found.region if found else "us"
            return self.origin(f"recurly-{region}")
        if vendor == "zoho-billing":
            org = cat.site_named("zoho-billing", site or "10234695")
            return f"{self.origin('zoho')}/zoho/{org.region if org else 'com'}/api/billing/v1"
        if vendor == "zoho-accounts":
            return f"{self.origin('zoho')}/zoho/{site or 'com'}/accounts"
        if vendor == "zoho-api":
            return f"{self.origin('zoho')}/zoho/{site or 'com'}/api"
        if vendor == "zoho-crm":
            return f"{self.origin('zoho')}/zoho/{self._crm.config.dc}/api/crm/v8"
        raise ValueError(f"The sandbox has no vendor {vendor!r}.")

    def _route(self, request: httpx.Request) -> Mount | None:
        host = request.url.host
        for name, mount in self.mounts.items():
            if host == f"{name}.sandbox.invalid":
                return mount
            server = self._servers.get(name)
            if server is not None and host == "127.0.0.1" and request.url.port == server.port:
                return mount
        return None

    def transport(self, mount: str | None = None) -> httpx.MockTransport:
        """An in-process transport: for one mount (any host), or routing by origin."""
        if mount is None:
            return mock_transport(self._route)
        target = self.mounts[mount]
        return mock_transport(lambda _request: target)

    def start(self, ports: Mapping[str, int] | None = None, port_base: int | None = None) -> None:
        """Serves every mount on 127.0.0.1 (free ports unless given)."""
        if self._servers:
            return
        try:
            for index, name in enumerate(MOUNTS):
                port = (ports or {}).get(name, port_base + index if port_base else 0)
                server = MountServer(self.mounts[name], port)
                server.start()
                self._servers[name] = server
        except OSError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stops every server (the in-process transport keeps working)."""
        servers, self._servers = self._servers, {}
        for server in servers.values():
            server.stop()

    @property
    def serving(self) -> bool:
        """Whether the HTTP servers are running."""
        return bool(self._servers)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
