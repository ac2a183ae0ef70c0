"""Serving a :class:`~desktop.sandbox.core.Mount` over a real HTTP/1.1 socket on 127.0.0.1.

One threaded server per mount, with keep-alive, ``TCP_NODELAY`` and each response
written in a single send, so a plain client pages through thousands of records per
second. Injected resets close the socket with an RST; injected timeouts hold the request
(bounded, and released at once when the server stops).
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from desktop.sandbox.core import Mount, SandboxRequest, json_response

LOOPBACK = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], mount: Mount) -> None:
        self.mount = mount
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.connections_lock:
            self.connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keeps tracebacks off the console: a client that drops its connection (or a
        connection the sandbox closes on stop) is normal; anything else gets one line."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return
        print(
            f"sandbox {self.mount.name}: a request from {client_address[0]} failed "
            f"({type(error).__name__}: {error}).",
            file=sys.stderr,
        )

    def close_connections(self) -> None:
        """Ends every open keep-alive connection so its handler thread finishes."""
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silences the default stderr access log (the sandbox has its own request log)."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = SandboxRequest.build(self.command, self.path, self.headers.items(), body)
        try:
            response = self.server.mount.dispatch(request)
        except Exception as error:  # a simulator bug: answer 500, never a traceback
            message = f"The sandbox failed to answer ({type(error).__name__}: {error})."
            print(f"sandbox {self.server.mount.name}: {message}", file=sys.stderr)
            response = json_response(500, {"message": message})
        if response.action == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if response.action == "timeout" and self.server.stopping.wait(response.hold):
            self.close_connection = True
            return
        payload = response.encode()
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(payload)}",
        ]
        lines.extend(f"{key}: {value}" for key, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        data = head if self.command == "HEAD" else head + payload
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = _serve
    do_HEAD = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve
    do_OPTIONS = _serve


class MountServer:
    """A running HTTP server for one mount.

    Args:
        mount: what to serve.
        port: TCP port on 127.0.0.1; 0 picks a free one.
    """

    def __init__(self, mount: Mount, port: int = 0) -> None:
        self.mount = mount
        self._server = _Server((LOOPBACK, port), mount)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{mount.name}",
            daemon=True,
        )

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        """Starts serving in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stops accepting, releases held requests and closes the socket."""
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)
