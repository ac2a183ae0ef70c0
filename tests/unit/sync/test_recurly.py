"""The Recurly connector against the sandbox's Recurly simulators (US and EU, in-process).

The sandbox serves ``acme`` in the US region and ``acme-eu`` in the EU region, each on its
own origin; every test drives the real read-only client and compares with ground truth.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from desktop.errors import ConfigurationError
from desktop.sandbox.clock import ManualClock
from desktop.sandbox.credentials import RECURLY_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.sync.base import AuthorisationError, ConnectionConfig, Page, RecordNotFound
from desktop.sync.http import ReadOnlyClient, VendorPolicy
from desktop.sync.records import (
    AccountRecord,
    InvoiceRecord,
    PlanRecord,
    Record,
    Stream,
    SubscriptionRecord,
    UserRecord,
)
from desktop.sync.recurly import REGIONS, RecurlyConnector, parse_recurly_secret

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SIZE = 160
PERCENT = {"WELCOME10": 10, "PARTNER20": 20, "NONPROFIT50": 50}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox(size=SIZE, seed=13, vendors=("recurly",), clock=ManualClock(START))
    yield box
    box.stop()


async def _no_sleep(_seconds: float) -> None:
    return None


def client(sandbox: Sandbox) -> ReadOnlyClient:
    return ReadOnlyClient(
        VendorPolicy("recurly", max_attempts=3, backoff_base=0.0, bucket_by_auth=True),
        transport=sandbox.transport(),
        sleep=_no_sleep,
    )


def one_site(sandbox: Sandbox, site: str = "acme", key: str | None = None) -> RecurlyConnector:
    region = "eu" if site == "acme-eu" else "us"
    settings = {"subdomain": site, "region": region, "base_url": sandbox.base_url("recurly", site)}
    config = ConnectionConfig("Recurly", "recurly", settings)
    secret = RECURLY_KEYS[site] if key is None else key
    return RecurlyConnector(config, secret, client(sandbox), sandbox.clock.now)


def two_sites(sandbox: Sandbox, keys: dict[str, str] | None = None) -> RecurlyConnector:
    settings = {
        "region": "us",
        "site_regions": {"acme-eu": "eu"},
        "base_urls": {
            "us": sandbox.base_url("recurly", "acme"),
            "eu": sandbox.base_url("recurly", "acme-eu"),
        },
    }
    config = ConnectionConfig("Recurly", "recurly", settings)
    return RecurlyConnector(
        config, json.dumps(keys or RECURLY_KEYS), client(sandbox), sandbox.clock.now
    )


def read(
    connector: RecurlyConnector,
    stream: Stream,
    cursor: dict[str, Any] | None = None,
    *,
    full: bool = False,
    stop_after: int | None = None,
) -> list[Page]:
    async def collect() -> list[Page]:
        pages: list[Page] = []
        async for page in connector.pages(stream, cursor, full=full):
            pages.append(page)
            if stop_after is not None and len(pages) >= stop_after:
                break
        return pages

    return asyncio.run(collect())


def records(pages: list[Page]) -> list[Record]:
    return [r for page in pages for r in page.records]


def ids(pages: list[Page]) -> list[str]:
    return [r.source_id for r in records(pages)]


# --------------------------------------------------------------------- secrets


def test_a_site_map_and_a_single_key_are_read() -> None:
    assert parse_recurly_secret('{"acme": "k1", "acme-eu": " k2 "}') == {
        "acme": "k1",
        "acme-eu": "k2",
    }
    assert parse_recurly_secret("k1", subdomain="acme") == {"acme": "k1"}


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ('{"acme": "k1",', "not valid JSON"),
        ('["acme", "k1"]', "not a JSON list"),
        ("{}", "lists no sites"),
        ('{"acme": 42}', "must be a string, not int"),
        ('{"acme": null}', "must be a string, not null"),
        ('{"acme": {"key": "k"}}', "must be a string, not dict"),
        ('{"": "k1"}', "empty site subdomain"),
        ('{"acme.recurly.com": "k1"}', "not a site subdomain"),
        ('{"acme": "   "}', "is empty"),
        ('{"acme": "k1", "acme": "k2"}', "twice"),
        ("k1", "needs the site's subdomain"),
        ("", "empty"),
    ],
)
def test_a_bad_secret_is_refused_naming_the_problem(secret: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as caught:
        parse_recurly_secret(secret)
    assert "k1" not in str(caught.value)
    assert "k2" not in str(caught.value)


def test_the_connector_refuses_a_bad_secret_and_region() -> None:
    config = ConnectionConfig("R", "recurly", {"region": "us"})
    with pytest.raises(ConfigurationError, match="lists no sites"):
        RecurlyConnector(config, "{}", _unused_http(), lambda: START)
    bad_region = ConnectionConfig("R", "recurly", {"region": "apac", "subdomain": "acme"})
    with pytest.raises(ConfigurationError, match="not a Recurly region"):
        RecurlyConnector(bad_region, "k", _unused_http(), lambda: START)


def _unused_http() -> ReadOnlyClient:
    return ReadOnlyClient(VendorPolicy("recurly"))


def test_regions_choose_the_vendors_hosts() -> None:
    eu = RecurlyConnector(
        ConnectionConfig("R", "recurly", {"region": "eu", "subdomain": "acme-eu"}),
        "k",
        _unused_http(),
        lambda: START,
    )
    assert eu.sites[0].base_url == REGIONS["eu"] == "https://v3.eu.recurly.com"
    us = RecurlyConnector(
        ConnectionConfig("R", "recurly", {"subdomain": "acme"}), "k", _unused_http(), lambda: START
    )
    assert us.sites[0].base_url == "https://v3.recurly.com"


# ------------------------------------------------------------------ full reads


def test_one_site_pages_to_the_end_with_plain_ids(sandbox: Sandbox) -> None:
    connector = one_site(sandbox)
    truth = sandbox.truth
    accounts = truth.customers("recurly", "acme", include_deleted=True)
    expected = {
        Stream.ACCOUNTS: sorted(c.id for c in accounts),
        Stream.USERS: sorted(f"account:{c.id}" for c in accounts),
        Stream.SUBSCRIPTIONS: sorted(s.id for s in truth.subscriptions("recurly", "acme")),
        Stream.INVOICES: sorted(i.id for i in truth.invoices("recurly", "acme")),
    }
    for stream, wanted in expected.items():
        before = sandbox.log.count("recurly", "GET")
        pages = read(connector, stream)
        got = ids(pages)
        assert sorted(got) == wanted, stream
        assert len(got) == len(set(got))
        assert pages[-1].done
        assert not any(p.done for p in pages[:-1])
        assert pages[0].total == len(wanted), "a first pass reports the total (HEAD)"
        # 200 records a page, Recurly's largest (plus, for subscriptions, the plan list
        # read once for the plans' intervals).
        extra = 1 if stream is Stream.SUBSCRIPTIONS else 0
        calls = sandbox.log.count("recurly", "GET") - before
        assert calls == max(1, -(-len(wanted) // 200)) + extra
    plans = records(read(connector, Stream.PLANS))
    assert len(plans) == len(truth.plans())
    assert sandbox.log.methods("recurly") <= {"GET", "HEAD"}


def test_accounts_users_and_deleted_accounts(sandbox: Sandbox) -> None:
    truth = {c.id: c for c in sandbox.truth.customers("recurly", "acme", include_deleted=True)}
    connector = one_site(sandbox)
    accounts = records(read(connector, Stream.ACCOUNTS))
    users = {u.source_id: u for u in records(read(connector, Stream.USERS))}
    assert any(a.deleted for a in accounts)
    for account in accounts:
        assert isinstance(account, AccountRecord)
        source = truth[account.source_id]
        assert account.deleted == source.deleted
        assert account.email == source.email
        assert account.company == source.company
        assert account.custom_fields.get("tenant_id") == source.tenant_id
        user = users[f"account:{account.source_id}"]
        assert isinstance(user, UserRecord)
        assert user.is_primary
        assert user.account_source_id == account.source_id
        assert user.deleted == source.deleted


def test_subscription_states_amounts_and_mrr(sandbox: Sandbox) -> None:
    truth = {s.id: s for s in sandbox.truth.subscriptions("recurly", "acme")}
    months = {p.code: p.interval_months for p in sandbox.truth.plans()}
    seen = set()
    for sub in records(read(one_site(sandbox), Stream.SUBSCRIPTIONS)):
        assert isinstance(sub, SubscriptionRecord)
        source = truth[sub.source_id]
        seen.add(sub.status)
        assert sub.status == source.status, (source.vendor_status, sub.raw["trial_ends_at"])
        assert sub.amount_minor == source.amount_minor
        assert sub.currency == source.currency
        assert sub.plan_code == source.plan_code
        assert sub.account_source_id == source.customer_id
        assert (sub.interval_unit, sub.interval_count) == ("month", months[source.plan_code])
        if source.status in ("active", "non_renewing"):
            discounted = source.amount_minor
            if source.coupon:
                discounted -= source.amount_minor * PERCENT[source.coupon] // 100
            assert sub.mrr_minor == round(discounted / months[source.plan_code])
        else:
            assert sub.mrr_minor == 0
    assert seen == {"active", "trial", "non_renewing", "paused", "cancelled", "future"}


def test_invoice_states_and_money_in_minor_units(sandbox: Sandbox) -> None:
    truth = {i.id: i for i in sandbox.truth.invoices("recurly", "acme")}
    seen = set()
    for invoice in records(read(one_site(sandbox), Stream.INVOICES)):
        assert isinstance(invoice, InvoiceRecord)
        source = truth[invoice.source_id]
        seen.add(invoice.status)
        assert invoice.status == source.status
        assert invoice.total_minor == source.total_minor
        assert invoice.amount_paid_minor == source.paid_minor
        assert invoice.amount_due_minor == source.due_minor
        assert invoice.currency == source.currency
        assert invoice.due_on == source.due_date.date()
        assert invoice.subscription_source_id == source.subscription_id
        assert invoice.account_source_id == source.customer_id
    assert seen == {"paid", "open", "partially_paid", "overdue", "void"}
    assert any(i.currency == "JPY" for i in truth.values()), "JPY has no minor digits"


def test_plans_carry_interval_and_first_currency_price(sandbox: Sandbox) -> None:
    plans = {p.code: p for p in records(read(one_site(sandbox), Stream.PLANS))}  # type: ignore[union-attr]
    annual = plans["team-annual"]
    assert isinstance(annual, PlanRecord)
    assert (annual.interval_unit, annual.interval_count) == ("month", 12)
    truth = next(p for p in sandbox.truth.plans() if p.code == "team-annual")
    assert (annual.currency, annual.price_minor) == ("USD", truth.prices["USD"])


# ----------------------------------------------------------------- several sites


def test_two_sites_in_two_regions_give_collision_free_prefixed_ids(sandbox: Sandbox) -> None:
    connector = two_sites(sandbox)
    truth = sandbox.truth
    for stream, wanted in (
        (
            Stream.ACCOUNTS,
            [f"{c.site}:{c.id}" for c in truth.customers("recurly", include_deleted=True)],
        ),
        (Stream.SUBSCRIPTIONS, [f"{s.site}:{s.id}" for s in truth.subscriptions("recurly")]),
        (Stream.INVOICES, [f"{i.site}:{i.id}" for i in truth.invoices("recurly")]),
    ):
        pages = read(connector, stream)
        got = ids(pages)
        assert sorted(got) == sorted(wanted), stream
        assert len(got) == len(set(got))
        assert [p.done for p in pages].count(True) == 1
        assert pages[-1].done
    subs = records(read(connector, Stream.SUBSCRIPTIONS))
    assert all(s.account_source_id.split(":")[0] == s.source_id.split(":")[0] for s in subs)  # type: ignore[union-attr]
    plans = ids(read(connector, Stream.PLANS))
    assert len(plans) == len(set(plans)) == 2 * len(truth.plans())
    # Each key only ever went to its own region's host.
    for entry in sandbox.log.entries("recurly"):
        assert entry.credential in ("recurly:acme", "recurly:acme-eu")


def test_check_reports_every_site_with_mode_region_and_counts(sandbox: Sandbox) -> None:
    result = asyncio.run(two_sites(sandbox).check())
    assert result.label == "2 Recurly sites"
    assert result.details == [
        "acme: acme (production site, US region)",
        "acme-eu: acme-eu (sandbox site, EU region)",
    ]
    truth = sandbox.truth
    assert result.counts == {
        "accounts": len(truth.customers("recurly", include_deleted=True)),
        "subscriptions": len(truth.subscriptions("recurly")),
        "invoices": len(truth.invoices("recurly")),
    }
    single = asyncio.run(one_site(sandbox, "acme-eu").check())
    assert single.label == "acme-eu"
    assert single.details == ["acme-eu: acme-eu (sandbox site, EU region)"]


def test_a_wrong_key_names_the_site_and_says_what_to_do(sandbox: Sandbox) -> None:
    keys = {"acme": RECURLY_KEYS["acme"], "acme-eu": "not-the-eu-key-0000"}
    with pytest.raises(AuthorisationError) as caught:
        asyncio.run(two_sites(sandbox, keys).check())
    message = str(caught.value)
    assert "'acme-eu'" in message
    assert "re-authorise" in message
    assert "EU region" in message
    assert "not-the-eu-key" not in message
    # A US key sent to the EU host is refused too (keys only work in their region).
    with pytest.raises(AuthorisationError):
        asyncio.run(one_site(sandbox, "acme-eu", key=RECURLY_KEYS["acme"]).check())


# ------------------------------------------------------------------ incremental


def test_no_changes_means_nothing_delivered(sandbox: Sandbox) -> None:
    connector = two_sites(sandbox)
    for stream in RecurlyConnector.streams:
        cursor = read(connector, stream)[-1].cursor
        before = sandbox.log.count("recurly")
        again = read(connector, stream, cursor)
        assert records(again) == [], stream
        assert sandbox.log.count("recurly") - before == 2, "one call per site, no HEAD"


def test_incremental_changes_deletes_and_the_boundary_second(sandbox: Sandbox) -> None:
    connector = one_site(sandbox)
    cursor = read(connector, Stream.ACCOUNTS)[-1].cursor
    live = [c.id for c in sandbox.truth.customers("recurly", "acme")]
    sandbox.advance_clock(600)
    sandbox.mutations.update_customer("recurly", live[0], company="Renamed Ltd")
    sandbox.mutations.delete("recurly", "customer", live[1])
    pages = read(connector, Stream.ACCOUNTS, cursor)
    got = {r.source_id: r for r in records(pages)}
    assert set(got) == {live[0], live[1]}
    assert got[live[0]].company == "Renamed Ltd"  # type: ignore[union-attr]
    assert got[live[1]].deleted
    # A change in the same second as the new watermark is still seen next time.
    sandbox.mutations.update_customer("recurly", live[2], email="same@second.example")
    again = {r.source_id: r for r in records(read(connector, Stream.ACCOUNTS, pages[-1].cursor))}
    assert set(again) == {live[2]}


def test_a_kill_after_any_page_resumes_without_gaps_or_repeats(sandbox: Sandbox) -> None:
    connector = two_sites(sandbox)
    all_pages = read(connector, Stream.INVOICES)
    wanted = sorted(f"{i.site}:{i.id}" for i in sandbox.truth.invoices("recurly"))
    assert len(all_pages) >= 4, "both sites, several pages"
    for kill_after in range(1, len(all_pages)):
        partial = read(connector, Stream.INVOICES, stop_after=kill_after)
        rest = read(connector, Stream.INVOICES, partial[-1].cursor)
        got = ids(partial) + ids(rest)
        assert sorted(got) == wanted, f"killed after page {kill_after}"


def test_schema_drift_never_breaks_a_sync(sandbox: Sandbox) -> None:
    sandbox.set_faults("recurly:drift=always")
    connector = one_site(sandbox)
    for stream, count in (
        (Stream.ACCOUNTS, len(sandbox.truth.customers("recurly", "acme", True))),
        (Stream.SUBSCRIPTIONS, len(sandbox.truth.subscriptions("recurly", "acme"))),
        (Stream.INVOICES, len(sandbox.truth.invoices("recurly", "acme"))),
    ):
        pages = read(connector, stream)
        assert len(records(pages)) == count, stream
        assert all(not p.problems for p in pages)
        assert all("x_sandbox_new_field" in r.raw for r in records(pages))


# -------------------------------------------------------------- one and fields


def test_fetch_account_by_id_code_and_site_prefix(sandbox: Sandbox) -> None:
    subs = sandbox.truth.subscriptions("recurly", "acme-eu")
    owner = subs[0].customer_id
    bundle = asyncio.run(two_sites(sandbox).fetch_account(f"acme-eu:{owner}"))
    assert bundle.account.source_id == f"acme-eu:{owner}"
    assert [u.source_id for u in bundle.users] == [f"acme-eu:account:{owner}"]
    assert sorted(s.source_id for s in bundle.subscriptions) == sorted(
        f"acme-eu:{s.id}" for s in subs if s.customer_id == owner
    )
    assert sorted(i.source_id for i in bundle.invoices) == sorted(
        f"acme-eu:{i.id}" for i in sandbox.truth.invoices("recurly") if i.customer_id == owner
    )
    by_code = asyncio.run(
        one_site(sandbox, "acme-eu").fetch_account("code-" + bundle.account.raw["code"])
    )
    assert by_code.account.source_id == owner
    assert len(by_code.subscriptions) == len(bundle.subscriptions)
    with pytest.raises(RecordNotFound, match="no account"):
        asyncio.run(two_sites(sandbox).fetch_account("zzzzzzzzzzzz"))


def test_custom_fields_come_from_the_custom_fields_lists(sandbox: Sandbox) -> None:
    fields = asyncio.run(two_sites(sandbox).custom_fields(10))
    tenant = next(f for f in fields if f.field_name == "tenant_id")
    assert tenant.object_name == "account"
    assert tenant.samples
    assert all(s.startswith("t-") for s in tenant.samples)
