"""The catalogue pull against a real PostgreSQL: pages, every kind of change, out-of-order
commits, ETag and 304; PATCH /api/products/<id>/; a till's wrong clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from postgres.apply import apply_isolating
from tests.builders import add_product, add_store, line, returned, sale
from tests.integration.test_apply import race

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def pull_all(client, headers, cursor: str | None = None, limit: int = 500) -> tuple[dict[int, dict], str, int]:
    """Pull until has_more is false: the products answered (last answer wins), the cursor to keep,
    and how many requests it took."""
    got: dict[int, dict] = {}
    requests = 0
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        answer = client.get(f"/api/sync/products/{query}", headers=headers)
        assert answer.status_code == 200, answer.json
        requests += 1
        got |= {product["id"]: product for product in answer.json["products"]}
        cursor = answer.json["cursor"]
        if not answer.json["has_more"]:
            return got, cursor, requests


def catalogue(client, headers) -> dict[int, dict]:
    """The server's catalogue now, as GET /api/products/ answers it."""
    return {product["id"]: product for product in client.get("/api/products/", headers=headers).json}


def test_a_first_pull_pages_through_the_whole_catalogue(client, auth_headers, sessions):
    ids = [add_product(sessions, f"P{n:02}", stock="3") for n in range(7)]
    headers = auth_headers["till-1"]

    first = client.get("/api/sync/products/?limit=3", headers=headers)
    got, _, requests = pull_all(client, headers, limit=3)

    assert (len(first.json["products"]), first.json["has_more"]) == (3, True)
    assert requests == 3
    assert sorted(got) == ids
    assert got == catalogue(client, headers)  # each as GET /api/products/<id>/ answers it
    assert got[ids[0]]["active"] is True and got[ids[0]]["stock_by_store"] == {"main": "3"}


def test_every_kind_of_change_comes_back_in_the_next_pull_and_nothing_else(client, auth_headers, sessions):
    add_store(sessions, "S1")
    tea, milk, fish, bread, juice, still = (
        add_product(sessions, sku, is_volatile=sku == "FISH") for sku in ("TEA", "MILK", "FISH", "BREAD", "JUICE", "X")
    )
    sold = sale(line(milk, quantity="2"))
    apply_isolating(sessions, [sold], NOW)
    headers, admin = auth_headers["till-1"], auth_headers["admin"]
    _, cursor, _ = pull_all(client, headers)

    assert client.patch(f"/api/products/{tea}/", json={"name": "Green tea"}, headers=admin).status_code == 200
    apply_isolating(sessions, [sale(line(fish, unit_price="21.00"), at=datetime.now(UTC))], NOW)  # a new price
    apply_isolating(sessions, [returned(line(milk, quantity="1"), original=sold)], NOW)  # stock back
    adjust = {"quantity": "5", "reason": "delivery", "store": "S1"}
    assert client.post(f"/api/products/{bread}/stock-adjustments/", json=adjust, headers=admin).status_code == 201
    assert client.patch(f"/api/products/{juice}/", json={"active": False}, headers=admin).status_code == 200
    created = client.post("/api/products/", json={"sku": "NEW", "name": "New"}, headers=admin).json["id"]

    changed, _, _ = pull_all(client, headers, cursor)

    assert sorted(changed) == sorted([tea, fish, milk, bread, juice, created])
    assert still not in changed
    assert changed[tea]["name"] == "Green tea"
    assert changed[fish]["unit_price"] == "21.00"
    assert changed[milk]["stock"] == "-1"
    assert changed[bread]["stock_by_store"] == {"S1": "5", "main": "0"}
    assert changed[juice]["active"] is False


def test_a_client_that_applies_what_it_pulls_holds_the_servers_catalogue(client, auth_headers, sessions):
    ids = [add_product(sessions, f"P{n}", stock="10") for n in range(5)]
    headers = auth_headers["till-1"]
    held, cursor, _ = pull_all(client, headers, limit=2)
    for n, product in enumerate(ids):
        apply_isolating(sessions, [sale(line(product, quantity=str(n + 1)))], NOW)
    client.patch(f"/api/products/{ids[0]}/", json={"unit_price": "9.99"}, headers=auth_headers["admin"])

    changes, cursor, _ = pull_all(client, headers, cursor, limit=2)
    held |= changes

    assert held == catalogue(client, headers)


