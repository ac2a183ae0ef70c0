"""Zoho CRM behind the sandbox facade: settings, the admin endpoint and the printed instructions."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import pytest

from desktop.cli.sandbox import describe
from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET

from .conftest import START


def _crm_headers(http: httpx.Client, sandbox: Sandbox) -> dict[str, str]:
    token = http.post(
        sandbox.base_url("zoho-accounts", "com") + "/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": ZOHO_CLIENT_ID,
            "client_secret": ZOHO_CLIENT_SECRET,
            "refresh_token": "1000.sandbox_refresh_com.0000000000000000",
        },
    ).json()
    return {"Authorization": f"Zoho-oauthtoken {token['access_token']}"}


def _admin(http: httpx.Client, sandbox: Sandbox, path: str, body: Any = None) -> Any:
    url = sandbox.origin("zoho") + "/_sandbox/" + path
    response = http.post(url, json=body) if body is not None else http.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def test_crm_settings_reach_the_crm_api() -> None:
    sandbox = Sandbox(
        size=40,
        seed=3,
        clock=ManualClock(START),
        crm_settings={"base_currency": "EUR", "multi_currency": False},
    )
    assert sandbox.crm.config.base_currency == "EUR"
    with httpx.Client(transport=sandbox.transport()) as http:
        org = http.get(sandbox.base_url("zoho-crm") + "/org", headers=_crm_headers(http, sandbox))
    assert org.json()["org"][0]["iso_code"] == "EUR"
    assert org.json()["org"][0]["mc_status"] is False


def test_unknown_crm_setting_is_refused_in_one_sentence() -> None:
    with pytest.raises(ValueError, match="no setting 'base_curency'"):
        Sandbox(size=10, crm_settings={"base_curency": "EUR"})


def test_unique_contact_email_setting_refuses_a_duplicate(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    taken = sandbox.crm.truth("Contacts")[0]["Email"]
    sandbox.configure_crm({"contact_email_unique": True})
    body = {"data": [{"Last_Name": "Twin", "Email": taken}]}
    answer = client.post(
        sandbox.base_url("zoho-crm") + "/Contacts",
        json=body,
        headers=_crm_headers(client, sandbox),
    )
    assert answer.json()["data"][0]["code"] == "DUPLICATE_DATA"


def test_admin_endpoint_changes_crm_records_the_api_then_serves(
    sandbox: Sandbox, client: httpx.Client, clock: ManualClock
) -> None:
    headers = _crm_headers(client, sandbox)
    base = sandbox.base_url("zoho-crm")
    created = _admin(
        client,
        sandbox,
        "mutate",
        {"op": "create", "module": "Contacts", "fields": {"Last_Name": "Okafor"}},
    )["results"][0]
    new_id = created["id"]
    assert created == {"id": new_id, "module": "Contacts", "vendor": "zoho-crm"}
    clock.advance(60)
    victim = sandbox.crm.truth("Accounts")[0]["id"]
    _admin(
        client,
        sandbox,
        "mutate",
        [
            {"op": "update", "module": "Contacts", "id": new_id, "fields": {"Title": "CFO"}},
            {"op": "delete", "module": "Accounts", "id": victim},
        ],
    )
    record = client.get(f"{base}/Contacts/{new_id}", headers=headers).json()["data"][0]
    assert (record["Last_Name"], record["Title"]) == ("Okafor", "CFO")
    deleted = client.get(f"{base}/Accounts/deleted", headers=headers).json()["data"]
    assert victim in {entry["id"] for entry in deleted}
    truth = _admin(client, sandbox, "truth?vendor=zoho-crm&module=Contacts")
    assert new_id in truth["ids"]
    assert truth["count"] == len(sandbox.crm.truth("Contacts"))
    accounts = _admin(client, sandbox, "truth?vendor=zoho-crm&module=Accounts")
    assert victim not in accounts["ids"]


def test_admin_refuses_a_crm_change_it_cannot_make(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = client.post(
        sandbox.origin("zoho") + "/_sandbox/mutate",
        json={"op": "update", "module": "Leads", "id": "1", "fields": {}},
    )
    assert answer.status_code == 400
    assert "Leads" in answer.json()["error"]


def test_admin_configures_the_crm(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = _admin(client, sandbox, "crm/configure", {"currencies": ["USD", "EUR"]})
    assert answer["crm"]["currencies"] == ["USD", "EUR"]
    assert sandbox.crm.config.currencies == ("USD", "EUR")


def test_printed_crm_instructions_get_a_token_that_reads_contacts(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    out = io.StringIO()
    describe(sandbox, out)
    text = out.getvalue()
    section = text[text.index("Zoho CRM") :]
    base = re.search(r"base URL\s+(\S+)", section)
    token_url = re.search(r"token\s+POST (\S+)", section)
    refresh = re.search(r"refresh_token=(\S+)", section)
    assert base is not None
    assert token_url is not None
    assert refresh is not None
    assert "ZohoCRM.modules.ALL" in section
    token = client.post(
        token_url.group(1),
        data={
            "grant_type": "refresh_token",
            "client_id": ZOHO_CLIENT_ID,
            "client_secret": ZOHO_CLIENT_SECRET,
            "refresh_token": refresh.group(1),
        },
    ).json()["access_token"]
    contacts = client.get(
        f"{base.group(1)}/Contacts",
        params={"fields": "Last_Name,Email"},
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
    )
    assert contacts.status_code == 200
    assert len(contacts.json()["data"]) == min(200, len(sandbox.crm.truth("Contacts")))
