"""The Accounts repository: SQL sorting, filtering, paging, the 360° read and manual edits."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from desktop.errors import ConfigurationError
from desktop.storage.database import Database
from desktop.storage.models import Account, Connection, Plan, Subscription
from desktop.storage.repositories import accounts as repo
from desktop.storage.repositories.account_detail import load_account, save_edits, save_edits_in
from desktop.storage.repositories.accounts import AccountFilter, AccountSort
from tests.gui.workspace_seed import seed


def _all_rows(database: Database, **kwargs: object) -> list[repo.AccountRow]:
    with database.session() as session:
        return repo.list_accounts(session, limit=10_000, **kwargs)  # type: ignore[arg-type]


def test_pages_cover_every_account_once_in_order(database: Database) -> None:
    seed(database, 45)
    with database.session() as session:
        pages = [
            repo.page_ids(session, None, AccountSort.MRR, True, offset, 10)
            for offset in range(0, 50, 10)
        ]
        rows = repo.rows_for(session, [i for page in pages for i in page])
    assert sorted(row.id for row in rows) == sorted({row.id for row in rows})
    assert len(rows) == 45
    mrr = [row.mrr_minor for row in rows]
    assert mrr == sorted(mrr, reverse=True)


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        (AccountSort.AMOUNT_DUE, lambda r: r.amount_due_minor),
        (AccountSort.IDENTIFIER, lambda r: r.identifier),
        (AccountSort.NEXT_RENEWAL, lambda r: r.next_renewal),
    ],
)
def test_sorting_is_done_in_sql_and_matches_what_is_shown(
    database: Database, sort: AccountSort, key: object
) -> None:
    seed(database, 30)
    rows = _all_rows(database, sort=sort)
    values = [key(row) for row in rows]  # type: ignore[operator]
    present = [v for v in values if v is not None]
    assert present == sorted(present)
    # accounts without a renewal sort last, whatever the direction
    assert values[len(present) :] == [None] * (len(values) - len(present))


def test_headline_statuses_and_money(database: Database) -> None:
    seeded = seed(database, 1, runs=0)
    account_id = seeded.account_ids[0]
    with database.transaction() as session:
        session.execute(update(Subscription).values(status="cancelled"))
        session.add(
            Subscription(
                connection_id=seeded.connection_ids[0],
                source_id="sub_live",
                account_id=account_id,
                status="unpaid",
                plan_name="Scale",
                mrr_minor=12_345,
                currency="EUR",
                amount_minor=12_345,
            )
        )
    (row,) = _all_rows(database)
    assert row.subscription_status == "unpaid"
    assert row.mrr_minor == 12_345
    assert row.mrr_currency == "EUR"
    assert "Scale" in row.plans
    assert row.sources == ("Acme Chargebee",)


def test_filters_and_search_are_case_insensitive(database: Database) -> None:
    seeded = seed(database, 40, connections=(("A", "chargebee"), ("B", "recurly")))
    with database.session() as session:
        total = repo.count_accounts(session)
        only_b = repo.count_accounts(session, AccountFilter(connection_id=seeded.connection_ids[1]))
        first = session.get(Account, seeded.account_ids[0])
        assert first is not None
        assert first.name
        needle = first.name.split()[0].upper()
        found = repo.list_accounts(session, AccountFilter(text=needle), limit=1000)
        overdue = repo.count_accounts(session, AccountFilter(invoice_status="overdue"))
        nothing = repo.count_accounts(session, AccountFilter(text="100%_sure"))
    assert total == 40
    assert only_b == 20
    assert found
    assert all(needle.lower() in (r.name or "").lower() for r in found)
    assert 0 < overdue < 40
    assert nothing == 0  # % and _ are matched literally, not as wildcards
    rows = _all_rows(database, flt=AccountFilter(invoice_status="overdue"))
    assert all(row.invoice_status == "overdue" for row in rows)


def test_manual_edits_override_and_can_be_undone(database: Database) -> None:
    seeded = seed(database, 3)
    account_id = seeded.account_ids[0]
    save_edits_in(database, account_id, {"name": "Renamed Ltd", "phone": "  "})
    with database.session() as session:
        detail = load_account(session, account_id)
        found = repo.list_accounts(session, AccountFilter(text="renamed"))
    assert detail.edits == {"name": "Renamed Ltd", "phone": None}
    assert detail.display_name == "Renamed Ltd"
    assert detail.synced["name"] != "Renamed Ltd"  # the synced value is kept apart
    assert detail.overwriting_connections == ["Acme Chargebee"]
    assert [row.id for row in found] == [account_id]
    assert found[0].name == "Renamed Ltd"
    assert found[0].edited
    # editing back to the synced values removes the edits and their markers
    save_edits_in(
        database, account_id, {"name": detail.synced["name"], "phone": detail.synced["phone"]}
    )
    with database.session() as session:
        again = load_account(session, account_id)
    assert again.edits == {}


def test_import_only_connections_keep_edits_and_only_some_fields_are_editable(
    database: Database,
) -> None:
    seeded = seed(database, 2)
    with database.transaction() as session:
        session.execute(update(Connection).values(mode="import-only"))
    save_edits_in(database, seeded.account_ids[0], {"company": "Local Co"})
    with database.session() as session:
        assert load_account(session, seeded.account_ids[0]).overwriting_connections == []
    with database.transaction() as session, pytest.raises(ConfigurationError, match="identifier"):
        save_edits(session, seeded.account_ids[0], {"identifier": "x"})


def test_account_360_lists_what_hangs_off_the_account(database: Database) -> None:
    seeded = seed(database, 5)
    with database.session() as session:
        details = [load_account(session, i) for i in seeded.account_ids]
    rich = max(details, key=lambda d: len(d.invoices))
    assert rich.users
    assert rich.users[0].is_primary
    assert rich.subscriptions
    assert rich.invoices
    assert rich.sources[0].connection_name == "Acme Chargebee"
    assert all(i.amount_due_minor + i.amount_paid_minor == i.total_minor for i in rich.invoices)


def test_plans_show_the_plan_name_when_the_subscription_has_only_a_code(
    database: Database,
) -> None:
    # Chargebee subscriptions carry the plan's code (item price id); its name is on the Plan.
    seeded = seed(database, 2, runs=0)
    first, second = seeded.account_ids
    connection = seeded.connection_ids[0]
    with database.transaction() as session:
        session.execute(update(Subscription).values(status="cancelled"))
        session.add(
            Plan(connection_id=connection, source_id="zeta-USD", code="zeta-USD", name="Zeta")
        )
        for account_id, source_id, code, name in (
            (first, "sub_code_only", "zeta-USD", None),
            (second, "sub_unknown_code", "alpha-USD", None),
            (second, "sub_named", "zeta-USD", "Own name"),
        ):
            session.add(
                Subscription(
                    connection_id=connection,
                    source_id=source_id,
                    account_id=account_id,
                    status="active",
                    plan_code=code,
                    plan_name=name,
                    mrr_minor=100,
                    currency="USD",
                    amount_minor=100,
                )
            )
    rows = {row.id: row for row in _all_rows(database)}
    assert rows[first].plans == ("Zeta",)
    # the subscription's own name wins; a code with no synced plan shows as the code
    assert rows[second].plans == ("Own name", "alpha-USD")
    assert rows[first].mrr_minor == 100  # the plan lookup does not repeat subscriptions
    ordered = [row.id for row in _all_rows(database, sort=AccountSort.PLANS)]
    assert ordered == [second, first]  # "Own name"/"alpha-USD" sorts before "Zeta"
    with database.session() as session:
        detail = load_account(session, first)
    assert [sub.plan for sub in detail.subscriptions if sub.status == "active"] == ["Zeta"]
