"""Receiver tokens, the Basic authorization header, and the HMAC signature."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from desktop.webhooks import auth


def test_tokens_fit_zoho_secret_token_field_and_differ() -> None:
    tokens = {auth.generate_token() for _ in range(20)}
    assert len(tokens) == 20
    assert all(auth.is_token(token) and len(token) == 40 for token in tokens)


def test_header_is_basic_of_receiver_and_token() -> None:
    header = auth.authorization_header("acme-zoho", "Secret123Token")
    scheme, _, credentials = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials) == b"acme-zoho:Secret123Token"


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (auth.authorization_header("acme", "TokenTokenToken1"), True),
        ("basic " + auth.basic_credentials("acme", "TokenTokenToken1"), True),
        (auth.authorization_header("acme", "TokenTokenToken2"), False),
        (auth.authorization_header("other", "TokenTokenToken1"), False),
        ("Bearer TokenTokenToken1", False),
        ("Basic !!!not-base64!!!", False),
        ("", False),
        (None, False),
    ],
)
def test_authorization_check(header: str | None, accepted: bool) -> None:
    assert auth.check_authorization(header, "acme", "TokenTokenToken1") is accepted


def test_credentials_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert not auth.check_authorization("Basic d3Jvbmc=", "acme", "TokenTokenToken1")
    assert calls, "the credentials were not compared with hmac.compare_digest"
    calls.clear()
    assert not auth.check_signature("00", "TokenTokenToken1", [], b"{}")
    assert calls


def test_signature_follows_the_reference_example() -> None:
    # query plan_code=gold&customer_id=c42 + body {"event_id":"901"}
    pairs = [("plan_code", "gold"), ("customer_id", "c42")]
    body = b'{"event_id":"901"}'
    assert auth.signed_string(pairs, body) == b'customer_idc42plan_codegold{"event_id":"901"}'
    expected = hmac.new(
        b"TokenTokenToken1", b'customer_idc42plan_codegold{"event_id":"901"}', hashlib.sha256
    ).hexdigest()
    assert auth.signature("TokenTokenToken1", pairs, body) == expected
    assert auth.check_signature(expected, "TokenTokenToken1", pairs, body)
    assert auth.check_signature(expected.upper(), "TokenTokenToken1", pairs, body)


def test_signature_refuses_a_changed_body_or_a_missing_header() -> None:
    good = auth.signature("TokenTokenToken1", [], b'{"a":1}')
    assert not auth.check_signature(good, "TokenTokenToken1", [], b'{"a":2}')
    assert not auth.check_signature(good, "OtherTokenToken1", [], b'{"a":1}')
    assert not auth.check_signature(None, "TokenTokenToken1", [], b'{"a":1}')


def test_token_from_the_environment() -> None:
    assert auth.token_env_name("acme-eu") == "BILLBRIDGE_WEBHOOK_TOKEN_ACME_EU"
    environ = {"BILLBRIDGE_WEBHOOK_TOKEN_ACME_EU": " abc "}
    assert auth.token_from_env("acme-eu", environ) == "abc"
    assert auth.token_from_env("acme", environ) is None
