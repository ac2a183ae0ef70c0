"""Chargebee v2 simulator: envelopes, pagination, filters, deleted records, errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from desktop.sandbox import Sandbox
from desktop.sandbox.credentials import CHARGEBEE_KEYS

KEY = CHARGEBEE_KEYS["acme"]


def _get(
    client: httpx.Client, sandbox: Sandbox, path: str, site: str = "acme", **params: Any
) -> httpx.Response:
    key = CHARGEBEE_KEYS[site]
    return client.get(sandbox.base_url("chargebee", site) + path, params=params, auth=(key, ""))


def _all(
    client: httpx.Client, sandbox: Sandbox, path: str, key: str, site: str = "acme", **params: Any
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = None
    while True:
        page_params = dict(params, limit=100)
        if offset:
            page_params["offset"] = offset
        body = _get(client, sandbox, path, site, **page_params).json()
        assert set(body) <= {"list", "next_offset"}
        out.extend(item[key] for item in body["list"])
        offset = body.get("next_offset")
        if offset is None:
            assert "next_offset" not in body
            return out


@pytest.mark.parametrize("site", ["acme", "acme-test"])
@pytest.mark.parametrize(
    ("path", "key", "truth"),
    [
        ("/customers", "customer", "customers"),
        ("/subscriptions", "subscription", "subscriptions"),
        ("/invoices", "invoice", "invoices"),
    ],
)
def test_paging_to_the_end_returns_exactly_the_ground_truth(
    client: httpx.Client, sandbox: Sandbox, site: str, path: str, key: str, truth: str
) -> None:
    records = _all(client, sandbox, path, key, site)
    expected = getattr(sandbox.truth, truth)("chargebee", site)
    assert sorted(r["id"] for r in records) == sorted(t.id for t in expected)
    assert len({r["id"] for r in records}) == len(records)
    with_deleted = _all(client, sandbox, path, key, site, include_deleted="true")
    all_truth = getattr(sandbox.truth, truth)("chargebee", site, include_deleted=True)
    assert sorted(r["id"] for r in with_deleted) == sorted(t.id for t in all_truth)
    assert any(r["deleted"] for r in with_deleted) or len(all_truth) == len(expected)


def test_envelopes_money_and_custom_fields(client: httpx.Client, sandbox: Sandbox) -> None:
    body = _get(client, sandbox, "/subscriptions", limit=3).json()
    assert len(body["list"]) == 3
    assert "next_offset" in body
    item = body["list"][0]
    assert set(item) == {"subscription", "customer"}
    sub = item["subscription"]
    assert sub["object"] == "subscription"
    assert sub["customer_id"] == item["customer"]["id"]
    assert isinstance(sub["subscription_items"][0]["unit_price"], int)
    customers = [c for c in _all(client, sandbox, "/customers", "customer") if "cf_tenant_id" in c]
    truth = {c.id: c for c in sandbox.truth.customers("chargebee", "acme")}
    assert customers
    assert all(c["cf_tenant_id"] == truth[c["id"]].tenant_id for c in customers)
    invoices = _all(client, sandbox, "/invoices", "invoice")
    inv_truth = {i.id: i for i in sandbox.truth.invoices("chargebee", "acme")}
    for invoice in invoices:
        expected = inv_truth[invoice["id"]]
        assert invoice["total"] == expected.total_minor
        assert invoice["amount_paid"] == expected.paid_minor
        assert invoice["amount_due"] == expected.due_minor
        assert invoice["status"] == expected.vendor_status
        assert invoice["date"] == int(expected.date.timestamp())


def test_retrieve_embeds_customer_and_404_has_every_error_field(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sub = sandbox.truth.subscriptions("chargebee", "acme")[0]
    body = _get(client, sandbox, f"/subscriptions/{sub.id}").json()
    assert body["subscription"]["id"] == sub.id
    assert body["customer"]["id"] == sub.customer_id
    missing = _get(client, sandbox, "/customers/nobody")
    assert missing.status_code == 404
    error = missing.json()
    for field in ("message", "type", "api_error_code", "error_code", "http_status_code"):
        assert field in error
    assert error["api_error_code"] == "resource_not_found"


def test_incremental_filter_and_sort(client: httpx.Client, sandbox: Sandbox) -> None:
    truth = sandbox.truth.customers("chargebee", "acme")
    stamps = sorted(int((c.updated_at or c.created_at).timestamp()) for c in truth)
    bookmark = stamps[len(stamps) // 2]
    params: dict[str, Any] = {"sort_by[asc]": "updated_at", "updated_at[after]": bookmark}
    records = _all(client, sandbox, "/customers", "customer", **params)
    expected = [c for c in truth if int((c.updated_at or c.created_at).timestamp()) > bookmark]
    assert sorted(r["id"] for r in records) == sorted(c.id for c in expected)
    keys = [r.get("updated_at", r["created_at"]) for r in records]
    assert keys == sorted(keys)


def test_status_and_customer_filters(client: httpx.Client, sandbox: Sandbox) -> None:
    records = _all(
        client, sandbox, "/subscriptions", "subscription", **{"status[in]": '["active","in_trial"]'}
    )
    assert records
    assert {r["status"] for r in records} <= {"active", "in_trial"}
    truth = [
        s
        for s in sandbox.truth.subscriptions("chargebee", "acme")
        if s.vendor_status in ("active", "in_trial")
    ]
    assert len(records) == len(truth)
    owner = truth[0].customer_id
    mine = _all(client, sandbox, "/invoices", "invoice", **{"customer_id[is]": owner})
    assert mine
    assert {i["customer_id"] for i in mine} == {owner}
    bad = _get(client, sandbox, "/subscriptions", **{"status[in]": '["bogus"]'})
    assert bad.status_code == 400
    assert bad.json()["api_error_code"] == "param_wrong_value"


def test_limit_bounds_and_default(client: httpx.Client, sandbox: Sandbox) -> None:
    assert len(_get(client, sandbox, "/customers").json()["list"]) == 10
    assert _get(client, sandbox, "/customers", limit=101).status_code == 400
    assert _get(client, sandbox, "/customers", limit=0).status_code == 400


def test_auth_sites_and_methods(client: httpx.Client, sandbox: Sandbox) -> None:
    url = sandbox.base_url("chargebee", "acme") + "/customers"
    assert client.get(url).status_code == 401
    assert client.get(url, auth=("live_wrong", "")).status_code == 401
    wrong_site = client.get(url, auth=(CHARGEBEE_KEYS["acme-test"], ""))
    assert wrong_site.status_code == 401
    assert wrong_site.json()["api_error_code"] == "api_authentication_failed"
    assert client.post(url, auth=(KEY, ""), data={"id": "x"}).status_code == 405
    unknown = client.get(sandbox.base_url("chargebee", "nosuch") + "/customers", auth=(KEY, ""))
    assert unknown.status_code == 404
    assert unknown.json()["api_error_code"] == "site_not_found"
    host_routed = client.get(
        sandbox.origin("chargebee") + "/api/v2/customers?limit=1",
        headers={"Host": "acme-test.chargebee.com"},
        auth=(CHARGEBEE_KEYS["acme-test"], ""),
    )
    assert host_routed.status_code == 200


def test_configurations_and_catalogue(client: httpx.Client, sandbox: Sandbox) -> None:
    config = _get(client, sandbox, "/configurations", site="acme-test").json()["configurations"][0]
    assert config["domain"] == "acme-test"
    assert config["product_catalog_version"] == "v2"
    prices = _all(client, sandbox, "/item_prices", "item_price")
    assert len(prices) == 48
    assert {"team-USD-monthly", "pro-JPY-annual"} <= {p["id"] for p in prices}
    jpy = next(p for p in prices if p["id"] == "team-JPY-monthly")
    assert jpy["price"] == 7350
    assert jpy["currency_code"] == "JPY"
    items = _all(client, sandbox, "/items", "item")
    assert [i["id"] for i in items] == ["starter", "team", "pro", "enterprise"]
    offset = json.loads(_get(client, sandbox, "/customers", limit=2).json()["next_offset"])
    assert isinstance(offset, list)
