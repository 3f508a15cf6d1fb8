"""The HTTP intake against a real Redis: answers, validation, auth, and that errors record nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from postgres import tokens
from web.app import create_app

SALE_ID = "550e8400-e29b-41d4-a716-446655440000"


def bread_sale(**changes):
    body = {
        "external_id": SALE_ID,
        "source_device": "mobile-app-v1.2",
        "client_timestamp": "2026-01-31T14:30:00Z",
        "items": [{"product": 5, "quantity": "0.75", "unit_price": "1.50"}],
    }
    return {**body, **changes}


def nothing_recorded(intake) -> bool:
    return intake.redis.exists(intake.stream) == 0 or intake.backlog() == 0


def test_a_new_sale_is_accepted_and_queued(client, auth_headers, intake):
    response = client.post("/api/sales/", json=bread_sale(), headers=auth_headers["till-1"])

    assert response.status_code == 202
    assert response.json == {"external_id": SALE_ID, "status": "queued"}
    assert response.headers["Location"] == f"/api/sales/{SALE_ID}/"
    assert intake.backlog() == 1
    assert intake.status(SALE_ID)["status"] == "queued"


def test_the_same_sale_again_answers_200_with_its_status_and_queues_nothing_more(client, auth_headers, intake):
    client.post("/api/sales/", json=bread_sale(), headers=auth_headers["till-1"])
    # The same payload, numbers written differently, a client total that is ignored.
    again = bread_sale(items=[{"product": 5, "quantity": 0.750, "unit_price": 1.5}], total="999")
    response = client.post(
        "/api/sales/", data=json.dumps(again), content_type="application/json", headers=auth_headers["till-1"]
    )

    assert response.status_code == 200
    assert response.json["external_id"] == SALE_ID
    assert response.json["status"] == "queued"
    assert intake.backlog() == 1


def test_the_same_external_id_with_a_different_payload_is_422_and_changes_nothing(client, auth_headers, intake):
    client.post("/api/sales/", json=bread_sale(), headers=auth_headers["till-1"])
    changed = bread_sale(items=[{"product": 5, "quantity": "2", "unit_price": "1.50"}])

    response = client.post("/api/sales/", json=changed, headers=auth_headers["till-1"])

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert intake.backlog() == 1


def test_another_device_reusing_an_external_id_is_422(client, auth_headers):
    client.post("/api/sales/", json=bread_sale(), headers=auth_headers["till-1"])

    assert client.post("/api/sales/", json=bread_sale(), headers=auth_headers["till-2"]).status_code == 422


def test_a_missing_external_id_is_generated(client, auth_headers):
    body = bread_sale()
    del body["external_id"]
    response = client.post("/api/sales/", json=body, headers=auth_headers["till-1"])

    assert response.status_code == 202
    assert uuid.UUID(response.json["external_id"])


@pytest.mark.parametrize(
    "body, field",
    [
        ({"items": []}, "items"),
        ({"items": [{"product": 5, "quantity": "0.0001", "unit_price": "1"}]}, "items.0.quantity"),
        ({"items": [{"product": 5, "quantity": "1", "unit_price": "1.00001"}]}, "items.0.unit_price"),
        ({"items": [{"product": 5, "quantity": "0", "unit_price": "1"}]}, "items.0.quantity"),
        ({"items": [{"product": 5, "quantity": "-1", "unit_price": "1"}]}, "items.0.quantity"),
        ({"items": [{"product": 5, "quantity": "NaN", "unit_price": "1"}]}, "items.0.quantity"),
        ({"items": [{"product": 5, "quantity": True, "unit_price": "1"}]}, "items.0.quantity"),
        ({"items": [{"quantity": "1", "unit_price": "1"}]}, "items.0"),
        (
            {
                "items": [
                    {
                        "product": 5,
                        "product_data": {"sku": "X", "name": "X", "is_volatile": False},
                        "quantity": "1",
                        "unit_price": "1",
                    }
                ]
            },
            "items.0",
        ),
        ({"items": [{"product_data": {"sku": "X", "name": "X", "is_volatile": False}, "quantity": "1"}]}, "items.0"),
        ({"external_id": "UUID-123"}, "external_id"),
        ({"client_timestamp": "2026-01-31T14:30:00"}, "client_timestamp"),
        ({"client_timestamp": "2026-02-30T00:00:00Z"}, "client_timestamp"),
    ],
)
def test_an_invalid_field_is_400_with_its_name_and_records_nothing(client, auth_headers, intake, body, field):
    response = client.post("/api/sales/", json=bread_sale(**body), headers=auth_headers["till-1"])

    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert field in [error["field"] for error in response.json["errors"]]
    assert nothing_recorded(intake)


@pytest.mark.parametrize("raw", [b"{", b'{"items": [{"product": 5, "quantity": NaN}]}', b"[" * 100_000])
def test_malformed_json_is_400(client, auth_headers, intake, raw):
    response = client.post("/api/sales/", data=raw, content_type="application/json", headers=auth_headers["till-1"])

    assert response.status_code in (400, 413)
    assert response.content_type == "application/problem+json"
    assert nothing_recorded(intake)


def test_numbers_are_read_exactly_from_their_text(client, auth_headers, intake):
    body = json.dumps(bread_sale(items=[{"product": 5, "quantity": "1", "unit_price": "0"}])).replace(
        '"unit_price": "0"', '"unit_price": 0.1000'
    )
    response = client.post("/api/sales/", data=body, content_type="application/json", headers=auth_headers["till-1"])

    assert response.status_code == 202
    stream = intake.redis.xrange(intake.stream)
    assert json.loads(stream[0][1][b"sale"])["lines"][0]["unit_price"] == "0.1000"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Token nope"}, {"Authorization": "Bearer x"}])
def test_a_missing_or_unknown_token_is_401(client, headers, intake, auth_headers):
    response = client.post("/api/sales/", json=bread_sale(), headers=headers)

    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert nothing_recorded(intake)


def test_a_revoked_token_is_401_once_the_cache_expires(settings, sessions, redis_client, auth_headers, intake):
    client = create_app(settings.model_copy(update=dict(token_cache_seconds=0))).test_client()
    with sessions.begin() as session:
        tokens.revoke(session, "till-1", datetime.now(UTC))
        tokens.publish(session, redis_client, settings.redis_prefix)

    assert client.post("/api/sales/", json=bread_sale(), headers=auth_headers["till-1"]).status_code == 401


def test_a_body_that_is_not_json_is_415(client, auth_headers, intake):
    response = client.post("/api/sales/", data="external_id=1", headers=auth_headers["till-1"])

    assert response.status_code == 415
    assert nothing_recorded(intake)


def test_a_body_over_the_limit_is_413(settings, auth_headers, intake):
    client = create_app(settings.model_copy(update=dict(max_body_bytes=1024))).test_client()
    body = bread_sale(items=[{"product": 5, "quantity": "1", "unit_price": "1"}] * 100)

    response = client.post("/api/sales/", json=body, headers=auth_headers["till-1"])

    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert nothing_recorded(intake)


def test_an_unreachable_redis_is_503_with_retry_after(settings, auth_headers):
    client = create_app(settings.model_copy(update=dict(redis_url="redis://127.0.0.1:1/0"))).test_client()

    response = client.post("/api/sales/", json=bread_sale(), headers=auth_headers["till-1"])

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_sales_are_append_only(client, auth_headers, method):
    response = getattr(client, method)(f"/api/sales/{SALE_ID}/", headers=auth_headers["admin"])

    assert response.status_code == 405
    assert response.content_type == "application/problem+json"


def test_a_device_sees_only_its_own_sales_and_an_admin_sees_all(client, auth_headers):
    client.post("/api/sales/", json=bread_sale(), headers=auth_headers["till-1"])

    assert client.get(f"/api/sales/{SALE_ID}/", headers=auth_headers["till-1"]).status_code == 200
    assert client.get(f"/api/sales/{SALE_ID}/", headers=auth_headers["till-2"]).status_code == 404
    assert client.get(f"/api/sales/{SALE_ID}/", headers=auth_headers["admin"]).status_code == 200
    assert client.get(f"/api/sales/{uuid.uuid4()}/", headers=auth_headers["admin"]).status_code == 404
    assert client.get("/api/sales/not-a-uuid/", headers=auth_headers["admin"]).status_code == 404


def test_only_an_admin_creates_products(client, auth_headers):
    juice = {"sku": "JUICE-1L", "name": "Juice 1L", "unit_price": "0.50", "stock": "10", "reorder_level": "3"}

    assert client.post("/api/products/", json=juice, headers=auth_headers["till-1"]).status_code == 403
    created = client.post("/api/products/", json=juice, headers=auth_headers["admin"])
    assert created.status_code == 201
    assert created.json | {"created_at": None, "updated_at": None} == {
        "id": created.json["id"],
        "sku": "JUICE-1L",
        "name": "Juice 1L",
        "is_volatile": False,
        "unit_price": "0.50",
        "stock": "10",
        "stock_by_store": {"main": "10"},
        "active": True,
        "reorder_level": "3",
        "created_at": None,
        "updated_at": None,
    }
    assert client.post("/api/products/", json=juice, headers=auth_headers["admin"]).status_code == 409
    listed = client.get("/api/products/?sku=JUICE-1L", headers=auth_headers["till-1"]).json
    assert [p["sku"] for p in listed] == ["JUICE-1L"]
    assert client.get("/api/products/?sku=NONE", headers=auth_headers["till-1"]).json == []
    assert client.get(f"/api/products/{created.json['id']}/", headers=auth_headers["till-2"]).json["sku"] == "JUICE-1L"
    assert client.get("/api/products/999999/", headers=auth_headers["till-2"]).status_code == 404


def test_stock_adjustments_open_and_resolve_alerts(client, auth_headers):
    juice = client.post(
        "/api/products/",
        json={"sku": "JUICE-1L", "name": "Juice", "stock": "5", "reorder_level": "3"},
        headers=auth_headers["admin"],
    ).json
    url = f"/api/products/{juice['id']}/stock-adjustments/"

    down = client.post(url, json={"quantity": "-4", "reason": "breakage"}, headers=auth_headers["admin"])
    assert (down.status_code, down.json["stock"]) == (201, "1")
    alerts = client.get("/api/alerts/?status=open", headers=auth_headers["till-1"]).json
    assert [a["status"] for a in alerts] == ["open"]

    up = client.post(url, json={"quantity": "10", "reason": "delivery"}, headers=auth_headers["admin"])
    assert (up.status_code, up.json["stock"]) == (201, "11")
    assert client.get("/api/alerts/?status=open", headers=auth_headers["till-1"]).json == []
    assert len(client.get("/api/alerts/?status=resolved", headers=auth_headers["till-1"]).json) == 1
    assert client.get("/api/alerts/?status=maybe", headers=auth_headers["till-1"]).status_code == 400
    assert client.post(url, json={"quantity": "1", "reason": "x"}, headers=auth_headers["till-1"]).status_code == 403
    assert (
        client.post(
            "/api/products/999999/stock-adjustments/",
            json={"quantity": "1", "reason": "x"},
            headers=auth_headers["admin"],
        ).status_code
        == 404
    )


def test_health_and_readiness(client, sessions):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json["status"]) == (200, "ready")


def test_readiness_fails_when_redis_is_unreachable(settings, sessions):
    client = create_app(settings.model_copy(update=dict(redis_url="redis://127.0.0.1:1/0"))).test_client()
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json["checks"]["redis"] == "unreachable"


def test_a_batch_answers_each_sale_in_order_as_the_single_endpoint_would(client, auth_headers, intake):
    client.post("/api/sales/", json=bread_sale(), headers=auth_headers["till-1"])
    fresh = bread_sale(external_id=str(uuid.uuid4()))
    sales = [
        fresh,
        bread_sale(),
        bread_sale(items=[{"product": 5, "quantity": "9", "unit_price": "1"}]),
        bread_sale(external_id="UUID-123"),
        fresh,
    ]

    response = client.post("/api/sales/batch/", json={"sales": sales}, headers=auth_headers["till-1"])

    assert response.status_code == 200
    results = response.json["results"]
    assert [r["status"] for r in results] == [202, 200, 422, 400, 200]
    assert results[0]["body"] == {"external_id": fresh["external_id"], "status": "queued"}
    assert results[3]["body"]["errors"][0]["field"] == "external_id"
    assert intake.backlog() == 2


@pytest.mark.parametrize(
    "body, status", [({"sales": []}, 400), ({"sale": [1]}, 400), ([1], 400), ({"sales": [{}] * 1001}, 413)]
)
def test_a_batch_with_a_whole_request_error_is_one_4xx_and_records_nothing(client, auth_headers, intake, body, status):
    response = client.post("/api/sales/batch/", json=body, headers=auth_headers["till-1"])

    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert nothing_recorded(intake)


@pytest.mark.parametrize(
    "headers, raw, status",
    [
        ({}, json.dumps({"sales": [bread_sale()]}), 401),
        ({"Authorization": "Token nope"}, json.dumps({"sales": [bread_sale()]}), 401),
        (None, '{"sales": [', 400),
        (None, json.dumps({"sales": [bread_sale(external_id=str(uuid.uuid4())) for _ in range(20)]}), 413),
    ],
)
def test_a_batch_with_a_bad_token_bad_json_or_too_many_bytes_is_one_4xx(
    settings, auth_headers, intake, headers, raw, status
):
    client = create_app(settings.model_copy(update=dict(max_batch_bytes=2048))).test_client()

    response = client.post(
        "/api/sales/batch/",
        data=raw,
        content_type="application/json",
        headers=auth_headers["till-1"] if headers is None else headers,
    )

    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == status
    assert nothing_recorded(intake)


@pytest.mark.parametrize("spare", [0, -1])
def test_a_batch_answers_a_sale_over_one_sales_body_limit_413_as_post_sales_would(
    settings, auth_headers, intake, spare
):
    def compact(external_id):  # the smallest JSON of a sale: no spaces, UTF-8, numbers as JSON numbers
        sale = bread_sale(
            external_id=external_id,
            source_device="caisse-é",
            items=[{"product": 5, "quantity": "1", "unit_price": "0"}] * 30,
        )
        return json.dumps(sale, separators=(",", ":"), ensure_ascii=False).replace('"0"', "1.50")

    alone, batched, small = compact(str(uuid.uuid4())), compact(str(uuid.uuid4())), bread_sale()
    client = create_app(settings.model_copy(update=dict(max_body_bytes=len(alone.encode()) + spare))).test_client()

    single = client.post(
        "/api/sales/", data=alone.encode(), content_type="application/json", headers=auth_headers["till-1"]
    )
    batch = client.post(
        "/api/sales/batch/",
        data=f'{{"sales":[{batched},{json.dumps(small)}]}}'.encode(),
        content_type="application/json",
        headers=auth_headers["till-1"],
    )

    assert batch.status_code == 200
    big, rest = batch.json["results"]
    assert big["status"] == single.status_code == (202 if spare == 0 else 413)
    assert rest["status"] == 202
    if spare:
        assert big["body"] == single.json
        assert intake.status(json.loads(batched)["external_id"]) is None
    assert intake.backlog() == (3 if spare == 0 else 1)


def test_a_batch_may_be_larger_than_a_single_sales_body_limit(client, auth_headers, intake):
    sales = [bread_sale(external_id=str(uuid.uuid4())) for _ in range(600)]

    response = client.post("/api/sales/batch/", json={"sales": sales}, headers=auth_headers["till-1"])

    assert len(response.get_data()) > 0 and response.status_code == 200
    assert {r["status"] for r in response.json["results"]} == {202}
    assert intake.backlog() == 600


def test_an_unreachable_database_is_503_on_catalogue_reads(settings, auth_headers):
    nowhere = "postgresql+psycopg2://nobody@127.0.0.1:1/none"
    client = create_app(settings.model_copy(update=dict(database_url=nowhere))).test_client()

    response = client.get("/api/products/", headers=auth_headers["till-1"])

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


def statuses(client, headers, external_ids):
    response = client.post("/api/sales/status/", json={"external_ids": external_ids}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["results"]


def as_get(client, headers, external_ids):
    """What GET /api/sales/<id>/ answers for each id, in the bulk endpoint's shape."""
    answers = [client.get(f"/api/sales/{external_id}/", headers=headers) for external_id in external_ids]
    return [{"status": answer.status_code, "body": answer.json} for answer in answers]


