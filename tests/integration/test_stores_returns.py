"""Stores and returns against a real PostgreSQL and Redis: stock and alerts per (product, store),
returns bounded by their original, a return that comes before its original, races."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from postgres import catalog, rollup
from postgres.apply import apply_isolating
from postgres.statuses import WAITING
from postgres.tables import RejectedSale, Sale, SalesDaily, StockAlert
from tests.builders import NOON, add_product, add_store, auth, issue_tokens, line, record, returned, sale, stock
from tests.integration.test_apply import race
from web.app import create_app

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def apply(sessions, *sales, waited=lambda external_id: 0.0, grace=3600.0):
    return apply_isolating(sessions, list(sales), NOW, waited=waited, grace=grace)


def alerts(sessions) -> list[tuple[str, str, Decimal]]:
    with sessions() as session:
        rows = session.scalars(select(StockAlert).order_by(StockAlert.id))
        return [(alert.store, alert.status, alert.stock) for alert in rows]


# stock and alerts per store


def test_a_sale_takes_stock_from_its_store_only(sessions):
    add_store(sessions, "S1")
    juice = add_product(sessions, "JUICE-1L", stock="10", stock_by_store={"S1": "4"})

    apply(sessions, sale(line(juice, quantity="3"), store="S1"), sale(line(juice, quantity="1")))

    assert (stock(sessions, juice, "main"), stock(sessions, juice, "S1"), stock(sessions, juice)) == (9, 1, 10)


def test_low_stock_alerts_are_per_store_and_a_return_resolves_its_stores(sessions):
    add_store(sessions, "S1")
    juice = add_product(sessions, "JUICE-1L", stock="50", stock_by_store={"S1": "5"}, reorder_level="3")
    original = sale(line(juice, quantity="4"), store="S1")

    apply(sessions, original)
    assert alerts(sessions) == [("S1", "open", Decimal("1"))]  # main's 50 is no reason

    apply(sessions, sale(line(juice, quantity="1"), store="S1"))  # still low: no second alert
    assert alerts(sessions) == [("S1", "open", Decimal("1"))]

    apply(sessions, returned(line(juice, quantity="3"), original=original, store="S1"))
    assert stock(sessions, juice, "S1") == 3
    assert [status for _, status, _ in alerts(sessions)] == ["resolved"]


def test_a_return_in_another_store_puts_stock_back_there(sessions):
    add_store(sessions, "S1")
    add_store(sessions, "S2")
    juice = add_product(sessions, "JUICE-1L", stock_by_store={"S1": "10"})
    original = sale(line(juice, quantity="4", unit_price="2.50"), store="S1")
    apply(sessions, original)

    back = returned(line(juice, quantity="1", unit_price=None), original=original, store="S2", device="till-2")
    status = apply(sessions, back)[back["external_id"]]

    assert status["status"] == "applied"
    assert (status["sale"]["kind"], status["sale"]["store"]) == ("return", "S2")
    assert status["sale"]["original_external_id"] == original["external_id"]
    assert status["sale"]["total"] == "1.00"  # the product's price: none given on the line
    assert (stock(sessions, juice, "S1"), stock(sessions, juice, "S2")) == (6, 1)


def test_a_return_never_sets_a_volatile_price_nor_its_stock(sessions):
    fish = add_product(sessions, "FISH", is_volatile=True, unit_price="18.90")
    apply(sessions, returned(line(fish, quantity="1", unit_price="99.00"), at=NOON))
    with sessions() as session:
        assert catalog.get_product(session, fish).unit_price == Decimal("18.90")
    assert stock(sessions, fish) == 0


# what may come back


def test_returns_of_one_original_may_not_bring_back_more_than_it_sold(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="10")
    bread = add_product(sessions, "BREAD", stock="10")
    original = sale(line(juice, quantity="3"), line(bread, quantity="1"))
    apply(sessions, original)
    first = returned(line(juice, quantity="2"), original=original)
    too_much = returned(line(juice, quantity="2"), original=original)
    never_sold = returned(line(add_product(sessions, "MILK"), quantity="1"), original=original)

    statuses = apply(sessions, first)
    statuses |= apply(sessions, too_much, never_sold)

    assert statuses[first["external_id"]]["status"] == "applied"
    assert statuses[too_much["external_id"]]["error"] == (
        f"return of 2 x product {juice} exceeds sale {original['external_id']}: it sold 3 and 2 came back before"
    )
    assert "it sold 0" in statuses[never_sold["external_id"]]["error"]
    assert stock(sessions, juice) == 10 - 3 + 2


def test_an_original_and_its_return_in_one_batch_apply_together(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="10")
    original = sale(line(juice, quantity="2"), external_id="ffffffff-0000-4000-8000-000000000000")  # sorts last
    back = returned(line(juice, quantity="2"), original=original, external_id="00000000-0000-4000-8000-000000000000")

    statuses = apply(sessions, back, original)

    assert [statuses[s["external_id"]]["status"] for s in (original, back)] == ["applied", "applied"]
    assert stock(sessions, juice) == 10


def test_a_return_of_a_rejected_sale_or_of_a_return_is_rejected(sessions):
    juice = add_product(sessions, "JUICE-1L")
    bad = sale(line(999_999))
    good = sale(line(juice, quantity="2"))
    first_return = returned(line(juice), original=good)
    apply(sessions, bad, good, first_return)

    of_bad = returned(line(juice), original=bad)
    of_return = returned(line(juice), original=first_return)
    statuses = apply(sessions, of_bad, of_return)

    assert statuses[of_bad["external_id"]]["error"].startswith(f"original sale {bad['external_id']} was rejected")
    assert statuses[of_return["external_id"]]["error"] == (
        f"original sale {first_return['external_id']} is a return, not a sale"
    )


def test_a_return_waits_for_its_original_then_applies(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="10")
    original = sale(line(juice, quantity="2"))
    back = returned(line(juice, quantity="2"), original=original)

    early = apply(sessions, back)[back["external_id"]]
    assert early["status"] == WAITING
    assert stock(sessions, juice) == 10
    with sessions() as session:  # nothing of it written
        assert session.scalar(select(func.count()).select_from(Sale)) == 0

    apply(sessions, original)
    assert apply(sessions, back)[back["external_id"]]["status"] == "applied"
    assert stock(sessions, juice) == 10


def test_a_return_whose_original_never_comes_is_rejected_after_the_grace_time(sessions):
    juice = add_product(sessions, "JUICE-1L")
    missing = sale(line(juice))
    back = returned(line(juice), original=missing)

    status = apply(sessions, back, waited=lambda external_id: 61.0, grace=60)[back["external_id"]]

    assert status["status"] == "rejected"
    assert status["error"].startswith(f"original sale {missing['external_id']} not found")
    with sessions() as session:
        assert session.get(RejectedSale, back["external_id"]) is not None


def test_a_waiting_return_goes_to_the_back_of_the_queue_still_queued(sessions, intake):
    juice = add_product(sessions, "JUICE-1L")
    original = sale(line(juice))
    back = returned(line(juice), original=original)
    record(intake, back)
    record(intake, sale(line(juice)))
    entries = intake.claim("worker-1", 1, 60_000)
    assert [entry.external_id for entry in entries] == [back["external_id"]]

    intake.settle(entries, apply(sessions, *(entry.sale for entry in entries), waited=intake.waited))

    assert intake.status(back["external_id"])["status"] == "queued"
    assert intake.waited(back["external_id"]) > 0  # its clock started at the first wait
    order = [entry.external_id for entry in intake.claim("worker-1", 10, 60_000)]
    assert order[-1] == back["external_id"] and len(order) == 2  # behind the sale recorded after it


def test_two_returns_of_one_original_applied_at_once_never_exceed_it(sessions):
    juice = add_product(sessions, "JUICE-1L", stock="0")
    original = sale(line(juice, quantity="3"))
    apply(sessions, original)
    backs = [returned(line(juice, quantity="2"), original=original, device=f"till-{n}") for n in range(3)]
    statuses: dict[str, dict] = {}

    race(*(lambda r=r: statuses.update(apply(sessions, r)) for r in backs))  # whichever wins, one applies

    assert sorted(statuses[r["external_id"]]["status"] for r in backs) == ["applied", "rejected", "rejected"]
    assert stock(sessions, juice) == -3 + 2


def test_a_burst_in_many_stores_applies_without_deadlock_and_every_store_adds_up(sessions):
    stores = ["main", *(add_store(sessions, f"S{n}") for n in range(1, 6))]
    products = [add_product(sessions, f"P{n}", stock="0", reorder_level="1") for n in range(8)]
    rng = random.Random(7)
    batches = [
        [
            sale(*(line(rng.choice(products), quantity="1") for _ in range(3)), store=rng.choice(stores))
            for _ in range(40)
        ]
        for _ in range(6)
    ]
    for batch in batches:
        rng.shuffle(batch)

    race(*(lambda batch=batch: apply(sessions, *batch) for batch in batches))  # a deadlock raises here

    with sessions() as session:  # ... or shows as a sale rejected
        assert session.scalar(select(func.count()).select_from(RejectedSale)) == 0
    for product in products:
        for store in stores:
            sold = sum(
                line["quantity"] == "1"
                for batch in batches
                for s in batch
                if s["store"] == store
                for line in s["lines"]
                if line["product"] == product
            )
            assert stock(sessions, product, store) == -sold
    assert len(alerts(sessions)) == len({(p, s) for p in products for s in stores if stock(sessions, p, s) < 1})


# analytics


def test_analytics_are_net_of_returns_and_can_be_asked_for_one_store(sessions, settings, redis_client):
    add_store(sessions, "S1")
    juice = add_product(sessions, "JUICE-1L", unit_price="2.00")
    original = sale(line(juice, quantity="5", unit_price="2.00"), store="S1")
    apply(
        sessions,
        original,
        sale(line(juice, quantity="1", unit_price="2.00")),
        returned(line(juice, quantity="2", unit_price="2.00"), original=original),  # returned in main
    )
    with sessions.begin() as session:
        rollup.refresh(session, "UTC")
    with sessions() as session:
        row = session.execute(select(func.sum(SalesDaily.sale_count))).scalar_one()
    assert row == 2  # sales only

    client = create_app(settings).test_client()
    headers = auth(issue_tokens(sessions, redis_client, settings.redis_prefix, "admin")["admin"])
    day = NOON.date().isoformat()

    def ask(query: str):
        return client.get(f"/api/sales/analytics/?start_date={day}&end_date={day}{query}", headers=headers)

    everything, main, s1 = ask("").json, ask("&store=main").json, ask("&store=S1").json
    assert (everything["total_quantity_sold"], everything["total_revenue"]) == ("4", "8.00")
    assert "store" not in everything
    assert (main["store"], main["total_quantity_sold"], main["total_revenue"]) == ("main", "-1", "-2.00")
    assert (s1["total_quantity_sold"], s1["total_revenue"]) == ("5", "10.00")
    assert [p["total_quantity_sold"] for p in s1["products"]] == ["5"]
    assert ask("&store=NOPE").status_code == 404


# the HTTP API


def test_stores_are_created_by_admins_and_listed_to_anyone(client, auth_headers):
    created = client.post("/api/stores/", json={"code": "S1", "name": "High Street"}, headers=auth_headers["admin"])
    assert created.status_code == 201
    assert created.json | {"created_at": None} == {"code": "S1", "name": "High Street", "created_at": None}
    again = client.post("/api/stores/", json={"code": "S1", "name": "Again"}, headers=auth_headers["admin"])
    assert again.status_code == 409
    assert (
        client.post("/api/stores/", json={"code": "S2", "name": "x"}, headers=auth_headers["till-1"]).status_code == 403
    )
    for bad in ("", "a" * 33, "no spaces", "é", 7):
        answer = client.post("/api/stores/", json={"code": bad, "name": "x"}, headers=auth_headers["admin"])
        assert answer.status_code == 400, bad
    listed = client.get("/api/stores/", headers=auth_headers["till-1"]).json
    assert [(s["code"], s["name"]) for s in listed] == [("S1", "High Street"), ("main", "Main store")]


def test_products_show_stock_by_store_and_adjust_one_store(client, auth_headers):
    client.post("/api/stores/", json={"code": "S1", "name": "High Street"}, headers=auth_headers["admin"])
    body = {"sku": "TEA", "name": "Tea", "stock": "10", "stock_by_store": {"S1": "-3"}, "reorder_level": "0"}
    created = client.post("/api/products/", json=body, headers=auth_headers["admin"])
    assert created.status_code == 201, created.json
    assert (created.json["stock"], created.json["stock_by_store"]) == ("7", {"S1": "-3", "main": "10"})
    url = f"/api/products/{created.json['id']}/stock-adjustments/"

    moved = client.post(url, json={"quantity": "5", "reason": "delivery", "store": "S1"}, headers=auth_headers["admin"])
    assert (moved.status_code, moved.json["stock_by_store"], moved.json["stock"]) == (
        201,
        {"S1": "2", "main": "10"},
        "12",
    )
    unknown = client.post(url, json={"quantity": "1", "reason": "x", "store": "S9"}, headers=auth_headers["admin"])
    assert (unknown.status_code, unknown.json["errors"][0]["field"]) == (400, "store")

    twice = {**body, "sku": "TEA2", "stock_by_store": {"main": "1"}}
    assert client.post("/api/products/", json=twice, headers=auth_headers["admin"]).status_code == 400
    nowhere = {"sku": "TEA3", "name": "Tea", "stock_by_store": {"S9": "1"}}
    assert client.post("/api/products/", json=nowhere, headers=auth_headers["admin"]).status_code == 400
    assert client.get("/api/products/?sku=TEA3", headers=auth_headers["admin"]).json == []  # nothing created


def test_alerts_carry_their_store_and_filter_by_it(client, auth_headers):
    client.post("/api/stores/", json={"code": "S1", "name": "High Street"}, headers=auth_headers["admin"])
    body = {"sku": "TEA", "name": "Tea", "stock_by_store": {"main": "1", "S1": "9"}, "reorder_level": "5"}
    client.post("/api/products/", json=body, headers=auth_headers["admin"])

    everything = client.get("/api/alerts/", headers=auth_headers["till-1"]).json
    assert [a["store"] for a in everything] == ["main"]
    assert client.get("/api/alerts/?store=S1", headers=auth_headers["till-1"]).json == []
    assert [
        a["store"] for a in client.get("/api/alerts/?store=main&status=open", headers=auth_headers["till-1"]).json
    ] == ["main"]
    assert client.get("/api/alerts/?store=S9", headers=auth_headers["till-1"]).status_code == 404


def test_a_returns_body_is_checked_at_intake(client, auth_headers):
    item = {"product": 1, "quantity": "1"}
    new = {"product_data": {"sku": "X", "name": "X", "is_volatile": False, "unit_price": "1"}, "quantity": "1"}
    cases = [
        {"kind": "return", "items": [new]},
        {"kind": "sale", "original_external_id": "0b7e3c52-2f8d-4ac1-9a43-6f1f2b0c9d11", "items": [item]},
        {"kind": "refund", "items": [item]},
        {"kind": "return", "original_external_id": "not-a-uuid", "items": [item]},
    ]
    for body in cases:
        answer = client.post("/api/sales/", json=body, headers=auth_headers["till-1"])
        assert answer.status_code == 400, body
    ok = client.post("/api/sales/", json={"kind": "return", "items": [item]}, headers=auth_headers["till-1"])
    assert ok.status_code == 202


def test_a_sales_fingerprint_is_the_same_with_or_without_kind_sale(client, auth_headers, intake):
    body = {"external_id": "0b7e3c52-2f8d-4ac1-9a43-6f1f2b0c9d11", "items": [{"product": 1, "quantity": "1"}]}
    assert client.post("/api/sales/", json=body, headers=auth_headers["till-1"]).status_code == 202
    again = client.post("/api/sales/", json={**body, "kind": "sale"}, headers=auth_headers["till-1"])
    assert again.status_code == 200
    as_return = client.post("/api/sales/", json={**body, "kind": "return"}, headers=auth_headers["till-1"])
    assert as_return.status_code == 422  # another payload under the same external_id
    # The fingerprint as it was before returns existed: sha256 of the sorted dump, kind left out.
    expected = hashlib.sha256(
        json.dumps({"device": "till-1", **body, "items": [{"product": 1, "quantity": "1"}]}, sort_keys=True).encode()
    ).hexdigest()
    assert intake.status(body["external_id"])["fingerprint"] == expected


def test_a_devices_sales_take_stock_from_its_store_through_the_api(client, sessions, settings, redis_client, intake):
    add_store(sessions, "S1")
    juice = add_product(sessions, "JUICE-1L", stock_by_store={"S1": "5"})
    token = issue_tokens(sessions, redis_client, settings.redis_prefix, "till-s1", store="S1")["till-s1"]
    posted = client.post("/api/sales/", json={"items": [{"product": juice, "quantity": "2"}]}, headers=auth(token))
    assert posted.status_code == 202

    entries = intake.claim("worker-1", 10, 60_000)
    intake.settle(entries, apply(sessions, *(entry.sale for entry in entries)))

    status = client.get(f"/api/sales/{posted.json['external_id']}/", headers=auth(token)).json
    assert (status["status"], status["sale"]["store"], status["sale"]["kind"]) == ("applied", "S1", "sale")
    assert "original_external_id" not in status["sale"]
    assert stock(sessions, juice, "S1") == 3


def test_a_days_total_never_counts_a_return_as_a_sale(sessions):
    juice = add_product(sessions, "JUICE-1L")
    apply(sessions, returned(line(juice, quantity="1")))
    with sessions.begin() as session:
        rollup.refresh(session, "UTC")
    with sessions() as session:
        [total] = rollup.daily_totals(session, date(2026, 1, 31), date(2026, 1, 31))
    assert (total.quantity, total.revenue) == (Decimal("-1"), Decimal("-1.00"))
