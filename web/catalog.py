"""Products, stock adjustments and low-stock alerts."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, current_app, request

from postgres import catalog
from web.auth import authenticate
from web.body import parse, read_json
from web.problems import ProblemError
from web.schemas import ProductIn, StockAdjustmentIn
from web.views import alert_view, product_view

blueprint = Blueprint("catalog", __name__)


def sessions():
    return current_app.extensions["salesync"].sessions


@blueprint.get("/api/products/")
def list_products():
    authenticate()
    with sessions()() as session:
        sku = request.args.get("sku")
        if sku is not None and "\x00" in sku:  # no sku holds NUL (PostgreSQL text cannot)
            return []
        return [product_view(p) for p in catalog.list_products(session, sku)]


@blueprint.get("/api/products/<int:product_id>/")
def get_product(product_id: int):
    authenticate()
    with sessions()() as session:
        product = catalog.get_product(session, product_id)
        if product is None:
            raise ProblemError(404, "Not Found", f"No product {product_id}.")
        return product_view(product)


@blueprint.post("/api/products/")
def create_product():
    authenticate(admin=True)
    body = parse(ProductIn, read_json())
    try:
        with sessions().begin() as session:
            product = catalog.create_product(session, **body.model_dump())
            view = product_view(product)
    except catalog.SkuTaken as error:
        raise ProblemError(409, "Conflict", str(error)) from None
    return view, 201, {"Location": f"/api/products/{view['id']}/"}


@blueprint.post("/api/products/<int:product_id>/stock-adjustments/")
def adjust_stock(product_id: int):
    caller = authenticate(admin=True)
    body = parse(StockAdjustmentIn, read_json())
    with sessions().begin() as session:
        product = catalog.adjust_stock(
            session, product_id, body.quantity, body.reason, caller.device, datetime.now(UTC)
        )
        if product is None:
            raise ProblemError(404, "Not Found", f"No product {product_id}.")
        return product_view(product), 201


@blueprint.get("/api/alerts/")
def list_alerts():
    authenticate()
    status = request.args.get("status")
    if status not in (None, "open", "resolved"):
        raise ProblemError(
            400,
            "Invalid request",
            "status must be 'open' or 'resolved'.",
            [{"field": "status", "message": "must be 'open' or 'resolved'"}],
        )
    with sessions()() as session:
        return [alert_view(alert) for alert in catalog.list_alerts(session, status)]