def test_a_change_committed_after_a_later_one_is_not_missed(client, auth_headers, sessions):
    """The slow transaction takes its id first, commits last: a cursor of the highest id seen
    would skip it for good. The pull's watermark (its snapshot's xmin) stays below it."""
    slow_product, fast_product = add_product(sessions, "SLOW"), add_product(sessions, "FAST")
    headers = auth_headers["till-1"]
    _, cursor, _ = pull_all(client, headers)

    slow = sessions()
    slow.begin()
    slow.execute(text("UPDATE products SET name = 'Slow, changed' WHERE id = :id"), {"id": slow_product})
    with sessions.begin() as fast:
        fast.execute(text("UPDATE products SET name = 'Fast, changed' WHERE id = :id"), {"id": fast_product})

    seen, cursor, _ = pull_all(client, headers, cursor)  # across the open transaction
    slow.commit()
    slow.close()
    later, _, _ = pull_all(client, headers, cursor)

    assert seen[fast_product]["name"] == "Fast, changed"
    assert slow_product not in seen or seen[slow_product]["name"] == "SLOW".title()
    assert later[slow_product]["name"] == "Slow, changed"


def test_pages_read_while_sales_commit_miss_nothing(client, auth_headers, sessions):
    ids = [add_product(sessions, f"P{n:02}", stock="100") for n in range(20)]
    headers = auth_headers["till-1"]
    held, cursor, _ = pull_all(client, headers)

    def sell():
        for n in range(20):
            apply_isolating(sessions, [sale(line(ids[(n * 7) % 20], quantity="1"))], NOW)

    def pull():
        nonlocal cursor
        for _ in range(10):
            changes, cursor, _ = pull_all(client, headers, cursor, limit=3)
            held.update(changes)

    race(sell, pull)
    changes, cursor, _ = pull_all(client, headers, cursor, limit=3)
    held |= changes

    assert held == catalogue(client, headers)


def test_an_unchanged_catalogue_answers_304_to_its_etag(client, auth_headers, sessions):
    product = add_product(sessions, "TEA")
    headers = auth_headers["till-1"]
    _, cursor, _ = pull_all(client, headers)
    first = client.get(f"/api/sync/products/?cursor={cursor}", headers=headers)
    etag = first.headers["ETag"]

    again = client.get(f"/api/sync/products/?cursor={cursor}", headers={**headers, "If-None-Match": etag})
    apply_isolating(sessions, [sale(line(product))], NOW)
    after_a_sale = client.get(f"/api/sync/products/?cursor={cursor}", headers={**headers, "If-None-Match": etag})

    assert first.json == {"products": [], "cursor": cursor, "has_more": False}
    assert (again.status_code, again.headers["ETag"], again.data) == (304, etag, b"")
    assert after_a_sale.status_code == 200
    assert [p["id"] for p in after_a_sale.json["products"]] == [product]


def test_a_bad_cursor_or_limit_is_a_400(client, auth_headers):
    headers = auth_headers["till-1"]
    for query in (
        "cursor=nonsense",
        "cursor=v1.!!",
        "cursor=v2.MC4wLjA",
        "cursor=v1.LTEuMC4w",
        "limit=0",
        "limit=1001",
    ):
        answer = client.get(f"/api/sync/products/?{query}", headers=headers)
        assert answer.status_code == 400, query
    assert client.get("/api/sync/products/").status_code == 401


# PATCH /api/products/<id>/


def test_patch_changes_what_it_names_and_never_stock(client, auth_headers, sessions):
    tea = add_product(sessions, "TEA", unit_price="2.00", stock="4")
    admin, url = auth_headers["admin"], f"/api/products/{tea}/"

    changed = client.patch(url, json={"name": "Green tea", "unit_price": "2.50"}, headers=admin)

    assert changed.status_code == 200
    assert (changed.json["name"], changed.json["unit_price"], changed.json["stock"]) == ("Green tea", "2.50", "4")
    assert client.patch(url, json={"name": "x"}, headers=auth_headers["till-1"]).status_code == 403
    assert client.patch("/api/products/999999/", json={"name": "x"}, headers=admin).status_code == 404
    for body in ({"stock": "9"}, {}, {"name": None}, {"active": "no"}, {"is_volatile": True}):
        assert client.patch(url, json=body, headers=admin).status_code == 400, body
    assert client.get(url, headers=admin).json["stock"] == "4"


