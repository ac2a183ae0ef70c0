"""Fixed vocabularies of the sandbox world: vendors, sites, currencies, plans, coupons, names.

Everything here is constant and vendor-neutral; the dataset stores small integer codes
that index into these tuples, and each vendor simulator renders them in its own shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

#: Billing vendors, in the order their integer codes use.
VENDORS: Final[tuple[str, ...]] = ("zoho-billing", "recurly", "chargebee")
VENDOR_CODE: Final[dict[str, int]] = {name: code for code, name in enumerate(VENDORS)}


@dataclass(frozen=True)
class Site:
    """One tenant of a vendor: a Chargebee site, a Recurly site or a Zoho organization.

    Attributes:
        vendor: vendor name from :data:`VENDORS`.
        code: the site index inside that vendor (0 or 1).
        name: Chargebee site / Recurly subdomain / Zoho organization id.
        label: a human name (Zoho organization name, Recurly site name).
        region: ``"us"``/``"eu"`` for Recurly, the data centre (``"com"``/``"eu"``) for Zoho,
            ``"live"``/``"test"`` for Chargebee.
        share: the fraction of that vendor's customers living on this site.
    """

    vendor: str
    code: int
    name: str
    label: str
    region: str
    share: float


SITES: Final[tuple[Site, ...]] = (
    Site("zoho-billing", 0, "10234695", "Acme Inc", "com", 0.75),
    Site("zoho-billing", 1, "20234695", "Acme GmbH", "eu", 0.25),
    Site("recurly", 0, "acme", "Acme", "us", 0.75),
    Site("recurly", 1, "acme-eu", "Acme Europe", "eu", 0.25),
    Site("chargebee", 0, "acme", "Acme", "live", 0.8),
    Site("chargebee", 1, "acme-test", "Acme (test)", "test", 0.2),
)


def sites_of(vendor: str) -> tuple[Site, ...]:
    """Returns the sites of one vendor, ordered by their code."""
    return tuple(site for site in SITES if site.vendor == vendor)


def site_named(vendor: str, name: str) -> Site | None:
    """Returns the vendor's site called ``name``, or ``None``."""
    for site in sites_of(vendor):
        if site.name == name:
            return site
    return None


#: ISO currency codes and their number of minor digits (JPY has none).
CURRENCIES: Final[tuple[str, ...]] = ("USD", "EUR", "GBP", "JPY")
MINOR_DIGITS: Final[tuple[int, ...]] = (2, 2, 2, 0)
CURRENCY_WEIGHTS: Final[tuple[float, ...]] = (0.5, 0.25, 0.15, 0.1)
#: Tax rate in percent charged on invoices in each currency.
TAX_PERCENT: Final[tuple[int, ...]] = (0, 20, 20, 10)
CURRENCY_CODE: Final[dict[str, int]] = {name: code for code, name in enumerate(CURRENCIES)}

#: Billing intervals: (name, months, Zoho/Recurly unit words).
INTERVALS: Final[tuple[str, ...]] = ("monthly", "quarterly", "annual")
INTERVAL_MONTHS: Final[tuple[int, ...]] = (1, 3, 12)
INTERVAL_WEIGHTS: Final[tuple[float, ...]] = (0.6, 0.15, 0.25)
#: Average Gregorian month in seconds; periods are fixed-length in the sandbox.
MONTH_SECONDS: Final[int] = 2_629_746
DAY: Final[int] = 86_400


@dataclass(frozen=True)
class Product:
    """A sellable product; each has a monthly, quarterly and annual plan."""

    code: str
    name: str
    monthly_usd_cents: int
    trial_days: int


PRODUCTS: Final[tuple[Product, ...]] = (
    Product("starter", "Starter", 1900, 14),
    Product("team", "Team", 4900, 14),
    Product("pro", "Pro", 9900, 30),
    Product("enterprise", "Enterprise", 29900, 0),
)


