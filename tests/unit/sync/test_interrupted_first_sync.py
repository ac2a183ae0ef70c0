"""A first sync stopped half-way (Ctrl-C, SIGTERM, a crash), then ``billbridge sync --full``.

A full run must not resume the first pass where it stopped: its reconciliation window
starts at its own first page, so every record the stopped run wrote and the full run did
not read again would be marked deleted (312 subscriptions where 13 are deleted at the
source, before the engine started new reconciling passes over).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from desktop.jobs import Cancelled, CancelToken, JobContext, Progress
from desktop.sandbox.facade import Sandbox
from desktop.storage import models
from desktop.storage.database import Database
from tests.unit.sync.engine_support import add_chargebee, fast_engine


def test_full_sync_after_an_interrupted_first_sync_keeps_live_records(database: Database) -> None:
    with Sandbox(size=1000, seed=3, vendors=("chargebee",)) as sandbox:
        add_chargebee(database, sandbox)
        engine = fast_engine(database, sandbox)
        token = CancelToken()
        pages = 0

        def stop_after_a_few_pages(_progress: Progress) -> None:
            nonlocal pages
            pages += 1
            if pages == 15:
                token.cancel()

        with pytest.raises(Cancelled):
            engine.run("Acme", context=JobContext(stop_after_a_few_pages, token))
        engine.run("Acme", full=True)
        truth = sandbox.truth
        live = len(truth.subscriptions("chargebee", "acme"))
        gone = len(truth.subscriptions("chargebee", "acme", include_deleted=True)) - live
        with database.session() as session:
            deleted = session.scalar(
                select(func.count())
                .select_from(models.Subscription)
                .where(models.Subscription.deleted_at.is_not(None))
            )
        assert deleted == gone
