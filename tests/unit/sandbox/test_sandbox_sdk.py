"""Proof of fidelity: the vendors' own SDKs page through the simulators over loopback."""

from __future__ import annotations

import http.client
from typing import Any

import pytest

from desktop.sandbox import Sandbox
from desktop.sandbox.credentials import CHARGEBEE_KEYS, RECURLY_KEYS


def test_chargebee_sdk_lists_exactly_the_generated_records(served: Sandbox) -> None:
    chargebee: Any = pytest.importorskip("chargebee")
    chargebee.Chargebee.verify_ca_certs = False
    for site in ("acme", "acme-test"):
        cb = chargebee.Chargebee(api_key=CHARGEBEE_KEYS[site], site=site, protocol="http")
        cb.env.api_endpoint = served.base_url("chargebee", site)
        for resource, attr, truth in (
            (cb.Customer, "customer", served.truth.customers),
            (cb.Subscription, "subscription", served.truth.subscriptions),
            (cb.Invoice, "invoice", served.truth.invoices),
        ):
            seen: dict[str, Any] = {}
            offset = None
            while True:
                params = (
                    resource.ListParams(limit=37, offset=offset)
                    if offset
                    else resource.ListParams(limit=37)
                )
                page = resource.list(params)
                for entry in page.list:
                    record = getattr(entry, attr)
                    seen[record.id] = record
                offset = page.next_offset
                if not offset:
                    break
            expected: dict[str, Any] = {t.id: t for t in truth("chargebee", site)}
            assert set(seen) == set(expected)
            if attr == "invoice":
                assert all(seen[i].total == expected[i].total_minor for i in expected)
            if attr == "subscription":
                assert all(seen[i].customer_id == expected[i].customer_id for i in expected)
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
