"""Every billing simulator answers with a ``Date`` header from the sandbox clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.credentials import CHARGEBEE_KEYS, RECURLY_KEYS
from tests.unit.sandbox.conftest import RECURLY_ACCEPT, START, zoho_headers, zoho_token

#: RFC 9110's IMF-fixdate, e.g. ``Sun, 01 Jun 2025 12:00:00 GMT``.
IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$"
)

Call = Callable[[httpx.Client, Sandbox, bool], httpx.Response]


def _chargebee(client: httpx.Client, sandbox: Sandbox, good: bool) -> httpx.Response:
    key = CHARGEBEE_KEYS["acme"] if good else "live_wrong"
    return client.get(sandbox.base_url("chargebee") + "/customers", auth=(key, ""))


def _recurly(client: httpx.Client, sandbox: Sandbox, good: bool) -> httpx.Response:
    key = RECURLY_KEYS["acme"] if good else "wrong"
    return client.get(
        sandbox.base_url("recurly") + "/accounts", auth=(key, ""), headers=RECURLY_ACCEPT
    )


def _zoho_billing(client: httpx.Client, sandbox: Sandbox, good: bool) -> httpx.Response:
    token = zoho_token(client, sandbox)["access_token"] if good else "1000.wrong"
    return client.get(sandbox.base_url("zoho-billing") + "/customers", headers=zoho_headers(token))


VENDORS: dict[str, Call] = {
    "chargebee": _chargebee,
    "recurly": _recurly,
    "zoho-billing": _zoho_billing,
}


def _date(response: httpx.Response) -> str:
    dates = response.headers.get_list("Date")
    assert len(dates) == 1, dates
    assert IMF_FIXDATE.match(dates[0]), dates[0]
    return dates[0]


@pytest.mark.parametrize("vendor", list(VENDORS))
def test_date_header_is_the_sandbox_clock_and_follows_advance_clock(
    vendor: str, sandbox: Sandbox, client: httpx.Client, clock: ManualClock
) -> None:
    call = VENDORS[vendor]
    response = call(client, sandbox, True)
    assert response.status_code == 200
    assert parsedate_to_datetime(_date(response)) == START

    sandbox.advance_clock(3 * 86400 + 61.7)
    later = call(client, sandbox, True)
    assert later.status_code == 200
    # whole seconds, as HTTP dates have no fractions
    assert parsedate_to_datetime(_date(later)) == START + timedelta(days=3, seconds=61)

    refused = call(client, sandbox, False)  # errors carry it too, as real servers' do
    assert refused.status_code == 401
    assert parsedate_to_datetime(_date(refused)) == START + timedelta(days=3, seconds=61)


def test_date_header_is_sent_once_over_a_real_socket(served: Sandbox) -> None:
    with httpx.Client() as client:
        for vendor, call in VENDORS.items():
            response = call(client, served, True)
            assert response.status_code == 200, vendor
            assert parsedate_to_datetime(_date(response)) == START, vendor
