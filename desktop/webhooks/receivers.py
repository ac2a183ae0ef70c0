"""Webhook receivers: creating one (and its token), rotating, removing, and looking up.

A receiver's URL path is ``/webhooks/zoho-billing/<name>``; its name is lower-case
letters, digits and dashes, and by default the connection's name made URL-safe. Its token
is generated here, saved in the keychain under the receiver's ``secret_ref``, and handed
back once to be shown; afterwards only its last four characters (``secret_hint``) are
known to the database.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from desktop.errors import ConfigurationError, NotFoundError, SecretStoreError
from desktop.secrets import SecretStore, secret_hint
from desktop.storage.database import Database
from desktop.storage.models import Connection, ConnectionKind, WebhookReceiver
from desktop.webhooks.auth import generate_token, token_from_env

log = logging.getLogger(__name__)

PATH_PREFIX: Final[str] = "/webhooks/zoho-billing/"
_NAME: Final[re.Pattern[str]] = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


@dataclass(frozen=True)
class ReceiverInfo:
    """A receiver as the CLI and the UI show it (never its token).

    Attributes:
        id: its database id.
        name: its name (the last part of its URL path).
        connection_id: the Zoho Billing connection its events update.
        connection_name: that connection's name.
        verify_signature: whether requests must carry a valid HMAC signature.
        secret_hint: the last four characters of its token.
        created_at: when it was created.
    """

    id: int
    name: str
    connection_id: int
    connection_name: str
    verify_signature: bool
    secret_hint: str | None
    created_at: datetime

    @property
    def path(self) -> str:
        """Its URL path on a Billbridge receiver."""
        return receiver_path(self.name)


def receiver_path(name: str) -> str:
    """The URL path of a receiver."""
    return PATH_PREFIX + name


def slug(text: str) -> str:
    """A receiver name made from free text (a connection's name)."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return value[:64].strip("-") or "zoho-billing"


def check_name(name: str) -> str:
    """Returns ``name`` if it is a valid receiver name.

    Raises:
        ConfigurationError: otherwise.
    """
    if not _NAME.match(name):
        raise ConfigurationError(
            f"{name!r} cannot be a receiver name: use 1 to 64 lower-case letters, digits and "
            "dashes, starting and ending with a letter or digit."
        )
    return name


def _info(receiver: WebhookReceiver, connection: Connection) -> ReceiverInfo:
    return ReceiverInfo(
        id=receiver.id,
        name=receiver.name,
        connection_id=connection.id,
        connection_name=connection.name,
        verify_signature=receiver.verify_signature,
        secret_hint=receiver.secret_hint,
        created_at=receiver.created_at,
    )


def _zoho_connection(session: Session, connection_name: str | None) -> Connection:
    query = select(Connection).where(Connection.kind == ConnectionKind.ZOHO_BILLING.value)
    candidates = list(session.scalars(query.order_by(Connection.name)))
    if connection_name is not None:
        for connection in candidates:
            if connection.name == connection_name:
                return connection
        raise NotFoundError(f"There is no Zoho Billing connection called {connection_name!r}.")
    if not candidates:
        raise NotFoundError(
            "There is no Zoho Billing connection yet; add one before creating a receiver."
        )
    if len(candidates) > 1:
        names = ", ".join(repr(c.name) for c in candidates)
        raise ConfigurationError(
            f"This workspace has several Zoho Billing connections ({names}); say which one "
            "the receiver is for."
        )
    return candidates[0]


def create_receiver(
    database: Database,
    secrets: SecretStore,
    *,
    name: str | None = None,
    connection_name: str | None = None,
    verify_signature: bool = False,
    keep_token: bool = True,
) -> tuple[ReceiverInfo, str]:
    """Creates a receiver for a Zoho Billing connection and saves its new token.

    Args:
        database: the workspace.
        secrets: where the token is kept.
        name: the receiver name; ``None`` derives it from the connection's name.
        connection_name: the Zoho Billing connection; may be left out when the workspace
            has exactly one.
        verify_signature: require a valid ``X-Zoho-Webhook-Signature`` on every request.
        keep_token: save the token in the keychain; ``False`` keeps it nowhere (for a
            server without a keychain, which is given the token in its environment).

    Returns:
        The receiver and its token (to show once; it is not kept anywhere else).

    Raises:
        NotFoundError: the connection does not exist.
        ConfigurationError: the name is invalid or taken.
        SecretStoreError: the keychain refused the token (nothing was created).
    """
    token = generate_token()
    with database.transaction() as session:
        connection = _zoho_connection(session, connection_name)
        chosen = check_name(name if name is not None else slug(connection.name))
        if session.scalar(select(WebhookReceiver.id).where(WebhookReceiver.name == chosen)):
            raise ConfigurationError(f"A webhook receiver called {chosen!r} already exists.")
        receiver = WebhookReceiver(
            name=chosen,
            connection_id=connection.id,
            verify_signature=verify_signature,
            secret_hint=secret_hint(token),
        )
        session.add(receiver)
        session.flush()
        # Saved before the commit: if the keychain refuses, the receiver is not created.
        if keep_token:
            secrets.store(receiver.secret_ref, token)
        info = _info(receiver, connection)
    return info, token


def _load(session: Session, name: str) -> tuple[WebhookReceiver, Connection]:
    row = session.execute(
        select(WebhookReceiver, Connection)
        .join(Connection, Connection.id == WebhookReceiver.connection_id)
        .where(WebhookReceiver.name == name)
    ).first()
    if row is None:
        raise NotFoundError(f"There is no webhook receiver called {name!r}.")
    return row[0], row[1]


def rotate_token(
    database: Database, secrets: SecretStore, name: str, *, keep_token: bool = True
) -> tuple[ReceiverInfo, str]:
    """Gives a receiver a new token; the old one stops working at once.

    Returns:
        The receiver and its new token (to show once).
    """
    token = generate_token()
    with database.transaction() as session:
        receiver, connection = _load(session, name)
        receiver.secret_hint = secret_hint(token)
        if keep_token:
            secrets.store(receiver.secret_ref, token)
        else:
            secrets.delete(receiver.secret_ref)
        session.flush()
        info = _info(receiver, connection)
    return info, token


def set_verify_signature(database: Database, name: str, verify: bool) -> ReceiverInfo:
    """Turns the HMAC signature check of a receiver on or off."""
    with database.transaction() as session:
        receiver, connection = _load(session, name)
        receiver.verify_signature = verify
        session.flush()
        return _info(receiver, connection)


def delete_receiver(database: Database, secrets: SecretStore, name: str) -> None:
    """Removes a receiver and forgets its token; its stored events are kept."""
    with database.transaction() as session:
        receiver, _connection = _load(session, name)
        ref = receiver.secret_ref
        session.delete(receiver)
    secrets.delete(ref)


def list_receivers(session: Session) -> list[ReceiverInfo]:
    """Every receiver, by name."""
    rows = session.execute(
        select(WebhookReceiver, Connection)
        .join(Connection, Connection.id == WebhookReceiver.connection_id)
        .order_by(WebhookReceiver.name)
    ).all()
    return [_info(receiver, connection) for receiver, connection in rows]


# ----------------------------------------------------------------------------- lookup


@dataclass(frozen=True)
class ActiveReceiver:
    """What the HTTP receiver needs to know about one receiver (held in memory).

    Attributes:
        id: its database id.
        name: its name.
        connection_id: its connection.
        verify_signature: whether a signature is required.
        token: its token, or ``None`` when neither the keychain nor the environment has
            it (every request is then refused).
        version: its secret reference and last change, to notice a rotated token.
    """

    id: int
    name: str
    connection_id: int
    verify_signature: bool
    token: str | None
    version: tuple[str, datetime] | None = None


class ReceiverDirectory:
    """Receivers by name, read from the workspace and cached for a few seconds.

    Tokens are read once per refresh (from the environment variable
    :func:`~desktop.webhooks.auth.token_env_name` first, else the keychain), so a busy
    receiver does not ask the keychain on every request, and a new or rotated receiver is
    picked up within ``ttl`` seconds.
    """

    def __init__(
        self,
        database: Database,
        secrets: SecretStore,
        *,
        environ: Mapping[str, str] | None = None,
        ttl: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._secrets = secrets
        self._environ: Mapping[str, str] = environ if environ is not None else {}
        self._ttl = ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, ActiveReceiver] = {}
        self._loaded_at: float | None = None

    def invalidate(self) -> None:
        """Forgets the cache; the next lookup reads the workspace again."""
        with self._lock:
            self._loaded_at = None

    def get(self, name: str) -> ActiveReceiver | None:
        """The receiver called ``name``, or ``None``."""
        with self._lock:
            now = self._monotonic()
            if self._loaded_at is None or now - self._loaded_at > self._ttl:
                self._entries = self._load()
                self._loaded_at = now
            return self._entries.get(name)

    def _load(self) -> dict[str, ActiveReceiver]:
        previous = self._entries
        with self._database.session() as session:
            rows = session.execute(
                select(
                    WebhookReceiver.id,
                    WebhookReceiver.name,
                    WebhookReceiver.connection_id,
                    WebhookReceiver.verify_signature,
                    WebhookReceiver.secret_ref,
                    WebhookReceiver.updated_at,
                )
            ).all()
        entries: dict[str, ActiveReceiver] = {}
        for row_id, name, connection_id, verify, ref, updated in rows:
            token = token_from_env(name, self._environ)
            old = previous.get(name)
            if token is None and old is not None and old.version == (ref, updated):
                token = old.token  # unchanged since the last read: spare the keychain
            elif token is None:
                try:
                    token = self._secrets.read(ref)
                except SecretStoreError as error:
                    log.warning("Webhook receiver %s has no usable token: %s", name, error)
            entries[name] = ActiveReceiver(
                row_id, name, connection_id, verify, token, version=(ref, updated)
            )
        return entries
