"""Proof of fidelity: the vendors' own SDKs page through the simulators over loopback."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import pytest

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox import catalog as cat
from desktop.sandbox.credentials import CHARGEBEE_KEYS, RECURLY_KEYS


@pytest.fixture
def small_served(clock: ManualClock) -> Iterator[Sandbox]:
    """A smaller sandbox on 127.0.0.1 whose Chargebee sites still hold every status.

    The Chargebee SDK opens a new HTTP client (and TLS context) for every request, so
    its test keeps the request count low: fewer records, each list in exactly two pages.
    """
    with Sandbox(size=90, seed=11, clock=clock) as sandbox:
        yield sandbox


def test_chargebee_sdk_lists_exactly_the_generated_records(small_served: Sandbox) -> None:
    chargebee: Any = pytest.importorskip("chargebee")
    served = small_served
    chargebee.Chargebee.verify_ca_certs = False
    statuses: dict[str, set[str]] = {"subscription": set(), "invoice": set()}
    for site in ("acme", "acme-test"):
        cb = chargebee.Chargebee(api_key=CHARGEBEE_KEYS[site], site=site, protocol="http")
        cb.env.api_endpoint = served.base_url("chargebee", site)
        for resource, attr, truth in (
            (cb.Customer, "customer", served.truth.customers),
            (cb.Subscription, "subscription", served.truth.subscriptions),
            (cb.Invoice, "invoice", served.truth.invoices),
        ):
            expected: dict[str, Any] = {t.id: t for t in truth("chargebee", site)}
            limit = min(100, (len(expected) + 1) // 2)  # two pages: next_offset is followed
            seen: dict[str, Any] = {}
            pages = 0
            offset = None
            while True:
                params = (
                    resource.ListParams(limit=limit, offset=offset)
                    if offset
                    else resource.ListParams(limit=limit)
                )
                page = resource.list(params)
                pages += 1
                for entry in page.list:
                    record = getattr(entry, attr)
                    seen[record.id] = record
                offset = page.next_offset
                if not offset:
                    break
            assert pages == 2
            assert set(seen) == set(expected)
            if attr == "customer":
                assert all(seen[i].email == expected[i].email for i in expected)
            if attr == "invoice":
                assert all(seen[i].total == expected[i].total_minor for i in expected)
                assert all(seen[i].amount_paid == expected[i].paid_minor for i in expected)
            if attr == "subscription":
                assert all(seen[i].customer_id == expected[i].customer_id for i in expected)
            if attr in statuses:
                assert all(seen[i].status == expected[i].vendor_status for i in expected)
                statuses[attr] |= {t.status for t in expected.values()}
    assert statuses["subscription"] == set(cat.SUB_STATUSES)
    assert statuses["invoice"] == set(cat.INV_STATUSES)
    with pytest.raises(chargebee.APIError):
        bad = chargebee.Chargebee(api_key="live_not_a_key", site="acme", protocol="http")
        bad.env.api_endpoint = served.base_url("chargebee", "acme")
        bad.Customer.list(bad.Customer.ListParams(limit=1))


def test_recurly_sdk_lists_exactly_the_generated_records(served: Sandbox) -> None:
    recurly: Any = pytest.importorskip("recurly")
    for site in ("acme", "acme-eu"):
        client = recurly.Client(RECURLY_KEYS[site])
        port = int(served.base_url("recurly", site).rsplit(":", 1)[1])
        client._BaseClient__conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        params = {"limit": 45, "sort": "updated_at", "order": "asc"}
        accounts = {a.id: a for a in client.list_accounts(params=dict(params)).items()}
        assert set(accounts) == {
            c.id for c in served.truth.customers("recurly", site, include_deleted=True)
        }
        subs = {s.id: s for s in client.list_subscriptions(params=dict(params)).items()}
        truth_subs = {s.id: s for s in served.truth.subscriptions("recurly", site)}
        assert set(subs) == set(truth_subs)
        assert all(subs[i].plan.code == truth_subs[i].plan_code for i in truth_subs)
        invoices = {i.id: i for i in client.list_invoices(params=dict(params)).items()}
        assert set(invoices) == {i.id for i in served.truth.invoices("recurly", site)}
        some = next(iter(accounts.values()))
        assert client.get_account(f"code-{some.code}").id == some.id
        assert some.created_at.tzinfo is not None
        with pytest.raises(recurly.errors.NotFoundError):
            client.get_account("nobody")
