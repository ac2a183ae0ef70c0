"""Adding, listing, changing and removing connections, with their secret (Qt-free).

The CLI's ``connection`` commands and the UI's connection wizard both use
:class:`ConnectionService`. Settings are validated before anything is written, each
problem as one sentence; the secret goes to the keychain under the connection's
``secret_ref`` (only a hint is kept, as ``secret_hint``: the last four characters of the
key, see :func:`connection_secret_hint`) and never into
the database, a log or a message. A connection may also be saved with no secret: runs
then need ``--secret-env`` (read at run time, stored nowhere).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from desktop.errors import ConfigurationError, NotFoundError
from desktop.secrets import SecretStore, secret_hint
from desktop.storage.database import Database
from desktop.storage.models import Connection, ConnectionStatus, SyncMode, SyncRun
from desktop.sync.identity import IdentityRule
from desktop.sync.registry import BILLING_KINDS, CRM_KINDS
from desktop.sync.zoho_oauth import check_url, normalise_data_centre, parse_zoho_secret
from desktop.timeutil import Clock, utc_now

_NAME: Final = re.compile(r"^[^\x00-\x1f]{1,120}$")
_SITE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_REGIONS: Final[tuple[str, ...]] = ("us", "eu")


@dataclass(frozen=True)
class ConnectionInfo:
    """A connection as lists show it (never its secret).

    Attributes:
        id: its id.
        name: its name.
        kind: ``chargebee``, ``recurly`` or ``zoho-billing``.
        mode: ``daily`` or ``import-only``.
        status: ``active``, ``paused`` or ``disabled``.
        settings: its settings (no secret in them).
        secret_hint: the last four characters of its stored secret ("" if none).
        label: a short description ("test site", "EU region", "2 sites").
        last_run_status: the status of its newest Sync run, if any.
        last_run_at: when that run started.
    """

    id: int
    name: str
    kind: str
    mode: str
    status: str
    settings: dict[str, Any] = field(default_factory=dict)
    secret_hint: str = ""
    label: str = ""
    last_run_status: str | None = None
    last_run_at: datetime | None = None


def _clean_url(settings: dict[str, Any], key: str, what: str) -> None:
    value = settings.get(key)
    if value in (None, ""):
        settings.pop(key, None)
        return
    settings[key] = check_url(str(value), what)


def validate_settings(kind: str, settings: dict[str, Any], secret: str | None) -> dict[str, Any]:
    """Checks and normalises a connection's settings (and its secret's shape).

    Args:
        kind: the connection kind.
        settings: the settings as entered (``site``, ``org_id``, ``data_centre``,
            ``region``, ``base_url``, ``auth_url``, ``id_source``, ``id_object``,
            ``id_field`` …); ``None`` values are dropped.
        secret: the secret, when one is given now (its shape is checked, never echoed).

    Returns:
        The settings to store.

    Raises:
        ConfigurationError: naming the first problem in one sentence.
    """
    if kind not in BILLING_KINDS and kind not in CRM_KINDS:
        raise ConfigurationError(
            f"{kind!r} is not a system Billbridge syncs; use one of "
            f"{', '.join(BILLING_KINDS + CRM_KINDS)}."
        )
    clean = {k: v for k, v in settings.items() if v is not None and v != ""}
    _clean_url(clean, "base_url", "base URL")
    _clean_url(clean, "auth_url", "auth URL")
    clean.update(IdentityRule.from_settings(clean).to_settings())
    if clean.get("id_source") == "native":
        clean.pop("id_object", None)
        clean.pop("id_field", None)
    if kind == "chargebee":
        site = str(clean.get("site") or "").strip().lower()
        if not site:
            raise ConfigurationError(
                "A Chargebee connection needs --site, the site name from "
                "https://SITE.chargebee.com (letters, digits and hyphens)."
            )
        if not _SITE.match(site):
            raise ConfigurationError(
                f"{site!r} is not a Chargebee site name; use the SITE of "
                "https://SITE.chargebee.com (letters, digits and hyphens)."
            )
        if secret is not None and (len(secret.split()) != 1 or secret.strip()[:1] in "{[\"'"):
            raise ConfigurationError(
                "The Chargebee API key is one word (like live_… or test_…); paste the key "
                "alone, without spaces, line breaks, quotes or JSON."
            )
        clean["site"] = site
        key_is_test = bool(secret and secret.strip().startswith("test_"))
        clean["environment"] = "test" if site.endswith("-test") or key_is_test else "live"
    elif kind == "recurly":
        region = str(clean.get("region") or "us").strip().lower()
        if region not in _REGIONS:
            raise ConfigurationError(f"{region!r} is not a Recurly region; use us or eu.")
        clean["region"] = region
        if clean.get("site"):
            clean["subdomain"] = str(clean.pop("site")).strip()
        if secret is not None:
            from desktop.sync.recurly import parse_recurly_secret

            sites = parse_recurly_secret(secret, clean.get("subdomain"))
            clean["sites"] = list(sites)
        elif not clean.get("subdomain"):
            raise ConfigurationError(
                "A Recurly connection needs --site (the subdomain) unless its secret is a "
                'JSON object {"subdomain": "API key", …}.'
            )
    elif kind == "zoho-billing":
        org = str(clean.pop("org_id", "") or clean.pop("site", "") or "").strip()
        if not org.isdigit():
            raise ConfigurationError(
                "A Zoho Billing connection needs --org-id, the organization id (digits) shown "
                "in Zoho Billing under Settings → Organization Profile."
            )
        clean["org_id"] = org
        clean["data_centre"] = normalise_data_centre(clean.get("data_centre") or "us")
        if secret is not None:
            parse_zoho_secret(secret)
    elif kind == "zoho-crm":
        clean["data_centre"] = normalise_data_centre(clean.get("data_centre") or "us")
        owner = str(clean.get("owner_email") or "").strip()
        if "@" not in owner:
            raise ConfigurationError(
                "A Zoho CRM connection needs --owner-email, the e-mail of the CRM user who "
                "owns the records Billbridge creates."
            )
        clean["owner_email"] = owner
        if secret is not None:
            parse_zoho_secret(secret)
    return clean


def connection_secret_hint(kind: str, secret: str, subdomain: str | None = None) -> str:
    """What a list may show of a connection's secret (at most 8 characters).

    A plain API key shows its last four characters (``…abcd``). For the JSON secrets it
    is the meaningful key's: a Zoho secret shows its refresh token's last four, a
    Recurly site map with one site that site's key's, and one with several sites how
    many keys it holds (``2 keys``) — never the JSON text's own tail (``…00"}``).
    """
    try:
        if kind in ("zoho-billing", "zoho-crm"):
            return secret_hint(parse_zoho_secret(secret).refresh_token)
        if kind == "recurly":
            from desktop.sync.recurly import parse_recurly_secret

            keys = list(parse_recurly_secret(secret, subdomain).values())
            return secret_hint(keys[0]) if len(keys) == 1 else f"{len(keys)} keys"
    except ConfigurationError:
        pass
    return secret_hint(secret)


def describe(kind: str, settings: dict[str, Any]) -> str:
    """A short label for lists: test/live, region, number of sites, data centre."""
    if kind == "chargebee":
        return f"{settings.get('site', '?')} ({settings.get('environment', 'live')} site)"
    if kind == "recurly":
        sites = settings.get("sites") or [settings.get("subdomain", "?")]
        region = str(settings.get("region", "us")).upper()
        return f"{len(sites)} sites, {region}" if len(sites) > 1 else f"{sites[0]}, {region}"
    if kind == "zoho-billing":
        dc = str(settings.get("data_centre", "us")).upper()
        return f"org {settings.get('org_id', '?')}, {dc}"
    if kind == "zoho-crm":
        dc = str(settings.get("data_centre", "us")).upper()
        return f"owner {settings.get('owner_email', '?')}, {dc}"
    return ""


class ConnectionService:
    """Connections and their secrets.

    Args:
        database: the workspace.
        secrets: the keychain seam.
        clock: the clock for ``updated_at``.
    """

    def __init__(self, database: Database, secrets: SecretStore, clock: Clock = utc_now) -> None:
        self.database = database
        self.secrets = secrets
        self.clock = clock

    def add(
        self,
        *,
        name: str,
        kind: str,
        settings: dict[str, Any] | None = None,
        mode: str = SyncMode.DAILY.value,
        secret: str | None = None,
    ) -> ConnectionInfo:
        """Validates and saves a new connection; the secret goes to the keychain first.

        Raises:
            ConfigurationError: an invalid name, mode or setting, or a name in use.
            SecretStoreError: the keychain cannot store the secret (nothing is saved).
        """
        name = name.strip()
        if not _NAME.match(name):
            raise ConfigurationError("A connection needs a name of 1 to 120 characters.")
        if mode not in (SyncMode.DAILY.value, SyncMode.IMPORT_ONLY.value):
            raise ConfigurationError(f"{mode!r} is not a sync mode; use daily or import-only.")
        if secret is not None and not secret.strip():
            raise ConfigurationError("The secret is empty; give the API key or leave it out.")
        clean = validate_settings(kind, dict(settings or {}), secret)
        with self.database.session() as session:
            taken = session.scalars(select(Connection.id).where(Connection.name == name)).first()
        if taken is not None:
            raise ConfigurationError(f"A connection called {name!r} already exists.")
        row = Connection(name=name, kind=kind, settings=clean, mode=mode)
        ref = uuid.uuid4().hex
        row.secret_ref = ref
        if secret is not None:
            self.secrets.store(ref, secret.strip())
            row.secret_hint = connection_secret_hint(kind, secret, clean.get("subdomain"))
        try:
            with self.database.transaction() as session:
                session.add(row)
        except IntegrityError:
            if secret is not None:
                self.secrets.delete(ref)
            raise ConfigurationError(f"A connection called {name!r} already exists.") from None
        return self.get(name)

    def list(self) -> list[ConnectionInfo]:
        """Every connection with its newest run, by name."""
        with self.database.session() as session:
            rows = session.scalars(select(Connection).order_by(Connection.name)).all()
            return [self._info(session, row) for row in rows]

    def get(self, name_or_id: str | int) -> ConnectionInfo:
        """One connection.

        Raises:
            NotFoundError: when there is none by that name or id.
        """
        with self.database.session() as session:
            row = self._row(session, name_or_id)
            return self._info(session, row)

    def update(
        self,
        name_or_id: str | int,
        *,
        settings: dict[str, Any] | None = None,
        mode: str | None = None,
        status: str | None = None,
        secret: str | None = None,
        new_name: str | None = None,
    ) -> ConnectionInfo:
        """Changes a connection; ``settings`` are merged (``None`` values remove a key)."""
        with self.database.session() as session:
            row = self._row(session, name_or_id)
            kind, current, ref = row.kind, dict(row.settings or {}), row.secret_ref
        merged = dict(current)
        for key, value in (settings or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        clean = validate_settings(kind, merged, secret)
        if mode is not None and mode not in (SyncMode.DAILY.value, SyncMode.IMPORT_ONLY.value):
            raise ConfigurationError(f"{mode!r} is not a sync mode; use daily or import-only.")
        if status is not None and status not in {s.value for s in ConnectionStatus}:
            raise ConfigurationError(f"{status!r} is not a connection status.")
        if secret is not None:
            self.secrets.store(ref, secret.strip())
        with self.database.transaction() as session:
            row = self._row(session, name_or_id)
            row.settings = clean
            if mode is not None:
                row.mode = mode
            if status is not None:
                row.status = status
            if secret is not None:
                row.secret_hint = connection_secret_hint(kind, secret, clean.get("subdomain"))
            if new_name:
                row.name = new_name.strip()
            row.updated_at = self.clock()
            final = row.name
        return self.get(final)

    def remove(self, name_or_id: str | int) -> None:
        """Deletes a connection, everything synced from it, and its secret."""
        with self.database.transaction() as session:
            row = self._row(session, name_or_id)
            ref = row.secret_ref
            session.delete(row)
        self.secrets.delete(ref)

    def read_secret(self, name_or_id: str | int) -> str | None:
        """The stored secret (for the engine; never show it)."""
        with self.database.session() as session:
            ref = self._row(session, name_or_id).secret_ref
        return self.secrets.read(ref)

    @staticmethod
    def _row(session: Any, name_or_id: str | int) -> Connection:
        row: Connection | None = None
        if isinstance(name_or_id, int):
            row = session.get(Connection, name_or_id)
        if row is None:
            row = session.scalars(
                select(Connection).where(Connection.name == str(name_or_id))
            ).first()
        if row is None:
            raise NotFoundError(f"There is no connection called {name_or_id!r}.")
        return row

    @staticmethod
    def _info(session: Any, row: Connection) -> ConnectionInfo:
        last = session.execute(
            select(SyncRun.status, SyncRun.started_at)
            .where(SyncRun.connection_id == row.id)
            .order_by(SyncRun.id.desc())
            .limit(1)
        ).first()
        settings = dict(row.settings or {})
        return ConnectionInfo(
            id=row.id,
            name=row.name,
            kind=row.kind,
            mode=row.mode,
            status=row.status,
            settings=settings,
            secret_hint=row.secret_hint or "",
            label=describe(row.kind, settings),
            last_run_status=last[0] if last else None,
            last_run_at=last[1] if last else None,
        )
