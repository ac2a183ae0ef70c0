"""The loopback HTTP server: failures become answers or silence, never console tracebacks."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import httpx
import pytest

from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.core import CallContext, Identity, SandboxRequest, SandboxResponse
from desktop.sandbox.faults import FaultKind


class _Broken:
    """A simulator with a bug: it raises on every request to ``/broken``."""

    name = "broken"

    def matches(self, request: SandboxRequest) -> bool:
        return request.path.startswith("/broken")

    def identify(self, request: SandboxRequest) -> Identity:
        return Identity()

    def handle(self, request: SandboxRequest, ctx: CallContext) -> SandboxResponse:
        raise RuntimeError("boom")

    def fault_response(
        self, kind: FaultKind, status: int, request: SandboxRequest, ctx: CallContext
    ) -> SandboxResponse:
        raise NotImplementedError

    def decorate(
        self, response: SandboxResponse, request: SandboxRequest, ctx: CallContext
    ) -> None:
        """Nothing."""


@pytest.fixture
def broken(clock: ManualClock) -> Iterator[Sandbox]:
    """A small served sandbox with a broken simulator on the Chargebee origin."""
    sandbox = Sandbox(size=20, seed=1, clock=clock)
    sandbox.register(_Broken(), "chargebee")
    with sandbox:
        yield sandbox


def test_a_simulator_bug_answers_500_with_one_line(
    broken: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    response = httpx.get(broken.origin("chargebee") + "/broken", timeout=5)
    assert response.status_code == 500
    assert "RuntimeError: boom" in response.json()["message"]
    ok = httpx.get(broken.origin("chargebee") + "/_sandbox/status", timeout=5)
    assert ok.status_code == 200
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_a_client_that_drops_its_connection_prints_nothing(
    broken: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    port = int(broken.origin("chargebee").rsplit(":", 1)[1])
    for partial in (b"GET /chargebee/acme/api/v2/customers HTTP/1.1\r\nHost: x\r\n", b"GE"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(partial)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert httpx.get(broken.origin("chargebee") + "/_sandbox/status", timeout=5).is_success
    assert capsys.readouterr().err == ""
