"""Zoho OAuth and Zoho Billing simulators, checked field by field against the reference."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")

# Field lists of /work/shared/reference/zoho-billing.md §6.
CUSTOMER_FIELDS = {
    "customer_id", "display_name", "salutation", "first_name", "last_name", "email",
    "company_name", "phone", "mobile", "website", "department", "designation", "status",
    "currency_code", "billing_address", "shipping_address", "tags", "is_portal_enabled",
    "custom_fields", "created_time", "updated_time", "zcrm_account_id", "zcrm_contact_id",
}  # fmt: skip
ADDRESS_FIELDS = {"attention", "street", "city", "state", "state_code", "zip", "country", "fax"}
CONTACT_FIELDS = {
    "contactperson_id", "salutation", "first_name", "last_name", "email", "phone", "mobile",
    "designation", "department", "is_primary_contact",
}  # fmt: skip
SUBSCRIPTION_FIELDS = {
    "subscription_id", "subscription_number", "name", "status", "amount", "currency_code",
    "interval", "interval_unit", "created_at", "activated_at", "current_term_starts_at",
    "current_term_ends_at", "last_billing_at", "next_billing_at", "expires_at", "cancelled_at",
    "auto_collect", "customer_id", "customer", "plan", "addons", "custom_fields",
    "created_time", "updated_time",
}  # fmt: skip
PLAN_FIELDS = {"plan_code", "name", "quantity", "price"}
INVOICE_FIELDS = {
    "invoice_id", "invoice_number", "status", "invoice_date", "due_date", "customer_id",
    "customer_name", "email", "currency_code", "total", "balance", "payment_made",
    "credits_applied", "write_off_amount", "subscriptions", "invoice_items", "custom_fields",
    "created_time", "updated_time",
}  # fmt: skip
CUSTOM_FIELD_FIELDS = {
    "customfield_id",
    "label",
    "value",
    "data_type",
    "placeholder",
    "index",
    "show_on_pdf",
}
SUB_STATUSES = {
    "live", "trial", "dunning", "unpaid", "non_renewing", "cancelled", "creation_failed",
    "cancelled_from_dunning", "expired", "trial_expired", "future", "paused",
}  # fmt: skip
INV_STATUSES = {"paid", "sent", "overdue", "partially_paid", "void", "draft", "pending", "unpaid"}


def _headers(token: str, org: str = "10234695") -> dict[str, str]:
    return {
        "Authorization": f"Zoho-oauthtoken {token}",
        "X-com-zoho-subscriptions-organizationid": org,
    }


def _all(
    client: httpx.Client,
    sandbox: Sandbox,
    token: str,
    resource: str,
    key: str,
    org: str = "10234695",
    **params: Any,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        response = client.get(
            sandbox.base_url("zoho-billing", org) + resource,
            params={"page": page, "per_page": 200, **params},
            headers=_headers(token, org),
        )
        body = response.json()
        assert (body["code"], body["message"]) == (0, "success"), body
        out.extend(body[key])
        if not body["page_context"]["has_more_page"]:
            return out
        page += 1


def _token(client: httpx.Client, sandbox: Sandbox, dc: str, **form: str) -> dict[str, Any]:
    data = {"client_id": ZOHO_CLIENT_ID, "client_secret": ZOHO_CLIENT_SECRET, **form}
    response = client.post(sandbox.base_url("zoho-accounts", dc) + "/oauth/v2/token", data=data)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_oauth_code_and_refresh_flows(client: httpx.Client, sandbox: Sandbox) -> None:
    user = zoho_user("eu")
    first = _token(client, sandbox, "eu", grant_type="authorization_code", code=user.grant_code)
    assert first["refresh_token"] == user.refresh_token
    assert first["expires_in"] == 3600
    assert first["api_domain"] == sandbox.base_url("zoho-api", "eu")
    again = _token(
        client, sandbox, "eu", grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert again["access_token"] != first["access_token"]
    assert "refresh_token" not in again
    assert _token(
        client, sandbox, "com", grant_type="refresh_token", refresh_token=user.refresh_token
    ) == {"error": "invalid_code"}
    assert _token(client, sandbox, "eu", grant_type="refresh_token", refresh_token="1000.nope") == {
        "error": "invalid_code"
    }
    bad_client = client.post(
        sandbox.base_url("zoho-accounts", "eu") + "/oauth/v2/token",
        params={
            "grant_type": "refresh_token",
            "client_id": "x",
            "client_secret": "y",
            "refresh_token": user.refresh_token,
        },
    )
    assert bad_client.json() == {"error": "invalid_client"}
    query_style = client.post(
        sandbox.base_url("zoho-accounts", "com") + "/oauth/v2/token",
        params={
            "grant_type": "refresh_token",
            "client_id": ZOHO_CLIENT_ID,
            "client_secret": ZOHO_CLIENT_SECRET,
            "refresh_token": zoho_user("com").refresh_token,
        },
    )
    assert "access_token" in query_style.json()
    for entry in sandbox.log.entries("zoho-accounts"):
        assert all(
            value == "***"
            for key, value in entry.query
            if key in ("client_secret", "refresh_token")
        )


def test_authorize_redirects_with_a_code(client: httpx.Client, sandbox: Sandbox) -> None:
    response = client.get(
        sandbox.base_url("zoho-accounts", "com") + "/oauth/v2/auth",
        params={
            "client_id": ZOHO_CLIENT_ID,
            "redirect_uri": "http://127.0.0.1/cb",
            "scope": "ZohoCRM.modules.ALL",
            "state": "s1",
        },
    )
    assert response.status_code == 302
    location = httpx.URL(response.headers["Location"])
    code = location.params["code"]
    assert location.params["state"] == "s1"
    token = _token(client, sandbox, "com", grant_type="authorization_code", code=code)
    billing = client.get(
        sandbox.base_url("zoho-billing") + "/customers", headers=_headers(token["access_token"])
    )
    assert billing.status_code == 401
    assert billing.json()["code"] == 57


def test_token_expiry_on_the_sandbox_clock(
    client: httpx.Client, sandbox: Sandbox, clock: ManualClock, zoho_access: str
) -> None:
    url = sandbox.base_url("zoho-billing") + "/customers"
    assert client.get(url, headers=_headers(zoho_access)).status_code == 200
    clock.advance(3601)
    expired = client.get(url, headers=_headers(zoho_access))
    assert expired.status_code == 401
    assert expired.json() == {
        "code": 57,
        "message": "You are not authorized to perform this operation",
    }
    eu_token = _token(
        client,
        sandbox,
        "eu",
        grant_type="refresh_token",
        refresh_token=zoho_user("eu").refresh_token,
    )["access_token"]
    assert client.get(url, headers=_headers(eu_token)).status_code == 401


def test_organization_header_rules(
    client: httpx.Client, sandbox: Sandbox, zoho_access: str
) -> None:
    url = sandbox.base_url("zoho-billing") + "/customers"
    missing = client.get(url, headers={"Authorization": f"Zoho-oauthtoken {zoho_access}"})
    assert missing.status_code == 400
    assert missing.json()["code"] != 0
    other = client.get(url, headers=_headers(zoho_access, "20234695"))
    assert other.status_code == 401
    assert other.json()["code"] == 6041
    orgs = client.get(
        sandbox.base_url("zoho-billing") + "/organizations",
        headers={"Authorization": f"Zoho-oauthtoken {zoho_access}"},
    )
    assert [o["organization_id"] for o in orgs.json()["organizations"]] == ["10234695"]


@pytest.mark.parametrize(("org", "dc"), [("10234695", "com"), ("20234695", "eu")])
def test_paging_to_the_end_returns_exactly_the_ground_truth(
    client: httpx.Client, sandbox: Sandbox, org: str, dc: str
) -> None:
    token = _token(
        client, sandbox, dc, grant_type="refresh_token", refresh_token=zoho_user(dc).refresh_token
    )["access_token"]
    for resource, key, truth in (
        ("/customers", "customers", "customers"),
        ("/subscriptions", "subscriptions", "subscriptions"),
        ("/invoices", "invoices", "invoices"),
    ):
        records = _all(client, sandbox, token, resource, key, org)
        expected = getattr(sandbox.truth, truth)("zoho-billing", org)
        id_key = key[:-1] + "_id"
        assert sorted(r[id_key] for r in records) == sorted(t.id for t in expected)


def test_records_match_the_reference_field_lists(
    client: httpx.Client, sandbox: Sandbox, zoho_access: str
) -> None:
    customers = _all(client, sandbox, zoho_access, "/customers", "customers")
    for customer in customers:
        assert set(customer) >= CUSTOMER_FIELDS
        assert set(customer["billing_address"]) >= ADDRESS_FIELDS
        assert STAMP.match(customer["created_time"])
        assert customer["updated_time"] == "" or STAMP.match(customer["updated_time"])
        for field in customer["custom_fields"]:
            assert set(field) >= CUSTOM_FIELD_FIELDS
            assert field["label"] == "Tenant ID"
            assert field["placeholder"] == "cf_tenant_id"
    assert any(c["custom_fields"] for c in customers)
    people = client.get(
        sandbox.base_url("zoho-billing")
        + f"/customers/{customers[0]['customer_id']}/contactpersons",
        headers=_headers(zoho_access),
    ).json()
    assert people["code"] == 0
    assert all(set(p) >= CONTACT_FIELDS for p in people["contactpersons"])
    subs = _all(client, sandbox, zoho_access, "/subscriptions", "subscriptions")
    truth = {s.id: s for s in sandbox.truth.subscriptions("zoho-billing", "10234695")}
    for sub in subs:
        assert set(sub) >= SUBSCRIPTION_FIELDS
        assert set(sub["plan"]) >= PLAN_FIELDS
        assert sub["status"] in SUB_STATUSES
        assert sub["status"] == truth[sub["subscription_id"]].vendor_status
        assert sub["interval_unit"] in ("months", "years")
        assert sub["current_term_starts_at"] == "" or DATE.match(sub["current_term_starts_at"])
        assert isinstance(sub["amount"], float)
    invoices = _all(client, sandbox, zoho_access, "/invoices", "invoices")
    inv_truth = {i.id: i for i in sandbox.truth.invoices("zoho-billing", "10234695")}
    for invoice in invoices:
        assert set(invoice) >= INVOICE_FIELDS
        assert invoice["status"] in INV_STATUSES
        expected = inv_truth[invoice["invoice_id"]]
        digits = 0 if expected.currency == "JPY" else 2
        assert round(invoice["total"] * 10**digits) == expected.total_minor
        assert round(invoice["balance"] * 10**digits) == expected.due_minor
        assert DATE.match(invoice["invoice_date"])
        assert DATE.match(invoice["due_date"])


def test_sorting_filters_and_scoping(
    client: httpx.Client, sandbox: Sandbox, zoho_access: str
) -> None:
    oldest_first = _all(
        client,
        sandbox,
        zoho_access,
        "/customers",
        "customers",
        sort_column="updated_time",
        sort_order="A",
    )
    truth = {c.id: c for c in sandbox.truth.customers("zoho-billing", "10234695")}
    keys = [
        int((truth[c["customer_id"]].updated_at or truth[c["customer_id"]].created_at).timestamp())
        for c in oldest_first
    ]
    assert keys == sorted(keys)
    overdue = _all(
        client, sandbox, zoho_access, "/invoices", "invoices", filter_by="Status.OverDue"
    )
    assert overdue
    assert {i["status"] for i in overdue} == {"overdue"}
    live = _all(
        client,
        sandbox,
        zoho_access,
        "/subscriptions",
        "subscriptions",
        filter_by="SubscriptionStatus.LIVE",
    )
    assert live
    assert {s["status"] for s in live} == {"live"}
    owner = live[0]["customer_id"]
    scoped = _all(
        client, sandbox, zoho_access, "/subscriptions", "subscriptions", customer_id=owner
    )
    assert {s["customer_id"] for s in scoped} == {owner}
    bad = client.get(
        sandbox.base_url("zoho-billing") + "/customers",
        params={"per_page": 201},
        headers=_headers(zoho_access),
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == 2
    plan = client.get(
        sandbox.base_url("zoho-billing") + "/plans/team-annual", headers=_headers(zoho_access)
    ).json()
    assert plan["plan"]["plan_code"] == "team-annual"
    events = client.get(
        sandbox.base_url("zoho-billing") + "/events",
        params={"per_page": 5},
        headers=_headers(zoho_access),
    ).json()
    assert len(events["events"]) == 5
    assert events["events"][0]["event_type"] == "subscription_created"
    missing = client.get(
        sandbox.base_url("zoho-billing") + "/invoices/1", headers=_headers(zoho_access)
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == 1002


@pytest.mark.parametrize(
    ("params", "headers"), [({"accept": "pdf"}, {}), ({}, {"Accept": "application/pdf"})]
)
def test_invoice_as_pdf(
    sandbox: Sandbox,
    client: httpx.Client,
    zoho_access: str,
    params: dict[str, str],
    headers: dict[str, str],
) -> None:
    invoice = sandbox.truth.invoices("zoho-billing", "10234695")[0]
    response = client.get(
        sandbox.base_url("zoho-billing") + f"/invoices/{invoice.id}",
        params=params,
        headers={**_headers(zoho_access), **headers},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    body = response.content
    assert body.startswith(b"%PDF-1.")
    assert body.rstrip().endswith(b"%%EOF")
    start = int(body.rsplit(b"startxref", 1)[1].split()[0])
    assert body[start:].startswith(b"xref")
    assert f"INV-{int(invoice.id) - 903000200000000 + 1:06d}".encode() in body
