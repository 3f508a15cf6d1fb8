"""CORS (web/cors.py): the origins of SALESYNC_CORS_ORIGINS, and only they, may call a till's API
paths from a browser; everything else answers as it did without CORS. Against the real app, Redis
and PostgreSQL. The browser's side is tested in Chromium (tests/browser/test_cors.py)."""

from __future__ import annotations

import uuid

import pytest

from config.settings import Settings
from web.app import create_app
from web.cors import allowed_origins

TILL = "https://till.example.com"
OTHER = "https://evil.example"
SALE = str(uuid.uuid4())

# Every path and method a web till uses.
TILL_CALLS = [
    ("/api/sales/", "POST"),
    ("/api/sales/batch/", "POST"),
    ("/api/sales/status/", "POST"),
    (f"/api/sales/{SALE}/", "GET"),
    ("/api/sync/products/", "GET"),
    ("/api/products/", "GET"),
    ("/api/products/7/", "GET"),
]


@pytest.fixture
def cors_client(settings):
    return create_app(settings.model_copy(update={"cors_origins": f"{TILL}, http://127.0.0.1:8123"})).test_client()


def preflight(client, path, method, origin=TILL, headers="authorization,content-type"):
    return client.options(
        path,
        headers={"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers},
    )


def cors_headers(response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")}


@pytest.mark.parametrize(("path", "method"), TILL_CALLS)
def test_a_listed_origin_is_answered_the_preflight_of_every_till_call(cors_client, path, method):
    answer = preflight(cors_client, path, method)

    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == TILL
    assert method in answer.headers["Access-Control-Allow-Methods"].split(", ")
    assert answer.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type, If-None-Match"
    assert int(answer.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in answer.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in answer.headers, "tokens go in a header, never cookies"


@pytest.mark.parametrize(("path", "method"), TILL_CALLS)
@pytest.mark.parametrize("origin", [OTHER, "null", "https://till.example.com.evil.example", "http://till.example.com"])
def test_a_preflight_from_an_origin_not_listed_gets_no_cors_headers(cors_client, path, method, origin):
    answer = preflight(cors_client, path, method, origin=origin)

    assert cors_headers(answer) == {}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/sales/", "DELETE"),
        (f"/api/sales/{SALE}/", "PUT"),
        ("/api/products/7/", "PATCH"),
        ("/api/products/", "POST"),
    ],
)
def test_a_method_a_till_does_not_use_is_not_allowed_even_to_a_listed_origin(cors_client, path, method):
    assert cors_headers(preflight(cors_client, path, method)) == {}


@pytest.mark.parametrize(
    "path", ["/api/stores/", "/api/alerts/", "/api/ops/overview/", "/api/products/7/stock-adjustments/", "/metrics"]
)
def test_paths_a_till_does_not_call_have_no_cors_at_all(cors_client, path):
    assert cors_headers(preflight(cors_client, path, "GET")) == {}
    assert cors_headers(cors_client.get(path, headers={"Origin": TILL})) == {}


def test_a_listed_origin_may_read_a_sale_answer_and_its_location(cors_client, auth_headers):
    sale = {
        "external_id": str(uuid.uuid4()),
        "sequence": 1,
        "items": [{"product": 1, "quantity": "1", "unit_price": "2"}],
    }

    answer = cors_client.post("/api/sales/", json=sale, headers={**auth_headers["till-1"], "Origin": TILL})

    assert answer.status_code == 202
    assert answer.headers["Access-Control-Allow-Origin"] == TILL
    assert answer.headers["Access-Control-Expose-Headers"] == "ETag, Retry-After, Location"
    assert "Origin" in answer.headers["Vary"]


def test_errors_reach_a_listed_origin_too(cors_client):
    """A till must read a 401 (wrong token) or a 429/503 with its Retry-After, not a bare network error."""
    answer = cors_client.post("/api/sales/batch/", json={"sales": []}, headers={"Origin": TILL})

    assert answer.status_code == 401
    assert answer.headers["Access-Control-Allow-Origin"] == TILL


def test_an_origin_not_listed_is_never_named_back(cors_client, auth_headers):
    answer = cors_client.get("/api/sync/products/", headers={**auth_headers["till-1"], "Origin": OTHER})

    assert answer.status_code == 200
    assert cors_headers(answer) == {}
    assert "Origin" in answer.headers["Vary"]


def test_without_the_setting_no_origin_is_allowed(client):
    assert cors_headers(preflight(client, "/api/sales/", "POST")) == {}
    assert cors_headers(client.get("/api/products/", headers={"Origin": TILL})) == {}


def test_the_origins_are_read_as_browsers_send_them():
    setting = Settings.from_env({"SALESYNC_CORS_ORIGINS": " https://Till.Example.com ,http://127.0.0.1:8123,"})

    assert allowed_origins(setting.cors_origins) == {"https://till.example.com", "http://127.0.0.1:8123"}
    assert allowed_origins(Settings.from_env({}).cors_origins) == frozenset()
