"""A workspace with a Zoho Billing connection, its synced records, and a receiver."""

from __future__ import annotations

import pytest

from desktop.secrets import KeyringSecretStore
from desktop.storage.database import Database
from desktop.webhooks.receivers import create_receiver
from tests.unit.webhooks.webhook_seed import Seeded, seed_connection


@pytest.fixture
def seeded(database: Database) -> Seeded:
    """The seeded workspace on each configured database, with a receiver ``acme-zoho``."""
    connection_id, account_id = seed_connection(database)
    info, token = create_receiver(database, KeyringSecretStore(), connection_name="Acme Zoho")
    return Seeded(database, connection_id, account_id, info.name, token)
