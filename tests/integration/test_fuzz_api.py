"""Fuzz the HTTP API from its own OpenAPI document (schemathesis), against the real app, Redis and PostgreSQL.

For every operation, schema-valid and schema-invalid requests are sent with valid tokens (a device's;
an admin's where the operation needs one). Every answer must be documented (status, media type,
body schema, headers), never a 5xx, and every 4xx a problem document. A rejected request (4xx)
must leave Redis and PostgreSQL exactly as they were.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select

from postgres import catalog
from postgres.tables import Base, StockLevel
from tests.e2e.openapi_check import contract
from web.app import create_app
from web.openapi import document

EXAMPLES = 10  # per operation and generation mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture
def fuzzed(settings, sessions, redis_client, auth_headers):
    """The real app (rate limit off: the fuzzer is one busy client), a product, a device and an admin."""
    with sessions.begin() as session:
        catalog.create_product(
            session, {"main": Decimal(10)}, sku="MILK", name="Milk", is_volatile=False, unit_price=None, reorder_level=5
        )
    app = create_app(settings.model_copy(update=dict(rate_limit=0)))
    return {"app": app, "headers": auth_headers, "state": lambda: state(sessions, redis_client, settings.redis_prefix)}


def state(sessions, client, prefix: str) -> dict:
    """Everything a request could have recorded: each table's rows, and our Redis keys and their contents."""
    counts = [
        select(func.count()).select_from(table).scalar_subquery().label(table.name)
        for table in Base.metadata.sorted_tables
    ]
    with sessions() as session:
        rows = dict(
            session.execute(select(*counts, select(func.sum(StockLevel.quantity)).scalar_subquery().label("stock")))
            .one()
            ._mapping
        )
    keys = {}
    for key in client.scan_iter(match=f"{prefix}*", count=10_000):
        name = key.decode()[len(prefix) :]
        # The broker, rate buckets, the drain-kick marker, and when each device was last seen: any
        # authenticated request counts, a refused one too (it shows the till is alive).
        if name.startswith(("celery", "rate:", "drain", "devices:last-seen")):
            continue
        kind = client.type(key).decode()
        if kind == "hash":
            keys[name] = client.hgetall(key)
        elif kind == "stream":
            keys[name] = client.xlen(key)
        else:
            keys[name] = client.dump(key)
    return {"rows": rows, "redis": keys}


STATIC = {"text/html", "text/css", "text/javascript"}  # files served as they are: nothing to fuzz


def cases() -> list[tuple[str, str, GenerationMode]]:
    """Every operation with valid data; with invalid data too where something can be invalid: a body, or a
    parameter that is not just any string."""
    found = []
    for path, operations in document()["paths"].items():
        for method, operation in operations.items():
            media = {
                kind
                for status, answer in operation["responses"].items()
                if status.startswith("2")
                for kind in answer.get("content", {})
            }
            if media and media <= STATIC:
                continue
            found.append((path, method, GenerationMode.POSITIVE))
            if "requestBody" in operation or any(
                parameter["schema"] != {"type": "string"} for parameter in operation.get("parameters", [])
            ):
                found.append((path, method, GenerationMode.NEGATIVE))
    return found


CASES = cases()
_schema = []


def operation_of(path: str, method: str):
    """The schemathesis view of one operation (the document is loaded once per run)."""
    if not _schema:
        loaded = schemathesis.openapi.from_dict(document())
        # The fuzzer sends the fixture's valid tokens, so that bodies and parameters get past
        # authentication; refused tokens are tested in test_access.py and test_intake_http.py.
        loaded.config.generation.update(with_security_parameters=False)
        _schema.append(loaded)
    return _schema[0][path][method.upper()]


@pytest.mark.parametrize("path, method, mode", CASES, ids=[f"{m.upper()} {p} {mode}" for p, m, mode in CASES])
def test_the_api_answers_every_request_as_documented_and_a_rejected_one_records_nothing(fuzzed, path, method, mode):
    operation = operation_of(path, method)
    headers = fuzzed["headers"]["admin" if "403" in operation.definition.raw["responses"] else "till-1"]

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES // 2 if "batch" in path else EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def answered_as_documented(case):
        before = fuzzed["state"]()

        response = case.call(headers=headers, app=fuzzed["app"])  # this test's app: its Redis prefix

        case.validate_response(response, checks=CHECKS)
        contract().hold(
            method, response.request.path_url.split("?")[0], response.status_code, response.headers, response.content
        )
        if 400 <= response.status_code < 500:
            assert response.headers["content-type"] == ["application/problem+json"]
            assert fuzzed["state"]() == before, f"a {response.status_code} answer changed what is stored"

    answered_as_documented()


def test_found_by_fuzzing_a_nul_character_is_a_400_or_matches_nothing_never_a_500(fuzzed):
    client, headers = fuzzed["app"].test_client(), fuzzed["headers"]
    before = fuzzed["state"]()

    created = client.post("/api/products/", json={"sku": "A\x00", "name": "N"}, headers=headers["admin"])
    listed = client.get("/api/products/?sku=A%00", headers=headers["till-1"])

    assert (created.status_code, created.json["errors"][0]["field"]) == (400, "sku")
    assert (listed.status_code, listed.json) == (200, [])
    assert fuzzed["state"]() == before
