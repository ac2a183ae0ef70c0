"""Running the CRM integration: token expiry, 429s, the lock, pause/disable, schedule, history."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from desktop.crm.client import WriteResult, describe_refusal
from desktop.crm.schedule import CrmSchedule
from desktop.crm.service import CrmIntegration
from desktop.crm.settings import Extent
from desktop.errors import ConfigurationError
from desktop.sandbox import Sandbox
from desktop.storage import models
from desktop.storage.database import Database
from desktop.sync.base import SyncFailure
from desktop.sync.locks import SyncBusy
from tests.unit.crm.support import CRM_NAME, configure, count, seed_billing


def _next_number(sandbox: Sandbox) -> int:
    """The number the CRM simulator gives its next request (fault rules count these)."""
    entries = sandbox.log.entries("zoho-crm")
    return (entries[-1].number if entries else 0) + 1


def test_an_expired_token_is_refreshed_once_and_the_run_goes_on(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox
) -> None:
    seed_billing(database, [{"id": "cus_1", "name": "Ann Lee", "email": "ann@lee.test"}])
    configure(crm)
    after = _next_number(sandbox)
    sandbox.log.clear()
    sandbox.set_faults(f"zoho-crm:expired=#{after + 1}")
    summary = crm.run(CRM_NAME)
    assert summary.status == "succeeded"
    tokens = sandbox.log.entries("zoho-accounts")
    assert len(tokens) == 2  # the first token, and one refresh after the refusal
    statuses = [e.status for e in sandbox.log.entries("zoho-crm")]
    assert 401 in statuses


def test_token_lifetime_running_out_is_noticed_by_the_clock(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox
) -> None:
    configure(crm, extent=Extent.FETCH)
    crm.run(CRM_NAME)
    sandbox.advance_clock(3 * 3600)
    sandbox.log.clear()
    assert crm.run(CRM_NAME, full=True).status == "succeeded"
    assert 401 not in {e.status for e in sandbox.log.entries("zoho-crm")}


def test_429_waits_and_retries_without_losing_a_record(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox
) -> None:
    seed_billing(database, [{"id": f"cus_{i}", "email": f"p{i}@x.test"} for i in range(5)])
    configure(crm)
    after = _next_number(sandbox)
    sandbox.log.clear()
    sandbox.set_faults(f"zoho-crm:429=#{after + 1}+{after + 2}")
    summary = crm.run(CRM_NAME)
    assert summary.status == "succeeded"
    assert [e.status for e in sandbox.log.entries("zoho-crm")].count(429) >= 1
    push = {m["module"]: m for m in summary.details["modules"] if m["direction"] == "push"}
    assert push["Contacts"]["create"] == 5


def test_a_manual_run_is_refused_while_the_automatic_one_runs(
    database: Database, crm: CrmIntegration, connected: str
) -> None:
    configure(crm, extent=Extent.FETCH)
    row = crm._row(CRM_NAME)
    held = crm.locks.acquire(row.id, "scheduled", heartbeat_seconds=None)
    try:
        with pytest.raises(SyncBusy, match=f"A scheduled sync of {CRM_NAME} is running since"):
            crm.run(CRM_NAME)
    finally:
        held.release()
    assert crm.run(CRM_NAME).status == "succeeded"


def test_pause_resume_disable_reactivate_and_history(
    database: Database, crm: CrmIntegration, connected: str
) -> None:
    with pytest.raises(ConfigurationError, match="not set up yet"):
        crm.run(CRM_NAME)
    configure(crm, extent=Extent.FETCH)
    schedule = CrmSchedule(crm)
    assert schedule.due() == [CRM_NAME]

    crm.pause(CRM_NAME)
    assert schedule.due() == []
    with pytest.raises(SyncFailure, match="paused"):
        crm.run(CRM_NAME, trigger="scheduled")
    assert crm.run(CRM_NAME).status == "succeeded"  # Sync Now still works

    crm.disable(CRM_NAME)
    with pytest.raises(SyncFailure, match="disabled"):
        crm.run(CRM_NAME)
    links = count(database, models.CrmLink)
    assert links > 0  # data and links are kept

    crm.reactivate(CRM_NAME)
    assert crm.settings(CRM_NAME).configured  # settings kept
    assert schedule.due() == []  # it ran moments ago
    history = crm.history(CRM_NAME)
    assert [(h.kind, h.status) for h in history] == [("incremental", "succeeded")]


def test_the_schedule_runs_hourly_with_the_configured_interval(
    database: Database, crm: CrmIntegration, connected: str, sandbox: Sandbox
) -> None:
    setup = configure(crm, extent=Extent.FETCH)
    schedule = CrmSchedule(crm)
    outcome = schedule.run_due()
    assert [o.name for o in outcome if o.summary] == [CRM_NAME]
    with database.session() as session:
        assert session.scalars(select(models.SyncRun.trigger)).all() == ["scheduled"]
    sandbox.advance_clock(59 * 60)
    assert schedule.due() == []
    sandbox.advance_clock(60)
    assert schedule.due() == [CRM_NAME]
    setup.set_interval(120)
    setup.save()
    assert schedule.due() == []


def test_refusal_sentences_name_the_field_and_code() -> None:
    dup = WriteResult(
        False,
        "DUPLICATE_DATA",
        "duplicate data",
        {"api_name": "Email", "duplicate_record": {"id": "42"}, "more_records": True},
    )
    assert dup.reason() == (
        "Zoho CRM refused the field Email: its value already belongs to another record 42 "
        "(and more) (DUPLICATE_DATA)."
    )
    text = describe_refusal(
        "MULTIPLE_OR_MULTI_ERRORS",
        "",
        {
            "errors": [
                {"code": "MANDATORY_NOT_FOUND", "details": {"api_name": "Stage"}},
                {
                    "code": "INVALID_DATA",
                    "details": {"api_name": "Amount", "expected_data_type": "double"},
                },
            ]
        },
    )
    assert "Stage is mandatory" in text
    assert "expected double" in text
