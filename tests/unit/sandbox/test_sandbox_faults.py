"""Fault injection and rate limits, in-process and over a real socket."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from desktop.sandbox import Fault, ManualClock, Sandbox, parse_faults
from desktop.sandbox.credentials import CHARGEBEE_KEYS, RECURLY_KEYS

KEY = CHARGEBEE_KEYS["acme"]
ACCEPT = {"Accept": "application/vnd.recurly.v2021-02-25"}


def _cb(client: httpx.Client, sandbox: Sandbox, **params: Any) -> httpx.Response:
    return client.get(
        sandbox.base_url("chargebee") + "/customers", params={"limit": 5, **params}, auth=(KEY, "")
    )


def test_third_request_fails_with_503(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults("chargebee:503=#3")
    statuses = [_cb(client, sandbox).status_code for _ in range(5)]
    assert statuses == [200, 200, 503, 200, 200]
    entry = sandbox.log.entries("chargebee")[2]
    assert entry.fault == "503"
    assert entry.status == 503


def test_5xx_bodies_are_vendor_shaped(
    client: httpx.Client, sandbox: Sandbox, zoho_access: str
) -> None:
    sandbox.set_faults("500=always")
    cb = _cb(client, sandbox)
    assert cb.status_code == 500
    assert cb.json()["api_error_code"] == "internal_error"
    rc = client.get(
        sandbox.base_url("recurly") + "/accounts", auth=(RECURLY_KEYS["acme"], ""), headers=ACCEPT
    )
    assert rc.status_code == 500
    assert rc.json()["error"]["type"] == "internal_server_error"
    assert "X-RateLimit-Remaining" in rc.headers
    zb = client.get(
        sandbox.base_url("zoho-billing") + "/customers",
        headers={
            "Authorization": f"Zoho-oauthtoken {zoho_access}",
            "X-com-zoho-subscriptions-organizationid": "10234695",
        },
    )
    assert zb.status_code == 500
    assert zb.json()["code"] == 1000


def test_probabilistic_faults_are_deterministic_per_seed(clock: ManualClock) -> None:
    def failures(seed: int) -> list[int]:
        sandbox = Sandbox(size=30, seed=seed, clock=clock, faults="chargebee:5xx=0.3")
        with httpx.Client(transport=sandbox.transport()) as http:
            return [n for n in range(1, 41) if _cb(http, sandbox).status_code == 503]

    assert failures(1) == failures(1)
    assert failures(1) != failures(2)
    assert 3 < len(failures(1)) < 25


def test_reset_and_timeout_in_process(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_faults("chargebee:reset=#1,chargebee:timeout=5s@#2")
    with pytest.raises(httpx.RemoteProtocolError):
        _cb(client, sandbox)
    with pytest.raises(httpx.ReadTimeout):
        _cb(client, sandbox)
    assert _cb(client, sandbox).status_code == 200
    assert [e.status for e in sandbox.log.entries("chargebee")][:1] == [0]


def test_reset_timeout_and_latency_over_a_socket(served: Sandbox) -> None:
    served.set_faults("chargebee:reset=#1,chargebee:timeout=1s@#2,chargebee:latency=150ms@#3")
    with httpx.Client(timeout=0.3) as http:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            _cb(http, served)
        with pytest.raises(httpx.ReadTimeout):
            _cb(http, served)
    with httpx.Client(timeout=5) as http:
        started = time.perf_counter()
        assert _cb(http, served).status_code == 200
        assert time.perf_counter() - started >= 0.14
        assert _cb(http, served).status_code == 200


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_bad_json_bodies(client: httpx.Client, sandbox: Sandbox, kind: str) -> None:
    sandbox.set_faults(f"chargebee:{kind}=#1")
    response = _cb(client, sandbox)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_schema_drift_adds_drops_and_nulls_fields(client: httpx.Client, sandbox: Sandbox) -> None:
    plain = _cb(client, sandbox).json()["list"]
    sandbox.set_faults("chargebee:drift=always")
    drifted = _cb(client, sandbox).json()["list"]
    assert [d["customer"]["id"] for d in drifted] == [p["customer"]["id"] for p in plain]
    for before, after in zip(plain, drifted, strict=True):
        old, new = before["customer"], after["customer"]
        assert "x_sandbox_new_field" in new
        assert set(old) - set(new)
        assert any(new[k] is None and old[k] is not None for k in new if k in old)


#: What drift must leave alone: a record's identity, its deletion and its cursor position.
_KEPT_BY_DRIFT = ("id", "deleted", "deleted_at", "updated_at", "resource_version")


def _cb_records(client: httpx.Client, sandbox: Sandbox, resource: str) -> list[dict[str, Any]]:
    response = client.get(
        f"{sandbox.base_url('chargebee')}/{resource}",
        params={"limit": 100, "include_deleted": "true", "sort_by[asc]": "updated_at"},
        auth=(KEY, ""),
    )
    assert response.status_code == 200
    return [entry[resource.removesuffix("s")] for entry in response.json()["list"]]


def _rc_accounts(client: httpx.Client, sandbox: Sandbox) -> list[dict[str, Any]]:
    response = client.get(
        sandbox.base_url("recurly") + "/accounts",
        params={"limit": 200, "sort": "updated_at", "order": "asc"},
        auth=(RECURLY_KEYS["acme"], ""),
        headers=ACCEPT,
    )
    assert response.status_code == 200
    records: list[dict[str, Any]] = response.json()["data"]
    return records


def test_drift_keeps_ids_deleted_flags_and_cursor_timestamps(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    def answers() -> list[list[dict[str, Any]]]:
        lists = [_cb_records(client, sandbox, r) for r in ("customers", "subscriptions")]
        return [*lists, _cb_records(client, sandbox, "invoices"), _rc_accounts(client, sandbox)]

    plain = answers()
    sandbox.set_faults("chargebee:drift=always,recurly:drift=always")
    drifted = answers()
    assert any(r.get("deleted") for r in plain[2])  # deleted invoices are in the answer
    assert any(r.get("deleted_at") for r in plain[3])  # and closed Recurly accounts
    for before_list, after_list in zip(plain, drifted, strict=True):
        assert len(before_list) == len(after_list) > 0
        for before, after in zip(before_list, after_list, strict=True):
            assert "x_sandbox_new_field" in after  # it did drift
            assert set(before) - set(after)
            for key in _KEPT_BY_DRIFT:
                assert (key in after) == (key in before), key
                assert after.get(key) == before.get(key), key
            for key in before:
                if key.endswith("id"):
                    assert after[key] == before[key], key


def test_expired_token_and_429_burst(
    client: httpx.Client, sandbox: Sandbox, zoho_access: str
) -> None:
    sandbox.set_faults("zoho-billing:expired=#1,zoho-billing:429=#2,recurly:429=#1")
    url = sandbox.base_url("zoho-billing") + "/customers"
    headers = {
        "Authorization": f"Zoho-oauthtoken {zoho_access}",
        "X-com-zoho-subscriptions-organizationid": "10234695",
    }
    first = client.get(url, headers=headers)
    assert first.status_code == 401
    assert first.json()["code"] == 57
    second = client.get(url, headers=headers)
    assert second.status_code == 429
    assert second.json()["code"] == 44
    assert client.get(url, headers=headers).status_code == 200
    rc = client.get(
        sandbox.base_url("recurly") + "/accounts", auth=(RECURLY_KEYS["acme"], ""), headers=ACCEPT
    )
    assert rc.status_code == 429
    assert rc.json()["error"]["type"] == "rate_limited"


def test_rate_limits_per_vendor_with_headers_and_reset(
    client: httpx.Client, sandbox: Sandbox, clock: ManualClock, zoho_access: str
) -> None:
    sandbox.set_rate_limit("all", "3/60")
    assert [_cb(client, sandbox).status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = _cb(client, sandbox)
    body = limited.json()
    assert body["api_error_code"] == "api_request_limit_exceeded"
    assert body["type"] == "operation_failed"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    test_site = client.get(
        sandbox.base_url("chargebee", "acme-test") + "/customers",
        auth=(CHARGEBEE_KEYS["acme-test"], ""),
    )
    assert test_site.status_code == 200
    rc = [
        client.get(
            sandbox.base_url("recurly") + "/accounts",
            auth=(RECURLY_KEYS["acme"], ""),
            headers=ACCEPT,
        )
        for _ in range(4)
    ]
    assert [r.status_code for r in rc] == [200, 200, 200, 429]
    assert [int(r.headers["X-RateLimit-Remaining"]) for r in rc] == [2, 1, 0, 0]
    assert {r.headers["X-RateLimit-Limit"] for r in rc} == {"3"}
    assert int(rc[0].headers["X-RateLimit-Reset"]) > clock.now().timestamp()
    zoho = [
        client.get(
            sandbox.base_url("zoho-billing") + "/plans",
            headers={
                "Authorization": f"Zoho-oauthtoken {zoho_access}",
                "X-com-zoho-subscriptions-organizationid": "10234695",
            },
        )
        for _ in range(4)
    ]
    assert zoho[-1].status_code == 429
    assert zoho[-1].json()["code"] == 44
    clock.advance(61)
    assert _cb(client, sandbox).status_code == 200


def test_fault_syntax_errors_are_sentences() -> None:
    assert parse_faults("5xx=0.05,reset=0.01,latency=50ms")[2] == Fault(
        "latency", every=1, value=0.05
    )
    assert parse_faults("recurly:timeout=2s@#3+4")[0].at == frozenset({3, 4})
    for bad in ("nonsense=1", "5xx", "5xx=2", "latency=fast", "bogus:5xx=0.1"):
        with pytest.raises(ValueError, match=r"\.$"):
            parse_faults(bad, ("chargebee", "recurly"))
