"""The OpenAPI document: served without a token, covers every route and every status docs/api.md lists,
and the contract check the end-to-end suite applies to every answer refuses answers that break it."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
