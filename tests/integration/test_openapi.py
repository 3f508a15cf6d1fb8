"""The OpenAPI document: served without a token, covers every route and every status docs/api.md lists,
and the contract check the end-to-end suite applies to every answer refuses answers that break it,
stores, stock by store and returns included."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from postgres import tokens
from postgres.apply import apply_isolating
from tests.e2e.openapi_check import Contract
from web.openapi import document

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_the_document_is_served_without_a_token(app):
    response = app.test_client().get("/api/openapi.json")

    assert response.status_code == 200
    assert response.json == json.loads(json.dumps(document()))
    assert response.json["openapi"].startswith("3.1")


def test_every_route_of_the_app_is_in_the_document(app):
    paths = document()["paths"]
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method.lower() not in paths.get(path, {}):
                missing.append(f"{method} {path}")
    assert not missing, f"routes missing from the OpenAPI document: {missing}"


def documented_statuses() -> dict[tuple[str, str], set[int]]:
    """docs/api.md: each '## METHOD /path' section's status table."""
    found, current = {}, None
    for line in API_MD.read_text().splitlines():
        heading = re.match(r"^## (GET|POST|PUT|PATCH|DELETE) (/\S+)$", line)
        if heading:
            current = (heading[1].lower(), re.sub(r"\{[^}]+\}", "{}", heading[2]))
            found[current] = set()
        elif line.startswith("## "):
            current = None
        elif current and (row := re.match(r"^\| (\d{3}) ", line)):
            found[current].add(int(row[1]))
    return found


def test_every_status_code_in_the_api_reference_is_in_the_document():
    paths = {re.sub(r"\{[^}]+\}", "{}", path): ops for path, ops in document()["paths"].items()}
    sections = documented_statuses()
    assert len(sections) >= 10  # the reference was read
    for (method, path), statuses in sections.items():
        # A section also speaks for the files under its path ("any other file under /dashboard/": 404).
        operations = [paths[p][method] for p in (path, path + "{}", path + "{}/") if method in paths.get(p, {})]
        documented = {int(status) for operation in operations for status in operation["responses"]}
        # 405 answers methods a path does not have (the document lists those it has); 308 answers the
        # path without its slash (Conventions).
        assert operations and statuses - {405, 308} <= documented, f"{method.upper()} {path}"


def test_the_contract_check_passes_real_answers_and_refuses_broken_ones(client, auth_headers):
    admin, contract = auth_headers["admin"], Contract(document())
    created = client.post("/api/products/", json={"sku": "MILK", "name": "Milk", "stock": "20"}, headers=admin)
    listed = client.get("/api/products/", headers=admin)
    for response, method, path in [(created, "POST", "/api/products/"), (listed, "GET", "/api/products/")]:
        assert contract.violations(method, path, response.status_code, response.headers, response.data) == []
    product = created.json

    def broken(status=201, headers=created.headers, body=product):
        return contract.violations("POST", "/api/products/", status, headers, json.dumps(body).encode())

    assert broken(body={**product, "stock": 20})  # a number where the document says an exact string
    assert broken(body={**product, "secret": "x"})  # a field the document does not have
    assert broken(body={k: v for k, v in product.items() if k != "sku"})  # a required field missing
    assert broken(body={**product, "created_at": "yesterday"})  # not a date-time
    assert broken(status=204)  # a status the operation does not document
    assert broken(headers={"Content-Type": "application/json"})  # Location missing
    assert broken(headers={"Content-Type": "text/html", "Location": "/"})
    assert contract.violations("GET", "/api/sales/", 200, {"Content-Type": "application/json"}, b"{}")
    assert contract.violations("GET", "/somewhere-else/", 200, {}, b"") == []  # not salesync's: left alone