@dataclass(frozen=True)
class Plan:
    """A vendor-neutral plan: one product billed at one interval, priced per currency.

    Attributes:
        index: position in :data:`PLANS`.
        code: ``"<product>-<interval>"`` (Recurly plan code, Zoho plan_code).
        name: display name, e.g. ``"Team (annual)"``.
        product: the product.
        interval: index into :data:`INTERVALS`.
        prices: price per billing period in minor units, one per :data:`CURRENCIES` entry.
    """

    index: int
    code: str
    name: str
    product: Product
    interval: int
    prices: tuple[int, ...]

    @property
    def months(self) -> int:
        """Length of one billing period in months."""
        return INTERVAL_MONTHS[self.interval]


def _price(product: Product, interval: int, currency: int) -> int:
    months = INTERVAL_MONTHS[interval]
    # Annual plans get two months free; quarterly plans are plain multiples.
    cents = product.monthly_usd_cents * (10 if months == 12 else months)
    if CURRENCIES[currency] == "EUR":
        return cents * 9 // 10 // 100 * 100 + 99 - 100
    if CURRENCIES[currency] == "GBP":
        return cents * 8 // 10 // 100 * 100 + 99 - 100
    if CURRENCIES[currency] == "JPY":
        return (cents + 1) // 100 * 150
    return cents


def _build_plans() -> tuple[Plan, ...]:
    plans: list[Plan] = []
    for product in PRODUCTS:
        for interval, interval_name in enumerate(INTERVALS):
            prices = tuple(_price(product, interval, c) for c in range(len(CURRENCIES)))
            plans.append(
                Plan(
                    index=len(plans),
                    code=f"{product.code}-{interval_name}",
                    name=f"{product.name} ({interval_name})",
                    product=product,
                    interval=interval,
                    prices=prices,
                )
            )
    return tuple(plans)


PLANS: Final[tuple[Plan, ...]] = _build_plans()


def plan_index(product: int, interval: int) -> int:
    """Returns the index in :data:`PLANS` of a product billed at an interval."""
    return product * len(INTERVALS) + interval


@dataclass(frozen=True)
class Coupon:
    """A percentage discount applied to every invoice of a subscription."""

    code: str
    name: str
    percent: int


COUPONS: Final[tuple[Coupon, ...]] = (
    Coupon("WELCOME10", "Welcome 10%", 10),
    Coupon("PARTNER20", "Partner 20%", 20),
    Coupon("NONPROFIT50", "Non-profit 50%", 50),
)

#: Neutral subscription statuses.
SUB_STATUSES: Final[tuple[str, ...]] = (
    "active",
    "trial",
    "non_renewing",
    "paused",
    "cancelled",
    "future",
)
SUB_ACTIVE, SUB_TRIAL, SUB_NON_RENEWING, SUB_PAUSED, SUB_CANCELLED, SUB_FUTURE = range(6)
SUB_STATUS_WEIGHTS: Final[tuple[float, ...]] = (0.55, 0.08, 0.07, 0.05, 0.2, 0.05)

#: Neutral invoice statuses.
INV_STATUSES: Final[tuple[str, ...]] = ("paid", "open", "partially_paid", "overdue", "void")
INV_PAID, INV_OPEN, INV_PARTIAL, INV_OVERDUE, INV_VOID = range(5)

