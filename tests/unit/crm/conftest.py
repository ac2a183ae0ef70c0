"""Fixtures of the Zoho CRM tests: a small in-process sandbox and a connected integration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from desktop.crm.service import CrmIntegration
from desktop.sandbox import ManualClock, Sandbox
from desktop.sandbox.zoho_crm import ZohoCrmHandler, crm_of
from desktop.storage.database import Database
from tests.unit.crm.support import CRM_NAME, connect, integration_for

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """The sandbox's (and the integration's) clock."""
    return ManualClock(START)


@pytest.fixture
def sandbox(clock: ManualClock) -> Sandbox:
    """A small sandbox answered in-process (about 80 CRM Accounts and Contacts)."""
    return Sandbox(size=120, seed=11, clock=clock)


@pytest.fixture
def sim(sandbox: Sandbox) -> ZohoCrmHandler:
    """The CRM simulator (truth, mutations, settings)."""
    return crm_of(sandbox.mounts["zoho"].handlers)


@pytest.fixture
def crm(database: Database, sandbox: Sandbox, clock: ManualClock) -> CrmIntegration:
    """The integration, talking to the sandbox, with waits that take no time."""
    return integration_for(database, sandbox, clock)


@pytest.fixture
def connected(crm: CrmIntegration, sandbox: Sandbox) -> str:
    """A CRM connection owned by Jun Mori; returns its name."""
    connect(crm, sandbox)
    return CRM_NAME