def test_stores_stock_by_store_and_returns_answer_as_the_document_says(
    client, auth_headers, sessions, redis_client, settings, intake
):
    admin, till, contract = auth_headers["admin"], auth_headers["till-1"], Contract(document())

    def call(method: str, path: str, headers: dict, status: int, **kwargs):
        response = client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == status, response.data
        assert contract.violations(method, path.split("?")[0], status, response.headers, response.data) == []
        return response

    def drain():
        entries = intake.claim("worker-a", 100, 60_000)
        intake.settle(entries, apply_isolating(sessions, [entry.sale for entry in entries], datetime.now(UTC)))

    store = call("POST", "/api/stores/", admin, 201, json={"code": "S1", "name": "High Street"}).json
    call("POST", "/api/stores/", admin, 409, json={"code": "S1", "name": "Again"})
    call("POST", "/api/stores/", admin, 400, json={"code": "not a code", "name": "Shop"})
    call("POST", "/api/stores/", till, 403, json={"code": "S2", "name": "Shop"})
    assert sorted(s["code"] for s in call("GET", "/api/stores/", till, 200).json) == ["S1", "main"]
    with sessions.begin() as session:
        shop = {"Authorization": f"Token {tokens.create(session, 'till-s1', False, store='S1')}"}
        tokens.publish(session, redis_client, settings.redis_prefix)

    body = {"sku": "MILK", "name": "Milk", "unit_price": "1.00", "stock_by_store": {"S1": "3"}, "reorder_level": "5"}
    product = call("POST", "/api/products/", admin, 201, json=body).json
    assert (product["stock"], product["stock_by_store"]) == ("3", {"S1": "3"})
    call("POST", "/api/products/", admin, 400, json={**body, "sku": "X", "stock_by_store": {"nowhere": "1"}})
    adjust = f"/api/products/{product['id']}/stock-adjustments/"
    call("POST", adjust, admin, 201, json={"quantity": "10", "reason": "delivery", "store": "S1"})
    call("POST", adjust, admin, 400, json={"quantity": "1", "reason": "delivery", "store": "nowhere"})
    alerts = call("GET", "/api/alerts/?store=S1", till, 200).json
    assert [(a["store"], a["status"]) for a in alerts] == [("S1", "resolved")]  # 3 < 5, then 13
    call("GET", "/api/alerts/?store=nowhere", till, 404)

    sold = {"external_id": str(uuid.uuid4()), "items": [{"product": product["id"], "quantity": "2"}]}
    call("POST", "/api/sales/", shop, 202, json=sold)
    drain()
    back = {"external_id": str(uuid.uuid4()), "kind": "return", "original_external_id": sold["external_id"]}
    call("POST", "/api/sales/", till, 202, json={**back, "items": [{"product": product["id"], "quantity": "1"}]})
    call("POST", "/api/sales/", till, 400, json={"kind": "sale", "original_external_id": sold["external_id"], **sold})
    drain()
    sale = call("GET", f"/api/sales/{sold['external_id']}/", admin, 200).json["sale"]
    returned = call("GET", f"/api/sales/{back['external_id']}/", till, 200).json["sale"]
    assert (sale["store"], sale["kind"], "original_external_id" in sale) == ("S1", "sale", False)
    assert (returned["store"], returned["kind"]) == ("main", "return")  # the returning device's store
    assert returned["original_external_id"] == sold["external_id"]
    assert call("GET", f"/api/products/{product['id']}/", till, 200).json["stock_by_store"] == {"S1": "11", "main": "1"}
    assert call("GET", "/api/sales/analytics/?store=S1", till, 200).json["store"] == "S1"
    assert "store" not in call("GET", "/api/sales/analytics/", till, 200).json
    call("GET", "/api/sales/analytics/?store=nowhere", till, 404)

    def broken(path, body):
        return contract.violations("GET", path, 200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    one = f"/api/products/{product['id']}/"
    assert broken(one, {k: v for k, v in product.items() if k != "stock_by_store"})
    assert broken(one, {**product, "stock_by_store": {"S1": 3}})  # a number, not an exact string
    assert broken(one, {**product, "stock_by_store": {"not a code": "3"}})
    assert broken("/api/stores/", [{**store, "code": "not a code"}])
    assert broken("/api/alerts/", [{k: v for k, v in alerts[0].items() if k != "store"}])
    status = call("GET", f"/api/sales/{back['external_id']}/", till, 200).json
    assert broken(f"/api/sales/{back['external_id']}/", {**status, "sale": {**returned, "kind": "refund"}})
