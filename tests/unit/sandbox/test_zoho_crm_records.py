"""Zoho CRM simulator: auth, listing, paging, views, search and metadata."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.zoho_crm_schema import LAYOUT_IDS
from desktop.sandbox.zoho_crm_write import CrmMutationError
from tests.unit.sandbox.test_zoho_crm_support import Crm, open_crm

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def crm(sandbox: Sandbox, client: httpx.Client) -> Crm:
    """A CRM client on the small in-process sandbox."""
    return open_crm(sandbox, client)


def _ids(response: httpx.Response) -> list[str]:
    if response.status_code == 204:
        return []
    return [record["id"] for record in response.json()["data"]]


# ----------------------------------------------------------------- auth


def test_auth_errors_have_zoho_bodies(crm: Crm) -> None:
    url = f"{crm.base}/crm/v8/Contacts"
    missing = crm.http.get(url, params={"fields": "Last_Name"})
    assert missing.status_code == 401
    assert missing.json()["code"] == "AUTHENTICATION_FAILURE"
    bogus = crm.http.get(
        url, params={"fields": "Last_Name"}, headers={"Authorization": "Zoho-oauthtoken 1000.x.y"}
    )
    assert bogus.status_code == 401
    assert bogus.json() == {
        "code": "INVALID_TOKEN",
        "details": {},
        "message": "invalid oauth token",
        "status": "error",
    }


def test_access_token_expires_on_the_sandbox_clock(
    crm: Crm, sandbox: Sandbox, clock: ManualClock
) -> None:
    assert crm.get("/Contacts", fields="Last_Name").status_code == 200
    clock.advance(3601)
    expired = crm.get("/Contacts", fields="Last_Name")
    assert expired.status_code == 401
    assert expired.json()["code"] == "INVALID_TOKEN"
    refreshed = open_crm(sandbox, crm.http)
    assert refreshed.get("/Contacts", fields="Last_Name").status_code == 200


def test_scopes_are_enforced_per_module_and_operation(crm: Crm, sandbox: Sandbox) -> None:
    crm.token = sandbox.tokens.issue_access_token("com", ("ZohoCRM.modules.contacts.READ",))
    assert crm.get("/Contacts", fields="Last_Name").status_code == 200
    for response in (
        crm.get("/Deals", fields="Deal_Name"),
        crm.send("POST", "/Contacts", {"data": [{"Last_Name": "X"}]}),
        crm.get("/settings/fields", module="Contacts"),
        crm.get("/users", type="ActiveUsers"),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_data_centre_routing(crm: Crm, sandbox: Sandbox) -> None:
    eu_token = sandbox.tokens.issue_access_token("eu")
    on_us = crm.http.get(
        f"{crm.base}/crm/v8/Contacts",
        params={"fields": "Last_Name"},
        headers={"Authorization": f"Zoho-oauthtoken {eu_token}"},
    )
    assert on_us.json()["code"] == "INVALID_TOKEN"
    on_eu = crm.http.get(
        sandbox.base_url("zoho-api", "eu") + "/crm/v8/Contacts",
        params={"fields": "Last_Name"},
        headers={"Authorization": f"Zoho-oauthtoken {eu_token}"},
    )
    assert on_eu.status_code == 403
    assert on_eu.json()["code"] == "NO_PERMISSION"


def test_rate_limit_and_faults(crm: Crm, sandbox: Sandbox) -> None:
    sandbox.set_rate_limit("zoho-crm", "2/60")
    assert crm.get("/Contacts", fields="Last_Name").status_code == 200
    assert crm.get("/Contacts", fields="Last_Name").status_code == 200
    limited = crm.get("/Contacts", fields="Last_Name")
    assert limited.status_code == 429
    assert limited.json()["code"] == "TOO_MANY_REQUESTS"
    assert limited.json()["status"] == "error"
    sandbox.set_rate_limit("zoho-crm", None)
    sandbox.set_faults("zoho-crm:503=always")
    failed = crm.get("/Contacts", fields="Last_Name")
    assert (failed.status_code, failed.json()["code"]) == (503, "INTERNAL_ERROR")
    sandbox.set_faults("zoho-crm:expired=always")
    assert crm.get("/Contacts", fields="Last_Name").json()["code"] == "INVALID_TOKEN"


def test_request_log_names_the_crm(crm: Crm, sandbox: Sandbox) -> None:
    crm.get("/Accounts", fields="Account_Name")
    entry = [e for e in sandbox.log.entries() if e.vendor == "zoho-crm"][-1]
    assert entry.method == "GET"
    assert entry.credential.startswith("zoho:")


# ---------------------------------------------------------------- lists


def test_fields_is_required_from_v3_and_limited_to_50(crm: Crm) -> None:
    missing = crm.get("/Contacts")
    assert missing.status_code == 400
    assert missing.json()["code"] == "REQUIRED_PARAM_MISSING"
    assert missing.json()["details"] == {"param_name": "fields"}
    too_many = crm.get("/Contacts", fields=",".join(["Last_Name"] * 51))
    assert too_many.json()["code"] == "LIMIT_EXCEEDED"
    v2 = crm.http.get(f"{crm.base}/crm/v2/Contacts", headers=crm.headers, params={"per_page": 2})
    assert v2.status_code == 200
    assert set(v2.json()["info"]) == {"per_page", "count", "page", "more_records"}
    assert "Email" in v2.json()["data"][0]


def test_list_shape_lookups_and_info(crm: Crm) -> None:
    response = crm.get(
        "/Contacts", fields="Last_Name,Email,Account_Name,Owner,Modified_Time", per_page=200
    )
    body = response.json()
    assert set(body["info"]) >= {
        "per_page",
        "count",
        "page",
        "more_records",
        "sort_by",
        "sort_order",
        "next_page_token",
        "previous_page_token",
        "page_token_expiry",
    }
    with_account = next(r for r in body["data"] if r["Account_Name"])
    assert set(with_account["Account_Name"]) == {"id", "name"}
    assert set(with_account["Owner"]) == {"id", "name", "email"}
    assert with_account["Modified_Time"].endswith("-07:00")
    truth = {r["id"]: r for r in crm.sim.truth("Contacts")}
    assert truth[with_account["id"]]["Account_Name"] == with_account["Account_Name"]["id"]
    ids = [int(i) for i in _ids(response)]
    assert ids == sorted(ids, reverse=True)


def test_sorting_and_its_errors(crm: Crm) -> None:
    response = crm.get(
        "/Accounts", fields="Modified_Time", sort_by="Modified_Time", sort_order="asc"
    )
    stamps = [r["Modified_Time"] for r in response.json()["data"]]
    parsed = [datetime.fromisoformat(s) for s in stamps]
    assert parsed == sorted(parsed)
    assert crm.get("/Accounts", fields="Phone", sort_by="Phone").status_code == 400
    view = crm.sim.store.data.views[0].id
    both = crm.get("/Accounts", fields="Phone", cvid=view, sort_by="id")
    assert both.status_code == 400


def test_empty_list_is_204_without_body(crm: Crm) -> None:
    response = crm.get("/Deals", fields="Deal_Name", ids="123")
    assert response.status_code == 204
    assert response.content == b""


def test_get_one_and_ids(crm: Crm) -> None:
    first, second = (r["id"] for r in crm.sim.truth("Accounts")[:2])
    one = crm.get(f"/Accounts/{first}")
    assert one.status_code == 200
    assert len(one.json()["data"]) == 1
    assert one.json()["data"][0]["id"] == first
    assert crm.get("/Accounts/42").status_code == 204
    both = crm.get("/Accounts", fields="Account_Name", ids=f"{first},{second}")
    assert sorted(_ids(both)) == sorted([first, second])


def test_if_modified_since_returns_changes_or_304(crm: Crm, clock: ManualClock) -> None:
    now = crm.get("/Contacts", fields="Modified_Time", sort_by="Modified_Time").json()
    latest = now["data"][0]["Modified_Time"]
    unchanged = crm.get("/Contacts", fields="Last_Name", headers={"If-Modified-Since": latest})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    clock.advance(60)
    target = crm.sim.truth("Contacts")[5]["id"]
    crm.sim.mutations.update("Contacts", target, Title="CFO")
    changed = crm.get("/Contacts", fields="Title", headers={"If-Modified-Since": latest})
    assert changed.status_code == 200
    assert _ids(changed) == [target]
    assert changed.json()["data"][0]["Title"] == "CFO"


def test_custom_views_filter_records(crm: Crm) -> None:
    views = {v.name: v.id for v in crm.sim.store.data.views}
    billing = crm.get("/Accounts", fields="Tenant_ID", cvid=views["Billing Accounts"])
    expected = {r["id"] for r in crm.sim.truth("Accounts") if r["Tenant_ID"]}
    assert set(_ids(billing)) == expected
    mine = crm.get("/Accounts", fields="Owner", cvid=views["My Accounts"])
    assert {r["Owner"]["name"] for r in mine.json()["data"]} == {"Pat Boyle"}
    open_deals = crm.get("/Deals", cvid=views["Open Deals"])
    stages = {r["Stage"] for r in open_deals.json()["data"]}
    assert stages
    assert not stages & {"Closed Won", "Closed Lost", "Closed Lost to Competition"}
    expected_open = {
        r["id"] for r in crm.sim.truth("Deals") if not str(r["Stage"]).startswith("Closed")
    }
    assert set(_ids(open_deals)) == expected_open


def test_page_beyond_ten_needs_a_page_token(crm: Crm, clock: ManualClock) -> None:
    assert crm.get("/Contacts", fields="Last_Name", page=11, per_page=200).json() == {
        "code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
        "details": {"limit": 2000},
        "message": "Cannot fetch more than 2000 records with page; use page_token.",
        "status": "error",
    }
    first = crm.get("/Contacts", fields="Last_Name", per_page=50).json()["info"]
    token = first["next_page_token"]
    assert crm.get("/Contacts", fields="Last_Name", page_token=token, page=2).status_code == 400
    assert crm.get("/Contacts", fields="Last_Name", page_token="nope").status_code == 400
    clock.advance(86_401)
    crm.token = crm.sandbox.tokens.issue_access_token("com")
    stale = crm.get("/Contacts", fields="Last_Name", page_token=token, per_page=50)
    assert stale.status_code == 400
    assert stale.json()["details"] == {"param_name": "page_token"}


def test_paging_past_2000_records_with_page_token() -> None:
    big = Sandbox(size=3_200, seed=5, clock=ManualClock(START))
    with httpx.Client(transport=big.transport()) as http:
        crm = open_crm(big, http)
        truth = {r["id"] for r in crm.sim.truth("Contacts")}
        assert len(truth) > 2_000
        seen: list[str] = []
        page, token = 1, None
        while True:
            params: dict[str, Any] = {"page_token": token} if token else {"page": page}
            response = crm.get("/Contacts", fields="Last_Name", per_page=200, **params)
            assert response.status_code == 200
            seen += _ids(response)
            info = response.json()["info"]
            assert info["page"] == page
            if not info["more_records"]:
                assert info["next_page_token"] is None
                break
            page += 1
            token = info["next_page_token"] if page > 10 else None
        assert page > 10
        assert len(seen) == len(set(seen)) == len(truth)
        assert set(seen) == truth


# --------------------------------------------------------------- search


def _search(crm: Crm, module: str = "Contacts", **params: Any) -> httpx.Response:
    return crm.get(f"/{module}/search", **params)


def test_search_operators(crm: Crm) -> None:
    truth = crm.sim.truth("Contacts")
    prefix = truth[0]["Last_Name"][:2]
    starts = _search(crm, criteria=f"(Last_Name:starts_with:{prefix})")
    assert set(_ids(starts)) == {r["id"] for r in truth if r["Last_Name"].startswith(prefix)}
    some = truth[3]
    exact = _search(crm, criteria=f"(id:equals:{some['id']})")
    assert _ids(exact) == [some["id"]]
    listed = _search(crm, criteria=f"(id:in:{truth[0]['id']},{truth[1]['id']})")
    assert set(_ids(listed)) == {truth[0]["id"], truth[1]["id"]}
    deals = crm.sim.truth("Deals")
    between = _search(crm, "Deals", criteria="(Amount:between:100,200)")
    assert set(_ids(between)) == {r["id"] for r in deals if 100 <= r["Amount"] <= 200}
    both = _search(
        crm, "Deals", criteria="((Amount:greater_than:100) and (Stage:not_equal:Closed Won))"
    )
    wanted = {r["id"] for r in deals if r["Amount"] > 100 and r["Stage"] != "Closed Won"}
    assert set(_ids(both)) == wanted
    either = _search(
        crm, "Deals", criteria="((Stage:equals:Closed Won) or (Stage:equals:Closed Lost))"
    )
    assert set(_ids(either)) == {
        r["id"] for r in deals if r["Stage"] in ("Closed Won", "Closed Lost")
    }


def test_search_equals_on_text_is_contains_like_and_values_escape(crm: Crm) -> None:
    made = crm.sim.mutations.create("Accounts", Account_Name="Orbit (EMEA), Labs")
    hit = _search(crm, "Accounts", criteria=r"(Account_Name:equals:Orbit \(EMEA\)\, Lab)")
    assert _ids(hit) == [made]
    name = crm.sim.truth("Accounts")[0]["Account_Name"]
    partial = _search(crm, "Accounts", criteria=f"(Account_Name:equals:{name[:-2]})")
    assert crm.sim.truth("Accounts")[0]["id"] in _ids(partial)


def test_search_by_email_phone_and_word(crm: Crm) -> None:
    emails: dict[str, list[str]] = {}
    for record in crm.sim.truth("Contacts"):
        if record["Email"]:
            emails.setdefault(record["Email"], []).append(record["id"])
    shared = next(e for e, ids in emails.items() if len(ids) == 2)
    found = _search(crm, email=shared.upper())
    assert sorted(_ids(found)) == sorted(emails[shared])
    phone = next(r for r in crm.sim.truth("Contacts") if r["Phone"])
    assert phone["id"] in _ids(_search(crm, phone=phone["Phone"]))
    word = _search(crm, word=phone["Last_Name"])
    assert phone["id"] in _ids(word)
    short = _search(crm, word="a")
    assert (short.status_code, short.json()["code"]) == (400, "INVALID_QUERY")
    assert _search(crm).json()["code"] == "REQUIRED_PARAM_MISSING"


def test_search_priority_criteria_over_email(crm: Crm) -> None:
    some = crm.sim.truth("Contacts")[0]
    found = _search(crm, criteria=f"(id:equals:{some['id']})", email="nobody@nowhere.example")
    assert _ids(found) == [some["id"]]


def test_search_limits_and_empty(crm: Crm) -> None:
    nothing = _search(crm, criteria="(Last_Name:equals:Zzzzzz)")
    assert (nothing.status_code, nothing.content) == (204, b"")
    eleven = "and".join(f"(Last_Name:not_equal:X{i})" for i in range(11))
    too_many = _search(crm, criteria=f"({eleven})")
    assert too_many.json()["code"] == "INVALID_QUERY"
    assert _search(crm, criteria="(Last_Name:like:A)").json()["details"]["operator"] == "like"
    beyond = _search(crm, criteria="(Last_Name:starts_with:A)", page="11", per_page="200")
    assert beyond.json()["code"] == "LIMIT_REACHED"


def test_search_indexing_delay(crm: Crm, clock: ManualClock) -> None:
    crm.sim.configure(search_index_delay=120)
    made = crm.sim.mutations.create("Contacts", Last_Name="Quixotic")
    assert _search(crm, criteria="(Last_Name:equals:Quixotic)").status_code == 204
    assert crm.get(f"/Contacts/{made}").status_code == 200
    clock.advance(121)
    crm.token = crm.sandbox.tokens.issue_access_token("com")
    assert _ids(_search(crm, criteria="(Last_Name:equals:Quixotic)")) == [made]


def test_count_and_deleted(crm: Crm) -> None:
    live = len(crm.sim.truth("Contacts"))
    assert crm.get("/Contacts/actions/count").json() == {"count": live}
    target = crm.sim.truth("Contacts")[0]["id"]
    deleted = crm.send("DELETE", "/Contacts", None, ids=target)
    assert deleted.json()["data"][0]["message"] == "record deleted"
    assert crm.get("/Contacts/actions/count").json() == {"count": live - 1}
    recycle = crm.get("/Contacts/deleted", type="recycle").json()["data"]
    assert recycle[0]["id"] == target
    assert set(recycle[0]) == {
        "deleted_by",
        "id",
        "display_name",
        "type",
        "created_by",
        "deleted_time",
    }
    assert crm.get(f"/Contacts/{target}").status_code == 204
    assert crm.get("/Contacts/deleted", type="permanent").status_code == 204


def test_deleted_since_and_restore(crm: Crm, clock: ManualClock) -> None:
    first, second = (r["id"] for r in crm.sim.truth("Contacts")[:2])
    crm.sim.mutations.delete("Contacts", first)
    clock.advance(60)
    mark = clock.now()
    crm.sim.mutations.delete("Contacts", second)
    since = {"If-Modified-Since": mark.isoformat()}
    assert _ids(crm.get("/Contacts/deleted", headers=since, type="all")) == [second]
    assert _ids(crm.get("/Contacts/deleted", type="all"))[:2] == [second, first]
    clock.advance(60)
    later = {"If-Modified-Since": clock.now().isoformat()}
    assert crm.get("/Contacts/deleted", headers=later, type="all").status_code == 304
    clock.advance(5)
    crm.sim.mutations.restore("Contacts", second)
    assert _ids(crm.get("/Contacts/deleted", type="all"))[0] == first
    assert crm.get(f"/Contacts/{second}").status_code == 200
    modified = crm.get("/Contacts", headers=later, fields="Last_Name")
    assert second in _ids(modified)
    with pytest.raises(CrmMutationError):
        crm.sim.mutations.restore("Contacts", second)


# ------------------------------------------------------------- metadata


def test_fields_metadata(crm: Crm) -> None:
    fields = {
        f["api_name"]: f for f in crm.get("/settings/fields", module="Contacts").json()["fields"]
    }
    for spec in fields.values():
        assert {
            "api_name",
            "field_label",
            "data_type",
            "json_type",
            "system_mandatory",
            "custom_field",
            "read_only",
            "length",
            "pick_list_values",
            "lookup",
            "unique",
        } <= set(spec)
    assert fields["Last_Name"]["system_mandatory"] is True
    assert fields["Tenant_ID"]["custom_field"] is True
    assert fields["Account_Name"]["lookup"]["module"]["api_name"] == "Accounts"
    assert fields["Email"]["unique"] == {}
    crm.sim.configure(contact_email_unique=True)
    again = crm.get("/settings/fields", module="Contacts").json()["fields"]
    assert next(f for f in again if f["api_name"] == "Email")["unique"]
    deals = crm.get("/settings/fields", module="Deals").json()["fields"]
    stage = next(f for f in deals if f["api_name"] == "Stage")
    assert "Closed Won" in [p["actual_value"] for p in stage["pick_list_values"]]
    assert crm.get("/settings/fields").json()["code"] == "REQUIRED_PARAM_MISSING"


def test_custom_views_metadata(crm: Crm) -> None:
    listed = crm.get("/settings/custom_views", module="Accounts").json()
    categories = {v["name"]: v["category"] for v in listed["custom_views"]}
    assert categories["All Accounts"] == "public_views"
    assert categories["Billing Accounts"] == "created_by_me"
    assert listed["info"]["translation"]["created_by_me"] == "Created By Me"
    view = next(v for v in listed["custom_views"] if v["name"] == "Billing Accounts")
    detail = crm.get(f"/settings/custom_views/{view['id']}", module="Accounts").json()
    criteria = detail["custom_views"][0]["criteria"]
    assert criteria["field"]["api_name"] == "Tenant_ID"
    assert criteria["comparator"] == "not_equal"
    assert detail["custom_views"][0]["fields"]


def test_layouts_and_pipelines(crm: Crm) -> None:
    layouts = crm.get("/settings/layouts", module="Deals").json()["layouts"]
    assert layouts[0]["id"] == LAYOUT_IDS["Deals"]
    missing = crm.get("/settings/pipeline")
    assert missing.json()["details"] == {"param_name": "layout_id"}
    pipelines = crm.get("/settings/pipeline", layout_id=layouts[0]["id"]).json()["pipeline"]
    standard = next(p for p in pipelines if p["default"])
    assert [m["actual_value"] for m in standard["maps"]][-3:] == [
        "Closed Won",
        "Closed Lost",
        "Closed Lost to Competition",
    ]


def test_users_and_org_currency_settings(crm: Crm) -> None:
    active = crm.get("/users", type="ActiveUsers").json()["users"]
    assert all(u["status"] == "active" for u in active)
    assert {"id", "full_name", "email", "status"} <= set(active[0])
    everyone = crm.get("/users", type="AllUsers").json()["users"]
    assert len(everyone) == len(active) + 1
    org = crm.get("/org").json()["org"][0]
    assert (org["iso_code"], org["mc_status"]) == ("USD", True)
    crm.sim.configure(base_currency="EUR", multi_currency=False)
    org = crm.get("/org").json()["org"][0]
    assert (org["iso_code"], org["mc_status"]) == ("EUR", False)
    deal_fields = crm.get("/settings/fields", module="Deals").json()["fields"]
    assert "Currency" not in {f["api_name"] for f in deal_fields}


@pytest.fixture
def served_crm(sandbox: Sandbox) -> Iterator[Crm]:
    """The CRM over a real loopback socket."""
    with sandbox, httpx.Client() as http:
        yield open_crm(sandbox, http)


def test_over_a_real_socket(served_crm: Crm) -> None:
    assert served_crm.base.startswith("http://127.0.0.1:")
    response = served_crm.get("/Accounts", fields="Account_Name", per_page=5)
    assert response.status_code == 200
    assert response.json()["info"]["count"] == 5
    empty = served_crm.get("/Accounts", fields="Account_Name", ids="1")
    assert (empty.status_code, empty.content) == (204, b"")


def test_plain_crm_path_routes_by_zohoapis_host(crm: Crm, sandbox: Sandbox) -> None:
    with httpx.Client(transport=sandbox.transport("zoho")) as http:
        us = http.get(
            "https://www.zohoapis.com/crm/v8/Accounts",
            params={"fields": "Account_Name", "per_page": 1},
            headers=crm.headers,
        )
        assert us.status_code == 200
        eu = http.get(
            "https://www.zohoapis.eu/crm/v8/Accounts",
            params={"fields": "Account_Name"},
            headers=crm.headers,
        )
        assert eu.json()["code"] == "INVALID_TOKEN"
        unknown = http.get("https://www.zohoapis.com/crm/v8/Accounts/x/y", headers=crm.headers)
        assert (unknown.status_code, unknown.json()["code"]) == (404, "INVALID_URL_PATTERN")
