"""The webhook receiver's HTTP side: answers, and the server that carries them.

:class:`WebhookEndpoint` decides every answer from a plain :class:`Request`, so it is
tested without sockets; :class:`ReceiverServer` serves it on a real socket: one asyncio
loop on its own thread, HTTP/1.1 with keep-alive and ``TCP_NODELAY``, headers parsed
directly (no thread per connection, no e-mail parser), so a burst of a thousand events a
second is answered in a few milliseconds each.

Answers (JSON bodies, never a traceback):

* ``POST /webhooks/zoho-billing/<receiver>`` — 200 ``{"status": "stored"|"duplicate"}``
  once the event is committed; 400 ``{"error": reason}`` for a malformed body (stored as
  ``rejected`` first); 401 for missing or wrong credentials or signature; 413 for a body
  over the limit (not read); 411 for a chunked body; 503 when the workspace cannot store
  it (Zoho Billing retries);
* 404 for any other path or an unknown receiver; 405 for another method on a receiver
  path; ``GET /health`` answers 200 ``{"status": "ok"}`` for a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from desktop.webhooks.auth import SIGNATURE_HEADER, check_authorization, check_signature
from desktop.webhooks.events import EventRejected, parse_event, peek_identity
from desktop.webhooks.receivers import PATH_PREFIX, ActiveReceiver
from desktop.webhooks.store import EventStatus, Incoming, Stored, StoreUnavailable

log = logging.getLogger(__name__)

#: The largest body accepted (1 MiB); Zoho Billing's payloads are a few kilobytes.
MAX_BODY: Final[int] = 1024 * 1024
#: The largest request head (request line and headers).
MAX_HEAD: Final[int] = 32 * 1024
#: Idle keep-alive connections are closed after this many seconds.
IDLE_SECONDS: Final[float] = 75.0
FORM_TYPE: Final[str] = "application/x-www-form-urlencoded"


@dataclass
class Request:
    """One HTTP request as the endpoint sees it.

    Attributes:
        method: ``POST``, ``GET``, …
        target: the request target (path and query).
        headers: header names in lower case.
        read_body: reads exactly ``n`` body bytes (called only once the request may have
            a body of that size).
        peer: the client address, kept with the stored event.
    """

    method: str
    target: str
    headers: dict[str, str]
    read_body: Callable[[int], Awaitable[bytes]]
    peer: str = ""


@dataclass
class Response:
    """An answer: status, JSON body, extra headers, and whether to close afterwards."""

    status: int
    body: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False

    def encode(self, *, head_only: bool = False, close: bool = False) -> bytes:
        """The whole HTTP/1.1 response, ready to send in one write."""
        payload = json.dumps(self.body, separators=(",", ":")).encode()
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = ""
        lines = [
            f"HTTP/1.1 {self.status} {reason}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
        ]
        lines.extend(f"{key}: {value}" for key, value in self.headers)
        if close or self.close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + payload


def _error(status: HTTPStatus, message: str, **extra: Any) -> Response:
    return Response(int(status), {"error": message}, **extra)


Lookup = Callable[[str], ActiveReceiver | None]
Store = Callable[[Incoming], Awaitable[Stored]]


class WebhookEndpoint:
    """Turns requests into stored events and answers.

    Args:
        lookup: the receiver called a name (see
            :class:`~desktop.webhooks.receivers.ReceiverDirectory`); called on the
            server's loop, so it must be quick (it caches).
        store: commits an event and returns its row (see
            :meth:`~desktop.webhooks.store.EventWriter.store_async`).
        max_body: the body size limit in bytes.
    """

    def __init__(self, lookup: Lookup, store: Store, *, max_body: int = MAX_BODY) -> None:
        self._lookup = lookup
        self._store = store
        self._max_body = max_body

    async def handle(self, request: Request) -> Response:
        """Answers one request; never raises."""
        try:
            return await self._handle(request)
        except StoreUnavailable as error:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, str(error))
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except Exception as error:
            log.error("The webhook receiver failed on a request", exc_info=error)
            return _error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "Billbridge could not handle the event; it was not stored.",
                close=True,
            )

    async def _handle(self, request: Request) -> Response:
        parts = urlsplit(request.target)
        path = unquote(parts.path)
        if path in ("/health", "/healthz") and request.method in ("GET", "HEAD"):
            return Response(200, {"status": "ok"})
        if not path.startswith(PATH_PREFIX):
            return _error(HTTPStatus.NOT_FOUND, "There is nothing at this address.", close=True)
        if request.method != "POST":
            return _error(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "A webhook receiver accepts POST only.",
                headers=[("Allow", "POST")],
                close=True,
            )
        name = path[len(PATH_PREFIX) :].strip("/")
        receiver = self._lookup(name) if name and "/" not in name else None
        if receiver is None:
            return _error(
                HTTPStatus.NOT_FOUND, f"There is no webhook receiver called {name!r}.", close=True
            )
        if receiver.token is None or not check_authorization(
            request.headers.get("authorization"), receiver.name, receiver.token
        ):
            return _error(
                HTTPStatus.UNAUTHORIZED,
                "The Authorization header is missing or wrong for this receiver.",
                headers=[("WWW-Authenticate", 'Basic realm="Billbridge webhooks"')],
                close=True,
            )
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            return _error(
                HTTPStatus.LENGTH_REQUIRED, "Send the event with a Content-Length.", close=True
            )
        try:
            length = int(request.headers.get("content-length", "0"))
            if length < 0:
                raise ValueError(length)
        except ValueError:
            return _error(HTTPStatus.BAD_REQUEST, "The Content-Length is not a number.", close=True)
        if length > self._max_body:
            return _error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"The body is larger than {self._max_body:,} bytes.",
                close=True,
            )
        body = await request.read_body(length) if length else b""
        return await self._accept(request, receiver, parts.query, body)

    async def _accept(
        self, request: Request, receiver: ActiveReceiver, query: str, body: bytes
    ) -> Response:
        assert receiver.token is not None
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        pairs = parse_qsl(query, keep_blank_values=True)
        is_form = content_type == FORM_TYPE
        if is_form:
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        if receiver.verify_signature and not check_signature(
            request.headers.get(SIGNATURE_HEADER.lower()),
            receiver.token,
            pairs,
            b"" if is_form else body,
        ):
            return _error(
                HTTPStatus.UNAUTHORIZED,
                f"The {SIGNATURE_HEADER} header is missing or does not match the body.",
                close=True,
            )
        meta: dict[str, Any] = {
            "content_type": content_type or None,
            "user_agent": request.headers.get("user-agent"),
            "peer": request.peer or None,
            "signed": SIGNATURE_HEADER.lower() in request.headers,
        }
        text = body.decode("utf-8", "replace")
        try:
            if is_form:
                raise EventRejected(
                    "The body is a form; choose the Default payload (JSON) for this webhook "
                    "in Zoho Billing."
                )
            event = parse_event(body)
        except EventRejected as rejected:
            event_id, event_type = peek_identity(body)
            stored = await self._store(
                Incoming(
                    connection_id=receiver.connection_id,
                    receiver_id=receiver.id,
                    body=text,
                    event_type=event_type,
                    status=EventStatus.REJECTED,
                    reason=str(rejected),
                    meta={**meta, "event_id": event_id},
                )
            )
            return Response(
                int(HTTPStatus.BAD_REQUEST), {"error": str(rejected), "stored": stored.id}
            )
        stored = await self._store(
            Incoming(
                connection_id=receiver.connection_id,
                receiver_id=receiver.id,
                body=text,
                event_id=event.event_id,
                event_type=event.event_type,
                event_time=event.event_time,
                meta=meta,
            )
        )
        return Response(
            200,
            {
                "status": "duplicate" if stored.duplicate else "stored",
                "event_id": event.event_id,
                "stored": stored.id,
            },
        )


# ------------------------------------------------------------------------------ server


class _BadRequest(Exception):
    """A request head that cannot be parsed."""


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        text = head.decode("latin-1")
        request_line, _, rest = text.partition("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError:
        raise _BadRequest from None
    if not version.startswith("HTTP/1."):
        raise _BadRequest
    headers: dict[str, str] = {}
    for line in rest.split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest
        name = key.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return method.upper(), target, version, headers


class ReceiverServer:
    """The endpoint on a socket, served by an asyncio loop on a background thread.

    Args:
        endpoint: what answers.
        host: the address to listen on (default loopback).
        port: the port; 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, endpoint: WebhookEndpoint, host: str = "127.0.0.1", port: int = 0) -> None:
        self._endpoint = endpoint
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
            self._socket.listen(512)
        except OSError:
            self._socket.close()
            raise
        self._socket.setblocking(False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._busy: set[asyncio.StreamWriter] = set()

    @property
    def host(self) -> str:
        """The address it listens on."""
        return str(self._socket.getsockname()[0])

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Its base URL (``http://host:port``)."""
        host = self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> None:
        """Starts serving on a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhook-http", daemon=True)
            self._thread.start()
            self._ready.wait(10)

    def stop(self, grace: float = 5.0) -> None:
        """Stops accepting, lets requests being answered finish, closes every connection."""
        loop, stopping = self._loop, self._stopping
        if self._thread is not None and loop is not None and stopping is not None:
            loop.call_soon_threadsafe(stopping.set)
            self._thread.join(grace + 5)
            self._thread = None
        else:
            self._socket.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(
            self._connection, sock=self._socket, limit=MAX_HEAD, backlog=512
        )
        self._ready.set()
        await self._stopping.wait()
        server.close()
        for writer in list(self._connections - self._busy):
            writer.close()
        for _ in range(50):  # requests being answered get up to 5 s to finish
            if not self._busy:
                break
            await asyncio.sleep(0.1)
        for writer in list(self._connections):
            writer.close()
        await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        peer_host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self._connections.add(writer)
        try:
            await self._requests(reader, writer, peer_host)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except Exception as error:
            log.error("A webhook connection failed", exc_info=error)
        finally:
            self._connections.discard(writer)
            self._busy.discard(writer)
            writer.close()

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        stopping = self._stopping
        assert stopping is not None
        while not stopping.is_set():
            try:
                async with asyncio.timeout(IDLE_SECONDS):  # a timer, not a task per request
                    head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                writer.write(
                    _error(
                        HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "The headers are too large."
                    ).encode(close=True)
                )
                await writer.drain()
                return
            self._busy.add(writer)
            try:
                method, target, version, headers = _parse_head(head)
            except _BadRequest:
                writer.write(
                    _error(HTTPStatus.BAD_REQUEST, "The request is not HTTP/1.1.").encode(
                        close=True
                    )
                )
                await writer.drain()
                return
            request = Request(method, target, headers, reader.readexactly, peer)
            response = await self._endpoint.handle(request)
            close = (
                response.close
                or stopping.is_set()
                or headers.get("connection", "").lower() == "close"
                or (version == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive")
            )
            writer.write(response.encode(head_only=method == "HEAD", close=close))
            await writer.drain()
            self._busy.discard(writer)
            if close:
                return
