"""The Zoho OAuth seam: secret parsing, data centres, and the token manager's logic.

These tests drive :class:`ZohoTokenManager` through a recording ``post_token`` double of
our own ``SourceHttp`` seam (not a Zoho simulator) to pin down caching, expiry by the
injected clock, one refresh for concurrent callers and secret hygiene. The same
behaviour against the sandbox's Zoho accounts server is in ``test_zoho_billing.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from desktop.errors import ConfigurationError
from desktop.sync.base import AuthorisationError, SourceResponseError
from desktop.sync.zoho_oauth import (
    TokenRejected,
    ZohoCredentials,
    ZohoTokenManager,
    accounts_url,
    api_domain,
    exchange_grant_code,
    normalise_data_centre,
    parse_zoho_secret,
)

T = TypeVar("T")

SECRET = "client-secret-never-shown"
REFRESH = "1000.refresh-never-shown"
CREDS = ZohoCredentials("1000.CLIENT", SECRET, REFRESH)


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class RecordingTokenPoster:
    """Answers token requests with numbered tokens; records every form it was sent."""

    def __init__(self, answer: dict[str, Any] | None = None, delay: float = 0.0) -> None:
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.answer = answer
        self.delay = delay

    async def post_token(self, url: str, *, data: dict[str, str]) -> dict[str, Any]:
        self.forms.append((url, dict(data)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.answer is not None:
            return self.answer
        return {
            "access_token": f"1000.access-{len(self.forms)}",
            "api_domain": "https://www.zohoapis.eu",
            "token_type": "Bearer",
            "expires_in": 3600,
        }


# ------------------------------------------------------------------------- secret


def test_secret_parses_three_keys() -> None:
    creds = parse_zoho_secret(
        json.dumps({"client_id": "a", "client_secret": "b", "refresh_token": "c"})
    )
    assert (creds.client_id, creds.client_secret, creds.refresh_token) == ("a", "b", "c")
    assert "b" not in repr(creds).replace("client_id='a'", "")
    assert json.loads(creds.to_secret())["refresh_token"] == "c"


@pytest.mark.parametrize(
    ("secret", "named"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"client_secret": "s3cr3t", "refresh_token": "r"}', "client_id"),
        ('{"client_id": "a", "refresh_token": "r"}', "client_secret"),
        ('{"client_id": "a", "client_secret": "s3cr3t"}', "refresh_token"),
        ('{"client_id": "a", "client_secret": 5, "refresh_token": "r"}', "client_secret"),
        ('{"client_id": "a", "client_secret": "s3cr3t", "refresh_token": " "}', "refresh_token"),
    ],
)
def test_bad_secret_names_the_key_without_echoing_values(secret: str, named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_zoho_secret(secret)
    assert named in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


# ------------------------------------------------------------------- data centres


@pytest.mark.parametrize(
    ("dc", "api", "accounts"),
    [
        ("us", "https://www.zohoapis.com", "https://accounts.zoho.com"),
        ("com", "https://www.zohoapis.com", "https://accounts.zoho.com"),
        ("EU", "https://www.zohoapis.eu", "https://accounts.zoho.eu"),
        ("in", "https://www.zohoapis.in", "https://accounts.zoho.in"),
        ("au", "https://www.zohoapis.com.au", "https://accounts.zoho.com.au"),
        ("jp", "https://www.zohoapis.jp", "https://accounts.zoho.jp"),
        ("ca", "https://www.zohoapis.ca", "https://accounts.zohocloud.ca"),
    ],
)
def test_data_centre_routing(dc: str, api: str, accounts: str) -> None:
    assert api_domain(dc) == api
    assert accounts_url(dc) == accounts


def test_unknown_data_centre_is_a_sentence() -> None:
    with pytest.raises(ConfigurationError, match="not a Zoho data centre"):
        normalise_data_centre("mars")


# --------------------------------------------------------------------- the manager


def test_token_is_cached_until_shortly_before_expiry() -> None:
    poster, clock = RecordingTokenPoster(), Clock()
    manager = ZohoTokenManager(poster, CREDS, "https://accounts.zoho.eu", clock)

    async def scenario() -> list[str]:
        tokens = [await manager.access_token()]
        clock.now += timedelta(minutes=50)
        tokens.append(await manager.access_token())
        clock.now += timedelta(minutes=6)  # inside the 5-minute margin before 60 min
        tokens.append(await manager.access_token())
        return tokens

    assert run(scenario()) == ["1000.access-1", "1000.access-1", "1000.access-2"]
    url, form = poster.forms[0]
    assert url == "https://accounts.zoho.eu/oauth/v2/token"
    assert form == {
        "grant_type": "refresh_token",
        "client_id": "1000.CLIENT",
        "client_secret": SECRET,
        "refresh_token": REFRESH,
    }
    assert manager.api_domain == "https://www.zohoapis.eu"


def test_expires_in_milliseconds_from_old_servers() -> None:
    poster = RecordingTokenPoster(
        {"access_token": "t", "expires_in": 3_600_000, "expires_in_sec": 3600}
    )
    clock = Clock()
    manager = ZohoTokenManager(poster, CREDS, "https://accounts.zoho.com", clock)
    token = run(manager.token())
    assert token.refresh_at == clock.now + timedelta(minutes=55)


def test_concurrent_callers_share_one_refresh() -> None:
    poster = RecordingTokenPoster(delay=0.01)
    manager = ZohoTokenManager(poster, CREDS, "https://accounts.zoho.com", Clock())

    async def scenario() -> list[str]:
        return list(await asyncio.gather(*(manager.access_token() for _ in range(20))))

    assert set(run(scenario())) == {"1000.access-1"}
    assert len(poster.forms) == 1


def test_refused_token_is_refreshed_once_for_many_concurrent_requests() -> None:
    poster = RecordingTokenPoster(delay=0.01)
    manager = ZohoTokenManager(poster, CREDS, "https://accounts.zoho.com", Clock())
    seen: list[str] = []

    async def request(headers: dict[str, str]) -> str:
        token = headers["Authorization"].removeprefix("Zoho-oauthtoken ")
        seen.append(token)
        await asyncio.sleep(0)
        if token == "1000.access-1":
            raise TokenRejected()
        return token

    async def scenario() -> list[str]:
        await manager.access_token()
        return list(await asyncio.gather(*(manager.call(request) for _ in range(10))))

    assert set(run(scenario())) == {"1000.access-2"}
    assert len(poster.forms) == 2  # the first token, then exactly one refresh


def test_second_refusal_asks_to_reauthorise() -> None:
    poster = RecordingTokenPoster()
    manager = ZohoTokenManager(poster, CREDS, "https://accounts.zoho.com", Clock(), name="Acme")

    async def always_refused(headers: dict[str, str]) -> None:
        raise TokenRejected()

    with pytest.raises(AuthorisationError, match="re-authorise this connection") as caught:
        run(manager.call(always_refused))
    assert len(poster.forms) == 2
    assert "access-" not in str(caught.value)


def test_http_401_from_the_client_triggers_the_refresh() -> None:
    poster = RecordingTokenPoster()
    manager = ZohoTokenManager(poster, CREDS, "https://accounts.zoho.com", Clock())
    calls: list[int] = []

    async def request(headers: dict[str, str]) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise AuthorisationError("Zoho refused the credentials (HTTP 401).")
        return "ok"

    assert run(manager.call(request)) == "ok"
    assert len(poster.forms) == 2


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        ({"error": "invalid_client"}, AuthorisationError, "client id or client secret"),
        ({"error": "invalid_code"}, AuthorisationError, "re-authorise"),
        (
            {"error": "Access Denied", "error_description": "You have made too many requests"},
            SourceResponseError,
            "try again",
        ),
        ({"token_type": "Bearer"}, SourceResponseError, "without an access token"),
    ],
)
def test_refusals_are_sentences_without_secrets(
    answer: dict[str, Any], error: type[Exception], words: str
) -> None:
    manager = ZohoTokenManager(
        RecordingTokenPoster(answer), CREDS, "https://accounts.zoho.com", Clock(), name="Acme"
    )
    with pytest.raises(error) as caught:
        run(manager.access_token())
    message = str(caught.value)
    assert words in message
    assert SECRET not in message
    assert REFRESH not in message
    assert SECRET not in repr(manager)


def test_logs_never_carry_secrets_or_tokens(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    manager = ZohoTokenManager(RecordingTokenPoster(), CREDS, "https://accounts.zoho.com", Clock())
    token = run(manager.access_token())
    assert caplog.records
    for text in (SECRET, REFRESH, token):
        assert text not in caplog.text


def test_grant_code_exchange_returns_storable_credentials() -> None:
    poster = RecordingTokenPoster(
        {"access_token": "a", "refresh_token": "1000.new-refresh", "expires_in": 3600}
    )
    creds = run(
        exchange_grant_code(
            poster,
            client_id="1000.CLIENT",
            client_secret=SECRET,
            code=" 1000.grant ",
            auth_url="https://accounts.zoho.eu/",
        )
    )
    assert creds == ZohoCredentials("1000.CLIENT", SECRET, "1000.new-refresh")
    url, form = poster.forms[0]
    assert url == "https://accounts.zoho.eu/oauth/v2/token"
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == "1000.grant"


def test_used_grant_code_is_explained() -> None:
    poster = RecordingTokenPoster({"access_token": "a", "expires_in": 3600})
    call: Callable[[], Awaitable[ZohoCredentials]] = lambda: exchange_grant_code(  # noqa: E731
        poster, client_id="c", client_secret=SECRET, code="x", auth_url="https://a.example"
    )
    with pytest.raises(AuthorisationError, match="new grant code"):
        run(call())
