"""Zoho CRM simulator: insert, update, upsert, delete and the sandbox-side mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.zoho_crm_write import CrmMutationError
from tests.unit.sandbox.test_zoho_crm_support import Crm, open_crm


@pytest.fixture
def crm(sandbox: Sandbox, client: httpx.Client) -> Crm:
    """A CRM client on the small in-process sandbox."""
    return open_crm(sandbox, client)


def _account(crm: Crm) -> str:
    return str(crm.sim.truth("Accounts")[0]["id"])


def _deal(crm: Crm, **values: Any) -> dict[str, Any]:
    return {"Deal_Name": "Renewal", "Stage": "Qualification", "Pipeline": "Standard", **values}


def test_insert_succeeds_and_later_reads_see_it(crm: Crm, clock: ManualClock) -> None:
    clock.advance(30)
    account = _account(crm)
    response = crm.send(
        "POST",
        "/Contacts",
        {
            "data": [
                {
                    "Last_Name": "Okafor",
                    "Email": "mina@orbit.example",
                    "Account_Name": {"id": account},
                }
            ],
            "trigger": [],
        },
    )
    assert response.status_code == 201
    result = response.json()["data"][0]
    assert (result["code"], result["message"], result["status"]) == (
        "SUCCESS",
        "record added",
        "success",
    )
    assert set(result["details"]) >= {"id", "Created_Time", "Modified_Time", "Created_By"}
    made = result["details"]["id"]
    stamped = datetime.fromisoformat(result["details"]["Modified_Time"])
    assert stamped == clock.now()
    got = crm.get(f"/Contacts/{made}").json()["data"][0]
    assert got["Account_Name"]["id"] == account
    assert got["Owner"]["name"] == "Pat Boyle"
    truth = {r["id"]: r for r in crm.sim.truth("Contacts")}
    assert truth[made]["Email"] == "mina@orbit.example"


def test_mandatory_fields_per_module(crm: Crm) -> None:
    contact = crm.send("POST", "/Contacts", {"data": [{"First_Name": "Nobody"}]})
    assert contact.status_code == 400
    assert contact.json()["data"][0] == {
        "code": "MANDATORY_NOT_FOUND",
        "details": {"api_name": "Last_Name", "json_path": "$.data[0].Last_Name"},
        "message": "required field not found",
        "status": "error",
    }
    account = crm.send("POST", "/Accounts", {"data": [{"Phone": "1"}]}).json()["data"][0]
    assert account["details"]["api_name"] == "Account_Name"
    deal = crm.send("POST", "/Deals", {"data": [{"Deal_Name": "x", "Stage": "Qualification"}]})
    assert deal.json()["data"][0]["details"]["api_name"] == "Pipeline"
    crm.sim.configure(pipeline_mandatory=False)
    ok = crm.send("POST", "/Deals", {"data": [{"Deal_Name": "x", "Stage": "Qualification"}]})
    assert ok.status_code == 201
    both = crm.send("POST", "/Deals", {"data": [{"Amount": 5}]}).json()["data"][0]
    assert both["code"] == "MULTIPLE_OR_MULTI_ERRORS"
    assert {e["details"]["api_name"] for e in both["details"]["errors"]} == {"Deal_Name", "Stage"}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"Amount": "lots"}, "Amount"),
        ({"Closing_Date": "2025-02-30"}, "Closing_Date"),
        ({"Stage": "Won-ish"}, "Stage"),
        ({"Account_Name": {"id": "5725767000999999999"}}, "Account_Name"),
        ({"Owner": {"id": "5725767000000415001"}}, "Owner"),
        ({"Probability": 1.5}, "Probability"),
        ({"Currency": "CHF"}, "Currency"),
    ],
)
def test_invalid_data(crm: Crm, values: dict[str, Any], field: str) -> None:
    response = crm.send("POST", "/Deals", {"data": [_deal(crm, **values)]})
    assert response.status_code == 400
    result = response.json()["data"][0]
    assert result["code"] == "INVALID_DATA"
    assert result["details"]["api_name"] == field
    assert result["details"]["json_path"] == f"$.data[0].{field}"


def test_stage_must_belong_to_the_pipeline(crm: Crm) -> None:
    response = crm.send(
        "POST", "/Deals", {"data": [_deal(crm, Pipeline="Renewals", Stage="Needs Analysis")]}
    )
    assert response.json()["data"][0]["code"] == "DEPENDENT_MISMATCH"


def test_mixed_results_are_207_in_input_order(crm: Crm) -> None:
    response = crm.send(
        "POST", "/Contacts", {"data": [{"Last_Name": "A"}, {"First_Name": "B"}, {"Last_Name": "C"}]}
    )
    assert response.status_code == 207
    assert [r["status"] for r in response.json()["data"]] == ["success", "error", "success"]
    assert response.json()["data"][1]["details"]["json_path"] == "$.data[1].Last_Name"
    v2 = crm.http.post(
        f"{crm.base}/crm/v2/Contacts",
        json={"data": [{"Last_Name": "A"}, {}]},
        headers=crm.headers,
    )
    assert v2.status_code == 202


def test_more_than_100_records_is_limit_exceeded(crm: Crm) -> None:
    before = len(crm.sim.truth("Contacts"))
    response = crm.send("POST", "/Contacts", {"data": [{"Last_Name": str(i)} for i in range(101)]})
    assert response.status_code == 400
    assert response.json()["code"] == "LIMIT_EXCEEDED"
    assert len(crm.sim.truth("Contacts")) == before


def test_bad_bodies(crm: Crm) -> None:
    assert crm.send("POST", "/Contacts", {"rows": []}).json()["code"] == "MANDATORY_NOT_FOUND"
    assert crm.send("POST", "/Contacts", {"data": []}).json()["code"] == "INVALID_DATA"
    assert crm.send("POST", "/Leads", {"data": [{}]}).json()["code"] == "INVALID_MODULE"


def test_duplicate_email_only_when_unique(crm: Crm) -> None:
    email = next(r["Email"] for r in crm.sim.truth("Contacts") if r["Email"])
    allowed = crm.send("POST", "/Contacts", {"data": [{"Last_Name": "Twin", "Email": email}]})
    assert allowed.status_code == 201
    crm.sim.configure(contact_email_unique=True)
    refused = crm.send(
        "POST", "/Contacts", {"data": [{"Last_Name": "Third", "Email": email.upper()}]}
    )
    result = refused.json()["data"][0]
    assert result["code"] == "DUPLICATE_DATA"
    assert result["details"]["api_name"] == "Email"
    assert result["details"]["more_records"] is True
    assert set(result["details"]["duplicate_record"]) == {"id", "Owner", "module"}
    same_call = crm.send(
        "POST",
        "/Contacts",
        {
            "data": [
                {"Last_Name": "P", "Email": "p@new.example"},
                {"Last_Name": "Q", "Email": "p@new.example"},
            ]
        },
    )
    assert [r["code"] for r in same_call.json()["data"]] == ["SUCCESS", "DUPLICATE_DATA"]


def test_update_many_and_one(crm: Crm, clock: ManualClock) -> None:
    deal = next(r for r in crm.sim.truth("Deals") if r["Account_Name"])
    second = deal["Account_Name"]
    first = next(r["id"] for r in crm.sim.truth("Accounts") if r["id"] != second)
    clock.advance(90)
    many = crm.send(
        "PUT",
        "/Accounts",
        {
            "data": [
                {"id": first, "Industry": "Retail"},
                {"id": "42", "Industry": "Retail"},
                {"Phone": "1"},
            ]
        },
    )
    assert many.status_code == 207
    codes = [(r["code"], r["details"].get("api_name")) for r in many.json()["data"]]
    assert codes == [("SUCCESS", None), ("INVALID_DATA", "id"), ("MANDATORY_NOT_FOUND", "id")]
    assert many.json()["data"][0]["message"] == "record updated"
    one = crm.send("PUT", f"/Accounts/{second}", {"data": [{"Account_Name": "Renamed Ltd"}]})
    assert one.status_code == 200
    truth = {r["id"]: r for r in crm.sim.truth("Accounts")}
    assert truth[first]["Industry"] == "Retail"
    assert truth[second]["Account_Name"] == "Renamed Ltd"
    assert truth[second]["Modified_Time"] == int(clock.now().timestamp())
    cleared = crm.send("PUT", f"/Accounts/{second}", {"data": [{"Account_Name": None}]})
    assert cleared.json()["data"][0]["code"] == "MANDATORY_NOT_FOUND"
    shown = crm.get(f"/Deals/{deal['id']}", fields="Account_Name").json()["data"][0]
    assert shown["Account_Name"] == {"name": "Renamed Ltd", "id": second}


def test_upsert_inserts_then_updates(crm: Crm) -> None:
    body = {"data": [{"Last_Name": "Upsert", "Email": "up@sert.example"}]}
    inserted = crm.send("POST", "/Contacts/upsert", body)
    assert inserted.status_code == 200
    first = inserted.json()["data"][0]
    assert (first["action"], first["duplicate_field"], first["message"]) == (
        "insert",
        None,
        "record added",
    )
    body["data"][0]["Title"] = "CTO"
    updated = crm.send("POST", "/Contacts/upsert", {**body, "duplicate_check_fields": ["Email"]})
    second = updated.json()["data"][0]
    assert (second["action"], second["duplicate_field"], second["message"]) == (
        "update",
        "Email",
        "record updated",
    )
    assert second["details"]["id"] == first["details"]["id"]
    truth = {r["id"]: r for r in crm.sim.truth("Contacts")}
    assert truth[first["details"]["id"]]["Title"] == "CTO"


def test_upsert_on_accounts_and_deals_defaults(crm: Crm) -> None:
    name = crm.sim.truth("Accounts")[0]["Account_Name"]
    account = crm.send(
        "POST", "/Accounts/upsert", {"data": [{"Account_Name": name, "Employees": 12}]}
    )
    assert account.json()["data"][0]["duplicate_field"] == "Account_Name"
    deal = crm.send("POST", "/Deals/upsert", {"data": [_deal(crm, Deal_Name="Brand new deal")]})
    assert deal.json()["data"][0]["action"] == "insert"
    again = crm.send(
        "POST", "/Deals/upsert", {"data": [{"Deal_Name": "Brand new deal", "Amount": 10}]}
    )
    assert again.json()["data"][0]["action"] == "update"


def test_upsert_on_an_email_two_contacts_share_is_a_duplicate(crm: Crm) -> None:
    counts: dict[str, int] = {}
    for record in crm.sim.truth("Contacts"):
        if record["Email"]:
            counts[record["Email"]] = counts.get(record["Email"], 0) + 1
    shared = next(e for e, n in counts.items() if n == 2)
    response = crm.send("POST", "/Contacts/upsert", {"data": [{"Last_Name": "X", "Email": shared}]})
    assert response.status_code == 400
    result = response.json()["data"][0]
    assert result["code"] == "DUPLICATE_DATA"
    assert result["details"]["more_records"] is True
    assert (
        crm.send(
            "POST",
            "/Contacts/upsert",
            {"data": [{"Last_Name": "X"}], "duplicate_check_fields": ["Nope"]},
        ).json()["code"]
        == "INVALID_DATA"
    )


def test_delete_and_recycle_bin(crm: Crm) -> None:
    target = crm.sim.truth("Deals")[0]["id"]
    one = crm.send("DELETE", f"/Deals/{target}", None)
    assert one.status_code == 200
    assert one.json()["data"][0]["details"] == {"id": target}
    again = crm.send("DELETE", "/Deals", None, ids=f"{target},1")
    assert again.status_code == 400
    ids = [r["id"] for r in crm.get("/Deals/deleted").json()["data"]]
    assert ids[0] == target


def test_mutations_api(crm: Crm, clock: ManualClock) -> None:
    mutations = crm.sim.mutations
    made = mutations.create("Accounts", Account_Name="Mutated GmbH", Tenant_ID="t-9")
    clock.advance(10)
    mutations.update("Accounts", made, Phone="+49 30 1234")
    record = next(r for r in crm.sim.truth("Accounts") if r["id"] == made)
    assert (record["Phone"], record["Modified_Time"]) == (
        "+49 30 1234",
        int(clock.now().timestamp()),
    )
    mutations.touch("Accounts", made)
    assert mutations.apply({"op": "delete", "module": "Accounts", "id": made}) == {
        "id": made,
        "module": "Accounts",
    }
    assert made not in {r["id"] for r in crm.sim.truth("Accounts")}
    with pytest.raises(CrmMutationError):
        mutations.create("Contacts", First_Name="no last name")
    with pytest.raises(CrmMutationError):
        mutations.update("Leads", made)


def test_writes_need_write_scopes(crm: Crm, sandbox: Sandbox) -> None:
    crm.token = sandbox.tokens.issue_access_token("com", ("ZohoCRM.modules.contacts.CREATE",))
    assert crm.send("POST", "/Contacts", {"data": [{"Last_Name": "A"}]}).status_code == 201
    refused = crm.send("POST", "/Contacts/upsert", {"data": [{"Last_Name": "A"}]})
    assert refused.json()["code"] == "OAUTH_SCOPE_MISMATCH"
    crm.token = sandbox.tokens.issue_access_token("com", ("ZohoCRM.modules.contacts.WRITE",))
    assert crm.send("POST", "/Contacts/upsert", {"data": [{"Last_Name": "A"}]}).status_code == 200