def test_a_new_reorder_level_raises_and_resolves_alerts_per_store(client, auth_headers, sessions):
    add_store(sessions, "S1")
    tea = add_product(sessions, "TEA", stock="10", stock_by_store={"S1": "2"})
    admin = auth_headers["admin"]

    client.patch(f"/api/products/{tea}/", json={"reorder_level": "5"}, headers=admin)
    raised = client.get("/api/alerts/?status=open", headers=admin).json
    client.patch(f"/api/products/{tea}/", json={"reorder_level": "1"}, headers=admin)

    assert [a["store"] for a in raised] == ["S1"]
    assert client.get("/api/alerts/?status=open", headers=admin).json == []


def test_an_inactive_product_still_applies_in_an_offline_sale(client, auth_headers, sessions):
    tea = add_product(sessions, "TEA", stock="3")
    client.patch(f"/api/products/{tea}/", json={"active": False}, headers=auth_headers["admin"])
    offline = sale(line(tea, quantity="1"))

    status = apply_isolating(sessions, [offline], NOW)[offline["external_id"]]

    assert status["status"] == "applied"
    product = client.get(f"/api/products/{tea}/", headers=auth_headers["till-1"]).json
    assert (product["active"], product["stock"]) == (False, "2")


def test_a_volatile_price_set_by_patch_is_not_overwritten_by_an_older_offline_sale(client, auth_headers, sessions):
    fish = add_product(sessions, "FISH", is_volatile=True, unit_price="18.00")
    client.patch(f"/api/products/{fish}/", json={"unit_price": "20.00"}, headers=auth_headers["admin"])

    apply_isolating(sessions, [sale(line(fish, unit_price="15.00"), at=datetime.now(UTC) - timedelta(hours=2))], NOW)

    assert client.get(f"/api/products/{fish}/", headers=auth_headers["admin"]).json["unit_price"] == "20.00"


# a till's clock


def test_a_till_a_year_ahead_or_years_behind_syncs_every_sale(client, auth_headers, sessions, intake):
    tea = add_product(sessions, "TEA", unit_price="2.00")
    now = datetime.now(UTC)
    bodies = {
        "ahead": {
            "client_timestamp": (now + timedelta(days=365)).isoformat(),
            "items": [{"product": tea, "quantity": "1"}],
        },
        "behind": {"client_timestamp": "2019-03-01T10:00:00Z", "items": [{"product": tea, "quantity": "2"}]},
    }
    posted = {
        name: client.post("/api/sales/", json=body, headers=auth_headers["till-1"]) for name, body in bodies.items()
    }
    assert {name: answer.status_code for name, answer in posted.items()} == {"ahead": 202, "behind": 202}
    entries = intake.claim("worker-1", 10, 60_000)
    intake.settle(entries, apply_isolating(sessions, [entry.sale for entry in entries], datetime.now(UTC)))

    status = {
        name: client.get(f"/api/sales/{answer.json['external_id']}/", headers=auth_headers["till-1"]).json
        for name, answer in posted.items()
    }
    assert [status[name]["status"] for name in bodies] == ["applied", "applied"]
    assert (status["ahead"]["sale"]["clock_ahead"], status["behind"]["sale"]["clock_ahead"]) == (True, False)
    assert status["ahead"]["sale"]["client_timestamp"].startswith(str(now.year + 1))  # kept as sent
    with sessions() as session:
        days = dict(session.execute(text("SELECT quantity, sold_at FROM sale_items")).all())
    assert days[Decimal("1")] <= datetime.now(UTC)  # counted when received, not a year from now
    assert days[Decimal("2")].year == 2019  # the till's own (old) time: an offline sale may be that old


def test_a_sale_from_the_far_future_is_kept_as_sent_but_dated_when_received_in_reports(client, auth_headers, sessions):
    tea = add_product(sessions, "TEA", unit_price="2.00")
    body = {"client_timestamp": "9999-12-31T23:59:59Z", "items": [{"product": tea, "quantity": "1"}]}
    assert client.post("/api/sales/", json=body, headers=auth_headers["till-1"]).status_code == 202
    assert (
        client.post(
            "/api/sales/", json={**body, "client_timestamp": "2026-01-31T14:30:00"}, headers=auth_headers["till-1"]
        ).status_code
        == 400
    )
