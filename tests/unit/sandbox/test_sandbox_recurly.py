"""Recurly v2021-02-25 simulator: headers, versioning, pagination, lookups, regions."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from desktop.sandbox import Sandbox
from desktop.sandbox.credentials import RECURLY_KEYS

ACCEPT = {"Accept": "application/vnd.recurly.v2021-02-25"}
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _get(
    client: httpx.Client, sandbox: Sandbox, path: str, site: str = "acme", **params: Any
) -> httpx.Response:
    return client.get(
        sandbox.base_url("recurly", site) + path,
        params=params,
        auth=(RECURLY_KEYS[site], ""),
        headers=ACCEPT,
    )


def _all(
    client: httpx.Client, sandbox: Sandbox, path: str, site: str = "acme", **params: Any
) -> list[dict[str, Any]]:
    body = _get(client, sandbox, path, site, limit=200, **params).json()
    records = list(body["data"])
    while body["has_more"]:
        assert body["next"].startswith("/")
        body = client.get(
            sandbox.base_url("recurly", site) + body["next"],
            auth=(RECURLY_KEYS[site], ""),
            headers=ACCEPT,
        ).json()
        records.extend(body["data"])
    assert body["next"] is None
    return records


@pytest.mark.parametrize("site", ["acme", "acme-eu"])
def test_paging_each_site_returns_exactly_the_ground_truth(
    client: httpx.Client, sandbox: Sandbox, site: str
) -> None:
    accounts = _all(client, sandbox, "/accounts", site)
    assert sorted(a["id"] for a in accounts) == sorted(
        c.id for c in sandbox.truth.customers("recurly", site, include_deleted=True)
    )
    subs = _all(client, sandbox, "/subscriptions", site)
    assert sorted(s["id"] for s in subs) == sorted(
        s.id for s in sandbox.truth.subscriptions("recurly", site)
    )
    invoices = _all(client, sandbox, "/invoices", site)
    truth = {i.id: i for i in sandbox.truth.invoices("recurly", site)}
    assert sorted(i["id"] for i in invoices) == sorted(truth)
    for invoice in invoices:
        expected = truth[invoice["id"]]
        digits = 0 if expected.currency == "JPY" else 2
        assert round(invoice["total"] * 10**digits) == expected.total_minor
        assert round(invoice["balance"] * 10**digits) == expected.due_minor
        assert STAMP.match(invoice["created_at"])


def test_small_pages_keep_order_and_have_no_duplicates(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    body = _get(client, sandbox, "/accounts", limit=9, sort="updated_at", order="asc").json()
    seen = [a["id"] for a in body["data"]]
    stamps = [a["updated_at"] or a["created_at"] for a in body["data"]]
    while body["has_more"]:
        assert "sort=updated_at" in body["next"]
        assert "limit=9" in body["next"]
        body = client.get(
            sandbox.base_url("recurly") + body["next"],
            auth=(RECURLY_KEYS["acme"], ""),
            headers=ACCEPT,
        ).json()
        seen += [a["id"] for a in body["data"]]
        stamps += [a["updated_at"] or a["created_at"] for a in body["data"]]
    assert (
        len(seen)
        == len(set(seen))
        == len(sandbox.truth.customers("recurly", "acme", include_deleted=True))
    )
    assert stamps == sorted(stamps)


def test_every_response_has_version_request_id_and_rate_limit_headers(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    url = sandbox.base_url("recurly") + "/accounts"
    responses = [
        _get(client, sandbox, "/accounts", limit=1),
        client.get(url, headers=ACCEPT),
        client.get(url, auth=(RECURLY_KEYS["acme"], "")),
        _get(client, sandbox, "/accounts/nobody"),
    ]
    assert [r.status_code for r in responses] == [200, 401, 406, 404]
    for response in responses:
        assert response.headers["Recurly-Version"] == "recurly.v2021-02-25"
        assert response.headers["X-Request-Id"]
        for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            assert int(response.headers[name]) >= 0
    assert responses[2].json()["error"]["type"] == "invalid_api_version"
    assert responses[1].json()["error"]["type"] == "unauthorized"
    assert responses[3].json()["error"]["type"] == "not_found"


def test_head_counts_and_id_prefixes(client: httpx.Client, sandbox: Sandbox) -> None:
    head = client.head(
        sandbox.base_url("recurly") + "/subscriptions",
        auth=(RECURLY_KEYS["acme"], ""),
        headers=ACCEPT,
    )
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["Recurly-Total-Records"]) == len(
        sandbox.truth.subscriptions("recurly", "acme")
    )
    account = _get(client, sandbox, "/accounts", limit=1).json()["data"][0]
    by_code = _get(client, sandbox, f"/accounts/code-{account['code']}").json()
    assert by_code["id"] == account["id"]
    sub = _get(client, sandbox, "/subscriptions", limit=1).json()["data"][0]
    assert _get(client, sandbox, f"/subscriptions/uuid-{sub['uuid']}").json()["id"] == sub["id"]
    invoice = _get(client, sandbox, "/invoices", limit=1).json()["data"][0]
    assert (
        _get(client, sandbox, f"/invoices/number-{invoice['number']}").json()["id"] == invoice["id"]
    )
    nested = _all(client, sandbox, f"/accounts/{sub['account']['id']}/subscriptions")
    assert sub["id"] in {s["id"] for s in nested}
    assert {s["account"]["id"] for s in nested} == {sub["account"]["id"]}


def test_begin_time_is_inclusive_and_state_filters(client: httpx.Client, sandbox: Sandbox) -> None:
    accounts = _all(client, sandbox, "/accounts", sort="created_at", order="asc")
    pivot = accounts[len(accounts) // 2]["created_at"]
    later = _all(client, sandbox, "/accounts", sort="created_at", order="asc", begin_time=pivot)
    assert later[0]["created_at"] == pivot
    assert len(later) == sum(1 for a in accounts if a["created_at"] >= pivot)
    expired = _all(client, sandbox, "/subscriptions", state="expired")
    assert expired
    assert {s["state"] for s in expired} == {"expired"}
    past_due = _all(client, sandbox, "/invoices", state="past_due")
    assert {i["state"] for i in past_due} <= {"past_due"}
    assert _get(client, sandbox, "/subscriptions", state="bogus").status_code == 400
    assert _get(client, sandbox, "/accounts", limit=201).status_code == 400


def test_sites_paths_and_regions(client: httpx.Client, sandbox: Sandbox) -> None:
    sites = _get(client, sandbox, "/sites").json()["data"]
    assert [s["subdomain"] for s in sites] == ["acme"]
    scoped = _get(client, sandbox, "/sites/subdomain-acme/accounts", limit=3).json()
    assert len(scoped["data"]) == 3
    assert scoped["next"].startswith("/sites/subdomain-acme/accounts?")
    assert _get(client, sandbox, "/sites/subdomain-acme-eu/accounts").status_code == 404
    eu_key_on_us = client.get(
        sandbox.base_url("recurly", "acme") + "/accounts",
        auth=(RECURLY_KEYS["acme-eu"], ""),
        headers=ACCEPT,
    )
    assert eu_key_on_us.status_code == 401
    assert sandbox.base_url("recurly", "acme") != sandbox.base_url("recurly", "acme-eu")


def test_deleted_accounts_show_deleted_at(client: httpx.Client, sandbox: Sandbox) -> None:
    accounts = _all(client, sandbox, "/accounts")
    deleted = {
        c.id for c in sandbox.truth.customers("recurly", "acme", include_deleted=True) if c.deleted
    }
    assert deleted
    for account in accounts:
        assert (account["deleted_at"] is not None) == (account["id"] in deleted)
        assert account["state"] == ("inactive" if account["id"] in deleted else "active")