FIRST_NAMES: Final[tuple[str, ...]] = (
    "Ada", "Mina", "Lena", "Omar", "Priya", "Jonas", "Chloé", "Kenji", "Sofia", "Mateo",
    "Amara", "Noah", "Ines", "Tariq", "Freya", "Lucas", "Yuki", "Elena", "Ravi", "Hana",
    "Oskar", "Zara", "Diego", "Aisha", "Felix", "Nora", "Emeka", "Maja", "Arjun", "Lea",
    "Tomás", "Ingrid", "Sami", "Chiara", "Hugo", "Leila", "Pavel", "Rosa", "Wei", "Greta",
)  # fmt: skip
LAST_NAMES: Final[tuple[str, ...]] = (
    "Okafor", "Vos", "Mills", "Ruiz", "Tanaka", "Schmidt", "Dubois", "Patel", "Rossi",
    "Nakamura", "Kowalski", "Haddad", "Larsen", "Costa", "Müller", "O'Brien", "Novak",
    "Ferreira", "Lindqvist", "Mensah", "García", "Ito", "Brennan", "Sato", "Jansen",
    "Moreau", "Kaur", "Andersson", "Silva", "Fischer", "Nowak", "Eriksen", "Bianchi",
    "Adeyemi", "Horvat", "Kim", "Petrov", "Walsh", "Yilmaz", "Dupont",
)  # fmt: skip
COMPANY_WORDS: Final[tuple[str, ...]] = (
    "Orbit", "Harbor", "Northwind", "Bluefin", "Cedar", "Granite", "Lumen", "Aster",
    "Copper", "Juniper", "Falcon", "Meridian", "Quartz", "Redwood", "Summit", "Tidal",
    "Vertex", "Willow", "Zephyr", "Atlas", "Beacon", "Cobalt", "Delta", "Ember", "Fjord",
    "Glacier", "Helix", "Indigo", "Kestrel", "Lattice", "Maple", "Nimbus", "Onyx", "Pioneer",
    "Quill", "Raven", "Sierra", "Talon", "Umber", "Vantage",
)  # fmt: skip
COMPANY_NOUNS: Final[tuple[str, ...]] = (
    "Labs", "Analytics", "Systems", "Foods", "Logistics", "Studio", "Health", "Robotics",
    "Media", "Energy", "Works", "Partners", "Software", "Dynamics", "Networks", "Retail",
)  # fmt: skip
COMPANY_SUFFIXES: Final[tuple[str, ...]] = ("", " Ltd", " GmbH", " Inc", " SAS", " KK", " BV")
COUNTRIES: Final[tuple[str, ...]] = ("US", "DE", "GB", "JP", "FR", "NL", "CA", "IE")
#: Default billing country per currency code.
CURRENCY_COUNTRY: Final[tuple[int, ...]] = (0, 1, 2, 3)
CITIES: Final[tuple[str, ...]] = ("Springfield", "Berlin", "London", "Osaka", "Lyon", "Utrecht")


@lru_cache(maxsize=262_144)
def company_name(code: int) -> str:
    """Returns the unique company name for a company code (0, 1, 2, ...)."""
    words = len(COMPANY_WORDS)
    nouns = len(COMPANY_NOUNS)
    suffixes = len(COMPANY_SUFFIXES)
    word = COMPANY_WORDS[code % words]
    noun = COMPANY_NOUNS[(code // words) % nouns]
    suffix = COMPANY_SUFFIXES[(code // (words * nouns)) % suffixes]
    generation = code // (words * nouns * suffixes)
    tail = f" {generation + 1}" if generation else ""
    return f"{word} {noun}{tail}{suffix}"


@lru_cache(maxsize=262_144)
def company_slug(code: int) -> str:
    """The e-mail/web domain label of a company code (cached)."""
    return slug(company_name(code))


def slug(text: str) -> str:
    """Lower-cases ``text`` and keeps ASCII letters and digits, joined by hyphens."""
    out: list[str] = []
    for char in text.lower():
        if "a" <= char <= "z" or "0" <= char <= "9":
            out.append(char)
        elif out and out[-1] != "-":
            out.append("-")
    return "".join(out).strip("-") or "x"


#: Each vendor's word for the neutral subscription statuses, in :data:`SUB_STATUSES` order.
#: Recurly has no trial state (a trial is ``active`` with a future ``trial_ends_at``); its
#: ``canceled`` means "ends at term end" and ``expired`` means ended.
SUB_STATUS_BY_VENDOR: Final[dict[str, tuple[str, ...]]] = {
    "chargebee": ("active", "in_trial", "non_renewing", "paused", "cancelled", "future"),
    "recurly": ("active", "active", "canceled", "paused", "expired", "future"),
    "zoho-billing": ("live", "trial", "non_renewing", "paused", "cancelled", "future"),
}
#: Each vendor's word for the neutral invoice statuses, in :data:`INV_STATUSES` order.
INV_STATUS_BY_VENDOR: Final[dict[str, tuple[str, ...]]] = {
    "chargebee": ("paid", "posted", "payment_due", "not_paid", "voided"),
    "recurly": ("paid", "pending", "pending", "past_due", "voided"),
    "zoho-billing": ("paid", "sent", "partially_paid", "overdue", "void"),
}


def plan_named(code: str) -> Plan | None:
    """Returns the plan with this code (``team-monthly``), or ``None``."""
    for plan in PLANS:
        if plan.code == code:
            return plan
    return None