def test_bulk_status_answers_each_id_in_order_as_get_would_and_hides_other_devices_sales(client, auth_headers):
    mine, theirs, unknown = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    client.post("/api/sales/", json=bread_sale(external_id=mine), headers=auth_headers["till-1"])
    client.post("/api/sales/", json=bread_sale(external_id=theirs), headers=auth_headers["till-2"])
    asked = [unknown, mine, "not-a-uuid", theirs, mine.upper().replace("-", ""), mine]

    results = statuses(client, auth_headers["till-1"], asked)

    assert [r["status"] for r in results] == [404, 200, 404, 404, 200, 200]
    assert results == as_get(client, auth_headers["till-1"], asked)
    assert results[1]["body"]["external_id"] == results[4]["body"]["external_id"] == mine
    assert results[1]["body"]["status"] == "queued"
    assert results[3]["body"] == as_get(client, auth_headers["till-1"], [unknown])[0]["body"] | {
        "detail": f"No sale {theirs} is known to this token."
    }  # another device's sale: told apart from nothing
    assert [r["status"] for r in statuses(client, auth_headers["admin"], asked)] == [404, 200, 404, 200, 200, 200]


def test_bulk_status_reads_postgresql_for_sales_whose_redis_record_is_gone(client, auth_headers, intake, sessions):
    from postgres.apply import apply_isolating  # the worker's apply, run here in-process

    applied, rejected = str(uuid.uuid4()), str(uuid.uuid4())
    juice = {"sku": "JUICE-1L", "name": "Juice 1L", "is_volatile": False, "unit_price": "0.50"}
    client.post(
        "/api/sales/",
        json=bread_sale(external_id=applied, items=[{"product_data": juice, "quantity": "2"}]),
        headers=auth_headers["till-1"],
    )
    client.post("/api/sales/", json=bread_sale(external_id=rejected), headers=auth_headers["till-1"])  # product 5: none
    entries = intake.claim("worker-a", 10, 60_000)
    intake.settle(entries, apply_isolating(sessions, [entry.sale for entry in entries], datetime.now(UTC)))
    from_redis = statuses(client, auth_headers["till-1"], [applied, rejected])
    intake.redis.delete(intake.record_key(applied), intake.record_key(rejected))  # expired

    from_postgresql = statuses(client, auth_headers["till-1"], [applied, rejected, str(uuid.uuid4())])

    assert [r["body"]["status"] for r in from_redis] == ["applied", "rejected"]
    assert from_postgresql[:2] == from_redis
    assert from_postgresql[0]["body"]["sale"]["total"] == "1.00"
    assert from_postgresql[2]["status"] == 404
    till_2 = auth_headers["till-2"]
    assert statuses(client, till_2, [applied, rejected]) == as_get(client, till_2, [applied, rejected])
    assert [r["status"] for r in statuses(client, auth_headers["till-2"], [applied, rejected])] == [404, 404]
    assert statuses(client, auth_headers["admin"], [rejected, applied]) == from_redis[::-1]


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"external_ids": []}, 400, "external_ids"),
        ({"external_ids": SALE_ID}, 400, "external_ids"),
        ({"external_ids": [SALE_ID, 7]}, 400, "external_ids.1"),
        ({"external_id": [SALE_ID]}, 400, "external_ids"),
        ([SALE_ID], 400, "body"),
        ({"external_ids": [SALE_ID] * 1001}, 413, None),
    ],
)
def test_bulk_status_refuses_a_malformed_query_as_a_whole(client, auth_headers, body, status, field):
    response = client.post("/api/sales/status/", json=body, headers=auth_headers["till-1"])

    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert [error["field"] for error in response.json.get("errors", [])] == ([field] if field else [])


def test_bulk_status_takes_1000_ids_in_one_request_and_needs_a_token(client, auth_headers):
    ids = [str(uuid.uuid4()) for _ in range(1000)]

    assert [r["status"] for r in statuses(client, auth_headers["till-1"], ids)] == [404] * 1000
    refused = client.post("/api/sales/status/", json={"external_ids": ids})
    assert (refused.status_code, refused.headers["WWW-Authenticate"]) == (401, "Token")


def test_a_bulk_status_request_counts_once_against_the_rate_limit(settings, auth_headers):
    client = create_app(settings.model_copy(update=dict(rate_limit=0.001, rate_burst=2))).test_client()
    ids = [str(uuid.uuid4()) for _ in range(50)]

    answers = [
        client.post("/api/sales/status/", json={"external_ids": ids}, headers=auth_headers["till-1"]) for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) > 0
