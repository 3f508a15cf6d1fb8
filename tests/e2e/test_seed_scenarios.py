"""The product card's scenarios and idempotency sequence, over HTTP against the running service."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from tests.e2e.conftest import Api
from tests.e2e.faults import issue_stack_tokens
from tests.polling import wait_until

pytestmark = pytest.mark.e2e


def new_sale(*items, external_id=None):
    return {
        "external_id": external_id or str(uuid.uuid4()),
        "source_device": "mobile-app-v1.2",
        "client_timestamp": "2026-01-31T14:30:00Z",
        "items": list(items),
    }


def test_scenario_1_an_online_bread_sale_sets_the_price_and_leaves_stock(api):
    bread = (
        api["admin"]
        .post(
            "/api/products/",
            {
                "sku": f"BREAD-{uuid.uuid4().hex[:6]}",
                "name": "Bread",
                "is_volatile": True,
                "unit_price": "1.20",
                "stock": "0",
            },
        )
        .json()
    )
    sale = new_sale({"product": bread["id"], "quantity": "0.75", "unit_price": "1.50"})

    accepted = api["till-1"].post("/api/sales/", sale)
    status = api["till-1"].settled(sale["external_id"])

    assert accepted.status_code == 202
    assert status["status"] == "applied"
    assert status["sale"]["total"] == "1.125"
    assert status["sale"]["items"][0]["subtotal"] == "1.125"
    after = api["till-1"].get(f"/api/products/{bread['id']}/").json()
    assert (after["unit_price"], after["stock"]) == ("1.50", "0")


def test_scenario_2_an_offline_juice_sale_creates_the_product_and_a_retry_is_200(api):
    sku = f"JUICE-{uuid.uuid4().hex[:6]}"
    sale = new_sale(
        {"product_data": {"sku": sku, "name": "Juice", "is_volatile": False}, "quantity": 50, "unit_price": "0.50"}
    )

    first = api["till-1"].post("/api/sales/", sale)
    applied = api["till-1"].settled(sale["external_id"])
    retry = api["till-1"].post("/api/sales/", sale)

    assert first.status_code == 202
    assert applied["status"] == "applied"
    assert applied["sale"]["total"] == "25.00"
    assert (retry.status_code, retry.json()) == (200, applied)
    juice = api["till-1"].get(f"/api/products/?sku={sku}").json()
    assert [p["stock"] for p in juice] == ["-50"]
    open_alerts = api["till-1"].get("/api/alerts/?status=open").json()
    assert juice[0]["id"] in [alert["product"] for alert in open_alerts]


def test_the_idempotency_sequence_answers_202_then_200_and_records_one_sale(api, stack):
    sale = new_sale(
        {
            "product_data": {"sku": f"TEA-{uuid.uuid4().hex[:6]}", "name": "Tea", "is_volatile": False},
            "quantity": "1",
            "unit_price": "2.00",
        }
    )

    answers = [api["till-1"].post("/api/sales/", sale).status_code for _ in range(3)]
    api["till-1"].settled(sale["external_id"])
    answers.append(api["till-1"].post("/api/sales/", sale).status_code)

    assert answers == [202, 200, 200, 200]
    assert api["till-2"].get(f"/api/sales/{sale['external_id']}/").status_code == 404
    assert api["admin"].get(f"/api/sales/{sale['external_id']}/").json()["status"] == "applied"


def test_a_sale_for_an_unknown_product_is_visibly_rejected(api):
    sale = new_sale({"product": 987654, "quantity": "1", "unit_price": "1.00"})

    assert api["till-2"].post("/api/sales/", sale).status_code == 202
    status = api["till-2"].settled(sale["external_id"])

    assert status["status"] == "rejected"
    assert "987654" in status["error"]


def test_a_burst_from_two_tills_with_retries_applies_every_sale_exactly_once(api):
    hot = (
        api["admin"]
        .post(
            "/api/products/",
            {"sku": f"HOT-{uuid.uuid4().hex[:6]}", "name": "Hot", "stock": "1000", "reorder_level": "10"},
        )
        .json()
    )
    sales = [
        (till, new_sale({"product": hot["id"], "quantity": "1.5", "unit_price": "2.00"}))
        for till in ("till-1", "till-2")
        for _ in range(150)
    ]
    deliveries = sales + sales[::5]  # a share re-sent with the same external_id

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda pair: api[pair[0]].post("/api/sales/", pair[1]).status_code, deliveries))
    statuses = [api[till].settled(sale["external_id"], timeout=60)["status"] for till, sale in sales]

    assert sorted(set(codes)) in ([200, 202], [202])
    assert codes.count(202) == len(sales)
    assert statuses == ["applied"] * len(sales)
    stock = api["admin"].get(f"/api/products/{hot['id']}/").json()["stock"]
    assert Decimal(stock) == 1000 - Decimal("1.5") * len(sales)


def test_sell_in_one_store_and_return_in_another(api, stack):
    """A till in S1 sells; a till in S2 takes part of it back, naming the sale: each store's stock,
    alerts and analytics show it, and bringing back more than was sold is refused."""
    s1, s2 = (
        api["admin"].post("/api/stores/", {"code": f"{name}-{uuid.uuid4().hex[:8]}", "name": name})
        for name in ("S1", "S2")
    )
    s1, s2 = s1.json()["code"], s2.json()["code"]
    tills = {
        store: Api(stack.url, token)
        for store, token in (
            (store, issue_stack_tokens(stack, f"till-{store}", store=store)[f"till-{store}"]) for store in (s1, s2)
        )
    }
    tea = (
        api["admin"]
        .post(
            "/api/products/",
            {
                "sku": f"TEA-{uuid.uuid4().hex[:6]}",
                "name": "Tea",
                "unit_price": "2.50",
                "stock_by_store": {s1: "10"},
                "reorder_level": "7",
            },
        )
        .json()
    )
    sold = new_sale({"product": tea["id"], "quantity": "4"})

    assert tills[s1].post("/api/sales/", sold).status_code == 202
    assert tills[s1].settled(sold["external_id"])["sale"]["store"] == s1
    back = {
        **new_sale({"product": tea["id"], "quantity": "3"}),
        "kind": "return",
        "original_external_id": sold["external_id"],
    }
    assert tills[s2].post("/api/sales/", back).status_code == 202
    returned = tills[s2].settled(back["external_id"])
    too_much = {**back, "external_id": str(uuid.uuid4()), "items": [{"product": tea["id"], "quantity": "2"}]}
    assert tills[s2].post("/api/sales/", too_much).status_code == 202
    refused = tills[s2].settled(too_much["external_id"])

    assert returned["status"] == "applied"
    assert (returned["sale"]["kind"], returned["sale"]["store"], returned["sale"]["total"]) == ("return", s2, "7.50")
    assert refused["status"] == "rejected"
    assert "it sold 4 and 3 came back before" in refused["error"]
    after = api["admin"].get(f"/api/products/{tea['id']}/").json()
    assert (after["stock"], after["stock_by_store"]) == ("9", {s1: "6", s2: "3"})
    assert [
        a["store"] for a in api["admin"].get(f"/api/alerts/?store={s1}&status=open").json() if a["product"] == tea["id"]
    ] == [s1]
    day = "2026-01-31"

    def net(store: str) -> str:
        answer = api["admin"].get(
            f"/api/sales/analytics/?product_id={tea['id']}&start_date={day}&end_date={day}&store={store}"
        )
        return answer.json()["total_quantity_sold"]

    assert wait_until(lambda: net(s1) == "4" and net(s2) == "-3", interval=0.2)
