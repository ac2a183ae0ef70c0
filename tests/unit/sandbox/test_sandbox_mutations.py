"""Change over time: the mutation API, the admin endpoint and the request log."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.credentials import CHARGEBEE_KEYS, RECURLY_KEYS
from desktop.sandbox.mutations import MutationError
from desktop.sandbox.requestlog import LoggedRequest, RequestLog

KEY = CHARGEBEE_KEYS["acme"]
ACCEPT = {"Accept": "application/vnd.recurly.v2021-02-25"}


def _cb(client: httpx.Client, sandbox: Sandbox, path: str, **params: Any) -> Any:
    return client.get(sandbox.base_url("chargebee") + path, params=params, auth=(KEY, "")).json()


def test_create_update_delete_are_seen_by_incremental_sync(
    client: httpx.Client, sandbox: Sandbox, clock: ManualClock
) -> None:
    bookmark = int(clock.now().timestamp())
    clock.advance(10)
    new_id = sandbox.mutations.create_customer(
        "chargebee",
        "acme",
        first_name="Nia",
        email="nia@new.example",
        currency="JPY",
        tenant_id="t-new",
    )
    old = sandbox.truth.customers("chargebee", "acme")[0]
    sandbox.mutations.update_customer("chargebee", old.id, email="changed@x.example")
    gone = sandbox.truth.customers("chargebee", "acme")[1]
    sandbox.mutations.delete("chargebee", "customer", gone.id)
    params = {
        "sort_by[asc]": "updated_at",
        "updated_at[after]": bookmark,
        "include_deleted": "true",
        "limit": 100,
    }
    changed = {
        item["customer"]["id"]: item["customer"]
        for item in _cb(client, sandbox, "/customers", **params)["list"]
    }
    assert set(changed) == {new_id, old.id, gone.id}
    assert changed[new_id]["cf_tenant_id"] == "t-new"
    assert changed[new_id]["preferred_currency_code"] == "JPY"
    assert changed[old.id]["email"] == "changed@x.example"
    assert changed[gone.id]["deleted"] is True
    assert changed[old.id]["updated_at"] == bookmark + 10
    live = _cb(
        client, sandbox, "/customers", **{k: v for k, v in params.items() if k != "include_deleted"}
    )
    assert gone.id not in {i["customer"]["id"] for i in live["list"]}


def test_subscriptions_and_invoices_change(client: httpx.Client, sandbox: Sandbox) -> None:
    owner = sandbox.truth.customers("chargebee", "acme")[0].id
    sub_id = sandbox.mutations.create_subscription(
        "chargebee", owner, plan="pro-annual", quantity=2
    )
    invoice_id = sandbox.mutations.create_invoice(
        "chargebee", owner, 12_345, subscription_id=sub_id
    )
    assert _cb(client, sandbox, f"/subscriptions/{sub_id}")["subscription"]["status"] == "active"
    sandbox.mutations.update_subscription("chargebee", sub_id, status="cancelled")
    sandbox.mutations.update_invoice(
        "chargebee", invoice_id, status="partially_paid", amount_paid=345
    )
    assert _cb(client, sandbox, f"/subscriptions/{sub_id}")["subscription"]["status"] == "cancelled"
    invoice = _cb(client, sandbox, f"/invoices/{invoice_id}")["invoice"]
    assert (invoice["total"], invoice["amount_paid"], invoice["amount_due"]) == (
        12_345,
        345,
        12_000,
    )
    truth = {i.id: i for i in sandbox.truth.invoices("chargebee")}
    assert truth[invoice_id].status == "partially_paid"
    with pytest.raises(MutationError, match=r"\.$"):
        sandbox.mutations.update_subscription("chargebee", sub_id, status="bogus")
    with pytest.raises(MutationError):
        sandbox.mutations.delete("chargebee", "invoice", "INV-999999999")


def test_deletes_vanish_where_the_vendor_hides_them(
    client: httpx.Client, sandbox: Sandbox, zoho_access: str
) -> None:
    sub = sandbox.truth.subscriptions("zoho-billing", "10234695")[0]
    sandbox.mutations.delete("zoho-billing", "subscription", sub.id)
    headers = {
        "Authorization": f"Zoho-oauthtoken {zoho_access}",
        "X-com-zoho-subscriptions-organizationid": "10234695",
    }
    assert (
        client.get(
            sandbox.base_url("zoho-billing") + f"/subscriptions/{sub.id}", headers=headers
        ).status_code
        == 404
    )
    account = sandbox.truth.customers("recurly", "acme")[0]
    sandbox.mutations.delete("recurly", "customer", account.id)
    body = client.get(
        sandbox.base_url("recurly") + f"/accounts/{account.id}",
        auth=(RECURLY_KEYS["acme"], ""),
        headers=ACCEPT,
    ).json()
    assert body["state"] == "inactive"
    assert body["deleted_at"]


def test_a_record_changed_mid_pagination_moves_behind_the_cursor(
    client: httpx.Client, sandbox: Sandbox, clock: ManualClock
) -> None:
    params = {"sort_by[asc]": "updated_at", "limit": 20}
    first = _cb(client, sandbox, "/customers", **params)
    first_ids = [i["customer"]["id"] for i in first["list"]]
    clock.advance(5)
    sandbox.mutations.touch("chargebee", "customer", first_ids[0])
    seen = list(first_ids)
    offset = first["next_offset"]
    while offset:
        page = _cb(client, sandbox, "/customers", offset=offset, **params)
        seen += [i["customer"]["id"] for i in page["list"]]
        offset = page.get("next_offset")
    assert seen.count(first_ids[0]) == 2
    assert len(set(seen)) == len(sandbox.truth.customers("chargebee", "acme"))


def test_admin_endpoint_over_http(served: Sandbox) -> None:
    origin = served.origin("recurly-us")
    with httpx.Client() as http:
        created = http.post(
            origin + "/_sandbox/mutate",
            json={
                "op": "create",
                "kind": "customer",
                "vendor": "recurly",
                "site": "acme",
                "fields": {"email": "admin@made.example"},
            },
        )
        assert created.status_code == 200
        new_id = created.json()["results"][0]["id"]
        assert new_id in {c.id for c in served.truth.customers("recurly", "acme")}
        bad = http.post(
            origin + "/_sandbox/mutate",
            json={"op": "explode", "kind": "customer", "vendor": "recurly"},
        )
        assert bad.status_code == 400
        assert bad.json()["error"].endswith(".")
        before = http.get(origin + "/_sandbox/status").json()["now"]
        assert (
            http.post(origin + "/_sandbox/clock", json={"advance": 120}).json()["now"]
            == before + 120
        )
        assert (
            http.post(origin + "/_sandbox/faults", json={"faults": "recurly:503=#1"}).status_code
            == 200
        )
        failed = http.get(origin + "/accounts", auth=(RECURLY_KEYS["acme"], ""), headers=ACCEPT)
        assert failed.status_code == 503
        truth = http.get(
            origin + "/_sandbox/truth",
            params={"vendor": "recurly", "kind": "customers", "site": "acme"},
        ).json()
        assert new_id in truth["ids"]
        log = http.get(origin + "/_sandbox/log", params={"vendor": "recurly"}).json()["requests"]
        assert [entry["status"] for entry in log] == [503]


def test_request_log_counts_exactly_and_sources_only_read(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    for _ in range(3):
        _cb(client, sandbox, "/customers", limit=1)
    client.head(
        sandbox.base_url("recurly") + "/accounts", auth=(RECURLY_KEYS["acme"], ""), headers=ACCEPT
    )
    assert sandbox.log.count("chargebee") == 3
    assert sandbox.log.methods("chargebee") | sandbox.log.methods("recurly") == {"GET", "HEAD"}
    entry = sandbox.log.entries("chargebee")[0]
    assert (entry.credential, entry.site, entry.status, entry.param("limit")) == (
        "chargebee:acme",
        "acme",
        200,
        "1",
    )
    sandbox.log.clear()
    assert len(sandbox.log) == 0


def test_request_log_is_bounded_but_counts_stay_exact() -> None:
    log = RequestLog(keep=3)
    for n in range(5):
        method = "POST" if n == 0 else "GET"
        entry = LoggedRequest(
            seq=log.next_seq(),
            number=n,
            vendor="chargebee",
            method=method,
            path="/x",
            query=(),
            credential="chargebee:acme",
            site="acme",
            status=200,
            fault=None,
            at=0.0,
        )
        log.add(entry)
    assert [e.seq for e in log.entries()] == [3, 4, 5]
    assert log.count("chargebee") == 5
    assert log.count("chargebee", "GET") == 4
    assert log.methods("chargebee") == {"GET", "POST"}
    log.clear()
    assert (log.count(), len(log)) == (0, 0)
