"""GET /api/openapi.json: the OpenAPI 3.1 document, generated from the models that validate requests
(web/schemas.py) and describe answers (web/responses.py). docs/api.md is the prose behind it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from flask import Blueprint
from pydantic import BaseModel, Field, RootModel
from pydantic.json_schema import models_json_schema

from web import responses as out
from web.schemas import (
    MAX_BATCH,
    STORE_CODE,
    ProductIn,
    ProductPatchIn,
    SaleIn,
    StatusQueryIn,
    StockAdjustmentIn,
    StoreIn,
)

blueprint = Blueprint("openapi", __name__)
REF = "#/components/schemas/{model}"


class SaleBatchIn(BaseModel):
    """POST /api/sales/batch/ reads `sales` and validates each one as SaleIn on its own."""

    sales: list[SaleIn] = Field(min_length=1, max_length=MAX_BATCH)


class SaleStatus(RootModel[out.SaleStatus]):
    """The status body of a sale: queued, applied (with the sale) or rejected (with the reason)."""


class Report(RootModel[out.ProductReport | out.FleetReport]):
    """A sales report: one product's (with product_id) or every product's (without)."""


REQUESTS = (SaleIn, SaleBatchIn, StatusQueryIn, ProductIn, ProductPatchIn, StockAdjustmentIn, StoreIn)
RESPONSES = (
    out.Problem,
    out.SaleQueued,
    SaleStatus,
    out.BatchResults,
    out.StatusResults,
    out.Product,
    out.ProductPage,
    out.Store,
    out.Alert,
    out.Device,
    Report,
    out.Health,
    out.Readiness,
)

PROBLEMS = {
    400: "Malformed JSON, or invalid fields (`errors` names each one).",
    401: "Missing, malformed, unknown or revoked token.",
    403: "The endpoint needs an admin token.",
    404: "No such resource, or not visible to this token.",
    405: "The method is not allowed on this path; `Allow` lists those that are.",
    409: "A product with this sku, or a store with this code, already exists.",
    413: "The body is too large (or a batch holds more than 1,000 sales, or a status query more than 1,000 ids).",
    415: "The body is not sent as application/json.",
    422: "This external_id was already received with a different payload, or from another device.",
    429: "Too many requests for this token; wait `Retry-After` seconds (SALESYNC_RATE_LIMIT).",
    500: "An unexpected server error. Nothing was recorded; send the same request again later.",
    503: "Redis or PostgreSQL is unreachable, or the sales queue is at its bound. Nothing was recorded; "
    "retry after `Retry-After` seconds.",
}
HEADERS = {
    "Location": "The URL of what was created or queued.",
    "Retry-After": "Seconds to wait before sending the same request again.",
    "WWW-Authenticate": "Always `Token`.",
    "Allow": "The methods this path allows.",
    "ETag": "The answer's entity tag: send it as If-None-Match with the same cursor to get 304 while nothing changed.",
}
PROBLEM_HEADERS = {401: ["WWW-Authenticate"], 405: ["Allow"], 429: ["Retry-After"], 503: ["Retry-After"]}
AUTHENTICATED = (401, 429, 500, 503)  # every endpoint behind a token may answer these


def ref(model: type[BaseModel]) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def array(model: type[BaseModel]) -> dict:
    return {"type": "array", "items": ref(model)}


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def path(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def answer(
    description: str, schema: dict | None = None, headers: Sequence[str] = (), media: str = "application/json"
) -> dict:
    response: dict = {"description": description}
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    if headers:
        response["headers"] = {
            name: {"description": HEADERS[name], "required": True, "schema": {"type": "string"}} for name in headers
        }
    return response


def operation(
    summary: str,
    answers: dict[int, dict],
    problems: tuple[int, ...] = (),
    *,
    admin: bool = False,
    public: bool = False,
    body: type[BaseModel] | None = None,
    parameters: Sequence[dict] = (),
    description: str = "",
) -> dict:
    problems = problems if public else (*problems, *AUTHENTICATED, *((403,) if admin else ()))
    responses = {str(status): value for status, value in answers.items()}
    for status in sorted(set(problems)):
        responses[str(status)] = answer(
            PROBLEMS[status], ref(out.Problem), PROBLEM_HEADERS.get(status, ()), media="application/problem+json"
        )
    op: dict = {"summary": summary, "responses": dict(sorted(responses.items()))}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = list(parameters)
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    op["security"] = [] if public else [{"token": []}]
    return op


def refused(summary: str, allow: str) -> dict:
    return operation(
        summary,
        {
            405: answer(
                f"Sales are append-only; `Allow: {allow}`.",
                ref(out.Problem),
                ["Allow"],
                media="application/problem+json",
            )
        },
        public=True,
    )


SALE_ID = path("external_id", {"type": "string"}, "The sale's external_id (any UUID spelling).")
PRODUCT_ID = path("product_id", {"type": "integer", "minimum": 0}, "The product's id.")


def store_query(what: str) -> dict:
    return query("store", {"type": "string", "pattern": STORE_CODE}, f"{what} An unknown store answers 404.")


def paths() -> dict:
    report_params = [
        query("product_id", {"type": "integer", "minimum": 1}, "One product's sales; without it, all products."),
        query("start_date", {"type": "string", "format": "date"}, "First day (inclusive); default 30 days ago."),
        query("end_date", {"type": "string", "format": "date"}, "Last day (inclusive); default today."),
        query("period", {"enum": ["daily", "weekly", "monthly"]}, "Bucket size; default daily."),
        query("limit", {"type": "integer", "minimum": 1}, "Products in the ranking (at most 100); default 10."),
        store_query("One store's sales (the answer then names it in `store`); without it, every store's."),
    ]
    return {
        "/api/sales/": {
            "post": operation(
                "Send a sale",
                {
                    202: answer("New sale recorded and queued.", ref(out.SaleQueued), ["Location"]),
                    200: answer(
                        "Already received from this device with the same payload: its status.", ref(SaleStatus)
                    ),
                },
                (400, 413, 415, 422),
                body=SaleIn,
                description="Any token; the sale belongs to the token's device, and takes stock from the device's "
                "store. Retry unchanged after a timeout, 503 or 500: the external_id makes it safe. "
                "`kind: return` sends a return: its lines name products by id (product_data is a 400), each "
                "quantity is what came back and unit_price the refund per unit; it puts stock back in the device's "
                "store. `original_external_id` (returns only; on a sale it is a 400) names the sale it returns, "
                "which bounds what may come back.",
            ),
            "put": refused("Sales are append-only", "POST, OPTIONS"),
            "patch": refused("Sales are append-only", "POST, OPTIONS"),
            "delete": refused("Sales are append-only", "POST, OPTIONS"),
        },
        "/api/sales/batch/": {
            "post": operation(
                "Send many sales (1 to 1,000) in one request",
                {
                    200: answer(
                        "One result per sale, in order, as POST /api/sales/ would answer each alone.",
                        ref(out.BatchResults),
                    )
                },
                (400, 413, 415),
                body=SaleBatchIn,
            ),
        },
        "/api/sales/status/": {
            "post": operation(
                "Many sales' statuses (1 to 1,000) in one request",
                {
                    200: answer(
                        "One result per external_id, in order, as GET /api/sales/{external_id}/ would answer "
                        "each alone (200 with the status body, or 404).",
                        ref(out.StatusResults),
                    )
                },
                (400, 413, 415),
                body=StatusQueryIn,
                description="A device token sees only its own sales; others' are answered 404, as unknown ones "
                "and ids that are not UUIDs are. One request however many ids.",
            ),
        },
        "/api/sales/analytics/": {
            "get": operation(
                "How much sold, net of returns, by day, week or month",
                {200: answer("The report.", ref(Report))},
                (400, 404),
                parameters=report_params,
            ),
        },
        "/api/sales/{external_id}/": {
            "get": operation(
                "A sale's status",
                {200: answer("The status body.", ref(SaleStatus))},
                (404,),
                parameters=[SALE_ID],
                description="A device token sees only its own sales; others' answer 404, as unknown ones do.",
            ),
            "put": refused("Sales are append-only", "GET, HEAD, OPTIONS") | {"parameters": [SALE_ID]},
            "patch": refused("Sales are append-only", "GET, HEAD, OPTIONS") | {"parameters": [SALE_ID]},
            "delete": refused("Sales are append-only", "GET, HEAD, OPTIONS") | {"parameters": [SALE_ID]},
        },
        "/api/stores/": {
            "get": operation("All stores, by code", {200: answer("Stores (`main` among them).", array(out.Store))}),
            "post": operation(
                "Create a store (admin)",
                {201: answer("The new store.", ref(out.Store))},
                (400, 409, 413, 415),
                admin=True,
                body=StoreIn,
                description="A store has its own stock; a device's token names its store "
                "(`salesync token create --device NAME --store CODE`).",
            ),
        },
        "/api/products/": {
            "get": operation(
                "All products, by id",
                {200: answer("Products (possibly none).", array(out.Product))},
                parameters=[query("sku", {"type": "string"}, "Only the product with exactly this sku.")],
            ),
            "post": operation(
                "Create a product (admin)",
                {201: answer("The new product.", ref(out.Product), ["Location"])},
                (400, 409, 413, 415),
                admin=True,
                body=ProductIn,
                description="`stock` is the opening stock in the store `main`; `stock_by_store` gives it by store "
                "(an unknown store, or main's stock in both, is a 400).",
            ),
        },
        "/api/products/{product_id}/": {
            "get": operation(
                "One product", {200: answer("The product.", ref(out.Product))}, (404,), parameters=[PRODUCT_ID]
            ),
            "patch": operation(
                "Change a product's name, price, reorder level or active flag (admin)",
                {200: answer("The product after the change.", ref(out.Product))},
                (400, 404, 413, 415),
                admin=True,
                body=ProductPatchIn,
                parameters=[PRODUCT_ID],
                description="Only the fields given change; stock never does (stock adjustments change it). "
                "A new reorder level raises or resolves each store's alert.",
            ),
        },
        "/api/sync/products/": {
            "get": operation(
                "Pull the catalogue: the products changed since a cursor",
                {
                    200: answer("One page of changed products.", ref(out.ProductPage), ["ETag"]),
                    304: {
                        "description": "Nothing changed since the answer whose ETag was sent as If-None-Match.",
                        "headers": {"ETag": {"description": HEADERS["ETag"], "schema": {"type": "string"}}},
                    },
                },
                (400,),
                parameters=[
                    query("cursor", {"type": "string"}, "The last answer's cursor; without it, the whole catalogue."),
                    query(
                        "limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Products per page; default 500."
                    ),
                    {
                        "name": "If-None-Match",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "The ETag of the last answer for the same cursor.",
                    },
                ],
                description="Pull until `has_more` is false, sending each answer's `cursor` with the next "
                "request; keep the last cursor for the next pull. A product comes back after any change to it "
                "(name, price, reorder level, active, stock in any store); none is ever missed. A cursor this "
                "server did not give out is a 400: pull again without one.",
            ),
        },
        "/api/products/{product_id}/stock-adjustments/": {
            "post": operation(
                "Change a product's stock in one store (admin)",
                {201: answer("Recorded; the product after the adjustment.", ref(out.Product))},
                (400, 404, 413, 415),
                admin=True,
                body=StockAdjustmentIn,
                parameters=[PRODUCT_ID],
                description="`store` defaults to `main`; an unknown store is a 400.",
            ),
        },
        "/api/alerts/": {
            "get": operation(
                "Low-stock alerts, by id",
                {200: answer("Alerts (possibly none).", array(out.Alert))},
                (400, 404),
                parameters=[
                    query("status", {"enum": ["open", "resolved"]}, "Only open or only resolved alerts."),
                    store_query("Only this store's alerts."),
                ],
                description="At most one open alert per (product, store).",
            ),
        },
        "/api/openapi.json": {
            "get": operation(
                "This document", {200: answer("The OpenAPI 3.1 document.", {"type": "object"})}, public=True
            ),
        },
        "/api/docs/": {
            "get": operation(
                "This document as a page for people (Swagger UI)",
                {200: answer("The page.", {"type": "string"}, media="text/html")},
                public=True,
            ),
        },
        "/api/docs/{name}": {
            "get": operation(
                "The docs page's scripts and style sheet",
                {
                    200: {
                        "description": "The file.",
                        "content": {"text/javascript": {"schema": {}}, "text/css": {"schema": {}}},
                    }
                },
                (404,),
                public=True,
                parameters=[
                    path("name", {"enum": ["apidocs.js", "swagger-ui-bundle.js", "swagger-ui.css"]}, "The file.")
                ],
            ),
        },
        "/api/devices/": {
            "get": operation(
                "The fleet: every device that holds or held a token (admin)",
                {200: answer("Devices by name, revoked ones included.", array(out.Device))},
                admin=True,
            ),
        },
        "/api/devices/{name}/": {
            "get": operation(
                "One device (admin, or the device itself)",
                {200: answer("The device.", ref(out.Device))},
                (404,),
                parameters=[path("name", {"type": "string"}, "The device's name; another device's answers 404.")],
            ),
        },
        "/api/ops/overview/": {
            "get": operation(
                "The ops dashboard's figures (admin)",
                {200: answer("Sync lag, queue depth, applied sales, alerts, top sellers.", {"type": "object"})},
                admin=True,
            ),
        },
        "/dashboard/": {
            "get": operation(
                "The ops dashboard page", {200: answer("The page.", {"type": "string"}, media="text/html")}, public=True
            ),
        },
        "/dashboard/{name}": {
            "get": operation(
                "The dashboard's script and style sheet",
                {
                    200: {
                        "description": "The file.",
                        "content": {"text/javascript": {"schema": {}}, "text/css": {"schema": {}}},
                    }
                },
                (404,),
                public=True,
                parameters=[path("name", {"enum": ["dashboard.js", "dashboard.css"]}, "The file.")],
            ),
        },
        "/till/": {
            "get": operation(
                "The demo till page", {200: answer("The page.", {"type": "string"}, media="text/html")}, public=True
            ),
        },
        "/till/{filename}": {
            "get": operation(
                "The demo till's files, the JavaScript client among them",
                {
                    200: {
                        "description": "The file.",
                        "content": {
                            "text/javascript": {"schema": {}},
                            "text/css": {"schema": {}},
                            "text/html": {"schema": {}},
                        },
                    }
                },
                (404,),
                public=True,
                parameters=[
                    path(
                        "filename",
                        {"enum": ["salesync-client.js", "till.js", "till.css", "sw.js", "index.html"]},
                        "The file.",
                    )
                ],
            ),
        },
        "/metrics": {
            "get": operation(
                "Prometheus metrics",
                {200: answer("Prometheus text format.", {"type": "string"}, media="text/plain")},
                (401,),
                public=True,
                description="Open unless SALESYNC_METRICS_TOKEN is set; then it needs "
                "`Authorization: Bearer <that token>`.",
            ),
        },
        "/healthz": {
            "get": operation("Liveness", {200: answer("The process serves requests.", ref(out.Health))}, public=True),
        },
        "/readyz": {
            "get": operation(
                "Readiness: Redis, PostgreSQL and migrations",
                {
                    200: answer("Every check is ok.", ref(out.Readiness)),
                    503: answer("At least one check is not ok.", ref(out.Readiness)),
                },
                public=True,
            ),
        },
    }


def _version() -> str:
    try:
        return version("salesync")
    except PackageNotFoundError:
        return "0"


@cache
def document() -> dict:
    _, schemas = models_json_schema(
        [(model, "validation") for model in REQUESTS] + [(model, "serialization") for model in RESPONSES],
        ref_template=REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "salesync",
            "version": _version(),
            "description": "Offline-first sales sync for point-of-sale tills. Prose reference: docs/api.md. "
            "Every path ends with a slash as written; every error is application/problem+json.",
        },
        "paths": paths(),
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Authorization: Token <token>` (salesync token create).",
                }
            },
        },
    }


@blueprint.get("/api/openapi.json")
def openapi_json():
    return document()
