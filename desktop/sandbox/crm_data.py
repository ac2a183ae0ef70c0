"""The Zoho CRM side of the sandbox world: users, accounts, contacts, deals, custom views.

Built from the billing customers so that some CRM records match a billing customer by
company name (Accounts) or e-mail (Contacts), some match by the ``Tenant_ID`` custom
field, some match nothing, and a few e-mails are shared by two Contacts. Each record
keeps ``billing_customer`` (the billing row it was made from, or ``None``) as ground
truth. The CRM simulator renders these records; this module only holds data.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from desktop.sandbox import catalog as cat

if TYPE_CHECKING:
    from desktop.sandbox.dataset import World

#: The Zoho CRM organization the sandbox CRM belongs to (US data centre user).
CRM_ORG_ID: Final[str] = "725767000"
_USER_BASE = 5725767000000411001
_VIEW_BASE = 5725767000000087501
_ACCOUNT_BASE = 5725767000001000000
_CONTACT_BASE = 5725767000003000000
_DEAL_BASE = 5725767000006000000
DEAL_STAGES: Final[tuple[str, ...]] = (
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Id. Decision Makers",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
    "Closed Lost to Competition",
)
INDUSTRIES: Final[tuple[str, ...]] = (
    "Technology",
    "Retail",
    "Healthcare",
    "Manufacturing",
    "Finance",
    "Education",
)


@dataclass(frozen=True)
class CrmUser:
    """A CRM user (record owner)."""

    id: str
    first_name: str
    last_name: str
    email: str
    role: str
    profile: str
    status: str

    @property
    def full_name(self) -> str:
        """``First Last``."""
        return f"{self.first_name} {self.last_name}"


@dataclass
class CrmAccount:
    """A CRM Account; ``billing_customer`` is the billing row it mirrors, if any."""

    id: str
    name: str
    owner: int
    phone: str | None
    website: str | None
    billing_country: str | None
    industry: str | None
    tenant_id: str | None
    billing_customer: int | None
    created: int
    modified: int
    deleted: bool = False


@dataclass
class CrmContact:
    """A CRM Contact; ``account`` indexes :attr:`CrmData.accounts` (``None``: no account)."""

    id: str
    first_name: str | None
    last_name: str
    email: str | None
    phone: str | None
    account: int | None
    owner: int
    billing_customer: int | None
    created: int
    modified: int
    deleted: bool = False


@dataclass
class CrmDeal:
    """A CRM Deal on an account."""

    id: str
    name: str
    account: int
    contact: int | None
    stage: str
    amount_minor: int
    currency: str
    closing_date: str
    owner: int
    created: int
    modified: int
    deleted: bool = False


@dataclass(frozen=True)
class CrmView:
    """A CRM custom view.

    Attributes:
        criteria: the view's filter in Zoho's criteria shape (``None`` = every record).
        mine_only: true for "My ..." views (records owned by the current user).
    """

    id: str
    module: str
    name: str
    system_name: str
    system_defined: bool
    default: bool
    criteria: dict[str, object] | None
    mine_only: bool = False


@dataclass
class CrmData:
    """Everything the CRM simulator serves.

    Attributes:
        current_user: index of the user the OAuth token belongs to.
    """

    users: list[CrmUser]
    accounts: list[CrmAccount] = field(default_factory=list)
    contacts: list[CrmContact] = field(default_factory=list)
    deals: list[CrmDeal] = field(default_factory=list)
    views: list[CrmView] = field(default_factory=list)
    current_user: int = 0


_USERS: Final[tuple[tuple[str, str, str, str, str], ...]] = (
    ("Pat", "Boyle", "CEO", "Administrator", "active"),
    ("Jun", "Mori", "Sales Manager", "Standard", "active"),
    ("Elif", "Demir", "Account Executive", "Standard", "active"),
    ("Marco", "Bellini", "Account Executive", "Standard", "active"),
    ("Ruth", "Adler", "Account Executive", "Standard", "disabled"),
)


def _users() -> list[CrmUser]:
    return [
        CrmUser(
            id=str(_USER_BASE + i * 1000),
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}@acme.example",
            role=role,
            profile=profile,
            status=status,
        )
        for i, (first, last, role, profile, status) in enumerate(_USERS)
    ]


def _views() -> list[CrmView]:
    not_empty: dict[str, object] = {
        "comparator": "not_equal",
        "field": {"api_name": "Tenant_ID"},
        "value": "${EMPTY}",
    }
    open_stage: dict[str, object] = {
        "comparator": "not_equal",
        "field": {"api_name": "Stage"},
        "value": ["Closed Won", "Closed Lost", "Closed Lost to Competition"],
    }
    specs: list[tuple[str, str, str, bool, dict[str, object] | None, bool]] = [
        ("Accounts", "All Accounts", "ALLVIEWS", True, None, False),
        ("Accounts", "My Accounts", "MYACCOUNTS", True, None, True),
        ("Accounts", "Billing Accounts", "", False, not_empty, False),
        ("Contacts", "All Contacts", "ALLVIEWS", True, None, False),
        ("Contacts", "My Contacts", "MYCONTACTS", True, None, True),
        ("Contacts", "Billing Contacts", "", False, not_empty, False),
        ("Deals", "All Deals", "ALLVIEWS", True, None, False),
        ("Deals", "Open Deals", "OPENDEALS", True, open_stage, False),
    ]
    return [
        CrmView(
            id=str(_VIEW_BASE + i),
            module=module,
            name=name,
            system_name=system or name.upper().replace(" ", ""),
            system_defined=bool(system),
            default=system == "ALLVIEWS",
            criteria=criteria,
            mine_only=mine,
        )
        for i, (module, name, system, _, criteria, mine) in enumerate(specs)
    ]


def _variant(name: str, rng: random.Random) -> str:
    if name.endswith(" Ltd"):
        return name[:-4] + " Limited"
    if name.endswith(" Inc"):
        return name[:-4] + ", Inc."
    return name + rng.choice((" Group", " Holdings", " (EMEA)"))


def build_crm(world: World) -> CrmData:
    """Builds the CRM records from the world's billing customers (deterministic)."""
    rng = random.Random(world.seed * 7919 + 17)
    data = CrmData(users=_users(), views=_views())
    customers = world.customers
    deleted = customers.col("deleted")
    tenants = customers.col("tenant")
    now = world.now
    history = 900 * cat.DAY
    by_tenant: dict[int, int] = {}
    owners = (0, 1, 2, 3, 3, 2, 1, 4)

    def stamp() -> tuple[int, int]:
        created = now - rng.randrange(cat.DAY, history)
        return created, created + rng.randrange(0, now - created + 1)

    for row in range(customers.size):
        if deleted[row]:
            continue
        company = world.company(row)
        tenant = int(tenants[row])
        if company is None or tenant in by_tenant or rng.random() >= 0.7:
            continue
        created, modified = stamp()
        index = len(data.accounts)
        exact = rng.random() < 0.9
        data.accounts.append(
            CrmAccount(
                id=str(_ACCOUNT_BASE + index),
                name=company if exact else _variant(company, rng),
                owner=rng.choice(owners),
                phone=world.phone(row),
                website=f"https://{cat.slug(company)}.example",
                billing_country=cat.COUNTRIES[customers.get("country", row)],
                industry=rng.choice(INDUSTRIES),
                tenant_id=world.tenant_id(row) if rng.random() < 0.5 else None,
                billing_customer=row,
                created=created,
                modified=modified,
                deleted=rng.random() < 0.01,
            )
        )
        if tenant >= 0:
            by_tenant[tenant] = index
    matched_accounts = len(data.accounts)
    for k in range(matched_accounts // 5 + 2):
        created, modified = stamp()
        name = cat.company_name(customers.size * 2 + 10_000 + k)
        data.accounts.append(
            CrmAccount(
                id=str(_ACCOUNT_BASE + len(data.accounts)),
                name=name,
                owner=rng.choice(owners),
                phone=None,
                website=f"https://{cat.slug(name)}.example",
                billing_country=rng.choice(cat.COUNTRIES),
                industry=rng.choice(INDUSTRIES),
                tenant_id=None,
                billing_customer=None,
                created=created,
                modified=modified,
                deleted=rng.random() < 0.01,
            )
        )
    _contacts(world, data, rng, by_tenant, stamp, owners)
    _deals(data, rng, stamp)
    return data


def _contacts(
    world: World,
    data: CrmData,
    rng: random.Random,
    by_tenant: dict[int, int],
    stamp: Callable[[], tuple[int, int]],
    owners: tuple[int, ...],
) -> None:
    customers = world.customers
    deleted = customers.col("deleted")
    tenants = customers.col("tenant")
    seen: set[str] = set()
    for row in range(customers.size):
        email = world.email(row)
        if deleted[row] or email is None or email in seen or rng.random() >= 0.6:
            continue
        seen.add(email)
        account = by_tenant.get(int(tenants[row])) if rng.random() < 0.9 else None
        copies = 2 if rng.random() < 0.04 else 1
        for copy in range(copies):
            created, modified = stamp()
            first = world.first_name(row)
            if copy:
                first = rng.choice(cat.FIRST_NAMES)
            data.contacts.append(
                CrmContact(
                    id=str(_CONTACT_BASE + len(data.contacts)),
                    first_name=first,
                    last_name=world.last_name(row) or email.split("@")[0],
                    email=email,
                    phone=world.phone(row),
                    account=account,
                    owner=rng.choice(owners),
                    billing_customer=row if copy == 0 else None,
                    created=created,
                    modified=modified,
                    deleted=rng.random() < 0.01,
                )
            )
    extra = len(data.contacts) // 4 + 2
    unmatched_accounts = [i for i, a in enumerate(data.accounts) if a.billing_customer is None]
    for k in range(extra):
        created, modified = stamp()
        first = rng.choice(cat.FIRST_NAMES)
        last = rng.choice(cat.LAST_NAMES)
        account = rng.choice(unmatched_accounts) if unmatched_accounts and k % 3 else None
        domain = cat.slug(data.accounts[account].name) if account is not None else "inbox"
        data.contacts.append(
            CrmContact(
                id=str(_CONTACT_BASE + len(data.contacts)),
                first_name=first,
                last_name=last,
                email=f"{cat.slug(first)}.{cat.slug(last)}.{k}@{domain}.example" if k % 7 else None,
                phone=None,
                account=account,
                owner=rng.choice(owners),
                billing_customer=None,
                created=created,
                modified=modified,
                deleted=rng.random() < 0.01,
            )
        )


def _deals(data: CrmData, rng: random.Random, stamp: Callable[[], tuple[int, int]]) -> None:
    contact_of: dict[int, int] = {}
    for index, contact in enumerate(data.contacts):
        if contact.account is not None:
            contact_of.setdefault(contact.account, index)
    for index, account in enumerate(data.accounts):
        if rng.random() >= 0.4:
            continue
        created, modified = stamp()
        currency = rng.choice(cat.CURRENCIES)
        data.deals.append(
            CrmDeal(
                id=str(_DEAL_BASE + len(data.deals)),
                name=f"{account.name} - {rng.choice(cat.PRODUCTS).name}",
                account=index,
                contact=contact_of.get(index),
                stage=rng.choice(DEAL_STAGES),
                amount_minor=rng.randrange(10, 500) * (100 if currency != "JPY" else 150),
                currency=currency,
                closing_date=_date(modified + rng.randrange(-60, 120) * cat.DAY),
                owner=account.owner,
                created=created,
                modified=modified,
                deleted=rng.random() < 0.01,
            )
        )


def _date(epoch_seconds: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%d")
