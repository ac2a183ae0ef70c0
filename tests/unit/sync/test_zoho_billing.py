"""The Zoho Billing connector against the sandbox's Zoho Billing and OAuth simulators.

Everything runs in-process through the sandbox's ``MockTransport`` and the real
:class:`ReadOnlyClient` (no client-side budget, instant back-off), on a small world.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from desktop.errors import ConfigurationError
from desktop.sandbox.clock import ManualClock
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user
from desktop.sandbox.facade import Sandbox
from desktop.sync.base import AuthorisationError, ConnectionConfig, Page, RecordNotFound
from desktop.sync.http import ReadOnlyClient, VendorPolicy
from desktop.sync.records import (
    AccountRecord,
    InvoiceRecord,
    PlanRecord,
    Stream,
    SubscriptionRecord,
    UserRecord,
)
from desktop.sync.zoho_billing import ZohoBillingConnector
from desktop.sync.zoho_oauth import exchange_grant_code

T = TypeVar("T")
ORG = "10234695"
START = datetime(2024, 6, 1, 12, tzinfo=UTC)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


async def no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


@dataclass
class Setup:
    sandbox: Sandbox
    clock: ManualClock

    def http(self) -> ReadOnlyClient:
        policy = VendorPolicy(
            "zoho-billing",
            None,
            max_concurrency=3,
            rate_limit_codes=frozenset({44}),
            unauthorised_codes=frozenset({14, 57}),
            default_rate_wait=0.0,
        )
        return ReadOnlyClient(policy, transport=self.sandbox.transport(), sleep=no_sleep)

    def connector(
        self,
        *,
        org: str = ORG,
        secret: dict[str, str] | None = None,
        base_url: bool = True,
        **settings: Any,
    ) -> ZohoBillingConnector:
        user = zoho_user("com")
        values = secret or {
            "client_id": ZOHO_CLIENT_ID,
            "client_secret": ZOHO_CLIENT_SECRET,
            "refresh_token": user.refresh_token,
        }
        config_settings: dict[str, Any] = {
            "org_id": org,
            "data_centre": "us",
            "auth_url": self.sandbox.base_url("zoho-accounts", "com"),
            **settings,
        }
        if base_url:
            config_settings["base_url"] = self.sandbox.base_url("zoho-billing", ORG)
        config = ConnectionConfig("Acme Zoho", "zoho-billing", config_settings)
        return ZohoBillingConnector(config, json.dumps(values), self.http(), self.clock.now)


@pytest.fixture
def setup() -> Setup:
    clock = ManualClock(START)
    sandbox = Sandbox(size=60, seed=11, vendors=("zoho-billing",), clock=clock)
    return Setup(sandbox, clock)


def collect(
    zoho: ZohoBillingConnector,
    stream: Stream,
    cursor: dict[str, Any] | None = None,
    full: bool = False,
) -> list[Page]:
    async def main() -> list[Page]:
        return [page async for page in zoho.pages(stream, cursor, full=full)]

    return run(main())


def records(pages: list[Page]) -> list[Any]:
    return [record for page in pages for record in page.records]


def api_requests(sandbox: Sandbox) -> list[Any]:
    return [e for e in sandbox.log.entries("zoho-billing")]


# ------------------------------------------------------------------- check & auth


def test_check_names_the_organization(setup: Setup) -> None:
    result = run(setup.connector().check())
    assert result.label == "Acme Inc"
    assert "currency USD" in result.details


def test_wrong_org_id_is_a_clear_sentence(setup: Setup) -> None:
    with pytest.raises(ConfigurationError) as caught:
        run(setup.connector(org="20234695").check())
    message = str(caught.value)
    assert "20234695" in message
    assert "Acme Inc (10234695)" in message


def test_wrong_org_id_during_a_sync_is_explained_too(setup: Setup) -> None:
    zoho = setup.connector(org="99999999", base_url=False)
    with pytest.raises(ConfigurationError, match="99999999"):
        collect(zoho, Stream.ACCOUNTS)


def test_api_domain_from_the_token_answer_is_followed(setup: Setup) -> None:
    zoho = setup.connector(base_url=False)
    assert run(zoho.check()).label == "Acme Inc"
    assert zoho.base_url == setup.sandbox.base_url("zoho-api", "com") + "/billing/v1"


def test_bad_client_secret_is_a_sentence_without_the_secret(setup: Setup) -> None:
    wrong = "not-the-secret-0000"
    zoho = setup.connector(
        secret={
            "client_id": ZOHO_CLIENT_ID,
            "client_secret": wrong,
            "refresh_token": zoho_user("com").refresh_token,
        }
    )
    with pytest.raises(AuthorisationError) as caught:
        run(zoho.check())
    assert "client secret" in str(caught.value)
    assert wrong not in str(caught.value)
    assert zoho_user("com").refresh_token not in str(caught.value)


def test_token_is_refreshed_when_it_expires_on_the_sandbox_clock(setup: Setup) -> None:
    zoho = setup.connector()

    async def scenario() -> int:
        await zoho.check()
        first = zoho.tokens.refreshes
        setup.clock.advance(timedelta(minutes=30))
        await zoho.check()
        assert zoho.tokens.refreshes == first  # still valid: cached
        setup.clock.advance(timedelta(minutes=31))
        await zoho.check()
        return zoho.tokens.refreshes

    assert run(scenario()) == 2
    assert not [e for e in api_requests(setup.sandbox) if e.status == 401]


def test_refused_token_is_refreshed_once(setup: Setup) -> None:
    zoho = setup.connector()

    async def scenario() -> None:
        await zoho.check()
        setup.sandbox.tokens.expire_all()  # revoked behind our back: the API answers 401
        await zoho.check()

    run(scenario())
    assert zoho.tokens.refreshes == 2


def test_always_refused_token_asks_to_reauthorise(setup: Setup) -> None:
    setup.sandbox.set_faults("zoho-billing:expired=always")
    zoho = setup.connector()
    with pytest.raises(AuthorisationError, match="re-authorise"):
        collect(zoho, Stream.INVOICES)
    # the first token, one refresh for the refused list request, and one more for the
    # organization check that looks for a friendlier explanation (refused too)
    assert zoho.tokens.refreshes == 3
    assert len(setup.sandbox.log.entries("zoho-billing")) == 4  # each request tried twice


def test_concurrent_streams_share_one_token(setup: Setup) -> None:
    zoho = setup.connector()

    async def all_streams() -> None:
        async def drain(stream: Stream) -> None:
            async for _ in zoho.pages(stream, None):
                pass

        await asyncio.gather(*(drain(s) for s in zoho.streams))

    run(all_streams())
    assert zoho.tokens.refreshes == 1
    token_calls = [e for e in setup.sandbox.log.entries("zoho-accounts")]
    assert len(token_calls) == 1


def test_grant_code_exchange_against_the_accounts_server(setup: Setup) -> None:
    user = zoho_user("com")
    creds = run(
        exchange_grant_code(
            setup.http(),
            client_id=ZOHO_CLIENT_ID,
            client_secret=ZOHO_CLIENT_SECRET,
            code=user.grant_code,
            auth_url=setup.sandbox.base_url("zoho-accounts", "com"),
        )
    )
    assert creds.refresh_token == user.refresh_token
    with pytest.raises(AuthorisationError, match="re-authorise"):
        run(
            exchange_grant_code(
                setup.http(),
                client_id=ZOHO_CLIENT_ID,
                client_secret=ZOHO_CLIENT_SECRET,
                code="1000.not-a-code",
                auth_url=setup.sandbox.base_url("zoho-accounts", "com"),
            )
        )


def test_only_get_reaches_the_billing_api(setup: Setup) -> None:
    zoho = setup.connector()
    for stream in zoho.streams:
        collect(zoho, stream)
    assert setup.sandbox.log.methods("zoho-billing") == {"GET"}
    assert setup.sandbox.log.methods("zoho-accounts") == {"POST"}


# ------------------------------------------------------------------------ streams


def test_full_pass_matches_ground_truth(setup: Setup) -> None:
    zoho = setup.connector()
    truth = setup.sandbox.truth
    accounts = records(collect(zoho, Stream.ACCOUNTS))
    assert all(isinstance(a, AccountRecord) for a in accounts)
    expected = {c.id: c for c in truth.customers("zoho-billing", ORG)}
    assert {a.source_id for a in accounts} == set(expected)
    for account in accounts:
        customer = expected[account.source_id]
        assert account.email == customer.email
        assert account.currency == customer.currency
        assert account.custom_fields.get("cf_tenant_id") == customer.tenant_id

    subs = records(collect(zoho, Stream.SUBSCRIPTIONS))
    truth_subs = {s.id: s for s in truth.subscriptions("zoho-billing", ORG)}
    assert {s.source_id for s in subs} == set(truth_subs)
    for sub in subs:
        assert isinstance(sub, SubscriptionRecord)
        expected_sub = truth_subs[sub.source_id]
        assert sub.status == expected_sub.status
        assert sub.account_source_id == expected_sub.customer_id
        assert sub.plan_code == expected_sub.plan_code
        assert sub.quantity == expected_sub.quantity
        assert sub.currency == expected_sub.currency
        if expected_sub.coupon is None:
            assert sub.amount_minor == expected_sub.amount_minor
        if expected_sub.status not in ("active", "non_renewing"):
            assert sub.mrr_minor == 0

    invoices = records(collect(zoho, Stream.INVOICES))
    truth_invoices = {i.id: i for i in truth.invoices("zoho-billing", ORG)}
    assert {i.source_id for i in invoices} == set(truth_invoices)
    today = setup.clock.now().date()
    for invoice in invoices:
        assert isinstance(invoice, InvoiceRecord)
        expected_invoice = truth_invoices[invoice.source_id]
        status = expected_invoice.status
        if status == "open" and expected_invoice.due_date.date() < today:
            status = "overdue"  # a sent invoice past its due date
        assert invoice.status == status
        assert invoice.total_minor == expected_invoice.total_minor
        assert invoice.amount_paid_minor == expected_invoice.paid_minor
        assert invoice.amount_due_minor == expected_invoice.due_minor
        assert invoice.subscription_source_id == expected_invoice.subscription_id


def test_pages_follow_has_more_page_and_cursor_resumes(setup: Setup) -> None:
    zoho = setup.connector()
    pages = collect(zoho, Stream.INVOICES, full=True)
    assert len(pages) > 1  # 60 customers → ~225 invoices in this org → several pages
    assert [p.done for p in pages] == [False] * (len(pages) - 1) + [True]
    # "kill" after the first page: resuming from its cursor yields the rest exactly
    resumed = collect(setup.connector(), Stream.INVOICES, pages[0].cursor)
    first_ids = {r.source_id for r in pages[0].records}
    rest_ids = {r.source_id for r in records(resumed)}
    all_ids = {r.source_id for r in records(pages)}
    assert first_ids | rest_ids == all_ids
    assert resumed[-1].cursor == pages[-1].cursor
    lists = [e for e in api_requests(setup.sandbox) if e.path.endswith("/invoices")]
    assert all(e.param("per_page") == "200" for e in lists)


def test_plans_are_keyed_by_code(setup: Setup) -> None:
    plans = records(collect(setup.connector(), Stream.PLANS))
    truth = {p.code: p for p in setup.sandbox.truth.plans()}
    assert {p.source_id for p in plans} == set(truth)
    for plan in plans:
        assert isinstance(plan, PlanRecord)
        assert plan.currency == "USD"
        assert plan.price_minor == truth[plan.source_id].prices["USD"]


def test_users_are_primary_contacts_without_extra_calls_on_a_first_pass(setup: Setup) -> None:
    zoho = setup.connector()
    users = records(collect(zoho, Stream.USERS))
    customers = setup.sandbox.truth.customers("zoho-billing", ORG)
    assert all(isinstance(u, UserRecord) and u.is_primary for u in users)
    assert {u.account_source_id for u in users} <= {c.id for c in customers}
    assert not [e for e in api_requests(setup.sandbox) if "contactpersons" in e.path]


# -------------------------------------------------------------------- incremental


def test_incremental_run_reads_only_changes_and_lists_their_contacts(setup: Setup) -> None:
    zoho = setup.connector()
    cursors = {s: collect(zoho, s)[-1].cursor for s in (Stream.ACCOUNTS, Stream.USERS)}
    sub_cursor = collect(zoho, Stream.SUBSCRIPTIONS)[-1].cursor
    customers = setup.sandbox.truth.customers("zoho-billing", ORG)
    setup.clock.advance(timedelta(hours=2))
    changed = customers[5].id
    setup.sandbox.mutations.update_customer("zoho-billing", changed, email="new@x.example")
    new_id = setup.sandbox.mutations.create_customer(
        "zoho-billing", ORG, first_name="Nia", last_name="New", email="nia@new.example"
    )
    sub_id = setup.sandbox.truth.subscriptions("zoho-billing", ORG)[3].id
    setup.sandbox.mutations.update_subscription("zoho-billing", sub_id, status="cancelled")
    setup.sandbox.log.clear()

    accounts = collect(zoho, Stream.ACCOUNTS, cursors[Stream.ACCOUNTS])
    got = {a.source_id: a for a in records(accounts)}
    assert {changed, new_id} <= set(got)
    assert got[changed].email == "new@x.example"
    assert len(got) < len(customers) // 2  # stopped early, did not re-read everything
    assert len(accounts) == 1

    users = records(collect(zoho, Stream.USERS, cursors[Stream.USERS]))
    assert {u.account_source_id for u in users} >= {changed, new_id}
    contact_calls = [e for e in api_requests(setup.sandbox) if "contactpersons" in e.path]
    assert 2 <= len(contact_calls) <= len(got) + 1

    subs = records(collect(zoho, Stream.SUBSCRIPTIONS, sub_cursor))
    cancelled = [s for s in subs if s.source_id == sub_id]
    assert [(s.status, s.mrr_minor) for s in cancelled] == [("cancelled", 0)]


def test_no_change_run_is_one_request_per_stream(setup: Setup) -> None:
    zoho = setup.connector()
    cursors = {s: collect(zoho, s)[-1].cursor for s in zoho.streams}
    setup.sandbox.log.clear()
    for stream in zoho.streams:
        pages = collect(zoho, stream, cursors[stream])
        assert len(pages) == 1
        # records inside the overlap (and plans, read whole) come back unchanged:
        # dropped by fingerprint
        assert records(pages) == [], stream
    assert len(api_requests(setup.sandbox)) == len(zoho.streams)


def test_plans_read_whole_deliver_only_what_changed_since_the_last_pass(setup: Setup) -> None:
    zoho = setup.connector()
    first = collect(zoho, Stream.PLANS)
    every = {p.source_id for p in records(first)}
    seen = dict(first[-1].cursor["seen"])
    assert len(seen) == len(every) > 1
    # a plan whose content differs from what the last pass read (its fingerprint) comes
    stale_key = next(iter(seen))
    changed = {**seen, stale_key: "a different fingerprint"}
    pages = collect(zoho, Stream.PLANS, {"seen": changed})
    assert [p.source_id for p in records(pages)] == [stale_key.split(":", 1)[1]]
    assert pages[-1].cursor["seen"] == seen
    # a full pass delivers every plan whatever the cursor says
    assert {p.source_id for p in records(collect(zoho, Stream.PLANS, {"seen": seen}, True))} == (
        every
    )


def test_full_pass_after_an_interrupted_incremental_one_starts_over(setup: Setup) -> None:
    zoho = setup.connector()
    done = collect(zoho, Stream.INVOICES)[-1].cursor
    interrupted = {**done, "pass": {"page": 2, "high": done["since"], "full": False}}
    pages = collect(zoho, Stream.INVOICES, interrupted, full=True)
    assert {r.source_id for r in records(pages)} == {
        i.id for i in setup.sandbox.truth.invoices("zoho-billing", ORG)
    }


# --------------------------------------------------------------------- fetch one


def test_fetch_account_brings_everything_hanging_off_it(setup: Setup) -> None:
    truth = setup.sandbox.truth
    customer = truth.customers("zoho-billing", ORG)[0]
    bundle = run(setup.connector().fetch_account(customer.id))
    assert bundle.account.source_id == customer.id
    assert [u.is_primary for u in bundle.users][:1] == [True]
    assert {s.source_id for s in bundle.subscriptions} == {
        s.id for s in truth.subscriptions("zoho-billing", ORG) if s.customer_id == customer.id
    }
    assert {i.source_id for i in bundle.invoices} == {
        i.id for i in truth.invoices("zoho-billing", ORG) if i.customer_id == customer.id
    }


def test_fetch_unknown_account_is_not_found(setup: Setup) -> None:
    with pytest.raises(RecordNotFound):
        run(setup.connector().fetch_account("903000100999999"))


def test_custom_fields_list_the_tenant_id_with_samples(setup: Setup) -> None:
    fields = run(setup.connector().custom_fields(sample_size=10))
    found = {(f.object_name, f.field_name): f for f in fields}
    assert ("account", "cf_tenant_id") in found
    assert ("subscription", "cf_tenant_id") in found
    assert found[("account", "cf_tenant_id")].samples


# ------------------------------------------------------------------ faults/drift


def test_schema_drift_never_crashes_and_keeps_the_page_going(setup: Setup) -> None:
    setup.sandbox.set_faults("zoho-billing:drift=always")
    zoho = setup.connector()
    for stream, truth in (
        (Stream.SUBSCRIPTIONS, setup.sandbox.truth.subscriptions("zoho-billing", ORG)),
        (Stream.INVOICES, setup.sandbox.truth.invoices("zoho-billing", ORG)),
    ):
        pages = collect(zoho, stream, full=True)
        kept = {r.source_id for r in records(pages)}
        problems = [p for page in pages for p in page.problems]
        # every record is either normalised or reported by id, with a sentence
        assert kept | {p.source_id for p in problems} == {t.id for t in truth}
        assert all(p.reason.endswith(".") and p.payload is not None for p in problems)
        assert len(kept) > len(problems)
        assert all("x_sandbox_new_field" in r.raw for r in records(pages))


def test_transient_faults_are_retried_to_the_same_result(setup: Setup) -> None:
    expected = {i.id for i in setup.sandbox.truth.invoices("zoho-billing", ORG)}
    setup.sandbox.set_faults("zoho-billing:5xx=#2,zoho-billing:malformed=#3,zoho-billing:429=#4")
    pages = collect(setup.connector(), Stream.INVOICES, full=True)
    assert {r.source_id for r in records(pages)} == expected
