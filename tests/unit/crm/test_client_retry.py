"""The CRM client's retries: back-off on 5xx and transport failures, 429 waits, giving up."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from desktop.crm.client import CrmClient
from desktop.jobs import Cancelled, CancelToken
from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.credentials import ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user
from desktop.sync.base import SourceResponseError, SourceUnreachable
from desktop.sync.zoho_oauth import ZohoCredentials
from tests.unit.crm.support import FakeTime

T = TypeVar("T")

CREDENTIALS = ZohoCredentials(ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, zoho_user("com").refresh_token)


def _client(
    sandbox: Sandbox,
    clock: ManualClock,
    time: FakeTime,
    cancel: CancelToken | None = None,
) -> CrmClient:
    return CrmClient(
        CREDENTIALS,
        name="CRM",
        clock=clock.now,
        base_url=sandbox.base_url("zoho-api", "com"),
        auth_url=sandbox.base_url("zoho-accounts", "com"),
        transport=sandbox.transport(),
        cancel=cancel,
        sleep=time.sleep,
        monotonic=time.monotonic,
        rng=random.Random(5),
    )


def _run(client: CrmClient, call: Callable[[CrmClient], Awaitable[T]]) -> T:
    async def go() -> T:
        try:
            return await call(client)
        finally:
            await client.aclose()

    return asyncio.run(go())


def _statuses(sandbox: Sandbox) -> list[int]:
    return [e.status for e in sandbox.log.entries("zoho-crm")]


def test_5xx_is_retried_with_capped_jittered_backoff(sandbox: Sandbox, clock: ManualClock) -> None:
    sandbox.set_faults("zoho-crm:503=#1+2")
    time = FakeTime()
    client = _client(sandbox, clock, time)
    answer = _run(client, lambda c: c.get("/org"))
    assert answer is not None
    assert answer["org"]
    assert _statuses(sandbox) == [503, 503, 200]
    assert client.api_calls == 3
    # back-offs with the default policy (base 0.5 s): ceilings 0.5 and 1, each at least half
    assert 0.25 + 0.5 <= time.slept <= 0.5 + 1.0 + 1e-9


def test_a_write_is_retried_after_a_server_error(sandbox: Sandbox, clock: ManualClock) -> None:
    sandbox.set_faults("zoho-crm:500=#1")
    client = _client(sandbox, clock, FakeTime())
    results = _run(
        client,
        lambda c: c.write(
            "POST",
            "/Contacts/upsert",
            [{"Last_Name": "Lee", "Email": "ann@lee.test"}],
            duplicate_check_fields=["Email"],
        ),
    )
    assert [r.ok for r in results] == [True]
    assert _statuses(sandbox) == [500, 200]
    assert (client.write_calls, client.api_calls) == (1, 2)  # one call, sent twice


def test_5xx_gives_up_with_a_sentence_after_max_attempts(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.set_faults("zoho-crm:502=always")
    client = _client(sandbox, clock, FakeTime())
    with pytest.raises(SourceResponseError) as caught:
        _run(client, lambda c: c.get("/org"))
    assert str(caught.value) == "Zoho CRM answered 502 6 times in a row for CRM; try again later."
    assert len(_statuses(sandbox)) == client.policy.max_attempts == 6


@pytest.mark.parametrize(
    ("faults", "failure"),
    [
        ("zoho-crm:reset=always", "connection failed (RemoteProtocolError)"),
        ("zoho-crm:timeout=1s@always", "timed out"),  # in-process: raised at once
    ],
)
def test_transport_failures_are_retried_then_reported_as_unreachable(
    sandbox: Sandbox, clock: ManualClock, faults: str, failure: str
) -> None:
    sandbox.set_faults(faults)
    client = _client(sandbox, clock, FakeTime())
    with pytest.raises(SourceUnreachable) as caught:
        _run(client, lambda c: c.get("/org"))
    assert str(caught.value) == (
        f"Zoho CRM could not be reached for CRM ({failure} after 6 attempts); "
        "check the network and try again."
    )
    assert client.api_calls == 6


def test_429_waits_and_is_not_a_failed_attempt(sandbox: Sandbox, clock: ManualClock) -> None:
    sandbox.set_faults("zoho-crm:429=#1+2,zoho-crm:503=#3+4+5+6+7")
    time = FakeTime()
    client = _client(sandbox, clock, time)
    answer = _run(client, lambda c: c.get("/org"))
    assert answer is not None
    # two 429s, then five failed attempts and the sixth succeeds: the 429s did not count
    assert _statuses(sandbox) == [429, 429, 503, 503, 503, 503, 503, 200]
    assert client.rate_limited == 2
    assert time.slept >= 2 * client.policy.default_rate_wait


def test_cancel_stops_a_back_off_wait(sandbox: Sandbox, clock: ManualClock) -> None:
    sandbox.set_faults("zoho-crm:503=always")
    cancel = CancelToken()

    class CancelWhileWaiting(FakeTime):
        async def sleep(self, seconds: float) -> None:
            await super().sleep(seconds)
            cancel.cancel()

    client = _client(sandbox, clock, CancelWhileWaiting(), cancel)
    with pytest.raises(Cancelled):
        _run(client, lambda c: c.get("/org"))
    assert _statuses(sandbox) == [503]
