"""The Chargebee connector against the sandbox's Chargebee simulator (in-process).

Every test drives the real :class:`~desktop.sync.http.ReadOnlyClient` over the sandbox's
``MockTransport`` and compares what the connector yields with the sandbox's ground truth
(only the sandbox's public API: ``Sandbox``, ``truth``, ``mutations``, ``log``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from desktop.sandbox.clock import ManualClock
from desktop.sandbox.credentials import CHARGEBEE_KEYS
from desktop.sandbox.facade import Sandbox
from desktop.sync import watermark
from desktop.sync.base import (
    AuthorisationError,
    ConnectionConfig,
    Page,
    RecordNotFound,
)
from desktop.sync.chargebee import ChargebeeConnector, is_test_site
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

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SIZE = 150


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox(size=SIZE, seed=11, vendors=("chargebee",), clock=ManualClock(START))
    yield box
    box.stop()


def make(sandbox: Sandbox, site: str = "acme", key: str | None = None) -> ChargebeeConnector:
    http = ReadOnlyClient(
        VendorPolicy("chargebee", max_attempts=3, backoff_base=0.0),
        transport=sandbox.transport("chargebee"),
        sleep=_no_sleep,
    )
    config = ConnectionConfig(
        "Billing", "chargebee", {"site": site, "base_url": sandbox.base_url("chargebee", site)}
    )
    secret = CHARGEBEE_KEYS[site] if key is None else key
    return ChargebeeConnector(config, secret, http, sandbox.clock.now)


async def _no_sleep(_seconds: float) -> None:
    return None


def read(
    connector: ChargebeeConnector,
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


# ------------------------------------------------------------------- full reads


def test_every_stream_pages_to_the_end_with_exactly_the_sources_records(
    sandbox: Sandbox,
) -> None:
    connector = make(sandbox)
    truth = sandbox.truth
    customers = truth.customers("chargebee", "acme", include_deleted=True)
    subscriptions = truth.subscriptions("chargebee", "acme", include_deleted=True)
    invoices = truth.invoices("chargebee", "acme", include_deleted=True)
    expected = {
        Stream.ACCOUNTS: sorted(c.id for c in customers),
        Stream.USERS: sorted(f"customer:{c.id}" for c in customers),
        Stream.SUBSCRIPTIONS: sorted(s.id for s in subscriptions),
        Stream.INVOICES: sorted(i.id for i in invoices),
    }
    for stream, wanted in expected.items():
        before = sandbox.log.count("chargebee")
        pages = read(connector, stream)
        got = ids(pages)
        assert sorted(got) == wanted, stream
        assert len(got) == len(set(got)), f"{stream} delivered a record twice"
        assert [p.done for p in pages] == [False] * (len(pages) - 1) + [True]
        assert all(not p.problems for p in pages)
        # Pages of 100, Chargebee's largest: the fewest calls possible; the users stream
        # is given the /customers answers the accounts stream already fetched.
        calls = 0 if stream is Stream.USERS else max(1, -(-len(wanted) // 100))
        assert sandbox.log.count("chargebee") - before == calls, stream
    plans = records(read(connector, Stream.PLANS))
    assert len(plans) == len(truth.plans()) * 4  # one item price per plan and currency
    assert sandbox.log.methods("chargebee") <= {"GET", "HEAD"}


def test_accounts_and_users_carry_the_customers_fields(sandbox: Sandbox) -> None:
    connector = make(sandbox)
    truth = {c.id: c for c in sandbox.truth.customers("chargebee", "acme", include_deleted=True)}
    accounts = records(read(connector, Stream.ACCOUNTS))
    users = {r.source_id: r for r in records(read(connector, Stream.USERS))}
    assert any(a.deleted for a in accounts), "the dataset should include deleted customers"
    for account in accounts:
        assert isinstance(account, AccountRecord)
        source = truth[account.source_id]
        assert account.email == source.email
        assert account.company == source.company
        assert account.currency == source.currency
        assert account.deleted == source.deleted
        assert account.created_at == source.created_at
        assert account.custom_fields.get("cf_tenant_id") == source.tenant_id
        assert account.raw["id"] == account.source_id
        user = users[f"customer:{account.source_id}"]
        assert isinstance(user, UserRecord)
        assert user.account_source_id == account.source_id
        assert user.is_primary
        assert (user.first_name, user.last_name) == (source.first_name, source.last_name)
        assert user.deleted == source.deleted


def test_subscription_statuses_amounts_and_mrr(sandbox: Sandbox) -> None:
    connector = make(sandbox)
    truth = {s.id: s for s in sandbox.truth.subscriptions("chargebee", "acme", True)}
    subscriptions = records(read(connector, Stream.SUBSCRIPTIONS))
    seen_statuses = set()
    for sub in subscriptions:
        assert isinstance(sub, SubscriptionRecord)
        source = truth[sub.source_id]
        seen_statuses.add(sub.status)
        assert sub.status == source.status
        assert sub.account_source_id == source.customer_id
        assert sub.amount_minor == source.amount_minor
        assert sub.quantity == source.quantity
        assert sub.currency == source.currency
        assert sub.plan_code is not None
        assert sub.plan_code.startswith(source.plan_code.split("-")[0])
        months = {"month": 1, "year": 12}[sub.interval_unit or ""] * (sub.interval_count or 0)
        if source.status in ("active", "non_renewing"):
            discounted = source.amount_minor
            if source.coupon:
                percent = {"WELCOME10": 10, "PARTNER20": 20, "NONPROFIT50": 50}[source.coupon]
                discounted -= source.amount_minor * percent // 100
            assert sub.mrr_minor == discounted // months
        else:
            assert sub.mrr_minor == 0, f"a {source.status} subscription has no MRR"
    assert seen_statuses == {"active", "trial", "non_renewing", "paused", "cancelled", "future"}


def test_invoice_statuses_and_money(sandbox: Sandbox) -> None:
    connector = make(sandbox)
    truth = {i.id: i for i in sandbox.truth.invoices("chargebee", "acme", True)}
    statuses = set()
    for invoice in records(read(connector, Stream.INVOICES)):
        assert isinstance(invoice, InvoiceRecord)
        source = truth[invoice.source_id]
        statuses.add(invoice.status)
        assert invoice.status == source.status, (invoice.raw["status"], invoice.raw["due_date"])
        assert invoice.total_minor == source.total_minor
        assert invoice.amount_paid_minor == source.paid_minor
        assert invoice.amount_due_minor == source.due_minor
        assert invoice.currency == source.currency
        assert invoice.issued_on == source.date.date()
        assert invoice.due_on == source.due_date.date()
        assert invoice.account_source_id == source.customer_id
        assert invoice.subscription_source_id == source.subscription_id
        assert (invoice.paid_at is not None) == (source.status == "paid")
    assert statuses == {"paid", "open", "partially_paid", "overdue", "void"}


def test_plans_are_item_prices_with_interval_and_price(sandbox: Sandbox) -> None:
    plans = {p.source_id: p for p in records(read(make(sandbox), Stream.PLANS))}
    team_annual = plans["team-USD-annual"]
    assert isinstance(team_annual, PlanRecord)
    assert (team_annual.interval_unit, team_annual.interval_count) == ("year", 1)
    assert team_annual.currency == "USD"
    expected = next(p for p in sandbox.truth.plans() if p.code == "team-annual").prices["USD"]
    assert team_annual.price_minor == expected
    quarterly = plans["pro-JPY-quarterly"]
    assert isinstance(quarterly, PlanRecord)
    assert quarterly.interval_count == 3


# ------------------------------------------------------------------ incremental


def test_a_run_without_changes_delivers_nothing_in_one_call_per_stream(sandbox: Sandbox) -> None:
    connector = make(sandbox)
    cursors = {s: read(connector, s)[-1].cursor for s in ChargebeeConnector.streams}
    before = sandbox.log.count("chargebee")
    for stream, cursor in cursors.items():
        pages = read(connector, stream, cursor)
        assert records(pages) == [], stream
        assert pages[-1].done
    # One call per list: the users stream's cursor equals the accounts stream's, so it is
    # given the same /customers answer.
    assert cursors[Stream.USERS] == cursors[Stream.ACCOUNTS]
    assert sandbox.log.count("chargebee") - before == len(cursors) - 1


def test_a_no_change_run_is_one_call_per_stream_however_many_records_share_a_second(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dataset stamps many invoices with the same second (and leaves some records
    # without updated_at); with room for only two fingerprints, a watermark taken from the
    # records' own stamps would read the rest of that second again on every run.
    monkeypatch.setattr(watermark, "MAX_SEEN", 2)
    connector = make(sandbox)
    cursors = {s: read(connector, s)[-1].cursor for s in ChargebeeConnector.streams}
    sandbox.advance_clock(3600)
    before = sandbox.log.count("chargebee")
    for stream, cursor in cursors.items():
        pages = read(make(sandbox), stream, cursor)
        assert records(pages) == [], stream
    assert sandbox.log.count("chargebee") - before == len(cursors), "no /configurations either"


def test_the_watermark_follows_the_sites_clock_not_the_local_one(sandbox: Sandbox) -> None:
    # This machine's clock is a year ahead of the site's: the site's Date header decides.
    ahead = make(sandbox)
    ahead._clock = lambda: sandbox.clock.now() + timedelta(days=365)
    cursor = read(ahead, Stream.ACCOUNTS)[-1].cursor
    sandbox.advance_clock(60)
    customer = sandbox.truth.customers("chargebee", "acme")[0].id
    sandbox.mutations.update_customer("chargebee", customer, email="moved@example.com")
    assert ids(read(ahead, Stream.ACCOUNTS, cursor)) == [customer]


def test_incremental_brings_back_only_changed_and_deleted_records(sandbox: Sandbox) -> None:
    connector = make(sandbox)
    cursor = read(connector, Stream.ACCOUNTS)[-1].cursor
    live = [c.id for c in sandbox.truth.customers("chargebee", "acme")]
    sandbox.advance_clock(3600)
    sandbox.mutations.update_customer("chargebee", live[0], email="new@changed.example")
    sandbox.mutations.delete("chargebee", "customer", live[1])
    created = sandbox.mutations.create_customer("chargebee", "acme", company="Newco")
    pages = read(connector, Stream.ACCOUNTS, cursor)
    got = {r.source_id: r for r in records(pages)}
    assert set(got) == {live[0], live[1], created}
    assert got[live[0]].email == "new@changed.example"  # type: ignore[union-attr]
    assert got[live[1]].deleted
    assert not got[created].deleted


def test_a_change_within_the_boundary_second_is_not_lost(sandbox: Sandbox) -> None:
    connector = make(sandbox)
    cursor = read(connector, Stream.SUBSCRIPTIONS)[-1].cursor
    subs = [s.id for s in sandbox.truth.subscriptions("chargebee", "acme")]
    sandbox.advance_clock(60)
    sandbox.mutations.update_subscription("chargebee", subs[0], quantity=7)
    cursor = read(connector, Stream.SUBSCRIPTIONS, cursor)[-1].cursor
    # Same second as the watermark now: a change that a strict "after" filter would miss.
    sandbox.mutations.update_subscription("chargebee", subs[1], quantity=9)
    sandbox.mutations.touch("chargebee", "subscription", subs[2])
    pages = read(connector, Stream.SUBSCRIPTIONS, cursor)
    got = {r.source_id: r for r in records(pages)}
    assert set(got) == {subs[1], subs[2]}, "the boundary second must be read again"
    assert got[subs[1]].quantity == 9  # type: ignore[union-attr]
    # ... and the record already delivered at that second, unchanged, is not repeated.
    assert subs[0] not in got


def test_a_pass_killed_mid_stream_resumes_without_gaps_or_repeats(sandbox: Sandbox) -> None:
    first = read(make(sandbox), Stream.INVOICES, stop_after=3)
    assert not first[-1].done
    rest = read(make(sandbox), Stream.INVOICES, first[-1].cursor)
    got = ids(first) + ids(rest)
    wanted = sorted(i.id for i in sandbox.truth.invoices("chargebee", "acme", True))
    assert sorted(got) == wanted
    assert len(got) == len(set(got))
    # The committed watermark after the resumed pass works like any other.
    assert records(read(make(sandbox), Stream.INVOICES, rest[-1].cursor)) == []


def test_an_incremental_pass_killed_mid_way_keeps_its_lower_bound(sandbox: Sandbox) -> None:
    connector = make(sandbox)
    cursor = read(connector, Stream.INVOICES)[-1].cursor
    sandbox.advance_clock(120)
    changed = [i.id for i in sandbox.truth.invoices("chargebee", "acme")][:150]
    for invoice_id in changed:
        sandbox.mutations.touch("chargebee", "invoice", invoice_id)
    first = read(connector, Stream.INVOICES, cursor, stop_after=1)
    assert first[-1].cursor["watermark"] == cursor["watermark"]
    rest = read(connector, Stream.INVOICES, first[-1].cursor)
    assert sorted(ids(first) + ids(rest)) == sorted(changed)


def test_full_reads_everything_again(sandbox: Sandbox) -> None:
    connector = make(sandbox)
    cursor = read(connector, Stream.ACCOUNTS)[-1].cursor
    again = read(connector, Stream.ACCOUNTS, cursor, full=True)
    assert len(ids(again)) == len(sandbox.truth.customers("chargebee", "acme", True))
    # A full pass in progress is resumed (not restarted) by the next incremental call.
    partial = read(connector, Stream.ACCOUNTS, cursor, full=True, stop_after=1)
    rest = read(connector, Stream.ACCOUNTS, partial[-1].cursor)
    assert len(ids(partial) + ids(rest)) == len(ids(again))


# ----------------------------------------------------------------- schema drift


def test_schema_drift_never_breaks_a_sync(sandbox: Sandbox) -> None:
    sandbox.set_faults("chargebee:drift=always")
    connector = make(sandbox)
    for stream, count in (
        (Stream.ACCOUNTS, len(sandbox.truth.customers("chargebee", "acme", True))),
        (Stream.SUBSCRIPTIONS, len(sandbox.truth.subscriptions("chargebee", "acme", True))),
        (Stream.INVOICES, len(sandbox.truth.invoices("chargebee", "acme", True))),
    ):
        pages = read(connector, stream)
        got = records(pages)
        assert len(got) == count, stream
        assert all(not p.problems for p in pages)
        assert all("x_sandbox_new_field" in r.raw for r in got)
        # Missing or null fields fall back to sensible values, never to a crash.
        for record in got:
            if isinstance(record, SubscriptionRecord):
                assert record.status in {
                    "active", "trial", "non_renewing", "paused", "cancelled", "future",
                }  # fmt: skip
            if isinstance(record, InvoiceRecord):
                assert record.status in {"paid", "open", "partially_paid", "overdue", "void"}
    # With drift gone, the next incremental run picks up from a valid cursor.
    sandbox.set_faults("")
    assert read(connector, Stream.ACCOUNTS, pages[-1].cursor)[-1].done


# ---------------------------------------------------------- check, one, fields


def test_check_labels_live_and_test_sites(sandbox: Sandbox) -> None:
    live = asyncio.run(make(sandbox, "acme").check())
    assert live.label == "acme"
    assert "live site" in live.details
    test = asyncio.run(make(sandbox, "acme-test").check())
    assert test.label == "acme-test"
    assert "test site" in test.details
    assert "Product Catalog 2.0" in test.details
    assert is_test_site("acme-test")
    assert is_test_site("acme", "test_abc")
    assert not is_test_site("acme", "live_abc")


def test_a_wrong_key_says_what_to_do_and_never_shows_the_key(sandbox: Sandbox) -> None:
    wrong = "live_not_the_right_key_123456"
    with pytest.raises(AuthorisationError) as caught:
        asyncio.run(make(sandbox, "acme", key=wrong).check())
    message = str(caught.value)
    assert "acme" in message
    assert "re-authorise" in message
    assert "API key" in message
    assert wrong not in message
    # A test site's key does not open the live site either.
    with pytest.raises(AuthorisationError):
        asyncio.run(make(sandbox, "acme", key=CHARGEBEE_KEYS["acme-test"]).check())


def test_fetch_account_returns_the_customer_with_its_records(sandbox: Sandbox) -> None:
    subs = sandbox.truth.subscriptions("chargebee", "acme")
    owner = subs[0].customer_id
    bundle = asyncio.run(make(sandbox).fetch_account(owner))
    assert bundle.account.source_id == owner
    assert [u.source_id for u in bundle.users] == [f"customer:{owner}"]
    assert sorted(s.source_id for s in bundle.subscriptions) == sorted(
        s.id for s in subs if s.customer_id == owner
    )
    assert sorted(i.source_id for i in bundle.invoices) == sorted(
        i.id for i in sandbox.truth.invoices("chargebee", "acme") if i.customer_id == owner
    )
    with pytest.raises(RecordNotFound, match="no customer"):
        asyncio.run(make(sandbox).fetch_account("nobody-here"))


def test_custom_fields_are_sampled_from_cf_keys(sandbox: Sandbox) -> None:
    fields = asyncio.run(make(sandbox).custom_fields(10))
    tenant = next(f for f in fields if f.field_name == "cf_tenant_id")
    assert tenant.object_name == "account"
    assert tenant.samples
    assert all(s.startswith("t-") for s in tenant.samples)


def test_a_remembered_catalog_version_is_asked_again_after_a_day(sandbox: Sandbox) -> None:
    # The plans cursor says PC 1.0, asked 21 hours ago; the site is on 2.0 now (migrated).
    now = int(sandbox.clock.now().timestamp())
    stale = {"catalog": "v1", "catalog_checked": now - 21 * 3600}
    sandbox.log.clear()
    pages = read(make(sandbox), Stream.PLANS, stale)
    paths = [e.path.rsplit("/", 1)[-1] for e in sandbox.log.entries("chargebee")]
    assert paths[0] == "configurations"
    assert set(paths[1:]) == {"item_prices"}
    assert {p.source_id for p in records(pages)} == {
        p.source_id for p in records(read(make(sandbox), Stream.PLANS))
    }
    assert pages[-1].cursor["catalog"] == "v2"
    assert pages[-1].cursor["catalog_checked"] == now
    # within the day the remembered version is trusted: no /configurations
    sandbox.log.clear()
    read(make(sandbox), Stream.PLANS, pages[-1].cursor)
    assert "configurations" not in {e.path.rsplit("/", 1)[-1] for e in sandbox.log.entries()}
