"""Serving a :class:`~desktop.sandbox.core.Mount` in-process through ``httpx.MockTransport``.

Works for both ``httpx.Client`` and ``httpx.AsyncClient``. Injected faults become the
errors a real connection would raise: a reset is ``httpx.RemoteProtocolError`` and a
timeout is ``httpx.ReadTimeout`` (raised at once instead of waiting). Injected latency
sleeps in the calling thread, also for async clients.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from desktop.sandbox.core import Mount, SandboxRequest, SandboxResponse


def to_sandbox_request(request: httpx.Request) -> SandboxRequest:
    """Converts an httpx request into the sandbox model."""
    target = request.url.raw_path.decode("ascii")
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    return SandboxRequest.build(request.method, target, headers, request.read())


def to_httpx_response(response: SandboxResponse, request: httpx.Request) -> httpx.Response:
    """Converts a sandbox response (with its fault action) into an httpx response."""
    if response.action == "reset":
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        )
    if response.action == "timeout":
        raise httpx.ReadTimeout("The sandbox held the request past the timeout.", request=request)
    body = b"" if request.method == "HEAD" else response.encode()
    headers = [("Content-Type", response.content_type), *response.headers]
    return httpx.Response(response.status, headers=headers, content=body, request=request)


def mock_transport(route: Callable[[httpx.Request], Mount | None]) -> httpx.MockTransport:
    """Returns a transport answering each request with the mount ``route`` picks for it."""

    def handle(request: httpx.Request) -> httpx.Response:
        mount = route(request)
        if mount is None:
            raise httpx.ConnectError(
                f"No sandbox simulator listens at {request.url.host}:{request.url.port}.",
                request=request,
            )
        return to_httpx_response(mount.dispatch(to_sandbox_request(request)), request)

    return httpx.MockTransport(handle)
