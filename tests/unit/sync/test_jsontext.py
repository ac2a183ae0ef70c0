"""Fast JSON on the sync path behaves like the standard library at the edges."""

from __future__ import annotations

import json

import pytest

from desktop.sync import jsontext


@pytest.mark.parametrize(
    "body",
    [
        b'{"list": [{"customer": {"id": "c1", "name": "J\\u00f6rg"}}], "next_offset": "x"}',
        b'{"amount": 12345678901234567890123, "rate": 0.1}',  # beyond 64 bits
        b'{"value": NaN, "other": Infinity}',  # not JSON, but Python's reader takes it
        '{"name": "Zoë"}'.encode(),
    ],
)
def test_loads_gives_what_the_standard_library_gives(body: bytes) -> None:
    expected = json.loads(body)
    got = jsontext.loads(body)
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize("body", [b"", b"{", b"<html>busy</html>", b'{"a": 1,}'])
def test_loads_refuses_what_is_not_json_with_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        jsontext.loads(body)


@pytest.mark.parametrize(
    "value",
    [
        {"id": "c1", "meta": {"plan": ["a", 1, None, True]}, "name": "Jörg"},
        {"big": 2**70},
        {1: "integer key"},
        {"ratio": 0.1, "nested": [{"x": -5}]},
    ],
)
def test_dumps_is_compact_and_reads_back_equal(value: object) -> None:
    text = jsontext.dumps(value)
    assert ", " not in text
    assert '": ' not in text
    assert json.loads(text) == json.loads(json.dumps(value))


def test_dumps_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        jsontext.dumps({"when": object()})
